package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/password"
)

// mcpExternalProvider runs a second authgate authorization server,
// outside Caddy and with RS256 keys, with registration open: another
// provider for the tools to act on over HTTP.
func mcpExternalProvider(t *testing.T) *httptest.Server {
	t.Helper()
	return startProvider(t, func(cfg *authserver.Config, h password.Hash) {
		cfg.Users = []*authserver.User{{Username: "erin", Password: h, Email: "erin@ext.example"}}
		cfg.Clients = []*authserver.Client{
			{ID: "machine", Secret: authserver.PlainSecret("machine-secret"), GrantTypes: []string{authserver.GrantClientCredentials},
				Scopes: []string{"read"}, Audiences: []string{"https://api.example.com"}},
			{ID: "rs", Secret: authserver.PlainSecret("ext-rs-secret"), GrantTypes: []string{authserver.GrantClientCredentials}, IntrospectAny: true},
		}
		cfg.Registration = authserver.RegistrationPolicy{Mode: authserver.RegistrationOpen, Scopes: []string{"openid", "profile", "offline_access", "read"}}
	})
}

// extSignIn opens an authorization URL of the external provider in a
// browser, signs erin in, allows access and returns the redirect's query.
func extSignIn(t *testing.T, b *browser, ext string, az map[string]any) url.Values {
	t.Helper()
	post := func(path string, f url.Values) response {
		req, _ := http.NewRequest(http.MethodPost, ext+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return b.do(req)
	}
	r := b.get(str(az, "authorization_url"))
	f := fields(r)
	f.Set("username", "erin")
	f.Set("password", "ext-password")
	r = post("/login", f)
	if r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), ext) {
		r = b.get(r.header.Get("Location"))
	}
	if isPage(r, "Allow access?") {
		f = fields(r)
		f.Set("decision", "approve")
		r = post("/consent", f)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), str(az, "redirect_uri")+"?") {
		t.Fatalf("external sign-in: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	q := loc.Query()
	if q.Get("state") != str(az, "state") || q.Get("iss") != ext || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	return q
}

// TestMCPExternalIssuer points the tools at another authorization
// server, found by discovery and reached over HTTP: the whole flow runs
// there, and JWTs verify against its keys, not the bundled server's.
func TestMCPExternalIssuer(t *testing.T) {
	ext := mcpExternalProvider(t)
	m := startMCP(t, mcpClients, "issuer "+ext.URL, false)
	s := m.session("")
	const redirect = "http://127.0.0.1:9999/cb"

	reg := s.ok("oauth2_register_client", map[string]any{"redirect_uris": []string{redirect}, "scope": "openid offline_access read", "grant_types": []string{"authorization_code", "refresh_token"}})
	id, secret := str(reg, "client_id"), str(reg, "client_secret")
	if !strings.HasPrefix(str(reg, "registration_client_uri"), ext.URL+"/register/") {
		t.Fatalf("registered elsewhere: %v", reg)
	}
	az := s.ok("oauth2_authorize", map[string]any{"client_id": id, "redirect_uri": redirect, "scope": "openid offline_access read", "client_secret": secret})
	if az["pushed"] != true || !strings.HasPrefix(str(az, "authorization_url"), ext.URL+"/authorize?") || str(az, "issuer") != ext.URL {
		t.Fatalf("authorize: %v", az)
	}
	q := extSignIn(t, newBrowser(m.testCaddy), ext.URL, az)
	tok := s.ok("oauth2_exchange_token", map[string]any{"grant_type": "authorization_code", "client_id": id, "client_secret": secret,
		"code": q.Get("code"), "redirect_uri": redirect, "code_verifier": str(az, "code_verifier")})
	access := str(tok, "access_token")

	v := s.ok("oauth2_validate_token", map[string]any{"token": access})
	jwt, _ := v["jwt"].(map[string]any)
	if v["active"] != true || jwt["alg"] != "RS256" || jwt["signature_valid"] != true || jwt["iss"] != ext.URL || jwt["sub"] != "erin" {
		t.Fatalf("local verification against the external keys: %v", v)
	}
	if v := s.ok("oauth2_validate_token", map[string]any{"token": access, "client_id": id, "client_secret": secret}); v["active"] != true || v["checked_with"] != "introspection" {
		t.Fatalf("introspection at the external server: %v", v)
	}
	// A token of the bundled server is not the external issuer's.
	local := m.token("svc", "svc-secret", url.Values{"scope": {"read"}})
	if v := s.ok("oauth2_validate_token", map[string]any{"token": local}); v["active"] != false || v["jwt"].(map[string]any)["signature_valid"] != false {
		t.Fatalf("a bundled token at the external issuer: %v", v)
	}
	s.fails("oauth2_validate_token", map[string]any{"token": local, "client_id": "svc", "client_secret": "svc-secret"}, "invalid_client")

	s.ok("oauth2_exchange_token", map[string]any{"grant_type": "refresh_token", "client_id": id, "client_secret": secret, "refresh_token": str(tok, "refresh_token")})
	s.ok("oauth2_revoke_token", map[string]any{"token": access, "client_id": id, "client_secret": secret})
	if v := s.ok("oauth2_validate_token", map[string]any{"token": access, "client_id": "rs", "client_secret": "ext-rs-secret"}); v["active"] != false {
		t.Fatalf("revoked at the external server: %v", v)
	}
	s.fails("oauth2_exchange_token", map[string]any{"grant_type": "authorization_code", "client_id": id, "client_secret": "wrong",
		"code": "x", "redirect_uri": redirect, "code_verifier": str(az, "code_verifier")}, "invalid_client")
}

// TestMCPIssuerDiscoveryFails: an issuer that cannot be reached, or
// whose metadata names another issuer, is a tool error, never a
// protocol error or a 500; the config loads (no network at load time).
func TestMCPIssuerDiscoveryFails(t *testing.T) {
	ext := mcpExternalProvider(t)
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":"%s/authorize","token_endpoint":"%s/token"}`, ext.URL, ext.URL, ext.URL)
	}))
	t.Cleanup(impostor.Close)
	down := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	for _, issuer := range []string{down, impostor.URL} {
		m := startMCP(t, mcpClients, "issuer "+issuer, false)
		s := m.session("")
		desc := s.fails("oauth2_authorize", map[string]any{"client_id": "x", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid"}, "temporarily_unavailable")
		if !strings.Contains(desc, "metadata could not be read") {
			t.Errorf("%s: %q", issuer, desc)
		}
		s.fails("oauth2_validate_token", map[string]any{"token": "x"}, "temporarily_unavailable")
	}
}
