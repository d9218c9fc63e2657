package caddymodule

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// spaOrigin is a browser-based client's origin, foreign to the server.
const spaOrigin = "https://spa.example"

// fromOrigin sends a request as a browser page at spaOrigin would.
func (tc *testCaddy) fromOrigin(method, path, contentType string, body []byte, header ...string) response {
	tc.t.Helper()
	u := path
	if strings.HasPrefix(u, "/") {
		u = tc.issuer + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		tc.t.Fatal(err)
	}
	req.Header.Set("Origin", spaOrigin)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(tc.t, req)
}

// preflight sends a CORS preflight for method with the headers a
// browser client sends.
func (tc *testCaddy) preflight(path, method string) response {
	tc.t.Helper()
	return tc.fromOrigin(http.MethodOptions, path, "", nil,
		"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization,content-type,dpop")
}

// TestCORSForBrowserClients: a browser-based client on another origin can
// call the token, revocation, registration, device, userinfo, JWKS, PAR
// and metadata endpoints (preflight and actual request, reading
// WWW-Authenticate); the cookie-authenticated pages and introspection
// stay closed to other origins, and credentials are never allowed.
func TestCORSForBrowserClients(t *testing.T) {
	tc := startCaddy(t, openRegistration)
	reg := tc.register(map[string]any{"redirect_uris": []string{"https://spa.example/cb"}, "token_endpoint_auth_method": "none", "client_name": "My SPA"}, "")
	if reg.status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.status, reg.body)
	}
	clientURI := reg.json(t)["registration_client_uri"].(string)
	form := "application/x-www-form-urlencoded"

	for _, tt := range []struct {
		path, method string
		// the actual request
		contentType, body string
		wantStatus        int
	}{
		{"/token", "POST", form, "grant_type=client_credentials&client_id=svc&client_secret=wrong", http.StatusUnauthorized},
		{"/revoke", "POST", form, "token=x&client_id=app", http.StatusOK},
		{"/par", "POST", form, "client_id=app&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_challenge=" + strings.Repeat("c", 43) + "&code_challenge_method=S256", http.StatusCreated},
		{"/device/code", "POST", form, "client_id=app", http.StatusBadRequest},
		{"/register", "POST", "application/json", `{"redirect_uris":["https://spa.example/cb2"],"token_endpoint_auth_method":"none"}`, http.StatusCreated},
		{clientURI, "PUT", "application/json", `{}`, http.StatusUnauthorized},
		{clientURI, "DELETE", "", "", http.StatusUnauthorized},
		{"/userinfo", "GET", "", "", http.StatusUnauthorized},
		{"/jwks", "GET", "", "", http.StatusOK},
		{"/.well-known/openid-configuration", "GET", "", "", http.StatusOK},
		{"/.well-known/oauth-authorization-server", "GET", "", "", http.StatusOK},
	} {
		t.Run(tt.method+" "+strings.TrimPrefix(tt.path, tc.issuer), func(t *testing.T) {
			p := tc.preflight(tt.path, tt.method)
			h := p.header
			if p.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), tt.method) || h.Get("Access-Control-Max-Age") == "" {
				t.Fatalf("preflight: %d %v", p.status, h)
			}
			for _, want := range []string{"authorization", "content-type", "dpop"} {
				if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), want) {
					t.Errorf("preflight does not allow the %s header: %q", want, h.Get("Access-Control-Allow-Headers"))
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight allows credentials")
			}
			r := tc.fromOrigin(tt.method, tt.path, tt.contentType, []byte(tt.body))
			if r.status != tt.wantStatus {
				t.Errorf("actual request: %d %s; want %d", r.status, r.body, tt.wantStatus)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("actual request's CORS headers: %v", r.header)
			}
			if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("WWW-Authenticate is not exposed: %q", r.header.Get("Access-Control-Expose-Headers"))
			}
			if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// The cookie-authenticated pages, and introspection (for resource
	// servers), give other origins nothing to read.
	for _, tt := range []struct{ path, method string }{
		{"/authorize?client_id=app&response_type=code", "GET"},
		{"/login", "GET"}, {"/login", "POST"},
		{"/consent", "POST"},
		{"/logout", "GET"}, {"/logout", "POST"},
		{"/device", "GET"}, {"/device", "POST"},
		{"/introspect", "POST"},
	} {
		t.Run("closed "+tt.method+" "+tt.path, func(t *testing.T) {
			p := tc.preflight(tt.path, tt.method)
			if p.status == http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight answered for a cookie page: %d %v", p.status, p.header)
			}
			r := tc.fromOrigin(tt.method, tt.path, form, []byte(url.Values{"client_id": {"rs"}}.Encode()))
			for k := range r.header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s: %s", k, r.header.Get(k))
				}
			}
		})
	}
}
