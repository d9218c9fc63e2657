package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMCPToolFailures: each tool's failure cases are tool results with
// isError and the OAuth error, never protocol errors.
func TestMCPToolFailures(t *testing.T) {
	m := startMCP(t, mcpClients, "", false)
	s := m.session("")
	const redirect = "http://127.0.0.1:9999/cb"

	// oauth2_authorize: what the browser would only see as an error page.
	s.fails("oauth2_authorize", map[string]any{"client_id": "nobody", "redirect_uri": redirect, "scope": "openid"}, "invalid_request")
	s.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "https://evil.example/cb", "scope": "openid"}, "invalid_request")
	s.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": redirect, "scope": "openid admin"}, "invalid_scope")
	s.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": redirect, "scope": "openid", "resource": "https://elsewhere.example"}, "invalid_target")
	s.fails("oauth2_authorize", map[string]any{"client_id": "svc", "redirect_uri": redirect, "scope": "read"}, "invalid_request")
	s.fails("oauth2_authorize", map[string]any{"client_id": "webapp", "redirect_uri": "https://webapp.example/cb", "scope": "openid", "client_secret": "wrong"}, "invalid_client")
	// The gateway's own client is nobody's to use.
	s.fails("oauth2_authorize", map[string]any{"client_id": "authgate-gateway", "redirect_uri": m.issuer + "/.authgate/callback", "scope": "openid"}, "invalid_request")

	// oauth2_exchange_token.
	az := s.ok("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": redirect, "scope": "openid offline_access"})
	code := m.mcpSignIn(az).Get("code")
	exchange := func(extra map[string]any) map[string]any {
		args := map[string]any{"grant_type": "authorization_code", "client_id": "app", "code": code, "redirect_uri": redirect, "code_verifier": str(az, "code_verifier")}
		for k, v := range extra {
			if v == nil {
				delete(args, k)
			} else {
				args[k] = v
			}
		}
		return args
	}
	s.fails("oauth2_exchange_token", exchange(map[string]any{"client_id": "nobody"}), "invalid_client")
	s.fails("oauth2_exchange_token", exchange(map[string]any{"client_id": "webapp", "client_secret": "wrong"}), "invalid_client")
	s.fails("oauth2_exchange_token", exchange(map[string]any{"code": "ag_code_bogus"}), "invalid_grant")
	s.fails("oauth2_exchange_token", exchange(map[string]any{"code": nil}), "invalid_request")
	// PKCE mismatch: a verifier that is not the challenge's.
	s.fails("oauth2_exchange_token", exchange(map[string]any{"code_verifier": strings.Repeat("v", 43)}), "invalid_grant")
	// The gateway client, even with its real secret, is unknown here.
	s.fails("oauth2_exchange_token", exchange(map[string]any{"client_id": "authgate-gateway", "client_secret": gatewayClientSecret(t)}), "invalid_client")

	// A fresh code through the whole flow, then its refresh token revoked.
	az = s.ok("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": redirect, "scope": "openid offline_access"})
	code = m.mcpSignIn(az).Get("code")
	tok := s.ok("oauth2_exchange_token", exchange(map[string]any{"code_verifier": str(az, "code_verifier")}))
	s.fails("oauth2_exchange_token", exchange(map[string]any{"code_verifier": str(az, "code_verifier")}), "invalid_grant") // a code works once
	refresh := str(tok, "refresh_token")
	s.ok("oauth2_revoke_token", map[string]any{"token": refresh, "client_id": "app", "token_type_hint": "refresh_token"})
	s.fails("oauth2_exchange_token", map[string]any{"grant_type": "refresh_token", "client_id": "app", "refresh_token": refresh}, "invalid_grant")
	s.fails("oauth2_exchange_token", map[string]any{"grant_type": "refresh_token", "client_id": "app"}, "invalid_request")

	// oauth2_validate_token: garbage and revoked tokens are inactive;
	// a wrong secret or unknown client is an error.
	svc := m.token("svc", "svc-secret", url.Values{"scope": {"read"}})
	for _, garbage := range []string{"garbage", "x.y.z", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", svc[:len(svc)-6] + "AAAAAA"} {
		if v := s.ok("oauth2_validate_token", map[string]any{"token": garbage}); v["active"] != false {
			t.Errorf("garbage %.20q: %v", garbage, v)
		}
		if v := s.ok("oauth2_validate_token", map[string]any{"token": garbage, "client_id": "rs", "client_secret": "rs-secret"}); v["active"] != false {
			t.Errorf("garbage %.20q introspected: %v", garbage, v)
		}
	}
	s.fails("oauth2_validate_token", map[string]any{"token": svc, "client_id": "svc", "client_secret": "wrong"}, "invalid_client")
	s.fails("oauth2_validate_token", map[string]any{"token": svc, "client_id": "nobody", "client_secret": "x"}, "invalid_client")
	s.fails("oauth2_validate_token", map[string]any{"token": svc, "client_id": "authgate-gateway", "client_secret": gatewayClientSecret(t)}, "invalid_client")
	if v := s.ok("oauth2_validate_token", map[string]any{"token": svc, "client_id": "other", "client_secret": "other-secret"}); v["active"] != false {
		t.Errorf("another client sees svc's token: %v", v)
	}
	if v := s.ok("oauth2_validate_token", map[string]any{"token": svc, "client_id": "rs", "client_secret": "rs-secret"}); v["active"] != true {
		t.Errorf("the resource server does not see svc's token: %v", v)
	}

	// oauth2_revoke_token: unknown tokens are no error; a client cannot
	// revoke another's token (RFC 7009 §2.1); a wrong secret is an error.
	if out := s.ok("oauth2_revoke_token", map[string]any{"token": "unknown-token", "client_id": "svc", "client_secret": "svc-secret"}); out["revoked"] != true {
		t.Errorf("unknown token: %v", out)
	}
	s.fails("oauth2_revoke_token", map[string]any{"token": svc, "client_id": "svc", "client_secret": "wrong"}, "invalid_client")
	s.fails("oauth2_revoke_token", map[string]any{"token": svc, "client_id": "nobody", "client_secret": "x"}, "invalid_client")
	s.fails("oauth2_revoke_token", map[string]any{"token": svc, "client_id": "authgate-gateway", "client_secret": gatewayClientSecret(t)}, "invalid_client")
	s.fails("oauth2_revoke_token", map[string]any{"token": svc, "client_id": "other", "client_secret": "other-secret"}, "unauthorized_client")
	if !m.active(svc) {
		t.Error("another client revoked svc's token")
	}
	s.ok("oauth2_revoke_token", map[string]any{"token": svc, "client_id": "svc", "client_secret": "svc-secret"})
	if v := s.ok("oauth2_validate_token", map[string]any{"token": svc, "client_id": "svc", "client_secret": "svc-secret"}); v["active"] != false {
		t.Errorf("revoked token: %v", v)
	}

	// oauth2_register_client: refused by the registration policy.
	for _, c := range []struct {
		args map[string]any
		code string
	}{
		{map[string]any{"redirect_uris": []string{redirect}, "scope": "openid admin"}, "invalid_client_metadata"},
		{map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
		{map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}, "invalid_redirect_uri"},
		{map[string]any{"redirect_uris": []string{"https://app.example/cb#frag"}}, "invalid_redirect_uri"},
		{map[string]any{"grant_types": []string{"authorization_code"}}, "invalid_redirect_uri"},
		{map[string]any{"redirect_uris": []string{redirect}, "client_name": "  AUTHGATE "}, "invalid_client_metadata"},
	} {
		s.fails("oauth2_register_client", c.args, c.code)
	}

	// Missing required arguments: the SDK's validation, as a tool error.
	for tool, args := range map[string]map[string]any{
		"oauth2_authorize":       {"client_id": "app"},
		"oauth2_exchange_token":  {"client_id": "app"},
		"oauth2_validate_token":  {},
		"oauth2_revoke_token":    {"token": "x"},
		"oauth2_register_client": {"redirect_uris": "http://127.0.0.1/cb"},
	} {
		if res, _ := s.call(tool, args); !res.IsError || !strings.Contains(toolText(res), "argument") {
			t.Errorf("%s %v: %v %s", tool, args, res.IsError, toolText(res))
		}
	}
}

