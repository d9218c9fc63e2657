package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// register posts client metadata to /register.
func (tc *testCaddy) register(body any, token string) response {
	tc.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/register", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(tc.t, req)
}

// TestRegistrationOptions: the Caddyfile's registration options reach
// the server, and the admin API issues initial access tokens:
// registration is disabled by default (403, not advertised); in token
// mode a configured initial_access_token and a single-use token from
// POST /authgate/registration-tokens register clients, per_address_per_hour
// limits them, and they get the configured audiences. The endpoint's own
// rules are tested in authserver.
func TestRegistrationOptions(t *testing.T) {
	body := map[string]any{"grant_types": []string{"client_credentials"}, "scope": "openid"}
	tc := startCaddy(t, defaultClients)
	if r := tc.register(body, ""); r.status != http.StatusForbidden || r.json(t)["error"] != "access_denied" {
		t.Errorf("registration disabled by default: %d %s", r.status, r.body)
	}
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["registration_endpoint"] != nil {
		t.Errorf("a disabled registration endpoint is advertised")
	}
	tc.reload(defaultClients + `
		registration token {
			initial_access_token configured-token-0123456789
			audiences https://api.example.com
			per_address_per_hour 5
		}`)
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["registration_endpoint"] != tc.issuer+"/register" {
		t.Errorf("registration_endpoint = %v", m["registration_endpoint"])
	}
	if r := tc.register(body, ""); r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("no initial access token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	r := tc.register(body, "configured-token-0123456789")
	if r.status != http.StatusCreated {
		t.Fatalf("configured token: %d %s", r.status, r.body)
	}
	reg := r.json(t)
	tc.token(reg["client_id"].(string), reg["client_secret"].(string), url.Values{"resource": {"https://api.example.com"}})

	issued := tc.adminPost("/authgate/registration-tokens?ttl=1h")
	token, _ := issued.json(t)["initial_access_token"].(string)
	if issued.status != http.StatusOK || token == "" || issued.json(t)["expires_in"] != float64(3600) {
		t.Fatalf("admin token: %d %s", issued.status, issued.body)
	}
	if r := tc.register(body, token); r.status != http.StatusCreated {
		t.Errorf("admin-issued token: %d %s", r.status, r.body)
	}
	if r := tc.register(body, token); r.status != http.StatusUnauthorized {
		t.Errorf("reusing a single-use token: %d", r.status)
	}
	if r := tc.adminPost("/authgate/registration-tokens?ttl=forever"); r.status != http.StatusBadRequest {
		t.Errorf("a bad ttl: %d %s", r.status, r.body)
	}
	// 4 requests so far; the 6th is over the per-address limit of 5.
	if r := tc.register(body, "configured-token-0123456789"); r.status != http.StatusCreated {
		t.Errorf("the 5th request: %d %s", r.status, r.body)
	}
	if r := tc.register(body, "configured-token-0123456789"); r.status != http.StatusTooManyRequests {
		t.Errorf("over the per-address limit: %d %s", r.status, r.body)
	}
}
