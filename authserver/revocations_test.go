package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// TestRevocationFeed: revocations reach subscribers even when stamped a
// little before they were committed (clock skew, late commits), and
// thousands stamped at one instant all arrive, each once.
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
	// The next poll reads the last seconds: the bulk revocation, not the
	// one stamped 4 s early; a full poll, within revocationFullEvery,
	// finds that one too.
	if err := s.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	bulk := got["bulk0"]
	mu.Unlock()
	if bulk != 1 {
		t.Fatalf("the poll after a family revocation announced bulk0 %d times; want once", bulk)
	}
	for range revocationFullEvery {
		if err := s.PollRevocations(ctx); err != nil {
			t.Fatal(err)
		}
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

// TestOwnRevocationAnnouncedAtOnce: a token revoked at this instance's
// /revoke reaches the subscribers before the answer, even when another
// instance's clock, far ahead, put the newest revocation seen minutes
// after this one's stamp (the announcement reads from the request's
// start, not from the newest revocation seen).
func TestOwnRevocationAnnouncedAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	got := map[string]bool{}
	e.srv.SubscribeRevocations(func(jtis, _ []string) {
		mu.Lock()
		for _, j := range jtis {
			got[j] = true
		}
		mu.Unlock()
	})
	ctx := context.Background()
	ahead := e.clock.Now().Add(10 * time.Minute)
	if err := e.store.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: "elsewhere", ClientID: "svc", Subject: "svc",
		IssuedAt: ahead, ExpiresAt: ahead.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeToken(ctx, store.AccessToken, "elsewhere", ahead); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tok := e.svcToken("svc", "svc-secret", nil)
		_, claims := e.svcVerifyJWT(tok)
		jti := claims.ID
		if r := e.postForm("/revoke", url.Values{"token": {tok}}, "svc", "svc-secret"); r.status != http.StatusOK {
			t.Fatalf("revoke %d: %d %s", i, r.status, r.body)
		}
		mu.Lock()
		announced := got[jti]
		mu.Unlock()
		if !announced {
			t.Fatalf("revocation %d was not announced by the time /revoke answered", i)
		}
		e.clock.Advance(time.Second)
	}
	// A refresh token's revocation ends its family, whose access tokens
	// are read from the store: those stamped since the request began.
	user := e.signedIn("openid", "offline_access")
	_, claims := e.svcVerifyJWT(user.AccessToken)
	if r := e.postForm("/revoke", url.Values{"token": {user.RefreshToken}, "client_id": {"app"}}, "", ""); r.status != http.StatusOK {
		t.Fatalf("revoking the refresh token: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if !got[claims.ID] {
		t.Fatal("the access token of a revoked family was not announced by the time /revoke answered")
	}
}

// countingStore counts the revocations RevokedAfter returns.
type countingStore struct {
	store.Store
	read atomic.Int64
}

func (c *countingStore) RevokedAfter(ctx context.Context, after store.RevocationCursor, limit int) ([]store.Revocation, error) {
	revs, err := c.Store.RevokedAfter(ctx, after, limit)
	c.read.Add(int64(len(revs)))
	return revs, err
}

// TestRevocationFeedWindow: the periodic poll's window follows this
// instance's clock. A mass revocation is read a few times, then no more,
// however long nothing newer is revoked (it used to be read every second
// until something was); and a revocation stamped far ahead by another
// instance's clock does not hide those stamped by the others.
func TestRevocationFeedWindow(t *testing.T) {
	var st *countingStore
	e := newEnv(t, func(c *Config) {
		st = &countingStore{Store: c.Store}
		c.Store = st
	})
	var mu sync.Mutex
	got := map[string]int{}
	e.srv.SubscribeRevocations(func(jtis, _ []string) {
		mu.Lock()
		for _, j := range jtis {
			got[j]++
		}
		mu.Unlock()
	})
	ctx := context.Background()
	add := func(id, family string, at time.Time) {
		t.Helper()
		if err := st.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: id, FamilyID: family, ClientID: "svc", Subject: "svc",
			IssuedAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	poll := func(n int) {
		t.Helper()
		for range n {
			if err := e.srv.PollRevocations(ctx); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
		}
	}
	poll(1)
	const mass = 2000
	now := e.clock.Now()
	for i := range mass {
		add(fmt.Sprint("mass", i), "mass", now)
	}
	if _, err := st.RevokeFamily(ctx, "mass", now); err != nil {
		t.Fatal(err)
	}
	st.read.Store(0)
	// Two minutes of polls, a revocation a second's worth of them.
	poll(120)
	if n := st.read.Load(); n > 5*mass {
		t.Errorf("two minutes of polls after one revocation of %d tokens read %d revocations; want at most %d", mass, n, 5*mass)
	}
	for i := range mass {
		if got[fmt.Sprint("mass", i)] != 1 {
			t.Fatalf("mass%d announced %d times; want once", i, got[fmt.Sprint("mass", i)])
		}
	}

	// Another instance's clock is ten minutes ahead; this one's and a
	// third's are right.
	now = e.clock.Now()
	add("ahead", "", now)
	add("right", "", now)
	if err := st.RevokeToken(ctx, store.AccessToken, "ahead", now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	poll(1)
	if err := st.RevokeToken(ctx, store.AccessToken, "right", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	poll(1)
	mu.Lock()
	defer mu.Unlock()
	if got["ahead"] != 1 || got["right"] != 1 {
		t.Errorf("ahead %d, right %d; want each announced once, at the next poll", got["ahead"], got["right"])
	}
}
