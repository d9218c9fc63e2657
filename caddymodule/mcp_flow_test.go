package caddymodule

import (
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// mcpSignIn opens an authorization URL in a browser, signs alice in,
// allows access, and returns the redirect's query, checked against the
// state and issuer oauth2_authorize returned.
func (m *mcpSetup) mcpSignIn(az map[string]any) url.Values {
	m.t.Helper()
	b := newBrowser(m.testCaddy)
	r := b.get(str(az, "authorization_url"))
	if strings.Contains(string(r.body), `name="password"`) {
		r = b.signIn(r, "alice", alicePassword)
	}
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", false)
	}
	q := callback(m.t, m.testCaddy, r, str(az, "redirect_uri"))
	if q.Get("state") != str(az, "state") || q.Get("iss") != str(az, "issuer") || q.Get("code") == "" {
		m.t.Fatalf("callback %v; want state %s and iss %s", q, str(az, "state"), str(az, "issuer"))
	}
	return q
}

// TestMCPFlow runs the whole flow through the tools, as a model would:
// register a client, start the authorization, let the user sign in in a
// browser, exchange the code, validate, refresh, revoke, validate again.
func TestMCPFlow(t *testing.T) {
	m := startMCP(t, mcpClients, "", false)
	s := m.session("")
	const redirect = "http://127.0.0.1:9999/cb"

	reg := s.ok("oauth2_register_client", map[string]any{
		"redirect_uris": []string{redirect}, "client_name": "Research agent", "scope": "openid profile offline_access read",
		"grant_types": []string{"authorization_code", "refresh_token"},
	})
	id, secret := str(reg, "client_id"), str(reg, "client_secret")
	if id == "" || secret == "" || str(reg, "registration_access_token") == "" || !strings.HasPrefix(str(reg, "registration_client_uri"), m.issuer+"/register/") ||
		str(reg, "token_endpoint_auth_method") != "client_secret_basic" {
		t.Fatalf("registration: %v", reg)
	}

	az := s.ok("oauth2_authorize", map[string]any{
		"client_id": id, "redirect_uri": redirect, "scope": "openid profile offline_access read", "resource": "https://api.example.com",
	})
	if az["pushed"] == true || !strings.HasPrefix(str(az, "authorization_url"), m.issuer+"/authorize?") || str(az, "nonce") == "" {
		t.Fatalf("authorize: %v", az)
	}
	q := m.mcpSignIn(az)

	tok := s.ok("oauth2_exchange_token", map[string]any{
		"grant_type": "authorization_code", "client_id": id, "client_secret": secret,
		"code": q.Get("code"), "redirect_uri": redirect, "code_verifier": str(az, "code_verifier"),
	})
	access, refresh := str(tok, "access_token"), str(tok, "refresh_token")
	if access == "" || refresh == "" || str(tok, "id_token") == "" || str(tok, "token_type") != "Bearer" || tok["expires_in"] == nil {
		t.Fatalf("tokens: %v", tok)
	}
	if idt := m.verifyIDToken(str(tok, "id_token"), id); idt.Nonce != str(az, "nonce") || idt.Subject != "alice" {
		t.Fatalf("ID token: nonce %q subject %q", idt.Nonce, idt.Subject)
	}

	v := s.ok("oauth2_validate_token", map[string]any{"token": access, "client_id": id, "client_secret": secret, "audience": "https://api.example.com"})
	intro, _ := v["introspection"].(map[string]any)
	jwt, _ := v["jwt"].(map[string]any)
	if v["active"] != true || v["checked_with"] != "introspection" || intro["sub"] != "alice" || intro["client_id"] != id ||
		jwt["signature_valid"] != true || jwt["audience_valid"] != true || jwt["typ"] != "at+jwt" || jwt["kid"] == "" {
		t.Fatalf("validate: %v", v)
	}

	// Refresh: the tokens rotate.
	tok2 := s.ok("oauth2_exchange_token", map[string]any{"grant_type": "refresh_token", "client_id": id, "client_secret": secret, "refresh_token": refresh, "scope": "openid read"})
	access2 := str(tok2, "access_token")
	if access2 == "" || access2 == access || str(tok2, "refresh_token") == refresh || str(tok2, "scope") != "openid read" {
		t.Fatalf("refresh: %v", tok2)
	}

	// Revoke, and introspection sees it; local verification cannot, and
	// says so.
	if out := s.ok("oauth2_revoke_token", map[string]any{"token": access2, "client_id": id, "client_secret": secret}); out["revoked"] != true {
		t.Fatalf("revoke: %v", out)
	}
	v = s.ok("oauth2_validate_token", map[string]any{"token": access2, "client_id": id, "client_secret": secret})
	if v["active"] != false || v["checked_with"] != "introspection" {
		t.Fatalf("validate after revocation: %v", v)
	}
	v = s.ok("oauth2_validate_token", map[string]any{"token": access2})
	if v["checked_with"] != "jwt" || !strings.Contains(str(v, "note"), "Revocation was not checked") {
		t.Fatalf("local verification after revocation: %v", v)
	}
	if m.active(access2) {
		t.Fatal("the revoked token is active at the server")
	}
}

