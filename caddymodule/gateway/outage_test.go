package gateway

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// errStoreDown is what the outage test's session store and verifier
// answer while their store is away: an error that is no refusal.
var errStoreDown = errors.New("store: unavailable")

// outageSessions is a session store in which every session is active,
// unless it is down.
type outageSessions struct{ down *atomic.Bool }

func (s outageSessions) StartSession(context.Context, string, string, time.Time) (string, error) {
	return random(16), nil
}

func (s outageSessions) SessionActive(context.Context, string) (bool, error) {
	if s.down.Load() {
		return false, errStoreDown
	}
	return true, nil
}

func (s outageSessions) EndSession(context.Context, string) error {
	if s.down.Load() {
		return errStoreDown
	}
	return nil
}

// outageVerifier is a claimsVerifier that cannot decide while down.
type outageVerifier struct {
	claimsVerifier
	down *atomic.Bool
}

func (v outageVerifier) Verify(ctx context.Context, token string) (*Identity, time.Time, error) {
	if v.down.Load() {
		return nil, time.Time{}, errStoreDown
	}
	return v.claimsVerifier.Verify(ctx, token)
}

// TestStoreOutage: while the store behind sessions and tokens is away,
// the gateway keeps serving the sessions and tokens it verified before,
// and answers 503 with Retry-After (never access, never a sign-in that
// would fail the same way) for those it cannot check; once the store is
// back they pass.
func TestStoreOutage(t *testing.T) {
	p := newMFAIdP(t)
	var down atomic.Bool
	claims := map[string]any{"sub": "svc", "client_id": "cli", "aud": "https://app.example"}
	g, err := New(Config{AcceptBearer: true, AcceptSession: true,
		Verifier: outageVerifier{claimsVerifier{"seen": claims, "unseen": claims}, &down},
		Login: &Login{Issuer: mfaIssuer, ClientID: "gw", ClientSecret: "s",
			Endpoint:          oauth2.Endpoint{AuthURL: mfaIssuer + "/authorize", TokenURL: p.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
			KeySet:            &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&p.key.PublicKey}},
			SigningAlgorithms: []string{"RS256"}},
		CookieHashKey: []byte(strings.Repeat("h", 64)), CookieBlockKey: []byte(strings.Repeat("b", 32)),
		Sessions: outageSessions{&down}, Hosts: []string{"app.example"}, Name: "Wiki"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	ctx := context.Background()
	seenSession := sessionCookieHeader(t, g, []string{"pwd"}, "")
	unseenSession := sessionCookieHeader(t, g, []string{"pwd"}, "")
	requests := map[string]*Request{
		"seen token":     mfaRequest("GET", "/api", "Authorization", "Bearer seen"),
		"unseen token":   mfaRequest("GET", "/api", "Authorization", "Bearer unseen"),
		"seen session":   mfaRequest("GET", "/page", "Accept", browserAccept, "Cookie", seenSession),
		"unseen session": mfaRequest("GET", "/page", "Accept", browserAccept, "Cookie", unseenSession),
	}
	for _, name := range []string{"seen token", "seen session"} {
		if d := g.Decide(ctx, requests[name]); !d.Allowed {
			t.Fatalf("%s before the outage: %d %s", name, d.Status, d.Body)
		}
	}

	down.Store(true)
	for name, r := range requests {
		d := g.Decide(ctx, r)
		if strings.HasPrefix(name, "seen") {
			if !d.Allowed {
				t.Errorf("%s during the outage: %d %s; want it served from the cache", name, d.Status, d.Body)
			}
			continue
		}
		if d.Allowed || d.Status != http.StatusServiceUnavailable || d.Header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: allowed %v, %d (Retry-After %q) %s; want 503 with Retry-After",
				name, d.Allowed, d.Status, d.Header.Get("Retry-After"), d.Body)
		}
	}

	// A sign-out the store cannot record says so and keeps the cookie.
	logout := mfaRequest("POST", g.cfg.LogoutPath, "Cookie", unseenSession, "Sec-Fetch-Site", "same-origin")
	if d := g.Decide(ctx, logout); d.Status != http.StatusServiceUnavailable || d.Header.Get("Retry-After") == "" || len(d.Header.Values("Set-Cookie")) > 0 {
		t.Errorf("sign-out during the outage: %d (Retry-After %q, Set-Cookie %q) %s; want 503 keeping the cookie",
			d.Status, d.Header.Get("Retry-After"), d.Header.Values("Set-Cookie"), d.Body)
	}

	down.Store(false)
	for name, r := range requests {
		if d := g.Decide(ctx, r); !d.Allowed {
			t.Errorf("%s after the outage: %d %s", name, d.Status, d.Body)
		}
	}
	if d := g.Decide(ctx, logout); d.Status != http.StatusSeeOther || len(d.Header.Values("Set-Cookie")) == 0 {
		t.Errorf("sign-out after the outage: %d %v %s", d.Status, d.Header, d.Body)
	}
}

// TestTemporaryRefreshFailure is the table of refresh failures that
// leave a session undecided (503) rather than refused (sign in again).
func TestTemporaryRefreshFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"none", nil, false},
		{"503", fmt.Errorf("refreshing: %w", &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusServiceUnavailable}}), true},
		{"500", &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusInternalServerError}}, true},
		{"invalid_grant", &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusBadRequest}, ErrorCode: "invalid_grant"}, false},
		{"unreachable", fmt.Errorf("refreshing: %w", &url.Error{Op: "Post", URL: "https://idp.example/token", Err: errors.New("connection refused")}), true},
		{"bad ID token", errors.New("verifying the refreshed ID token: expired"), false},
	} {
		if got := temporary(tc.err); got != tc.want {
			t.Errorf("%s: temporary(%v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