// TestMCPRegistrationPolicy: the tool registers under exactly the policy
// of /register: its mode, and its per-address limit, counted per MCP
// caller (the address Caddy sees, through trusted proxies) and shared
// with /register.
func TestMCPRegistrationPolicy(t *testing.T) {
	m := startMCP(t, signinClients+`
		registration token {
			initial_access_token iat-for-the-mcp-tests
			per_address_per_hour 3
		}`, "", true)
	const redirect = "http://127.0.0.1:9999/cb"
	a := m.session("", "X-Forwarded-For", "198.51.100.7")
	meta := map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"}
	s := func(token string) map[string]any {
		args := map[string]any{"initial_access_token": token}
		for k, v := range meta {
			args[k] = v
		}
		return args
	}
	a.fails("oauth2_register_client", meta, "invalid_token")
	a.fails("oauth2_register_client", s("wrong"), "invalid_token")
	a.ok("oauth2_register_client", s("iat-for-the-mcp-tests"))
	// Three requests from 198.51.100.7: the fourth is refused, and so is
	// /register from the same address.
	desc := a.fails("oauth2_register_client", s("iat-for-the-mcp-tests"), "invalid_request")
	if !strings.Contains(desc, "too many registrations") {
		t.Fatalf("the limit: %q", desc)
	}
	req, _ := http.NewRequest(http.MethodPost, m.issuer+"/register", strings.NewReader(`{"redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer iat-for-the-mcp-tests")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	if r := do(t, req); r.status != http.StatusTooManyRequests {
		t.Fatalf("/register from the same address: %d %s", r.status, r.body)
	}
	// Another caller has its own count.
	b := m.session("", "X-Forwarded-For", "198.51.100.8")
	b.ok("oauth2_register_client", s("iat-for-the-mcp-tests"))

	// Registration disabled: the server names no registration endpoint.
	d := startMCP(t, signinClients, "", false)
	d.session("").fails("oauth2_register_client", meta, "invalid_request")
}
