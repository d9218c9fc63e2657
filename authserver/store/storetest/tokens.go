package storetest

// The token cases of the conformance suite: records, single use, updates,
// revocation by record and by family, and the revocation feed.

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

// testTokenConcurrentCreate inserts many tokens at once, as a busy token
// endpoint does (a store may commit them together): each insert gets its
// own answer, a duplicate among them is refused without failing the
// others, a token of a revoked family is stored revoked, and every insert
// answered nil is there to read.
func testTokenConcurrentCreate(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateToken(c, token(store.AccessToken, "taken")); err != nil {
		t.Fatal(err)
	}
	revokedFamily := token(store.RefreshToken, "revoked-family-root")
	if err := s.CreateToken(c, revokedFamily); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeFamily(c, revokedFamily.FamilyID, base); err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := token(store.AccessToken, fmt.Sprint("many-", i))
			switch i % 20 {
			case 0:
				tok.ID = "taken"
			case 1:
				tok.FamilyID = revokedFamily.FamilyID
			}
			errs[i] = s.CreateToken(c, tok)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		id := fmt.Sprint("many-", i)
		switch i % 20 {
		case 0:
			if !errors.Is(err, store.ErrAlreadyExists) {
				t.Errorf("insert %d of a taken ID: err = %v; want ErrAlreadyExists", i, err)
			}
			continue
		case 1:
			got, gerr := s.GetToken(c, store.AccessToken, id)
			if err != nil || gerr != nil || got.RevokedAt.IsZero() {
				t.Errorf("insert %d into a revoked family: err = %v, read %+v, %v; want it stored revoked", i, err, got, gerr)
			}
			continue
		}
		if err != nil {
			t.Errorf("insert %d: %v", i, err)
			continue
		}
		if got, err := s.GetToken(c, store.AccessToken, id); err != nil || got.ID != id || !got.RevokedAt.IsZero() {
			t.Errorf("insert %d answered nil, then GetToken = %+v, %v", i, got, err)
		}
	}
	// An insert whose caller has gone is answered with the context's error.
	gone, cancel := context.WithCancel(c)
	cancel()
	if err := s.CreateToken(gone, token(store.AccessToken, "gone")); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateToken with a cancelled context: err = %v; want context.Canceled", err)
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

func testListSubjectTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	if got, err := s.ListSubjectTokens(c, "alice", store.Session); err != nil || len(got) != 0 {
		t.Fatalf("ListSubjectTokens before any = %v, %v; want none", got, err)
	}
	// Created out of order: the list is by IssuedAt, then ID.
	for _, r := range []struct {
		kind    store.TokenKind
		id      string
		subject string
		issued  time.Duration
	}{
		{store.Session, "s3", "alice", 3 * time.Minute},
		{store.Session, "s1", "alice", time.Minute},
		{store.Session, "s2b", "alice", 2 * time.Minute},
		{store.Session, "s2a", "alice", 2 * time.Minute},
		{store.Session, "other", "bob", time.Minute},
		{store.Session, "nobody", "", time.Minute},
		{store.Consent, "c1", "alice", time.Minute},
	} {
		tok := token(r.kind, r.id)
		tok.Subject, tok.IssuedAt = r.subject, base.Add(r.issued)
		tok.ExpiresAt = tok.IssuedAt.Add(time.Hour)
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	// Inactive records are listed too.
	if err := s.RevokeToken(c, store.Session, "s1", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(c, store.Session, "s3", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListSubjectTokens(c, "alice", store.Session)
	if err != nil {
		t.Fatalf("ListSubjectTokens: %v", err)
	}
	var ids []string
	for _, tok := range got {
		ids = append(ids, tok.ID)
	}
	if fmt.Sprint(ids) != "[s1 s2a s2b s3]" {
		t.Fatalf("ListSubjectTokens = %v; want [s1 s2a s2b s3]", ids)
	}
	if got[0].RevokedAt.IsZero() || got[3].ConsumedAt.IsZero() || !got[1].IssuedAt.Equal(base.Add(2*time.Minute)) || got[1].Subject != "alice" {
		t.Errorf("the records came back changed: %+v", got)
	}
	want := token(store.Session, "s2a")
	want.IssuedAt, want.ExpiresAt = base.Add(2*time.Minute), base.Add(2*time.Minute+time.Hour)
	if !sameToken(got[1], want) {
		t.Errorf("record = %+v; want %+v", got[1], want)
	}
	if got, err := s.ListSubjectTokens(c, "alice", store.Consent); err != nil || len(got) != 1 || got[0].ID != "c1" {
		t.Errorf("ListSubjectTokens of consents = %v, %v; want c1", got, err)
	}
	if got, err := s.ListSubjectTokens(c, "", store.Session); err != nil || len(got) != 0 {
		t.Errorf("ListSubjectTokens of the empty subject = %v, %v; want none", got, err)
	}
}
