package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"golang.org/x/oauth2"
)

// signinOfflineToken runs app's code flow for scopes (which should hold
// offline_access) and returns its tokens.
func (e *testEnv) signinOfflineToken(scopes ...string) *oauth2.Token {
	e.t.Helper()
	tok := e.signedIn(scopes...)
	if tok.RefreshToken == "" {
		e.t.Fatalf("no refresh token for %v", scopes)
	}
	return tok
}

// signinRefreshOK refreshes and returns the token response, failing the
// test if the refresh fails.
func (e *testEnv) signinRefreshOK(client, rt, scope string) map[string]any {
	e.t.Helper()
	r := e.signinRefresh(client, rt, scope)
	if r.status != http.StatusOK {
		e.t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// TestRefreshTokenRotation: each refresh returns a new pair and spends
// the old refresh token (RFC 9700 §4.14.2); the scope may narrow, while
// the rotated refresh token keeps the grant's whole scope (RFC 6749 §6),
// and never widen; using a spent refresh token revokes its whole family.
func TestRefreshTokenRotation(t *testing.T) {
	e := signinEnv(t, nil)
	tok := e.signinOfflineToken("openid", "offline_access", "read")
	first := tok.RefreshToken
	second := e.signinRefreshOK("app", first, "")
	if second["refresh_token"] == first || second["access_token"] == tok.AccessToken || second["scope"] != "openid offline_access read" {
		t.Fatalf("refresh did not rotate: %v", second)
	}
	if !e.signinActive(second["access_token"].(string)) || e.signinActive(first) {
		t.Error("after a refresh the new access token must be active and the old refresh token spent")
	}
	narrow := e.signinRefreshOK("app", second["refresh_token"].(string), "openid")
	if narrow["scope"] != "openid" || narrow["refresh_token"] == nil {
		t.Errorf("narrowed: %v", narrow)
	}
	if in := e.signinIntrospect(narrow["access_token"].(string)); in["scope"] != "openid" {
		t.Errorf("the narrowed access token's scope = %v", in["scope"])
	}
	back := e.signinRefreshOK("app", narrow["refresh_token"].(string), "openid read")
	if back["scope"] != "openid read" {
		t.Errorf("after narrowing once, the grant's scope = %v", back)
	}
	wide := e.signinRefresh("app", back["refresh_token"].(string), "openid profile")
	if wide.status != http.StatusBadRequest || wide.errorCode(t) != codeInvalidScope {
		t.Errorf("widening: %d %s; want invalid_scope", wide.status, wide.body)
	}
	reuse := e.signinRefresh("app", first, "")
	if reuse.status != http.StatusBadRequest || reuse.errorCode(t) != codeInvalidGrant {
		t.Fatalf("reusing a rotated refresh token: %d %s; want invalid_grant", reuse.status, reuse.body)
	}
	for _, tokn := range []string{tok.AccessToken, second["access_token"].(string), narrow["access_token"].(string),
		back["access_token"].(string), back["refresh_token"].(string)} {
		if e.signinActive(tokn) {
			t.Error("a token of the family survived the reuse of a rotated refresh token")
		}
	}
	// Another family of the same user and client is untouched.
	other := e.signinOfflineToken("openid", "offline_access")
	if !e.signinActive(other.RefreshToken) {
		t.Error("the reuse revoked another family")
	}
}

// TestRefreshTokenErrors: a refresh request that fails its checks gets
// its RFC 6749 §5.2 code and leaves the refresh token usable, even when
// it was another client's attempt.
func TestRefreshTokenErrors(t *testing.T) {
	e := signinEnv(t, nil)
	tok := e.signinOfflineToken("openid", "offline_access")
	for _, tt := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"missing", url.Values{"client_id": {"app"}}, "", "", 400, codeInvalidRequest},
		{"unknown", url.Values{"client_id": {"app"}, "refresh_token": {"ag_rt_nothing"}}, "", "", 400, codeInvalidGrant},
		{"another public client", url.Values{"client_id": {"pushy"}, "refresh_token": {tok.RefreshToken}}, "", "", 400, codeInvalidGrant},
		{"another confidential client", url.Values{"refresh_token": {tok.RefreshToken}}, "webapp", "webapp-secret", 400, codeInvalidGrant},
		{"a client without the grant", url.Values{"refresh_token": {tok.RefreshToken}}, "svc", "svc-secret", 400, codeUnauthorizedClient},
		{"no client", url.Values{"refresh_token": {tok.RefreshToken}}, "", "", 401, codeInvalidClient},
		{"a wider scope", url.Values{"client_id": {"app"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid profile"}}, "", "", 400, codeInvalidScope},
		{"a scope with bad characters", url.Values{"client_id": {"app"}, "refresh_token": {tok.RefreshToken}, "scope": {`openid "x"`}}, "", "", 400, codeInvalidScope},
	} {
		tt.form.Set("grant_type", GrantRefreshToken)
		r := e.postForm("/token", tt.form, tt.user, tt.pass)
		if r.status != tt.status || r.errorCode(t) != tt.code || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s; want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	if !e.signinActive(tok.AccessToken) {
		t.Error("a failed refresh revoked the access token")
	}
	e.signinRefreshOK("app", tok.RefreshToken, "")
}

// TestRefreshTokenLifetime: a refresh token family has an absolute
// lifetime (RefreshTokenLifetime, on the clock) that rotation does not
// extend.
func TestRefreshTokenLifetime(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.RefreshTokenLifetime = 2 * time.Hour })
	tok := e.signinOfflineToken("openid", "offline_access")
	exp := e.signinIntrospect(tok.RefreshToken)["exp"]
	if exp != float64(e.clock.Now().Add(2*time.Hour).Unix()) {
		t.Errorf("the refresh token expires at %v", exp)
	}
	e.clock.Advance(time.Hour)
	rt := e.signinRefreshOK("app", tok.RefreshToken, "")["refresh_token"].(string)
	if got := e.signinIntrospect(rt)["exp"]; got != exp {
		t.Errorf("rotation moved the expiry from %v to %v", exp, got)
	}
	e.clock.Advance(time.Hour - time.Second)
	rt = e.signinRefreshOK("app", rt, "")["refresh_token"].(string)
	e.clock.Advance(time.Second)
	if r := e.signinRefresh("app", rt, ""); r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
		t.Errorf("after the family's lifetime: %d %s", r.status, r.body)
	}
}

// TestRefreshTokenDisabledUser: once a user is disabled, a first-party
// client's refresh token (IssueRefreshTokens, no offline_access) stops
// working and its family is revoked; the user's access tokens introspect
// inactive.
func TestRefreshTokenDisabledUser(t *testing.T) {
	e := signinEnv(t, nil)
	web := &oauth2.Config{ClientID: "webapp", ClientSecret: "webapp-secret", RedirectURL: "https://webapp.example/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token"}}
	code, verifier := e.browser().codeFlow(web)
	tok, err := exchange(t, web, code, verifier)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("first-party client: %v %+v; want a refresh token (IssueRefreshTokens)", err, tok)
	}
	rs := e.signinRestart(func(c *Config) { c.Users = signinDisabled(t) })
	if in := rs.postForm("/introspect", url.Values{"token": {tok.AccessToken}}, "rs", "rs-secret").json(t); in["active"] != false {
		t.Errorf("a disabled user's access token introspects %v", in)
	}
	r := rs.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}}, "webapp", "webapp-secret")
	if r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
		t.Errorf("refresh for a disabled user: %d %s", r.status, r.body)
	}
	// The family stays revoked when the user is enabled again.
	if e.signinActive(tok.RefreshToken) || e.signinActive(tok.AccessToken) {
		t.Error("the family of a disabled user's refresh token survived")
	}
}

