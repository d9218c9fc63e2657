package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// svcOrigin is a browser-based client's origin, foreign to the server.
const svcOrigin = "https://spa.example"

// svcFromOrigin sends a request as a page at svcOrigin would, with extra
// header name/value pairs.
func (e *testEnv) svcFromOrigin(method, path, contentType, body string, header ...string) response {
	e.t.Helper()
	h := http.Header{"Origin": {svcOrigin}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return e.svcRequest(method, path, contentType, body, h)
}

// svcPreflight sends a CORS preflight for method with the headers a
// browser client sends.
func (e *testEnv) svcPreflight(path, method string) response {
	e.t.Helper()
	return e.svcFromOrigin(http.MethodOptions, path, "", "",
		"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization,content-type,dpop")
}

// TestCORSForBrowserClients: a browser-based client on another origin can
// call the token, revocation, registration and client configuration,
// device authorization, userinfo, JWKS, PAR and metadata endpoints: the
// preflight is answered 204 with the methods and the Authorization,
// Content-Type and DPoP headers allowed, and the actual request is
// readable, WWW-Authenticate included. Credentials are never allowed.
func TestCORSForBrowserClients(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	reg := e.svcRegister(map[string]any{"redirect_uris": []string{"https://spa.example/cb"}, "token_endpoint_auth_method": "none", "client_name": "My SPA"}, "")
	if reg.status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.status, reg.body)
	}
	clientURI := reg.json(t)["registration_client_uri"].(string)
	for _, tt := range []struct {
		path, method string
		// the actual request
		contentType, body string
		wantStatus        int
	}{
		{"/token", "POST", svcFormType, "grant_type=client_credentials&client_id=svc&client_secret=wrong", http.StatusUnauthorized},
		{"/token/", "POST", svcFormType, "grant_type=client_credentials&client_id=svc&client_secret=svc-secret", http.StatusOK},
		{"/revoke", "POST", svcFormType, "token=x&client_id=app", http.StatusOK},
		{"/par", "POST", svcFormType, "client_id=app&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_challenge=" + strings.Repeat("c", 43) + "&code_challenge_method=S256", http.StatusCreated},
		{"/device/code", "POST", svcFormType, "client_id=app", http.StatusBadRequest},
		{"/device-authorization", "POST", svcFormType, "client_id=tv", http.StatusOK},
		{"/register", "POST", "application/json", `{"redirect_uris":["https://spa.example/cb2"],"token_endpoint_auth_method":"none"}`, http.StatusCreated},
		{clientURI, "GET", "", "", http.StatusUnauthorized},
		{clientURI, "PUT", "application/json", `{}`, http.StatusUnauthorized},
		{clientURI, "DELETE", "", "", http.StatusUnauthorized},
		{"/userinfo", "GET", "", "", http.StatusUnauthorized},
		{"/userinfo", "POST", "", "", http.StatusUnauthorized},
		{"/jwks", "GET", "", "", http.StatusOK},
		{"/.well-known/openid-configuration", "GET", "", "", http.StatusOK},
		{"/.well-known/oauth-authorization-server", "GET", "", "", http.StatusOK},
	} {
		t.Run(tt.method+" "+strings.TrimPrefix(tt.path, e.issuer), func(t *testing.T) {
			p := e.svcPreflight(tt.path, tt.method)
			h := p.header
			if p.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), tt.method) || h.Get("Access-Control-Max-Age") != "86400" ||
				!strings.HasSuffix(h.Get("Allow"), "OPTIONS") {
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
			r := e.svcFromOrigin(tt.method, tt.path, tt.contentType, tt.body)
			if r.status != tt.wantStatus {
				t.Errorf("actual request: %d %s; want %d", r.status, r.body, tt.wantStatus)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("actual request's CORS headers: %v", r.header)
			}
			for _, exposed := range []string{"WWW-Authenticate", "Retry-After"} {
				if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), exposed) {
					t.Errorf("%s is not exposed: %q", exposed, r.header.Get("Access-Control-Expose-Headers"))
				}
			}
			if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

// TestCORSClosedEndpoints: the cookie-authenticated pages (authorize,
// sign-in, consent, logout, device verification), and introspection,
// which is for resource servers, give other origins nothing to read: no
// preflight answer and no CORS header on the actual request.
func TestCORSClosedEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct{ path, method string }{
		{"/authorize?client_id=app&response_type=code", "GET"},
		{"/authorize", "POST"},
		{"/login", "GET"}, {"/login", "POST"},
		{"/consent", "POST"},
		{"/logout", "GET"}, {"/logout", "POST"},
		{"/device", "GET"}, {"/device", "POST"},
		{"/introspect", "POST"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			p := e.svcPreflight(tt.path, tt.method)
			if p.status == http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight answered for a closed endpoint: %d %v", p.status, p.header)
			}
			r := e.svcFromOrigin(tt.method, tt.path, svcFormType, url.Values{"client_id": {"rs"}}.Encode())
			for k := range r.header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s: %s", k, r.header.Get(k))
				}
			}
		})
	}
}
