package authserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUserinfoClaims: /userinfo releases the claims of the access
// token's scopes (OIDC Core §5.4), for GET and POST, uncached and open to
// any origin.
func TestUserinfoClaims(t *testing.T) {
	e := signinEnv(t, nil)
	for _, tt := range []struct {
		scopes []string
		want   map[string]any
	}{
		{[]string{"openid"}, map[string]any{"sub": "alice"}},
		{[]string{"openid", "profile"}, map[string]any{"sub": "alice", "preferred_username": "alice", "name": "Alice Liddell"}},
		{[]string{"openid", "email"}, map[string]any{"sub": "alice", "email": "alice@example.com", "email_verified": true}},
		{[]string{"openid", "groups"}, map[string]any{"sub": "alice", "groups": []any{"users", "admins"}}},
		{[]string{"openid", "profile", "email", "groups", "read"}, map[string]any{"sub": "alice", "preferred_username": "alice",
			"name": "Alice Liddell", "email": "alice@example.com", "email_verified": true, "groups": []any{"users", "admins"}}},
	} {
		tok := e.signedIn(tt.scopes...)
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := e.signinUserinfo(method, "Bearer "+tok.AccessToken)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%v %s: %d %v", tt.scopes, method, r.status, r.header)
				continue
			}
			got := r.json(t)
			if len(got) != len(tt.want) {
				t.Errorf("%v %s: %v; want %v", tt.scopes, method, got, tt.want)
			}
			for k, v := range tt.want {
				if vs, ok := v.([]any); ok {
					g, _ := got[k].([]any)
					if !slices.Equal(g, vs) {
						t.Errorf("%v: %s = %v; want %v", tt.scopes, k, got[k], v)
					}
				} else if got[k] != v {
					t.Errorf("%v: %s = %v; want %v", tt.scopes, k, got[k], v)
				}
			}
		}
	}
}

// TestUserinfoErrors: /userinfo answers as a protected resource (RFC 6750
// §3): the error in WWW-Authenticate (none without a token), 400 for a
// malformed request, 401 for a bad token, 403 without the openid scope.
func TestUserinfoErrors(t *testing.T) {
	e := signinEnv(t, nil)
	user := e.signedIn("openid", "offline_access")
	noOpenID := e.signedIn("read")
	expiring := e.signedIn("openid")
	revoked := e.signedIn("openid", "offline_access")
	if r := e.postForm("/revoke", url.Values{"token": {revoked.AccessToken}, "client_id": {"app"}}, "", ""); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	cc := e.clientCredentials(nil)["access_token"].(string)
	for _, tt := range []struct {
		name   string
		auth   []string
		status int
		code   string // "" for a challenge without error
	}{
		{"no token", nil, 401, ""},
		{"garbage", []string{"Bearer garbage"}, 401, "invalid_token"},
		{"another scheme", []string{"Basic abc"}, 400, codeInvalidRequest},
		{"Bearer without a token", []string{"Bearer "}, 400, codeInvalidRequest},
		{"a repeated header", []string{"Bearer " + user.AccessToken, "Bearer " + user.AccessToken}, 400, codeInvalidRequest},
		{"a bare token (not enabled)", []string{user.AccessToken}, 400, codeInvalidRequest},
		{"a refresh token", []string{"Bearer " + user.RefreshToken}, 401, "invalid_token"},
		{"an ID token", []string{"Bearer " + user.Extra("id_token").(string)}, 401, "invalid_token"},
		{"a revoked token", []string{"Bearer " + revoked.AccessToken}, 401, "invalid_token"},
		{"a client credentials token (no user)", []string{"Bearer " + cc}, 401, "invalid_token"},
		{"a user token without openid", []string{"Bearer " + noOpenID.AccessToken}, 403, "insufficient_scope"},
	} {
		r := e.signinUserinfo(http.MethodGet, tt.auth...)
		challenge := r.header.Get("WWW-Authenticate")
		ok := r.status == tt.status && strings.HasPrefix(challenge, `Bearer realm="`+e.issuer+`"`)
		if tt.code == "" {
			ok = ok && !strings.Contains(challenge, "error=") && len(r.json(t)) == 0
		} else {
			ok = ok && strings.Contains(challenge, `error="`+tt.code+`"`) && r.errorCode(t) == tt.code
		}
		if tt.code == "insufficient_scope" {
			ok = ok && strings.Contains(challenge, `scope="openid"`)
		}
		if !ok {
			t.Errorf("%s: %d %q %s", tt.name, r.status, challenge, r.body)
		}
	}
	// An access token expires on the clock.
	e.clock.Advance(time.Hour)
	if r := e.signinUserinfo(http.MethodGet, "Bearer "+expiring.AccessToken); r.status != 401 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("an expired token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

// TestUserinfoBareToken: "Authorization: TOKEN" without a scheme is
// accepted only with Config.UserinfoBareToken, which changes nothing
// else.
func TestUserinfoBareToken(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		e := signinEnv(t, func(c *Config) { c.UserinfoBareToken = optIn })
		tok := e.signedIn("openid", "profile")
		for _, tt := range []struct {
			name   string
			header string
			status int // with the option; 400 without for a bare value
		}{
			{"bare token", tok.AccessToken, 200},
			{"Bearer", "Bearer " + tok.AccessToken, 200},
			{"lower-case bearer", "bearer " + tok.AccessToken, 200},
			{"bare garbage", "not-a-token", 401},
			{"bare list", "a,b", 400},
			{"another scheme", "Basic ZGVtbzpkZW1v", 400},
		} {
			want := tt.status
			if !optIn && !strings.Contains(tt.header, " ") {
				want = 400 // RFC 6750 §3.1 invalid_request
			}
			r := e.signinUserinfo(http.MethodGet, tt.header)
			if r.status != want || (want == 200 && r.json(t)["sub"] != "alice") {
				t.Errorf("UserinfoBareToken %v, %s: %d %s; want %d", optIn, tt.name, r.status, r.body, want)
			}
			if want != 200 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("UserinfoBareToken %v, %s: challenge %q", optIn, tt.name, r.header.Get("WWW-Authenticate"))
			}
		}
	}
}

// TestUserinfoDisabledUser: a disabled user's access token gets
// invalid_token.
func TestUserinfoDisabledUser(t *testing.T) {
	e := signinEnv(t, nil)
	tok := e.signedIn("openid")
	rs := e.signinRestart(func(c *Config) { c.Users = signinDisabled(t) })
	r := rs.get("/userinfo", http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("a disabled user's token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
