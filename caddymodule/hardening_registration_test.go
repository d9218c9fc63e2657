package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestExampleRegisteredClientCallsAPI: on Caddyfile.example, a client that
// registers itself (as an MCP client does) may ask for read, the scope the
// demo API requires, and with a user's consent gets a token the API's
// gateway accepts; registering for client credentials, which would get
// read without any user, is refused, and an unavailable scope is refused
// with the list of those available.
func TestExampleRegisteredClientCallsAPI(t *testing.T) {
	tc, ports := startExample(t)

	for _, tt := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"client credentials", map[string]any{"grant_types": []string{"client_credentials"}, "scope": "read"}, "invalid_client_metadata"},
		{"unavailable scope", map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none", "scope": "openid write"}, "invalid_client_metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tc.register(tt.body, "")
			if r.status != http.StatusBadRequest || r.json(t)["error"] != tt.want {
				t.Fatalf("%d %s; want 400 %s", r.status, r.body, tt.want)
			}
			if tt.name == "unavailable scope" && !strings.Contains(r.json(t)["error_description"].(string), "openid profile email offline_access read") {
				t.Errorf("the refusal does not say which scopes are available: %s", r.body)
			}
		})
	}

	reg := tc.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none",
		"client_name": "An MCP client", "scope": "openid read"}, "")
	if reg.status != http.StatusCreated {
		t.Fatalf("registering with read: %d %s", reg.status, reg.body)
	}
	cfg := &oauth2.Config{ClientID: reg.json(t)["client_id"].(string), RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid", "read"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	b := newBrowser(tc)
	verifier := oauth2.GenerateVerifier()
	r := b.signIn(b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), "demo", "demo-password")
	r = b.consent(r, "approve", false)
	q := callback(t, tc, r, cfg.RedirectURL)
	tok, err := exchange(t, cfg, q.Get("code"), verifier)
	if err != nil {
		t.Fatalf("redeeming the code: %v", err)
	}
	g := &gatewaySetup{testCaddy: tc}
	if r := g.call("GET", "http://"+ports["9001"]+"/api/hello", tok.AccessToken); r.status != http.StatusOK || !strings.Contains(string(r.body), "X-Auth-Subject:   demo") {
		t.Fatalf("the demo API with the registered client's token: %d %s", r.status, r.body)
	}
}
