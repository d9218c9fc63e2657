package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestServerHandlerPassesOn: authgate_server serves only the server's
// endpoints, under the issuer's path (and the RFC 8414 §3.1 metadata
// location outside it), and the landing page at the issuer's own path,
// and passes every other request on to the next handler of the site,
// here a respond. The endpoints' own request rules are tested in
// authserver.
func TestServerHandlerPassesOn(t *testing.T) {
	tc := &testCaddy{t: t, port: freePort(t), dataDir: t.TempDir()}
	tc.admin = "127.0.0.1:" + itoa(freePort(t))
	site := "http://127.0.0.1:" + itoa(tc.port)
	tc.site, tc.issuer = site, site+"/oauth"
	tc.config = tc.adapt(defaultClients)
	tc.load()
	t.Cleanup(func() { caddy.Stop() })
	if !tc.active(tc.token("svc", "svc-secret", nil)) {
		t.Error("a token from /oauth/token is inactive")
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server/oauth", "/oauth/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		r := do(t, req)
		if r.status != http.StatusOK || r.json(t)["token_endpoint"] != tc.issuer+"/token" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/oauth", "/oauth/"} {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		if r := do(t, req); r.status != http.StatusOK || !strings.Contains(string(r.body), "<h1>Sign-in service</h1>") {
			t.Errorf("GET %s: %d; want the landing page", path, r.status)
		}
	}
	for _, path := range []string{"/jwks", "/token", "/oauth/tokens", "/oauth/token/x", "/oauthx", "/"} {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		if r := do(t, req); r.status != http.StatusNotFound || string(r.body) != "site content" {
			t.Errorf("GET %s: %d %q; want the site's own response", path, r.status, r.body)
		}
	}
}
