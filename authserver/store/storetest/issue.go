package storetest

// The IssueTokens cases of the conformance suite: several tokens stored
// as one, and a single-use record spent in the same transaction.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// testIssueTokens checks each outcome of IssueTokens: what it answers,
// which records it stored, and whether it spent the record.
func testIssueTokens(t *testing.T, s store.Store) {
	at := base.Add(time.Minute)
	tests := []struct {
		name string
		// prepare stores what the case needs and returns the spend, if
		// any.
		prepare func(t *testing.T) *store.Spend
		// tokens are the new records, with IDs made unique per case.
		tokens []store.TokenKind
		// clash makes the last new token's ID one that exists already.
		clash   bool
		wantErr error
		// wantConsumed: the spent record is consumed at at afterwards.
		wantConsumed bool
	}{
		{name: "tokens without a spend", tokens: []store.TokenKind{store.AccessToken, store.RefreshToken}},
		{name: "a spend", prepare: spendable(s, nil), tokens: []store.TokenKind{store.AccessToken, store.RefreshToken},
			wantConsumed: true},
		{name: "a spend of a record spent before", wantErr: store.ErrConsumed,
			prepare: spendable(s, func(r *store.Token) { r.ConsumedAt = base }), tokens: []store.TokenKind{store.AccessToken}},
		{name: "a spend of a revoked record", wantErr: store.ErrInactive,
			prepare: spendable(s, func(r *store.Token) { r.RevokedAt = base }), tokens: []store.TokenKind{store.AccessToken}},
		{name: "a spend of an expired record", wantErr: store.ErrInactive,
			prepare: spendable(s, func(r *store.Token) { r.ExpiresAt = at }), tokens: []store.TokenKind{store.AccessToken}},
		{name: "a spend of an unknown record", wantErr: store.ErrNotFound,
			prepare: func(*testing.T) *store.Spend {
				return &store.Spend{Kind: store.RefreshToken, ID: "never-stored", At: at}
			}, tokens: []store.TokenKind{store.AccessToken}},
		{name: "a spend whose second token exists", wantErr: store.ErrAlreadyExists, clash: true,
			prepare: spendable(s, nil), tokens: []store.TokenKind{store.AccessToken, store.RefreshToken}},
		{name: "two tokens, the second existing", wantErr: store.ErrAlreadyExists, clash: true,
			tokens: []store.TokenKind{store.AccessToken, store.RefreshToken}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			var spend *store.Spend
			if tt.prepare != nil {
				spend = tt.prepare(t)
			}
			var tokens []store.Token
			for j, kind := range tt.tokens {
				tok := token(kind, fmt.Sprintf("issue-%d-%d", i, j))
				tok.FamilyID = "issue-family"
				tokens = append(tokens, tok)
			}
			if tt.clash {
				existing := token(tokens[len(tokens)-1].Kind, fmt.Sprintf("issue-%d-existing", i))
				if err := s.CreateToken(c, existing); err != nil {
					t.Fatal(err)
				}
				tokens[len(tokens)-1].ID = existing.ID
			}
			spent, err := s.IssueTokens(c, spend, tokens)
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("IssueTokens: err = %v; want %v", err, tt.wantErr)
			}
			stored := tt.wantErr == nil
			for j, tok := range tokens {
				if tt.clash && j == len(tokens)-1 {
					continue
				}
				got, err := s.GetToken(c, tok.Kind, tok.ID)
				switch {
				case stored && (err != nil || !sameToken(got, tok)):
					t.Errorf("token %d: GetToken = %+v, %v; want it stored as given", j, got, err)
				case !stored && !errors.Is(err, store.ErrNotFound):
					t.Errorf("token %d: GetToken = %+v, %v; want it not stored (the call failed)", j, got, err)
				}
			}
			if spend == nil {
				return
			}
			if (errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrInactive)) && spent.ID != spend.ID {
				t.Errorf("IssueTokens returned %+v with %v; want the record it could not spend", spent, err)
			}
			rec, getErr := s.GetToken(c, spend.Kind, spend.ID)
			if errors.Is(getErr, store.ErrNotFound) {
				return
			}
			consumed := rec.ConsumedAt.Equal(at)
			if consumed != tt.wantConsumed {
				t.Errorf("spent record consumed at %v; want consumed at %v: %v", rec.ConsumedAt, at, tt.wantConsumed)
			}
			if tt.wantConsumed && (err != nil || !spent.ConsumedAt.Equal(at) || spent.FamilyID != rec.FamilyID) {
				t.Errorf("IssueTokens returned %+v, %v; want the record as consumed", spent, err)
			}
		})
	}
}