// TestMCPFlowPublicAndPushed: a public client (no secret) through the
// flow, and a confidential one whose request is pushed (RFC 9126), in
// every protocol version served.
func TestMCPFlowPublicAndPushed(t *testing.T) {
	m := startMCP(t, mcpClients, "", false)
	const redirect = "http://127.0.0.1:9999/cb"
	for _, version := range []string{"2025-06-18", "2025-11-25", "2026-07-28"} {
		s := m.session(version)
		reg := s.ok("oauth2_register_client", map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none", "scope": "openid read"})
		id := str(reg, "client_id")
		if str(reg, "client_secret") != "" || str(reg, "token_endpoint_auth_method") != "none" {
			t.Fatalf("%s: public registration: %v", version, reg)
		}
		az := s.ok("oauth2_authorize", map[string]any{"client_id": id, "redirect_uri": redirect, "scope": "openid read"})
		q := m.mcpSignIn(az)
		tok := s.ok("oauth2_exchange_token", map[string]any{"grant_type": "authorization_code", "client_id": id, "code": q.Get("code"), "redirect_uri": redirect, "code_verifier": str(az, "code_verifier")})
		access := str(tok, "access_token")
		if v := s.ok("oauth2_validate_token", map[string]any{"token": access}); v["active"] != true || v["checked_with"] != "jwt" {
			t.Fatalf("%s: local validation: %v", version, v)
		}
		s.ok("oauth2_revoke_token", map[string]any{"token": access, "client_id": id})
		if m.active(access) {
			t.Fatalf("%s: a public client's revocation did not take", version)
		}

		// A confidential client's request, pushed with its secret.
		reg = s.ok("oauth2_register_client", map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "client_secret_post", "scope": "openid"})
		id, secret := str(reg, "client_id"), str(reg, "client_secret")
		az = s.ok("oauth2_authorize", map[string]any{"client_id": id, "redirect_uri": redirect, "scope": "openid", "client_secret": secret})
		u, _ := url.Parse(str(az, "authorization_url"))
		if az["pushed"] != true || len(u.Query()) != 2 || u.Query().Get("request_uri") != str(az, "request_uri") {
			t.Fatalf("%s: pushed: %v", version, az)
		}
		q = m.mcpSignIn(az)
		// The client is registered with client_secret_post: the tools use it.
		tok = s.ok("oauth2_exchange_token", map[string]any{"grant_type": "authorization_code", "client_id": id, "client_secret": secret, "code": q.Get("code"), "redirect_uri": redirect, "code_verifier": str(az, "code_verifier")})
		if str(tok, "id_token") == "" {
			t.Fatalf("%s: pushed flow tokens: %v", version, tok)
		}
	}
}

// TestMCPCaddyfile adapts the directive: ordered by the plugin after the
// gateway and before respond, with its issuer option.
func TestMCPCaddyfile(t *testing.T) {
	adapt := func(site string) (string, error) {
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n"+site+"\n}\n"), nil)
		return string(cfg), err
	}
	cfg, err := adapt(`
	respond "fallback"
	authgate_mcp /mcp {
		issuer https://auth.example.com
		skip_localhost_protection
	}
	authgate /mcp {
		accept bearer
	}`)
	if err != nil {
		t.Fatal(err)
	}
	gw, mcp, respond := strings.Index(cfg, `"handler":"authgate"`), strings.Index(cfg, `"handler":"authgate_mcp"`), strings.Index(cfg, `"handler":"static_response"`)
	if gw < 0 || mcp < 0 || respond < 0 || !(gw < mcp && mcp < respond) || !strings.Contains(cfg, `"issuer":"https://auth.example.com","skip_localhost_protection":true`) {
		t.Fatalf("order or options: %s", cfg)
	}
	for _, bad := range []string{"authgate_mcp extra", "authgate_mcp {\n\tnope\n}", "authgate_mcp {\n\tissuer\n}", "authgate_mcp {\n\tissuer a b\n}", "authgate_mcp {\n\tskip_localhost_protection yes\n}"} {
		if _, err := adapt(bad); err == nil {
			t.Errorf("%q adapted", bad)
		}
	}
	// Without the authgate app and without an issuer, it does not load.
	tc := newTestCaddy(t)
	caddyfile := "{\n\tadmin " + tc.admin + "\n\tpersist_config off\n}\n" + tc.site + " {\n\tbind 127.0.0.1\n\tauthgate_mcp\n}\n"
	c, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadConfig(c); err == nil || !strings.Contains(err.Error(), "authgate_mcp needs the authgate app") {
		t.Fatalf("loaded without the app: %v", err)
	}
	// An issuer that is not a URL is refused when the config loads.
	caddyfile = strings.Replace(caddyfile, "authgate_mcp", "authgate_mcp {\n\t\tissuer ftp://x\n\t}", 1)
	c, _, _ = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err := loadConfig(c); err == nil {
		t.Fatal("loaded with an ftp issuer")
	}
}
