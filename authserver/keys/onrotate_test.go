package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/keys"
)

// TestOnRotate checks that a change of signing key, scheduled or forced,
// and on this instance or another sharing the store, is reported once,
// and that loading the first key or refreshing without a change is not.
func TestOnRotate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// act moves the clock and refreshes or rotates, on m or on other
		// (another instance on the same store).
		act  func(t *testing.T, c *clock, m, other *keys.Manager)
		want int
	}{
		{"first key", func(*testing.T, *clock, *keys.Manager, *keys.Manager) {}, 0},
		{"refresh without a change", func(t *testing.T, c *clock, m, _ *keys.Manager) {
			c.Add(time.Hour)
			mustRefresh(t, m.Refresh(ctx))
		}, 0},
		{"successor published, not yet signing", func(t *testing.T, c *clock, m, _ *keys.Manager) {
			c.Add(9*time.Hour + time.Minute)
			mustRefresh(t, m.Refresh(ctx))
		}, 0},
		{"scheduled", func(t *testing.T, c *clock, m, _ *keys.Manager) {
			c.Add(9*time.Hour + time.Minute)
			mustRefresh(t, m.Refresh(ctx))
			c.Add(time.Hour)
			mustRefresh(t, m.Refresh(ctx))
			mustRefresh(t, m.Refresh(ctx))
		}, 1},
		{"forced", func(t *testing.T, _ *clock, m, _ *keys.Manager) {
			mustRefresh(t, m.Rotate(ctx))
		}, 1},
		{"forced twice", func(t *testing.T, _ *clock, m, _ *keys.Manager) {
			mustRefresh(t, m.Rotate(ctx))
			mustRefresh(t, m.Rotate(ctx))
		}, 2},
		{"forced by another instance", func(t *testing.T, _ *clock, m, other *keys.Manager) {
			mustRefresh(t, other.Rotate(ctx))
			mustRefresh(t, m.Refresh(ctx))
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			st := newStore(t)
			var mu sync.Mutex
			var got []keys.KeyInfo
			m, err := keys.New(st, keys.Config{RotateEvery: 10 * time.Hour, Overlap: 2 * time.Hour, Prepublish: time.Hour, Now: c.Now,
				OnRotate: func(k keys.KeyInfo) { mu.Lock(); got = append(got, k); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			mustRefresh(t, m.Refresh(ctx))
			other := newManager(t, st, c, "ES256")
			tc.act(t, c, m, other)
			mu.Lock()
			defer mu.Unlock()
			if len(got) != tc.want {
				t.Fatalf("%d rotations reported; want %d: %v", len(got), tc.want, got)
			}
			if tc.want > 0 {
				last := got[len(got)-1]
				if kid := signedKid(t, m); last.ID != kid || last.Algorithm != "ES256" {
					t.Errorf("reported %s %s; the key signing is %s", last.ID, last.Algorithm, kid)
				}
			}
		})
	}
}

func mustRefresh(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
