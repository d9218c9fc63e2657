package authserver

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// TestRevocationFeed: revocations reach subscribers even when stamped a
// little before the newest one seen (clock skew, late commits), and
// thousands stamped at one instant all arrive.
func TestRevocationFeed(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "feed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km, _ := keys.New(st, keys.Config{})
	s, err := New(ctx, Config{Issuer: "https://auth.example", Store: st, Keys: km})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	s.SubscribeRevocations(func(jtis, _ []string) {
		mu.Lock()
		for _, j := range jtis {
			got[j]++
		}
		mu.Unlock()
	})
	now := time.Now()
	add := func(id, family string) {
		if err := st.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: id, FamilyID: family, ClientID: "c", Subject: "c",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	add("late", "")
	add("fresh", "")
	if err := st.RevokeToken(ctx, store.AccessToken, "fresh", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	// Another instance, its clock 5 s behind, revokes now.
	if err := st.RevokeToken(ctx, store.AccessToken, "late", now.Add(-4*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		add(fmt.Sprint("bulk", i), "bulk")
	}
	if _, err := st.RevokeFamily(ctx, "bulk", now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["late"] != 1 || got["fresh"] != 1 {
		t.Errorf("late %d, fresh %d; want each announced once", got["late"], got["fresh"])
	}
	for i := range 1500 {
		if got[fmt.Sprint("bulk", i)] != 1 {
			t.Fatalf("bulk%d announced %d times; want once", i, got[fmt.Sprint("bulk", i)])
		}
	}
}
