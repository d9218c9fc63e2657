package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestIntrospectErrors: the introspection endpoint's refusals (RFC 7662
// §2.1, §2.3; RFC 6749 §5.2): only POST, only authenticated confidential
// clients, and a token to introspect.
func TestIntrospectErrors(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.svcToken("svc", "svc-secret", nil)
	svc := []string{svcBasic("svc", "svc-secret")}
	e.svcRun(t, []svcCase{
		{name: "PUT", method: http.MethodPut, path: "/introspect", contentType: svcFormType, body: "token=x", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "GET", method: http.MethodGet, path: "/introspect?token=" + valid, auth: svc, status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "without token", path: "/introspect", contentType: svcFormType, auth: svc, body: "", status: 400, code: codeInvalidRequest},
		{name: "empty token", path: "/introspect", contentType: svcFormType, auth: svc, body: "token=", status: 400, code: codeInvalidRequest},
		{name: "without client", path: "/introspect", contentType: svcFormType, body: "token=" + valid, status: 401, code: codeInvalidClient},
		{name: "wrong secret", path: "/introspect", contentType: svcFormType, auth: []string{svcBasic("svc", "nope")}, body: "token=" + valid, status: 401, code: codeInvalidClient},
		{name: "as a public client", path: "/introspect", contentType: svcFormType, body: "client_id=spa&token=" + valid, status: 401, code: codeInvalidClient},
		{name: "repeated token", path: "/introspect", contentType: svcFormType, auth: svc, body: "token=a&token=b", status: 400, code: codeInvalidRequest},
		{name: "a JSON body", path: "/introspect", contentType: "application/json", auth: svc, body: `{"token":"x"}`, status: 400, code: codeInvalidRequest},
	})
}

// TestIntrospectionPrivacy: a client sees the details of its own tokens,
// of tokens naming it in aud, or of any token if it may introspect any;
// to other clients every token is only {"active":false} (RFC 7662 §2.2).
func TestIntrospectionPrivacy(t *testing.T) {
	const api = "https://api.example.com"
	e := newEnv(t, func(cfg *Config) {
		// A resource server whose client_id is the audience it serves.
		cfg.Clients = append(cfg.Clients, &Client{ID: api, Secret: PlainSecret("api-secret")})
	})
	toAPI := e.svcToken("svc", "svc-secret", url.Values{"resource": {api}})
	toOther := e.svcToken("svc", "svc-secret", url.Values{"resource": {"https://other.example.com"}})
	user := e.signedIn("openid", "read")
	for _, tt := range []struct {
		name, token, client, secret string
		sees                        bool
	}{
		{"its own token", toAPI, "svc", "svc-secret", true},
		{"introspect_any", toAPI, "rs", "rs-secret", true},
		{"introspect_any, a user's token", user.AccessToken, "rs", "rs-secret", true},
		{"named in aud", toAPI, api, "api-secret", true},
		{"not named in aud", toOther, api, "api-secret", false},
		{"another client", toAPI, "other", "other-secret", false},
		{"another client, a user's token", user.AccessToken, "other", "other-secret", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postForm("/introspect", url.Values{"token": {tt.token}}, tt.client, tt.secret)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
			m := r.json(t)
			if tt.sees {
				if m["active"] != true || m["sub"] == nil || m["client_id"] == nil || m["iss"] != e.issuer || m["exp"] == nil || m["iat"] == nil {
					t.Errorf("introspection = %v; want the token's details", m)
				}
			} else if len(m) != 1 || m["active"] != false {
				t.Errorf("introspection = %v; want only active:false", m)
			}
		})
	}
	if in := e.svcIntrospect(user.AccessToken); in["sub"] != "alice" || in["client_id"] != "app" || in["scope"] != "openid read" || in["aud"] != e.issuer {
		t.Errorf("a user's token: %v", in)
	}
}

