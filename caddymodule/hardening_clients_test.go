package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestRegisteredClientCannotPassAsConfigured: a self-registered client is
// marked unverified on the sign-in page (also when it is shown again
// after a wrong password) and on the consent page, always with the host
// of its redirect URI, and cannot take the name of a configured client,
// nor keep one that the operator gives a configured client later.
func TestRegisteredClientCannotPassAsConfigured(t *testing.T) {
	tc := startCaddy(t, openRegistration)
	for _, name := range []string{"webapp", "WebApp", "  Web\u200bapp ", "APP", "this site"} {
		t.Run("name "+name, func(t *testing.T) {
			r := tc.register(map[string]any{"redirect_uris": []string{"https://evil.example/cb"}, "token_endpoint_auth_method": "none", "client_name": name}, "")
			if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_client_metadata" {
				t.Fatalf("registering as %q: %d %s; want 400 invalid_client_metadata", name, r.status, r.body)
			}
		})
	}
	r := tc.register(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}, "token_endpoint_auth_method": "none", "client_name": "Agent"}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	reg := r.json(t)
	id, rat, uri := reg["client_id"].(string), reg["registration_access_token"].(string), reg["registration_client_uri"].(string)
	// Nor by an update.
	upd := map[string]any{"client_id": id, "client_name": "WEBAPP", "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://agent.example/cb"}}
	if r := tc.manage(http.MethodPut, uri, rat, upd); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_client_metadata" {
		t.Errorf("renaming to a configured client's name: %d %s", r.status, r.body)
	}

	authURL := func(clientID, redirect string) string {
		cfg := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize"}}
		return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	}
	marked := func(r response, name, host string) bool {
		body := string(r.body)
		return strings.Contains(body, name) && strings.Contains(body, `class="unverified">unverified<`) && strings.Contains(body, `class="host">`+host+`<`)
	}
	b := newBrowser(tc)
	login := b.get(authURL(id, "https://agent.example/cb"))
	if !marked(login, "Agent", "agent.example") {
		t.Errorf("sign-in page: %d %s", login.status, login.body)
	}
	again := b.signIn(login, "alice", "wrong password")
	if again.status != http.StatusUnauthorized || !marked(again, "Agent", "agent.example") {
		t.Errorf("sign-in page after a wrong password: %d %s", again.status, again.body)
	}
	consent := b.signIn(again, "alice", alicePassword)
	if !isPage(consent, "Allow access?") || !marked(consent, "Agent", "agent.example") {
		t.Errorf("consent page: %d %s", consent.status, consent.body)
	}
	// A configured client is not marked.
	if r := b.get(authURL("app", "http://127.0.0.1:9999/cb")); strings.Contains(string(r.body), `class="unverified">`) {
		t.Errorf("a configured client is marked unverified: %s", r.body)
	}

	// The operator later configures a client of the same name: the
	// registered one loses it.
	tc.reload(openRegistration + `
		client agent-official {
			name Agent
			public
			redirect_uris https://official.example/cb
		}`)
	b = newBrowser(tc)
	if r := b.get(authURL(id, "https://agent.example/cb")); !marked(r, "Unnamed application", "agent.example") || strings.Contains(string(r.body), ">Agent<") {
		t.Errorf("a registered client keeps a configured client's name: %s", r.body)
	}
}