// TestRefreshTokenRevoked: revoking a refresh token at /revoke revokes
// the access tokens issued with it (RFC 7009 §2.1), and the refresh token
// then gets invalid_grant.
func TestRefreshTokenRevoked(t *testing.T) {
	e := signinEnv(t, nil)
	tok := e.signinOfflineToken("openid", "offline_access")
	in := e.signinIntrospect(tok.RefreshToken)
	if in["active"] != true || in["client_id"] != "app" || in["sub"] != "alice" || in["scope"] != "openid offline_access" {
		t.Errorf("refresh token introspection = %v", in)
	}
	r := e.postForm("/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {"app"}}, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if e.signinActive(tok.AccessToken) || e.signinActive(tok.RefreshToken) {
		t.Error("the family survived revoking its refresh token")
	}
	if r := e.signinRefresh("app", tok.RefreshToken, ""); r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant ||
		!strings.Contains(r.json(t)["error_description"].(string), "revoked") {
		t.Errorf("refresh with a revoked token: %d %s", r.status, r.body)
	}
}

// replayCancelStore lets a test's client go away at the moment the
// server learns that a refresh token was used before.
type replayCancelStore struct {
	store.Store
	cancel atomic.Pointer[context.CancelFunc]
}

func (s *replayCancelStore) GetToken(ctx context.Context, kind store.TokenKind, id string) (store.Token, error) {
	rec, err := s.Store.GetToken(ctx, kind, id)
	if cancel := s.cancel.Load(); cancel != nil && err == nil && kind == store.RefreshToken && !rec.ConsumedAt.IsZero() {
		(*cancel)()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return rec, err
}

// TestRefreshReuseRevokesEvenIfTheClientLeaves: an attacker replaying a
// stolen refresh token cannot keep the family alive by hanging up as soon
// as it sent the request: the revocation does not depend on the request
// still being there.
func TestRefreshReuseRevokesEvenIfTheClientLeaves(t *testing.T) {
	var st *replayCancelStore
	e := signinEnv(t, func(c *Config) {
		st = &replayCancelStore{Store: c.Store}
		c.Store = st
	})
	tok := e.signedIn("openid", "offline_access")
	next := e.signinRefreshOK("app", tok.RefreshToken, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st.cancel.Store(&cancel)
	f := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url("/token"), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	st.cancel.Store(nil)
	// The server finishes the request after the client left.
	deadline := time.Now().Add(5 * time.Second)
	for e.signinActive(next["refresh_token"].(string)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.signinActive(next["access_token"].(string)) || e.signinActive(next["refresh_token"].(string)) {
		t.Fatal("a replayed refresh token whose sender hung up left its family's tokens active")
	}
}
