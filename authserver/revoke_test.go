package authserver

import (
	"net/http"
	"net/url"
	"testing"
)

// TestRevokeErrors: the revocation endpoint answers 200 for a token it
// does not know, whatever the hint (RFC 7009 §2.2), and refuses only
// what is not a revocation request: another method, no client
// authentication, no token.
func TestRevokeErrors(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.svcToken("svc", "svc-secret", nil)
	svc := []string{svcBasic("svc", "svc-secret")}
	e.svcRun(t, []svcCase{
		{name: "DELETE with a trailing slash", method: http.MethodDelete, path: "/revoke/", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "GET", method: http.MethodGet, path: "/revoke", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "without token", path: "/revoke", contentType: svcFormType, auth: svc, body: "token_type_hint=access_token", status: 400, code: codeInvalidRequest},
		{name: "with a wrong secret", path: "/revoke", contentType: svcFormType, auth: []string{svcBasic("svc", "nope")}, body: "token=" + valid, status: 401, code: codeInvalidClient},
		{name: "without client", path: "/revoke", contentType: svcFormType, body: "token=" + valid, status: 401, code: codeInvalidClient},
		{name: "a garbage token", path: "/revoke", contentType: svcFormType, auth: svc, body: "token=garbage", status: 200},
		{name: "a forged JWT", path: "/revoke", contentType: svcFormType, auth: svc, body: "token=" + svcForged(valid), status: 200},
		{name: "an unknown hint", path: "/revoke", contentType: svcFormType, auth: svc, body: "token=garbage&token_type_hint=weird", status: 200},
		{name: "an unknown refresh token", path: "/revoke", contentType: svcFormType, auth: svc, body: "token=" + refreshTokenPrefix + "x&token_type_hint=refresh_token", status: 200},
		{name: "a public client", path: "/revoke", contentType: svcFormType, body: "client_id=app&token=garbage", status: 200},
	})
	if !e.svcActive(valid) {
		t.Error("the valid token became inactive")
	}
}

// TestRevokeTokens: a client revokes its own tokens (RFC 7009 §2.1) with
// a 200, an empty body and no caching, whatever the hint says; it cannot
// revoke another client's (unauthorized_client, and the token stays
// active); revoking a user's access or refresh token revokes its whole
// grant, so the refresh token can no longer be used.
func TestRevokeTokens(t *testing.T) {
	e := newEnv(t, nil)

	t.Run("a client credentials token", func(t *testing.T) {
		tok := e.svcToken("svc", "svc-secret", nil)
		kept := e.svcToken("svc", "svc-secret", nil)
		// Another client's token is refused and stays active.
		r := e.postForm("/revoke", url.Values{"token": {tok}}, "other", "other-secret")
		svcWantError(t, r, http.StatusBadRequest, codeUnauthorizedClient)
		if !e.svcActive(tok) {
			t.Fatal("another client revoked the token")
		}
		r = e.postForm("/revoke", url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, "svc", "svc-secret")
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %v %q", r.status, r.header, r.body)
		}
		if e.svcActive(tok) || !e.svcActive(kept) {
			t.Error("revocation should end exactly the revoked token")
		}
		// Revoking again is still 200.
		if r := e.postForm("/revoke", url.Values{"token": {tok}}, "svc", "svc-secret"); r.status != http.StatusOK {
			t.Errorf("revoking twice: %d %s", r.status, r.body)
		}
	})

	refresh := func(rt string) response {
		return e.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}, "client_id": {"app"}}, "", "")
	}
	for _, tt := range []struct {
		name, which, hint string
	}{
		{"the refresh token", "refresh", "refresh_token"},
		{"the refresh token with a wrong hint", "refresh", "access_token"},
		{"the access token", "access", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := e.signedIn("openid", "offline_access")
			other := e.signedIn("openid", "offline_access")
			revoke := tok.RefreshToken
			if tt.which == "access" {
				revoke = tok.AccessToken
			}
			// Another client's attempt changes nothing.
			svcWantError(t, e.postForm("/revoke", url.Values{"token": {revoke}}, "other", "other-secret"), http.StatusBadRequest, codeUnauthorizedClient)
			if !e.svcActive(tok.AccessToken) || !e.svcActive(tok.RefreshToken) {
				t.Fatal("another client's revocation ended a token")
			}
			// A public client revokes with its client_id alone.
			r := e.postForm("/revoke", url.Values{"token": {revoke}, "token_type_hint": {tt.hint}, "client_id": {"app"}}, "", "")
			if r.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			if e.svcActive(tok.AccessToken) || e.svcActive(tok.RefreshToken) {
				t.Error("the grant's other token is still active")
			}
			svcWantError(t, refresh(tok.RefreshToken), http.StatusBadRequest, codeInvalidGrant)
			// Another grant of the same user and client is untouched.
			if !e.svcActive(other.AccessToken) || refresh(other.RefreshToken).status != http.StatusOK {
				t.Error("revocation reached another grant")
			}
		})
	}
}