// TestIntrospectInactive: what is not a live token of this server is
// inactive, with no other member, not an error: garbage, a forged or
// oversized JWT, a revoked or expired token, and the token of a user who
// can no longer sign in.
func TestIntrospectInactive(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.svcToken("svc", "svc-secret", nil)
	revoked := e.svcToken("svc", "svc-secret", nil)
	if r := e.postForm("/revoke", url.Values{"token": {revoked}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	for name, tok := range map[string]string{
		"garbage":        "garbage",
		"forged":         svcForged(valid),
		"huge":           strings.Repeat("x.", 20000),
		"revoked":        revoked,
		"refresh prefix": refreshTokenPrefix + "nothing",
	} {
		if in := e.svcIntrospect(tok); len(in) != 1 || in["active"] != false {
			t.Errorf("%s: %v; want only active:false", name, in)
		}
	}
	if !e.svcActive(valid) {
		t.Fatal("the valid token is inactive")
	}

	// A user's token is inactive once the user is no longer configured.
	user := e.signedIn("openid")
	restarted := e.svcRestart(func(cfg *Config) { cfg.Users = cfg.Users[1:] })
	r := svcServe(t, restarted, svcFormRequest(t, e.issuer+"/introspect", url.Values{"token": {user.AccessToken}}, "rs", "rs-secret"))
	if m := r.json(t); len(m) != 1 || m["active"] != false {
		t.Errorf("the token of a user no longer configured: %v", m)
	}
	if !e.svcActive(user.AccessToken) {
		t.Error("the user's token is inactive while the user is configured")
	}

	// Expiry, on the test clock: active until the last second of its
	// hour, then only active:false.
	e.clock.Advance(time.Hour - time.Second)
	if !e.svcActive(valid) {
		t.Error("a token is inactive before it expires")
	}
	e.clock.Advance(time.Second)
	if in := e.svcIntrospect(valid); len(in) != 1 || in["active"] != false {
		t.Errorf("an expired token: %v", in)
	}
}

// TestIntrospectRefreshTokens: a refresh token introspects with its
// client, user and grant scope but no JWT members, whatever the
// token_type_hint says (RFC 7662 §2.1: the hint is only a hint); once
// rotated or revoked it is inactive.
func TestIntrospectRefreshTokens(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.signedIn("openid", "offline_access", "read")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	for _, hint := range []string{"", "refresh_token", "access_token", "weird"} {
		r := e.postForm("/introspect", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {hint}}, "rs", "rs-secret")
		m := r.json(t)
		if m["active"] != true || m["client_id"] != "app" || m["sub"] != "alice" || m["scope"] != "openid offline_access read" ||
			m["iss"] != e.issuer || m["exp"] == nil || m["token_type"] != nil || m["jti"] != nil || m["aud"] != nil {
			t.Errorf("hint %q: %v", hint, m)
		}
	}
	// The access token is found with a refresh_token hint too.
	r := e.postForm("/introspect", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"refresh_token"}}, "rs", "rs-secret")
	if m := r.json(t); m["active"] != true || m["token_type"] != "Bearer" {
		t.Errorf("an access token with a refresh_token hint: %v", m)
	}
	// A client that is not the refresh token's sees nothing.
	if m := e.postForm("/introspect", url.Values{"token": {tok.RefreshToken}}, "other", "other-secret").json(t); len(m) != 1 || m["active"] != false {
		t.Errorf("another client: %v", m)
	}
	// Rotated: the used refresh token is inactive, the new one active.
	r = e.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	next := r.json(t)["refresh_token"].(string)
	if e.svcActive(tok.RefreshToken) || !e.svcActive(next) {
		t.Error("after rotation the old refresh token should be inactive and the new one active")
	}
	// The refresh token's own lifetime governs it on the clock.
	e.clock.Advance(30*24*time.Hour + time.Second)
	if e.svcActive(next) {
		t.Error("a refresh token is active past its family's lifetime")
	}
}
