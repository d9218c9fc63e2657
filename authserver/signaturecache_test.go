package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// respell returns another base64url spelling of a JWT whose signature's
// last character has spare bits (ES256: 64 bytes in 86 characters, 4
// spare bits): the same bytes, a different string.
func respell(t *testing.T, jwt string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, jwt[len(jwt)-1])
	if last < 0 {
		t.Fatalf("the JWT does not end in base64url: %q", jwt)
	}
	return jwt[:len(jwt)-1] + string(alphabet[last^1])
}

// TestSignatureCache: introspection remembers a verified signature but
// never what the record says, and never past its key. A revocation of any
// spelling of a cached token takes effect at once for every spelling; a
// token with a changed signature is not taken for the cached one; and a
// cached token whose key is no longer published is inactive.
func TestSignatureCache(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.svcToken("svc", "svc-secret", nil)
	other := respell(t, tok)
	if other == tok {
		t.Fatal("respell returned the same string")
	}
	for _, tt := range []struct {
		name   string
		token  string
		active bool
	}{
		{"first introspection", tok, true},
		{"second introspection (cached)", tok, true},
		{"another spelling", other, true},
		{"a signature changed in a bit that counts", tok[:len(tok)-2] + flipChar(tok[len(tok)-2]) + tok[len(tok)-1:], false},
		{"a forged payload", svcForged(tok), false},
	} {
		if got := e.svcActive(tt.token); got != tt.active {
			t.Errorf("%s: active = %v; want %v", tt.name, got, tt.active)
		}
	}
	if r := e.postForm("/revoke", url.Values{"token": {other}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatalf("revoking another spelling: %d %s", r.status, r.body)
	}
	for _, spelling := range []string{tok, other} {
		if e.svcActive(spelling) {
			t.Error("a revoked token is active from the signature cache")
		}
	}

	// A token whose key is unpublished is inactive, cached or not.
	live := e.svcToken("svc", "svc-secret", nil)
	if !e.svcActive(live) {
		t.Fatal("a fresh token is inactive")
	}
	ctx := context.Background()
	if err := e.store.UpdateKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.cfg.Keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if e.svcActive(live) {
		t.Error("a token whose key is no longer published is active from the signature cache")
	}
}

// flipChar returns another base64url character whose top bits differ.
func flipChar(c byte) string {
	if c == 'A' {
		return "g"
	}
	return "A"
}

// TestNewJTI: access token IDs are 22 base64url characters and distinct,
// and those issued close together share their first characters (the
// time's high bits), so a busy server's inserts land together in the
// primary key.
func TestNewJTI(t *testing.T) {
	t0 := time.UnixMilli(1_795_000_000_000 &^ (1<<18 - 1)) // a 2^18 ms window starts here
	seen := map[string]bool{}
	first := newJTI(t0)
	for i := range 1000 {
		id := newJTI(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 22 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("jti %q: want 22 base64url characters", id)
		}
		if seen[id] {
			t.Fatalf("jti %q repeated", id)
		}
		seen[id] = true
		if id[:5] != first[:5] {
			t.Fatalf("jti %q, issued within a second of %q, does not share its first 5 characters", id, first)
		}
	}
	if later := newJTI(t0.Add(time.Hour)); later[:5] == first[:5] {
		t.Fatalf("jti %q, issued an hour later, shares the prefix of %q", later, first)
	}
	if a, b := newJTI(t0), newJTI(t0); a == b {
		t.Fatal("two IDs of one millisecond are equal")
	}
}
