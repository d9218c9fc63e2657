package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTokenRequestRules: the token endpoint takes only a POST of an
// application/x-www-form-urlencoded body within the size limit, with
// each parameter once and grant_type in the body; every other request is
// refused with the RFC 6749 §5.2 error and status, never a 500.
func TestTokenRequestRules(t *testing.T) {
	e := newEnv(t, nil)
	svc := []string{svcBasic("svc", "svc-secret")}
	cc := "grant_type=client_credentials"
	e.svcRun(t, []svcCase{
		{name: "GET", method: http.MethodGet, path: "/token", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "PUT", method: http.MethodPut, path: "/token", contentType: svcFormType, auth: svc, body: cc, status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "GET with a trailing slash", method: http.MethodGet, path: "/token/", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "JSON body", path: "/token", contentType: "application/json", auth: svc, body: `{"grant_type":"client_credentials"}`, status: 400, code: codeInvalidRequest},
		{name: "no content type", path: "/token", auth: svc, body: cc, status: 400, code: codeInvalidRequest},
		{name: "malformed content type", path: "/token", contentType: "application/x-www-form-urlencoded; charset", auth: svc, body: cc, status: 400, code: codeInvalidRequest},
		{name: "multipart body", path: "/token", contentType: "multipart/form-data; boundary=x", auth: svc, body: "--x--", status: 400, code: codeInvalidRequest},
		{name: "oversized body", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&pad=" + strings.Repeat("a", 70<<10), status: 413, code: codeInvalidRequest},
		{name: "bad encoding", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=%zz", status: 400, code: codeInvalidRequest},
		{name: "missing grant_type", path: "/token", contentType: svcFormType, auth: svc, body: "scope=read", status: 400, code: codeInvalidRequest},
		{name: "empty grant_type", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=", status: 400, code: codeInvalidRequest},
		{name: "grant_type only in the query", path: "/token?" + cc, contentType: svcFormType, auth: svc, body: "", status: 400, code: codeInvalidRequest},
		{name: "repeated grant_type", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&" + cc, status: 400, code: codeInvalidRequest},
		{name: "repeated scope", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=read&scope=write", status: 400, code: codeInvalidRequest},
		{name: "repeated client_id", path: "/token", contentType: svcFormType, body: cc + "&client_id=svc&client_id=svc&client_secret=svc-secret", status: 400, code: codeInvalidRequest},
		{name: "repeated, one empty", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=&scope=read", status: 200},
		{name: "with a charset", path: "/token", contentType: svcFormType + "; charset=utf-8", auth: svc, body: cc, status: 200},
		{name: "with a trailing slash", path: "/token/", contentType: svcFormType, auth: svc, body: cc, status: 200},
	})
}

// TestTokenRepeatedParameterNames: the name of a repeated parameter is
// quoted in error_description only when it is safe there (RFC 6749 §5.2's
// character set, at most 64 characters).
func TestTokenRepeatedParameterNames(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct{ name, want string }{
		{"scope", "parameter scope is repeated"},
		{"x\"y", "parameter a parameter is repeated"},
		{strings.Repeat("n", 65), "parameter a parameter is repeated"},
	} {
		body := url.Values{"grant_type": {GrantClientCredentials}, tt.name: {"1", "2"}}.Encode()
		r := e.svcRequest(http.MethodPost, "/token", svcFormType, body, http.Header{"Authorization": {svcBasic("svc", "svc-secret")}})
		svcWantError(t, r, http.StatusBadRequest, codeInvalidRequest)
		if d := r.json(t)["error_description"]; d != tt.want {
			t.Errorf("repeated %q: error_description = %q; want %q", tt.name, d, tt.want)
		}
	}
}

// TestTokenGrantDispatch: each grant type reaches its own handler, a
// grant the server does not implement is unsupported_grant_type whoever
// asks, and a grant the client may not use is unauthorized_client
// (RFC 6749 §5.2).
func TestTokenGrantDispatch(t *testing.T) {
	e := newEnv(t, nil)
	svc := []string{svcBasic("svc", "svc-secret")}
	webapp := []string{svcBasic("webapp", "webapp-secret")}
	e.svcRun(t, []svcCase{
		{name: "client_credentials", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=client_credentials", status: 200},
		{name: "authorization_code reaches its handler", path: "/token", contentType: svcFormType, auth: webapp, body: "grant_type=authorization_code&code=nothing", status: 400, code: codeInvalidGrant},
		{name: "refresh_token reaches its handler", path: "/token", contentType: svcFormType, auth: webapp, body: "grant_type=refresh_token&refresh_token=nothing", status: 400, code: codeInvalidGrant},
		{name: "device_code reaches its handler", path: "/token", contentType: svcFormType, body: "client_id=tv&grant_type=" + url.QueryEscape(GrantDeviceCode) + "&device_code=nothing", status: 400, code: codeInvalidGrant},
		{name: "password", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=password&username=a&password=b", status: 400, code: codeUnsupportedGrantType},
		{name: "implicit", path: "/token", contentType: svcFormType, auth: webapp, body: "grant_type=implicit", status: 400, code: codeUnsupportedGrantType},
		{name: "an unknown URN", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=urn:example:nothing", status: 400, code: codeUnsupportedGrantType},
		{name: "token exchange", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=" + url.QueryEscape("urn:ietf:params:oauth:grant-type:token-exchange"), status: 400, code: codeUnsupportedGrantType},
		{name: "a service with authorization_code", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=authorization_code&code=x", status: 400, code: codeUnauthorizedClient},
		{name: "a service with refresh_token", path: "/token", contentType: svcFormType, auth: svc, body: "grant_type=refresh_token&refresh_token=x", status: 400, code: codeUnauthorizedClient},
		{name: "a web app with client_credentials", path: "/token", contentType: svcFormType, auth: webapp, body: "grant_type=client_credentials", status: 400, code: codeUnauthorizedClient},
		{name: "a web app with device_code", path: "/token", contentType: svcFormType, auth: webapp, body: "grant_type=" + url.QueryEscape(GrantDeviceCode) + "&device_code=x", status: 400, code: codeUnauthorizedClient},
		{name: "a device with authorization_code", path: "/token", contentType: svcFormType, body: "client_id=tv&grant_type=authorization_code&code=x", status: 400, code: codeUnauthorizedClient},
	})
}

// TestTokenResponseHeaders: a successful token response is JSON that no
// cache may keep (RFC 6749 §5.1: Cache-Control no-store, Pragma
// no-cache), with a Bearer token_type and expires_in.
func TestTokenResponseHeaders(t *testing.T) {
	e := newEnv(t, nil)
	r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "svc", "svc-secret")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json", "X-Content-Type-Options": "nosniff"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	m := r.json(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["access_token"] == "" {
		t.Errorf("response = %v", m)
	}
	// An error answer is not cached either.
	r = e.postForm("/token", url.Values{"grant_type": {"password"}}, "svc", "svc-secret")
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("error headers = %v", r.header)
	}
}

// TestTokenPathsAreExact: only the endpoints' own paths (with or without
// a trailing slash) are served, and the issuer's own path (the landing
// page); a longer or similar path is not an endpoint, so a server in a
// middleware chain passes it on.
func TestTokenPathsAreExact(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct {
		path     string
		endpoint bool
	}{
		{"/token", true},
		{"/token/", true},
		{"/tokens", false},
		{"/token/x", false},
		{"/", true},
		{"", true},
		{"/x", false},
		{"/register/", true},
		{"/register/a/b", false},
		{"/.well-known/openid-configuration/", true},
		{"/.well-known/oauth-authorization-server/x", false},
	} {
		if _, ok := e.srv.Lookup(tt.path); ok != tt.endpoint {
			t.Errorf("Lookup(%q) = %v; want %v", tt.path, ok, tt.endpoint)
		}
	}
	for _, p := range []string{"/tokens", "/token/x", "/x"} {
		if r := e.get(p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404 from ServeHTTP", p, r.status)
		}
	}
}
