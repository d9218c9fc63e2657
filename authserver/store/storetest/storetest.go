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
		{"IssueTokens", testIssueTokens},
		{"IssueTokensConcurrentSpend", testIssueTokensConcurrentSpend},
		{"IssueTokensRevokedFamily", testIssueTokensRevokedFamily},
		{"IssueTokensCanceled", testIssueTokensCanceled},
		{"IssueTokensAfterOneAccessToken", testIssueTokensAfterOneAccessToken},
		{"TokenUpdate", testTokenUpdate},
		{"TokenConcurrentUpdate", testTokenConcurrentUpdate},
		{"TokenRevoke", testTokenRevoke},
		{"TokenRevokeFamily", testTokenRevokeFamily},
		{"FamilyRace", testFamilyRace},
		{"TokenConcurrentCreate", testTokenConcurrentCreate},
		{"RevokedSince", testRevokedSince},
		{"Secrets", testSecrets},
		{"Clients", testClients},
		{"RevokeClientTokens", testRevokeClientTokens},
		{"ListSubjectTokens", testListSubjectTokens},
		{"Sweep", testSweep},
		{"Ping", testPing},
		{"UserLookups", testUserLookups},
		{"UserDuplicates", testUserDuplicates},
		{"UserUpdate", testUserUpdate},
		{"UserConcurrentUpdate", testUserConcurrentUpdate},
		{"UserDelete", testUserDelete},
		{"UserList", testUserList},
		{"RevokeSubjectTokens", testRevokeSubjectTokens},
		{"FactorLookups", testFactorLookups},
		{"FactorDuplicates", testFactorDuplicates},
		{"FactorList", testFactorList},
		{"FactorFind", testFactorFind},
		{"FactorUpdate", testFactorUpdate},
		{"FactorConcurrentSpend", testFactorConcurrentSpend},
		{"FactorDelete", testFactorDelete},
		{"DeleteUserFactors", testDeleteUserFactors},
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

	// Many expired tokens, more than a store may delete at once, all go;
	// the live one stays.
	const many = 2500
	var wg sync.WaitGroup
	for i := range many {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := token(store.RefreshToken, fmt.Sprint("expired-", i))
			tok.ExpiresAt = base.Add(-time.Minute)
			if err := s.CreateToken(c, tok); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if res, err = s.Sweep(c, base); err != nil || res.Tokens != many {
		t.Fatalf("Sweep of %d expired tokens = %+v, %v", many, res, err)
	}
	if _, err := s.GetToken(c, store.AccessToken, "live"); err != nil {
		t.Fatalf("a live token was swept: %v", err)
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
	older := store.RegisteredClient{ID: "c0", Metadata: []byte(`{}`), CreatedAt: base.Add(-time.Minute), UpdatedAt: base}
	if err := s.CreateClient(c, older); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if list, err := s.ListClients(c); err != nil || len(list) != 2 || list[0].ID != "c0" || list[1].ID != "c1" || list[1].SecretHash != "ab" {
		t.Fatalf("ListClients = %+v, %v; want c0 then c1", list, err)
	}
	if err := s.DeleteClient(c, "c0"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if err := s.DeleteClient(c, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if list, err := s.ListClients(c); err != nil || len(list) != 0 {
		t.Fatalf("ListClients after deleting all = %+v, %v", list, err)
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

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	// A context that has ended fails the ping.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ping(done); err == nil {
		t.Error("Ping with an ended context succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx(t)); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
}
