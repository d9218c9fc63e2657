package caddymodule

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBadInput sends malformed, repeated, oversized and hostile requests
// through a real Caddy: each gets the standard OAuth error with the right
// status, never a 500.
func TestBadInput(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	valid := tc.token("svc", "svc-secret", nil)
	form := "application/x-www-form-urlencoded"
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	svc := basic("svc", "svc-secret")
	cc := "grant_type=client_credentials"

	tests := []struct {
		name         string
		method, path string
		contentType  string
		auth         []string
		body         string
		status       int
		code         string
		allow        string
	}{
		{name: "GET token", method: "GET", path: "/token", status: 405, code: "invalid_request", allow: "POST"},
		{name: "PUT introspect", method: "PUT", path: "/introspect", contentType: form, body: "token=x", status: 405, code: "invalid_request", allow: "POST"},
		{name: "DELETE revoke", method: "DELETE", path: "/revoke/", status: 405, code: "invalid_request", allow: "POST"},
		{name: "POST jwks", method: "POST", path: "/jwks", status: 405, code: "invalid_request", allow: "GET, HEAD"},
		{name: "POST discovery", method: "POST", path: "/.well-known/openid-configuration", status: 405, code: "invalid_request", allow: "GET, HEAD"},
		{name: "JSON body", path: "/token", contentType: "application/json", auth: []string{svc}, body: `{"grant_type":"client_credentials"}`, status: 400, code: "invalid_request"},
		{name: "no content type", path: "/token", auth: []string{svc}, body: cc, status: 400, code: "invalid_request"},
		{name: "multipart body", path: "/token", contentType: "multipart/form-data; boundary=x", auth: []string{svc}, body: "--x--", status: 400, code: "invalid_request"},
		{name: "oversized body", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&pad=" + strings.Repeat("a", 70<<10), status: 413, code: "invalid_request"},
		{name: "bad encoding", path: "/token", contentType: form, auth: []string{svc}, body: "grant_type=%zz", status: 400, code: "invalid_request"},
		{name: "missing grant_type", path: "/token", contentType: form, auth: []string{svc}, body: "scope=read", status: 400, code: "invalid_request"},
		{name: "empty grant_type", path: "/token", contentType: form, auth: []string{svc}, body: "grant_type=", status: 400, code: "invalid_request"},
		{name: "grant_type only in query", path: "/token?" + cc, contentType: form, auth: []string{svc}, body: "", status: 400, code: "invalid_request"},
		{name: "repeated grant_type", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&" + cc, status: 400, code: "invalid_request"},
		{name: "repeated scope", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&scope=read&scope=write", status: 400, code: "invalid_request"},
		{name: "repeated client_id", path: "/token", contentType: form, body: cc + "&client_id=svc&client_id=svc&client_secret=svc-secret", status: 400, code: "invalid_request"},
		{name: "unsupported grant", path: "/token", contentType: form, auth: []string{svc}, body: "grant_type=password&username=a&password=b", status: 400, code: "unsupported_grant_type"},
		{name: "unknown grant", path: "/token", contentType: form, auth: []string{svc}, body: "grant_type=urn:example:nothing", status: 400, code: "unsupported_grant_type"},
		{name: "no client authentication", path: "/token", contentType: form, body: cc, status: 401, code: "invalid_client"},
		{name: "unknown client (Basic)", path: "/token", contentType: form, auth: []string{basic("nobody", "x")}, body: cc, status: 401, code: "invalid_client"},
		{name: "wrong secret (Basic)", path: "/token", contentType: form, auth: []string{basic("svc", "wrong")}, body: cc, status: 401, code: "invalid_client"},
		{name: "wrong secret (post)", path: "/token", contentType: form, body: cc + "&client_id=svc&client_secret=wrong", status: 401, code: "invalid_client"},
		{name: "secret without id (post)", path: "/token", contentType: form, body: cc + "&client_secret=svc-secret", status: 401, code: "invalid_client"},
		{name: "confidential client without secret", path: "/token", contentType: form, body: cc + "&client_id=svc", status: 401, code: "invalid_client"},
		{name: "malformed Basic", path: "/token", contentType: form, auth: []string{"Basic !!!not-base64"}, body: cc, status: 401, code: "invalid_client"},
		{name: "Basic without colon", path: "/token", contentType: form, auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("svc"))}, body: cc, status: 401, code: "invalid_client"},
		{name: "bad escape in Basic", path: "/token", contentType: form, auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("svc:%zz"))}, body: cc, status: 401, code: "invalid_client"},
		{name: "two auth methods", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&client_secret=svc-secret", status: 400, code: "invalid_request"},
		{name: "Basic and another client_id", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&client_id=other", status: 400, code: "invalid_request"},
		{name: "Bearer at the token endpoint", path: "/token", contentType: form, auth: []string{"Bearer " + valid}, body: cc, status: 401, code: "invalid_client"},
		{name: "repeated Authorization", path: "/token", contentType: form, auth: []string{svc, svc}, body: cc, status: 400, code: "invalid_request"},
		{name: "public client with client_credentials", path: "/token", contentType: form, body: cc + "&client_id=spa", status: 400, code: "unauthorized_client"},
		{name: "public client with a secret", path: "/token", contentType: form, body: cc + "&client_id=spa&client_secret=x", status: 401, code: "invalid_client"},
		{name: "scope not allowed", path: "/token", contentType: form, auth: []string{basic("other", "other-secret")}, body: cc + "&scope=write", status: 400, code: "invalid_scope"},
		{name: "scope with bad characters", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&scope=" + url.QueryEscape(`read "x"`), status: 400, code: "invalid_scope"},
		{name: "huge scope", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&scope=" + strings.Repeat("abc+", 15000), status: 400, code: "invalid_scope"},
		{name: "resource not allowed", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&resource=" + url.QueryEscape("https://evil.example"), status: 400, code: "invalid_target"},
		{name: "relative resource", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&resource=/api", status: 400, code: "invalid_target"},
		{name: "resource with fragment", path: "/token", contentType: form, auth: []string{svc}, body: cc + "&resource=" + url.QueryEscape("https://api.example.com#x"), status: 400, code: "invalid_target"},
		{name: "introspect without token", path: "/introspect", contentType: form, auth: []string{svc}, body: "", status: 400, code: "invalid_request"},
		{name: "introspect without client", path: "/introspect", contentType: form, body: "token=" + valid, status: 401, code: "invalid_client"},
		{name: "introspect as public client", path: "/introspect", contentType: form, body: "client_id=spa&token=" + valid, status: 401, code: "invalid_client"},
		{name: "introspect repeated token", path: "/introspect", contentType: form, auth: []string{svc}, body: "token=a&token=b", status: 400, code: "invalid_request"},
		{name: "revoke without token", path: "/revoke", contentType: form, auth: []string{svc}, body: "token_type_hint=access_token", status: 400, code: "invalid_request"},
		{name: "revoke with a wrong secret", path: "/revoke", contentType: form, auth: []string{basic("svc", "nope")}, body: "token=" + valid, status: 401, code: "invalid_client"},
		{name: "revoke a garbage token", path: "/revoke", contentType: form, auth: []string{svc}, body: "token=garbage", status: 200},
		{name: "revoke a forged JWT", path: "/revoke", contentType: form, auth: []string{svc}, body: "token=" + forged(valid), status: 200},
		{name: "revoke with an unknown hint", path: "/revoke", contentType: form, auth: []string{svc}, body: "token=garbage&token_type_hint=weird", status: 200},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d bad-input cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, tc.issuer+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			r := do(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d; want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.code == "" {
				return
			}
			m := r.json(t)
			if m["error"] != tt.code {
				t.Errorf("error = %v; want %s (%s)", m["error"], tt.code, r.body)
			}
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("no error_description")
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
			}
			// Every 401 carries a challenge (RFC 9110 §15.5.2, RFC 6749 §5.2).
			wantChallenge := tt.status == http.StatusUnauthorized
			if got := r.header.Get("WWW-Authenticate"); (got != "") != wantChallenge || (wantChallenge && !strings.HasPrefix(got, "Basic realm=")) {
				t.Errorf("WWW-Authenticate = %q; want a Basic challenge: %v", got, wantChallenge)
			}
			if tt.allow != "" && r.header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q; want %q", r.header.Get("Allow"), tt.allow)
			}
		})
	}
	// None of it disturbed the valid token.
	if !tc.active(valid) {
		t.Error("the valid token became inactive")
	}
	// Introspecting garbage is inactive, not an error.
	for _, tok := range []string{"garbage", forged(valid), strings.Repeat("x.", 20000)} {
		if tc.active(tok) {
			t.Errorf("a bad token is active")
		}
	}
	// Paths that are not endpoints go on to the rest of the site.
	for _, p := range []string{"/tokens", "/token/x", "/"} {
		if r := tc.get(p); r.status != http.StatusNotFound || string(r.body) != "site content" {
			t.Errorf("GET %s: %d %q; want the site's own response", p, r.status, r.body)
		}
	}
}

// forged changes a JWT's payload and keeps its signature.
func forged(jwt string) string {
	parts := strings.Split(jwt, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x","jti":"y","client_id":"svc"}`))
	return strings.Join(parts, ".")
}
