package keys_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t *testing.T, s store.KeyStore, c *clock, alg string) *keys.Manager {
	m, err := keys.New(s, keys.Config{Algorithm: alg, RotateEvery: 10 * time.Hour, Overlap: 2 * time.Hour, Prepublish: time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// signedKid signs a payload and checks it verifies with the published key,
// returning the kid it was signed with.
func signedKid(t *testing.T, m *keys.Manager) string {
	t.Helper()
	ctx := context.Background()
	raw, err := m.Sign(ctx, []byte(`{"hello":"world"}`), "at+jwt")
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("parsing signature: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("typ header = %v; want at+jwt", h.ExtraHeaders["typ"])
	}
	pub, ok := m.VerificationKey(ctx, h.KeyID)
	if !ok {
		t.Fatalf("kid %q is not published", h.KeyID)
	}
	if _, err := jws.Verify(pub); err != nil {
		t.Fatalf("verifying with the published key: %v", err)
	}
	return h.KeyID
}

func kids(m *keys.Manager) []string {
	var out []string
	for _, k := range m.PublicKeys().Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestAlgorithms(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(alg, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			m := newManager(t, newStore(t), c, alg)
			signedKid(t, m)
			set := m.PublicKeys()
			if len(set.Keys) != 1 {
				t.Fatalf("published %d keys; want 1", len(set.Keys))
			}
			k := set.Keys[0]
			if !k.IsPublic() || k.Algorithm != alg || k.Use != "sig" || k.KeyID == "" {
				t.Fatalf("published key = %+v; want a public %s signing key with a kid", k, alg)
			}
		})
	}
}

func TestUnsupportedAlgorithm(t *testing.T) {
	if _, err := keys.New(newStore(t), keys.Config{Algorithm: "HS256"}); err == nil {
		t.Fatal("HS256 was accepted")
	}
	if _, err := keys.New(newStore(t), keys.Config{RotateEvery: time.Millisecond}); err == nil {
		t.Fatal("a rotation interval of 1ms was accepted")
	}
}

func TestScheduledRotation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(t, newStore(t), c, "ES256")
	first := signedKid(t, m)

	c.Add(8*time.Hour + 59*time.Minute) // not yet in the prepublish hour
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(m); len(got) != 1 {
		t.Fatalf("before the prepublish window: %d keys published; want 1", len(got))
	}
	c.Add(2 * time.Minute) // 9h01: the next key is published but does not sign yet
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(m); len(got) != 2 {
		t.Fatalf("in the prepublish window: keys %v; want current and next", got)
	}
	if kid := signedKid(t, m); kid != first {
		t.Fatalf("the next key signed before its time")
	}
	c.Add(time.Hour) // 10h01: the next key signs; the first still verifies
	second := signedKid(t, m)
	if second == first {
		t.Fatalf("the first key still signs after its window")
	}
	if _, ok := m.VerificationKey(ctx, first); !ok {
		t.Fatalf("the previous key stopped verifying at once")
	}
	c.Add(2 * time.Hour) // 12h01: past the overlap
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kid := range kids(m) {
		if kid == first {
			t.Fatalf("the previous key is still published after the overlap")
		}
	}
}

func TestForcedRotation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(t, newStore(t), c, "ES256")
	first := signedKid(t, m)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	second := signedKid(t, m)
	if second == first {
		t.Fatal("Rotate did not change the signing key")
	}
	if _, ok := m.VerificationKey(ctx, first); !ok {
		t.Fatal("the rotated-out key stopped verifying")
	}
	// A prepublished successor is the one promoted.
	c.Add(9*time.Hour + 30*time.Minute)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var next string
	for _, kid := range kids(m) {
		if kid != first && kid != second {
			next = kid
		}
	}
	if next == "" {
		t.Fatalf("no successor published: %v", kids(m))
	}
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := signedKid(t, m); got != next {
		t.Fatalf("after Rotate the key %s signs; want the published successor %s", got, next)
	}
}

func TestAlgorithmChangeRotates(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newStore(t)
	old := signedKid(t, newManager(t, s, c, "ES256"))
	m := newManager(t, s, c, "EdDSA")
	kid := signedKid(t, m)
	if kid == old {
		t.Fatal("the ES256 key still signs after switching to EdDSA")
	}
	if _, ok := m.VerificationKey(context.Background(), old); !ok {
		t.Fatal("the ES256 key stopped verifying at once")
	}
}

// TestInstancesShareKeys runs several managers on one store, as several
// Caddy instances would: they agree on one key and on one rotation.
func TestInstancesShareKeys(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newStore(t)
	ms := make([]*keys.Manager, 4)
	var wg sync.WaitGroup
	for i := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := keys.New(s, keys.Config{RotateEvery: 10 * time.Hour, Overlap: time.Hour, Prepublish: time.Hour, Now: c.Now})
			if err != nil {
				t.Error(err)
				return
			}
			if err := m.Refresh(context.Background()); err != nil {
				t.Error(err)
			}
			ms[i] = m
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, m := range ms {
		m.Refresh(context.Background())
		if got := kids(m); len(got) != 1 || got[0] != kids(ms[0])[0] {
			t.Fatalf("instances disagree on the first key: %v vs %v", got, kids(ms[0]))
		}
	}
	c.Add(9*time.Hour + 30*time.Minute)
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.Refresh(context.Background()) }()
	}
	wg.Wait()
	stored, _ := s.ListKeys(context.Background())
	if len(stored) != 2 {
		t.Fatalf("concurrent rotation stored %d keys; want exactly one successor", len(stored))
	}
	// An instance that has not reloaded finds the new key by its kid.
	lagging, _ := keys.New(s, keys.Config{RotateEvery: 10 * time.Hour, Overlap: time.Hour, Prepublish: time.Hour, Now: c.Now})
	if _, ok := lagging.VerificationKey(context.Background(), stored[1].ID); !ok {
		t.Fatal("an unknown kid did not trigger a reload")
	}
}

// TestClockSkew: an instance whose clock lags another's adopts the key the
// other just made instead of making a second one.
func TestClockSkew(t *testing.T) {
	s := newStore(t)
	ahead := &clock{t: time.Date(2026, 1, 1, 0, 2, 0, 0, time.UTC)}
	behind := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	first := signedKid(t, newManager(t, s, ahead, "ES256"))
	lagging := newManager(t, s, behind, "ES256")
	if got := signedKid(t, lagging); got != first {
		t.Fatalf("the lagging instance signs with %s; want the existing key %s", got, first)
	}
	if stored, _ := s.ListKeys(context.Background()); len(stored) != 1 {
		t.Fatalf("%d keys stored; want 1", len(stored))
	}
}
