package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// Run runs every conformance test against stores made by newStore. Each
// test gets a store of its own; the suite closes it when the test ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"KeysRoundTrip", testKeysRoundTrip},
		{"KeysUpdateAborts", testKeysUpdateAborts},
		{"KeysConcurrentRotation", testKeysConcurrentRotation},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenDuplicate", testTokenDuplicate},
		{"TokenConsume", testTokenConsume},
		{"TokenConcurrentConsume", testTokenConcurrentConsume},
		{"TokenUpdate", testTokenUpdate},
		{"TokenConcurrentUpdate", testTokenConcurrentUpdate},
		{"TokenRevoke", testTokenRevoke},
		{"TokenRevokeFamily", testTokenRevokeFamily},
		{"FamilyRace", testFamilyRace},
		{"RevokedSince", testRevokedSince},
		{"Secrets", testSecrets},
		{"Clients", testClients},
		{"RevokeClientTokens", testRevokeClientTokens},
		{"Sweep", testSweep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// base is a fixed instant with whole microseconds, the precision every
// backend must keep.
var base = time.Date(2026, 11, 21, 12, 0, 0, 123456000, time.UTC)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func key(id string, from time.Time) store.SigningKey {
	return store.SigningKey{
		ID: id, Algorithm: "ES256", PrivateJWK: []byte(`{"kid":"` + id + `"}`),
		CreatedAt: from, SignFrom: from, SignUntil: from.Add(time.Hour), VerifyUntil: from.Add(2 * time.Hour),
	}
}

func sameKey(a, b store.SigningKey) bool {
	return a.ID == b.ID && a.Algorithm == b.Algorithm && bytes.Equal(a.PrivateJWK, b.PrivateJWK) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.SignFrom.Equal(b.SignFrom) && a.SignUntil.Equal(b.SignUntil) &&
		a.VerifyUntil.Equal(b.VerifyUntil)
}

func testKeysRoundTrip(t *testing.T, s store.Store) {
	c := ctx(t)
	keys, err := s.ListKeys(c)
	if err != nil || len(keys) != 0 {
		t.Fatalf("ListKeys on empty store = %v, %v; want none", keys, err)
	}
	want := []store.SigningKey{key("b", base.Add(time.Hour)), key("a", base)}
	err = s.UpdateKeys(c, func(cur []store.SigningKey) ([]store.SigningKey, error) {
		if len(cur) != 0 {
			t.Errorf("update saw %d keys, want 0", len(cur))
		}
		return want, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	keys, err = s.ListKeys(c)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(keys) != 2 || !sameKey(keys[0], want[1]) || !sameKey(keys[1], want[0]) {
		t.Fatalf("ListKeys = %+v; want a then b, ordered by SignFrom", keys)
	}
	// Replacing the set drops keys the update left out.
	err = s.UpdateKeys(c, func(cur []store.SigningKey) ([]store.SigningKey, error) { return cur[1:], nil })
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	if keys, _ = s.ListKeys(c); len(keys) != 1 || keys[0].ID != "b" {
		t.Fatalf("after dropping a, ListKeys = %+v", keys)
	}
}

func testKeysUpdateAborts(t *testing.T, s store.Store) {
	c := ctx(t)
	boom := errors.New("boom")
	err := s.UpdateKeys(c, func([]store.SigningKey) ([]store.SigningKey, error) {
		return []store.SigningKey{key("x", base)}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateKeys error = %v; want the update's error", err)
	}
	if keys, _ := s.ListKeys(c); len(keys) != 0 {
		t.Fatalf("an aborted update stored %d keys", len(keys))
	}
}

// testKeysConcurrentRotation has many callers each add a key only if
// none is there yet: exactly one key may result.
func testKeysConcurrentRotation(t *testing.T, s store.Store) {
	c := ctx(t)
	const callers = 8
	var wg sync.WaitGroup
	var added atomic.Int32
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.UpdateKeys(c, func(cur []store.SigningKey) ([]store.SigningKey, error) {
				if len(cur) > 0 {
					return cur, nil
				}
				added.Add(1)
				return []store.SigningKey{key("k"+strconv.Itoa(i), base)}, nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateKeys: %v", err)
		}
	}
	keys, err := s.ListKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("concurrent rotation left %d keys; want 1", len(keys))
	}
	if added.Load() < 1 {
		t.Fatalf("no update added a key")
	}
}

func token(kind store.TokenKind, id string) store.Token {
	return store.Token{
		Kind: kind, ID: id, FamilyID: "fam-" + id, ClientID: "client", Subject: "alice",
		Data: []byte(`{"scope":"read"}`), IssuedAt: base, ExpiresAt: base.Add(time.Hour),
	}
}

func sameToken(a, b store.Token) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.FamilyID == b.FamilyID && a.ClientID == b.ClientID &&
		a.Subject == b.Subject && bytes.Equal(a.Data, b.Data) && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.ConsumedAt.Equal(b.ConsumedAt) && a.RevokedAt.Equal(b.RevokedAt)
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	c := ctx(t)
	in := token(store.AccessToken, "jti-1")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	got, err := s.GetToken(c, store.AccessToken, "jti-1")
	if err != nil || !sameToken(got, in) {
		t.Fatalf("GetToken = %+v, %v; want %+v", got, err, in)
	}
	// The same ID under another kind is another record.
	if _, err := s.GetToken(c, store.RefreshToken, "jti-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetToken of another kind: err = %v; want ErrNotFound", err)
	}
	other := token(store.RefreshToken, "jti-1")
	other.FamilyID, other.Data = "", nil
	if err := s.CreateToken(c, other); err != nil {
		t.Fatalf("CreateToken of the same ID with another kind: %v", err)
	}
	got, err = s.GetToken(c, store.RefreshToken, "jti-1")
	if err != nil || got.FamilyID != "" || len(got.Data) != 0 {
		t.Fatalf("GetToken = %+v, %v; want empty family and data", got, err)
	}
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	c := ctx(t)
	in := token(store.AuthorizationCode, "code")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	in.Subject = "mallory"
	if err := s.CreateToken(c, in); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second CreateToken: err = %v; want ErrAlreadyExists", err)
	}
	if got, _ := s.GetToken(c, in.Kind, in.ID); got.Subject != "alice" {
		t.Fatalf("a duplicate overwrote the record: subject %q", got.Subject)
	}
}