// spendable returns a prepare step that stores a refresh token (changed
// by change, if given) and names it as the spend at base plus a minute.
func spendable(s store.Store, change func(*store.Token)) func(t *testing.T) *store.Spend {
	return func(t *testing.T) *store.Spend {
		t.Helper()
		rec := token(store.RefreshToken, "spend-"+t.Name())
		if change != nil {
			change(&rec)
		}
		if err := s.CreateToken(ctx(t), rec); err != nil {
			t.Fatal(err)
		}
		return &store.Spend{Kind: rec.Kind, ID: rec.ID, At: base.Add(time.Minute)}
	}
}

// testIssueTokensConcurrentSpend: of many concurrent calls spending one
// record, each with its own new token, exactly one succeeds and exactly
// its token is stored; the others see ErrConsumed.
func testIssueTokensConcurrentSpend(t *testing.T, s store.Store) {
	c := ctx(t)
	rec := token(store.RefreshToken, "contested")
	if err := s.CreateToken(c, rec); err != nil {
		t.Fatal(err)
	}
	const callers = 16
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := token(store.RefreshToken, fmt.Sprintf("next-%d", i))
			next.FamilyID = rec.FamilyID
			_, errs[i] = s.IssueTokens(c, &store.Spend{Kind: rec.Kind, ID: rec.ID, At: base.Add(time.Second)}, []store.Token{next})
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		_, getErr := s.GetToken(c, store.RefreshToken, fmt.Sprintf("next-%d", i))
		switch {
		case err == nil:
			wins++
			if getErr != nil {
				t.Errorf("caller %d won but its token is not stored: %v", i, getErr)
			}
		case errors.Is(err, store.ErrConsumed):
			if !errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("caller %d lost but its token was stored (%v)", i, getErr)
			}
		default:
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d callers spent one record: %d won; want exactly 1", callers, wins)
	}
}

// testIssueTokensRevokedFamily: tokens issued into a revoked family are
// stored revoked, as CreateToken stores them.
func testIssueTokensRevokedFamily(t *testing.T, s store.Store) {
	c := ctx(t)
	member := token(store.RefreshToken, "member")
	if err := s.CreateToken(c, member); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeFamily(c, member.FamilyID, base); err != nil {
		t.Fatal(err)
	}
	next := token(store.AccessToken, "after-revocation")
	next.FamilyID = member.FamilyID
	if _, err := s.IssueTokens(c, nil, []store.Token{next}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetToken(c, next.Kind, next.ID); err != nil || !got.RevokedAt.Equal(base) {
		t.Fatalf("a token issued into a revoked family: %+v, %v; want it revoked at %v", got, err, base)
	}
}

// testIssueTokensCanceled: callers whose requests end while their writes
// wait or run are told the truth. A call that returned nil stored its
// tokens and spent its record; one that returned an error stored nothing
// and left its record unspent. One caller going away does not fail the
// others.
func testIssueTokensCanceled(t *testing.T, s store.Store) {
	c := ctx(t)
	const callers = 64
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		rec := token(store.RefreshToken, fmt.Sprintf("cancel-old-%d", i))
		if err := s.CreateToken(c, rec); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			callCtx := c
			if i%2 == 1 {
				var cancel context.CancelFunc
				callCtx, cancel = context.WithCancel(c)
				time.AfterFunc(time.Duration(i%8)*100*time.Microsecond, cancel)
				defer cancel()
			}
			next := token(store.AccessToken, fmt.Sprintf("cancel-new-%d", i))
			next.FamilyID = rec.FamilyID
			_, errs[i] = s.IssueTokens(callCtx, &store.Spend{Kind: rec.Kind, ID: rec.ID, At: base.Add(time.Second)}, []store.Token{next})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && err != nil {
			t.Errorf("caller %d, never canceled, failed: %v", i, err)
		}
		_, getErr := s.GetToken(c, store.AccessToken, fmt.Sprintf("cancel-new-%d", i))
		old, oldErr := s.GetToken(c, store.RefreshToken, fmt.Sprintf("cancel-old-%d", i))
		if oldErr != nil {
			t.Fatal(oldErr)
		}
		stored, spent := getErr == nil, !old.ConsumedAt.IsZero()
		if err == nil && (!stored || !spent) || err != nil && (stored || spent) {
			t.Errorf("caller %d was answered %v, but its token stored: %v, its record spent: %v", i, err, stored, spent)
		}
	}
}

// testIssueTokensAfterOneAccessToken: an access token revoked alone (by
// its jti) does not revoke its family: tokens issued into it later are
// stored as given.
func testIssueTokensAfterOneAccessToken(t *testing.T, s store.Store) {
	c := ctx(t)
	member := token(store.AccessToken, "alone")
	if err := s.CreateToken(c, member); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(c, member.Kind, member.ID, base); err != nil {
		t.Fatal(err)
	}
	next := token(store.RefreshToken, "after-alone")
	next.FamilyID = member.FamilyID
	if _, err := s.IssueTokens(c, nil, []store.Token{next}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetToken(c, next.Kind, next.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Fatalf("a token issued into a family one access token of which was revoked: %+v, %v; want it not revoked", got, err)
	}
}
