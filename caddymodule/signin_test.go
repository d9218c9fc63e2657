package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The sign-in side's endpoints are tested in package authserver, one file
// per endpoint, on an httptest server with a hand-moved clock. Here one
// flow goes through a real Caddy end to end.

// TestCodeFlow signs in, consents, exchanges the code with PKCE through
// golang.org/x/oauth2, verifies the ID token with go-oidc, calls userinfo,
// refreshes, and signs out, all through a real Caddy.
func TestCodeFlow(t *testing.T) {
	tc := startCaddy(t, signinClients)
	b := newBrowser(tc)
	cfg := tc.appConfig("openid", "profile", "email", "groups", "offline_access")
	code, verifier := b.codeFlow(cfg, oidcNonce("n-123"))
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("token = %+v; want refresh and ID tokens", tok)
	}
	id := tc.verifyIDToken(tok.Extra("id_token").(string), "app")
	var claims struct {
		Nonce    string   `json:"nonce"`
		AuthTime int64    `json:"auth_time"`
		AZP      string   `json:"azp"`
		Email    string   `json:"email"`
		Name     string   `json:"name"`
		Groups   []string `json:"groups"`
		AMR      []string `json:"amr"`
	}
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice" || claims.Nonce != "n-123" || claims.AZP != "app" || claims.AuthTime == 0 ||
		claims.Email != "alice@example.com" || claims.Name != "Alice Liddell" || !slices.Equal(claims.Groups, []string{"users", "admins"}) {
		t.Errorf("ID token claims = %+v (sub %s)", claims, id.Subject)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	// userinfo with the access token.
	req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	info := do(t, req).json(t)
	if info["sub"] != "alice" || info["email"] != "alice@example.com" || info["preferred_username"] != "alice" {
		t.Errorf("userinfo = %v", info)
	}

	// Refresh: a new pair, the old refresh token is spent.
	old := tok.RefreshToken
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == old || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", fresh)
	}
	if !tc.active(fresh.AccessToken) || tc.active(old) {
		t.Error("after refresh the new access token must be active and the old refresh token spent")
	}

	// RP-initiated logout with id_token_hint returns to the client with state.
	r := b.get("/logout?" + url.Values{
		"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/bye"}, "state": {"s1"},
	}.Encode())
	if q := callback(t, tc, r, "http://127.0.0.1:9999/bye"); q.Get("state") != "s1" {
		t.Errorf("logout returned %v", q)
	}
	// Signed out: prompt=none now fails with login_required.
	r = b.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	if q := callback(t, tc, r, cfg.RedirectURL); q.Get("error") != "login_required" || q.Get("state") != "s2" {
		t.Errorf("after logout prompt=none gave %v", q)
	}
}

func oidcNonce(n string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("nonce", n) }