func testTokenConsume(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.ConsumeToken(c, store.AuthorizationCode, "none", base); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consuming an unknown record: err = %v; want ErrNotFound", err)
	}
	in := token(store.AuthorizationCode, "code")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Second)
	got, err := s.ConsumeToken(c, in.Kind, in.ID, at)
	if err != nil || !got.ConsumedAt.Equal(at) || got.Subject != "alice" {
		t.Fatalf("first ConsumeToken = %+v, %v; want the record consumed at %v", got, err, at)
	}
	got, err = s.ConsumeToken(c, in.Kind, in.ID, at.Add(time.Second))
	if !errors.Is(err, store.ErrConsumed) {
		t.Fatalf("second ConsumeToken: err = %v; want ErrConsumed", err)
	}
	if got.FamilyID != in.FamilyID || !got.ConsumedAt.Equal(at) {
		t.Fatalf("second ConsumeToken returned %+v; want the record with its first use time", got)
	}
}

func testTokenConcurrentConsume(t *testing.T, s store.Store) {
	c := ctx(t)
	in := token(store.AuthorizationCode, "race")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	const callers = 16
	var wins, replays atomic.Int32
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ConsumeToken(c, in.Kind, in.ID, base)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConsumed):
				replays.Add(1)
			default:
				t.Errorf("ConsumeToken: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || replays.Load() != callers-1 {
		t.Fatalf("%d callers consumed one record: %d won, %d saw a replay; want 1 and %d",
			callers, wins.Load(), replays.Load(), callers-1)
	}
}

func testTokenUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	_, err := s.UpdateToken(c, store.RefreshToken, "none", func(tok store.Token) (store.Token, error) { return tok, nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating an unknown record: err = %v; want ErrNotFound", err)
	}
	in := token(store.RefreshToken, "rt")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateToken(c, in.Kind, in.ID, func(tok store.Token) (store.Token, error) {
		tok.Data = []byte(`{"n":1}`)
		tok.ExpiresAt = tok.ExpiresAt.Add(time.Hour)
		tok.ID = "changed" // ignored: the key cannot change
		return tok, nil
	})
	if err != nil || got.ID != "rt" || string(got.Data) != `{"n":1}` {
		t.Fatalf("UpdateToken = %+v, %v", got, err)
	}
	stored, _ := s.GetToken(c, in.Kind, in.ID)
	if !sameToken(stored, got) {
		t.Fatalf("stored %+v; want %+v", stored, got)
	}
	boom := errors.New("boom")
	_, err = s.UpdateToken(c, in.Kind, in.ID, func(tok store.Token) (store.Token, error) {
		tok.Subject = "mallory"
		return tok, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateToken error = %v; want the update's", err)
	}
	if stored, _ := s.GetToken(c, in.Kind, in.ID); stored.Subject != "alice" {
		t.Fatalf("an aborted update changed the record")
	}
}

// testTokenConcurrentUpdate increments a counter from many goroutines: a
// lost update shows as a smaller count.
func testTokenConcurrentUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	in := token(store.RefreshToken, "counter")
	in.Data = []byte("0")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	const callers = 12
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateToken(c, in.Kind, in.ID, func(tok store.Token) (store.Token, error) {
				n, err := strconv.Atoi(string(tok.Data))
				if err != nil {
					return tok, err
				}
				tok.Data = []byte(strconv.Itoa(n + 1))
				return tok, nil
			})
			if err != nil {
				t.Errorf("UpdateToken: %v", err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.GetToken(c, in.Kind, in.ID)
	if string(got.Data) != strconv.Itoa(callers) {
		t.Fatalf("counter = %s after %d concurrent increments", got.Data, callers)
	}
}

func testTokenRevoke(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.RevokeToken(c, store.AccessToken, "none", base); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking an unknown record: err = %v; want ErrNotFound", err)
	}
	in := token(store.AccessToken, "jti")
	if err := s.CreateToken(c, in); err != nil {
		t.Fatal(err)
	}
	first := base.Add(time.Minute)
	if err := s.RevokeToken(c, in.Kind, in.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(c, in.Kind, in.ID, first.Add(time.Minute)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	got, _ := s.GetToken(c, in.Kind, in.ID)
	if !got.RevokedAt.Equal(first) {
		t.Fatalf("RevokedAt = %v; want the first revocation, %v", got.RevokedAt, first)
	}
	if got.Active(base) {
		t.Fatalf("a revoked token is active")
	}
}

func testTokenRevokeFamily(t *testing.T, s store.Store) {
	c := ctx(t)
	for i, kind := range []store.TokenKind{store.AuthorizationCode, store.AccessToken, store.RefreshToken, store.AccessToken} {
		tok := token(kind, fmt.Sprint("member", i))
		tok.FamilyID = "family"
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	outsider := token(store.AccessToken, "outsider")
	if err := s.CreateToken(c, outsider); err != nil {
		t.Fatal(err)
	}
	loner := token(store.AccessToken, "loner")
	loner.FamilyID = ""
	if err := s.CreateToken(c, loner); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(c, store.AccessToken, "member1", base); err != nil {
		t.Fatal(err)
	}
	n, err := s.RevokeFamily(c, "family", base.Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("RevokeFamily = %d, %v; want the 3 members not revoked before", n, err)
	}
	for i, kind := range []store.TokenKind{store.AuthorizationCode, store.AccessToken, store.RefreshToken, store.AccessToken} {
		got, _ := s.GetToken(c, kind, fmt.Sprint("member", i))
		if got.RevokedAt.IsZero() {
			t.Errorf("member%d was not revoked", i)
		}
	}
	if got, _ := s.GetToken(c, store.AccessToken, "member1"); !got.RevokedAt.Equal(base) {
		t.Errorf("an earlier revocation time was overwritten: %v", got.RevokedAt)
	}
	for _, id := range []string{"outsider", "loner"} {
		if got, _ := s.GetToken(c, store.AccessToken, id); !got.RevokedAt.IsZero() {
			t.Errorf("%s was revoked with a family it is not in", id)
		}
	}
	if n, err := s.RevokeFamily(c, "", base); err != nil || n != 0 {
		t.Fatalf("RevokeFamily(\"\") = %d, %v; want 0 (tokens with no family stand alone)", n, err)
	}
	// A token created into a revoked family is born revoked.
	late := token(store.RefreshToken, "late")
	late.FamilyID = "family"
	if err := s.CreateToken(c, late); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(c, store.RefreshToken, "late"); got.RevokedAt.IsZero() {
		t.Error("a token created into a revoked family is active")
	}
}

// testFamilyRace revokes a family while tokens are being added to it, as
// a replayed code does while the first redemption stores its tokens: no
// token of the family may stay active.
func testFamilyRace(t *testing.T, s store.Store) {
	c := ctx(t)
	for round := range 10 {
		fam := fmt.Sprint("race", round)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := token(store.AccessToken, fmt.Sprint(fam, "-", i))
				tok.FamilyID = fam
				if err := s.CreateToken(c, tok); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.RevokeFamily(c, fam, base); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		// Whatever the order, once RevokeFamily returned, a later
		// revocation finds nothing, or every token is revoked.
		if _, err := s.RevokeFamily(c, fam, base); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			if got, _ := s.GetToken(c, store.AccessToken, fmt.Sprint(fam, "-", i)); got.RevokedAt.IsZero() {
				t.Fatalf("round %d: token %d of a revoked family is active", round, i)
			}
		}
	}
}

func testRevokedSince(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 5 {
		tok := token(store.AccessToken, fmt.Sprint("t", i))
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := s.RevokeToken(c, tok.Kind, tok.ID, base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.RevokedAfter(c, store.RevocationCursor{At: base.Add(2 * time.Second)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "t2" || got[2].ID != "t4" || !got[0].RevokedAt.Equal(base.Add(2*time.Second)) {
		t.Fatalf("RevokedAfter = %+v; want t2, t3, t4 in order", got)
	}
	if got[0].FamilyID != "fam-t2" || got[0].Kind != store.AccessToken {
		t.Fatalf("RevokedAfter lost the family or kind: %+v", got[0])
	}
	if got, _ := s.RevokedAfter(c, store.RevocationCursor{At: base}, 2); len(got) != 2 || got[0].ID != "t1" {
		t.Fatalf("RevokedAfter with limit 2 = %+v; want t1, t2", got)
	}
	// Many revocations at one instant page through without stalling.
	for i := range 25 {
		tok := token(store.RefreshToken, fmt.Sprintf("same%02d", i))
		tok.FamilyID = "same"
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	at := base.Add(time.Minute)
	if _, err := s.RevokeFamily(c, "same", at); err != nil {
		t.Fatal(err)
	}
	cursor, seen := store.RevocationCursor{At: at}, 0
	for page := 0; page < 10; page++ {
		got, err := s.RevokedAfter(c, cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			seen++
			cursor = store.RevocationCursor{At: r.RevokedAt, Kind: r.Kind, ID: r.ID}
		}
		if len(got) < 10 {
			break
		}
	}
	if seen != 25 {
		t.Fatalf("paging 25 revocations of one instant found %d", seen)
	}
}

func testSecrets(t *testing.T, s store.Store) {
	c := ctx(t)
	var calls atomic.Int32
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls.Add(1); return []byte(v), nil }
	}
	const callers = 8
	results := make([][]byte, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.GetOrCreateSecret(c, "cookie", gen(fmt.Sprint("value", i)))
			if err != nil {
				t.Errorf("GetOrCreateSecret: %v", err)
			}
			results[i] = v
		}()
	}
	wg.Wait()
	for i := range results {
		if len(results[i]) == 0 || !bytes.Equal(results[i], results[0]) {
			t.Fatalf("concurrent callers got different secrets: %q", results)
		}
	}
	before := calls.Load()
	v, err := s.GetOrCreateSecret(c, "cookie", gen("other"))
	if err != nil || !bytes.Equal(v, results[0]) || calls.Load() != before {
		t.Fatalf("a stored secret was generated again or changed: %q, %v", v, err)
	}
	if v, _ := s.GetOrCreateSecret(c, "another", gen("second")); string(v) != "second" {
		t.Fatalf("a second name got %q", v)
	}
	boom := errors.New("boom")
	if _, err := s.GetOrCreateSecret(c, "failing", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("generator error = %v; want it returned", err)
	}
}

func testSweep(t *testing.T, s store.Store) {
	c := ctx(t)
	old := token(store.AccessToken, "old")
	old.ExpiresAt = base.Add(-time.Second)
	live := token(store.AccessToken, "live")
	for _, tok := range []store.Token{old, live} {
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	err := s.UpdateKeys(c, func([]store.SigningKey) ([]store.SigningKey, error) {
		gone := key("gone", base.Add(-3*time.Hour))
		return []store.SigningKey{gone, key("kept", base)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Sweep(c, base)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res.Tokens != 1 || res.Keys != 1 {
		t.Fatalf("Sweep = %+v; want 1 token and 1 key", res)
	}
	if _, err := s.GetToken(c, store.AccessToken, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired token survived the sweep")
	}
	if _, err := s.GetToken(c, store.AccessToken, "live"); err != nil {
		t.Fatalf("a live token was swept: %v", err)
	}
	if keys, _ := s.ListKeys(c); len(keys) != 1 || keys[0].ID != "kept" {
		t.Fatalf("keys after sweep: %+v", keys)
	}
}

func testClients(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.GetClient(c, "none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient of an unknown client: %v; want ErrNotFound", err)
	}
	in := store.RegisteredClient{ID: "c1", Metadata: []byte(`{"client_name":"One"}`), SecretHash: "ab", RegistrationTokenHash: "cd", CreatedAt: base, UpdatedAt: base}
	if err := s.CreateClient(c, in); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if err := s.CreateClient(c, in); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("a second CreateClient: %v; want ErrAlreadyExists", err)
	}
	got, err := s.GetClient(c, "c1")
	if err != nil || got.ID != "c1" || string(got.Metadata) != `{"client_name":"One"}` || got.SecretHash != "ab" ||
		got.RegistrationTokenHash != "cd" || !got.CreatedAt.Equal(base) || !got.UpdatedAt.Equal(base) {
		t.Fatalf("GetClient = %+v, %v", got, err)
	}
	later := base.Add(time.Hour)
	upd, err := s.UpdateClient(c, "c1", func(rc store.RegisteredClient) (store.RegisteredClient, error) {
		rc.Metadata, rc.UpdatedAt, rc.ID = []byte(`{"client_name":"Uno"}`), later, "changed"
		return rc, nil
	})
	if err != nil || upd.ID != "c1" {
		t.Fatalf("UpdateClient = %+v, %v", upd, err)
	}
	if got, _ := s.GetClient(c, "c1"); string(got.Metadata) != `{"client_name":"Uno"}` || !got.UpdatedAt.Equal(later) || !got.CreatedAt.Equal(base) {
		t.Fatalf("after update: %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateClient(c, "c1", func(rc store.RegisteredClient) (store.RegisteredClient, error) { return rc, boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateClient error = %v; want the update's", err)
	}
	if _, err := s.UpdateClient(c, "none", func(rc store.RegisteredClient) (store.RegisteredClient, error) { return rc, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating an unknown client: %v", err)
	}
	if err := s.DeleteClient(c, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if err := s.DeleteClient(c, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v; want ErrNotFound", err)
	}
	if _, err := s.GetClient(c, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted client is still there")
	}
}

func testRevokeClientTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	for i, client := range []string{"a", "a", "b", "a"} {
		tok := token(store.AccessToken, fmt.Sprint("t", i))
		tok.ClientID = client
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeToken(c, store.AccessToken, "t3", base); err != nil {
		t.Fatal(err)
	}
	n, err := s.RevokeClientTokens(c, "a", base.Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("RevokeClientTokens = %d, %v; want the 2 of client a not revoked before", n, err)
	}
	for i, want := range []bool{true, true, false, true} {
		got, _ := s.GetToken(c, store.AccessToken, fmt.Sprint("t", i))
		if !got.RevokedAt.IsZero() != want {
			t.Errorf("t%d revoked = %v; want %v", i, !got.RevokedAt.IsZero(), want)
		}
	}
}
