package authserver

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// signinClaims verifies an ID token of app with go-oidc and returns its
// claims, checking at_hash against accessToken.
func (e *testEnv) signinClaims(raw, accessToken string) IDTokenClaims {
	e.t.Helper()
	id := e.verifyIDToken(raw, "app")
	if err := id.VerifyAccessToken(accessToken); err != nil {
		e.t.Errorf("at_hash: %v", err)
	}
	var c IDTokenClaims
	if err := id.Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestIDTokenClaims: the ID token of a code names the issuer, user,
// client (aud and azp), the request's nonce, when and how the user
// signed in (auth_time, amr), the login session (sid) and the access
// token (at_hash); it is issued now and lives IDTokenLifetime.
func TestIDTokenClaims(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.IDTokenLifetime = 5 * time.Minute })
	signedInAt := e.clock.Now().Unix()
	b := e.signinSignedIn()
	e.clock.Advance(10 * time.Minute)
	code, verifier := e.signinCode(b, "nonce", "n-123")
	r := e.signinToken(signinRedeemForm(code, verifier))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.json(t)
	c := e.signinClaims(m["id_token"].(string), m["access_token"].(string))
	now := e.clock.Now().Unix()
	if c.Issuer != e.issuer || c.Subject != "alice" || !slices.Equal([]string(c.Audience), []string{"app"}) || c.AuthorizedParty != "app" ||
		c.Nonce != "n-123" || c.AuthTime != signedInAt || !slices.Equal(c.AMR, []string{"pwd"}) || len(c.SessionID) != 32 ||
		c.IssuedAt != now || c.Expiry != now+300 || c.AccessTokenHash == "" {
		t.Errorf("ID token claims = %+v (signed in at %d, now %d)", c, signedInAt, now)
	}
	// Without a nonce in the request there is none in the token.
	code, verifier = e.signinCode(b)
	m = e.signinToken(signinRedeemForm(code, verifier)).json(t)
	if c := e.signinClaims(m["id_token"].(string), m["access_token"].(string)); c.Nonce != "" {
		t.Errorf("nonce = %q without one in the request", c.Nonce)
	}
}

// TestIDTokenScopes: the ID token carries the user claims its scopes
// release (OIDC Core §5.4).
func TestIDTokenScopes(t *testing.T) {
	e := signinEnv(t, nil)
	for _, tt := range []struct {
		scopes []string
		want   IDTokenClaims
	}{
		{[]string{"openid"}, IDTokenClaims{}},
		{[]string{"openid", "profile"}, IDTokenClaims{Name: "Alice Liddell", PreferredUsername: "alice"}},
		{[]string{"openid", "email"}, IDTokenClaims{Email: "alice@example.com"}},
		{[]string{"openid", "groups"}, IDTokenClaims{Groups: []string{"users", "admins"}}},
		{[]string{"openid", "profile", "email", "groups"}, IDTokenClaims{Name: "Alice Liddell", PreferredUsername: "alice",
			Email: "alice@example.com", Groups: []string{"users", "admins"}}},
	} {
		tok := e.signedIn(tt.scopes...)
		c := e.signinClaims(tok.Extra("id_token").(string), tok.AccessToken)
		if c.Name != tt.want.Name || c.PreferredUsername != tt.want.PreferredUsername || c.Email != tt.want.Email || !slices.Equal(c.Groups, tt.want.Groups) {
			t.Errorf("%v: claims %+v", tt.scopes, c)
		}
	}
}

// TestIDTokenSID: sid is the login session's: the same for every token
// of one sign-in, another for another browser or a new sign-in, and it
// does not reveal the session's key.
func TestIDTokenSID(t *testing.T) {
	e := signinEnv(t, nil)
	sid := func(b *browser) string {
		t.Helper()
		code, verifier := e.signinCode(b)
		m := e.signinToken(signinRedeemForm(code, verifier)).json(t)
		return e.signinClaims(m["id_token"].(string), m["access_token"].(string)).SessionID
	}
	b := e.signinSignedIn()
	first := sid(b)
	if again := sid(b); again != first || first == "" {
		t.Errorf("two codes of one session: sid %q then %q", first, again)
	}
	if other := sid(e.signinSignedIn()); other == first {
		t.Error("another browser's session has the same sid")
	}
	e.clock.Advance(time.Second)
	r := b.get(signinAuthorizeURL("prompt", "login"))
	e.callback(b.signIn(r, "alice", alicePassword), signinRedirect)
	if renewed := sid(b); renewed == first {
		t.Error("a new sign-in kept the sid")
	}
}

// TestIDTokenOnRefresh: a refresh with openid in scope gets a new ID
// token of the same sign-in (sub, auth_time, amr, sid), issued now,
// without the nonce and with the new access token's at_hash; narrowed
// to leave out openid, none.
func TestIDTokenOnRefresh(t *testing.T) {
	e := signinEnv(t, nil)
	cfg := e.appConfig("openid", "offline_access", "read")
	code, verifier := e.browser().codeFlow(cfg, oauth2.SetAuthURLParam("nonce", "n-1"))
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	before := e.signinClaims(tok.Extra("id_token").(string), tok.AccessToken)
	e.clock.Advance(20 * time.Minute)
	m := e.signinRefreshOK("app", tok.RefreshToken, "")
	after := e.signinClaims(m["id_token"].(string), m["access_token"].(string))
	if after.Subject != before.Subject || after.AuthTime != before.AuthTime || !slices.Equal(after.AMR, before.AMR) ||
		after.SessionID != before.SessionID || after.SessionID == "" || after.Nonce != "" || after.IssuedAt != e.clock.Now().Unix() {
		t.Errorf("refreshed ID token %+v; first %+v", after, before)
	}
	if m := e.signinRefreshOK("app", m["refresh_token"].(string), "read"); m["id_token"] != nil {
		t.Errorf("a refresh without openid got an ID token: %v", m)
	}
}
