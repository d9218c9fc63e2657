package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const openRegistration = signinClients + `
		registration open {
			audiences https://api.example.com
			per_address_per_hour 200
		}
`

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

// manage calls the RFC 7592 client configuration endpoint.
func (tc *testCaddy) manage(method, uri, token string, body any) response {
	tc.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, uri, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(tc.t, req)
}

// TestRegistrationLifecycle: register, use, read, update, delete.
func TestRegistrationLifecycle(t *testing.T) {
	tc := startCaddy(t, openRegistration)
	// The curl: a public client with one loopback redirect URI.
	r := tc.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none",
		"client_name": "Agent", "unknown_field": 42, "client_name#fr": "Agent FR"}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if g := anyStrings(r.json(t)["grant_types"]); len(g) != 1 || g[0] != "authorization_code" || anyStrings(r.json(t)["response_types"])[0] != "code" {
		t.Errorf("defaults: %s", r.body)
	}
	r = tc.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "client_name": "Agent", "unknown_field": 42, "client_name#fr": "Agent FR"}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	pub := r.json(t)
	id, rat, uri := pub["client_id"].(string), pub["registration_access_token"].(string), pub["registration_client_uri"].(string)
	if pub["client_secret"] != nil || pub["token_endpoint_auth_method"] != "none" || uri != tc.issuer+"/register/"+id ||
		pub["client_id_issued_at"] == nil || pub["unknown_field"] != nil || pub["scope"] != "openid profile email offline_access" {
		t.Errorf("registration response = %v", pub)
	}
	// It completes the code flow with PKCE; the consent page names its host.
	cfg := &oauth2.Config{ClientID: id, RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	b := newBrowser(tc)
	consent := b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", alicePassword)
	if !strings.Contains(string(consent.body), "Agent") || !strings.Contains(string(consent.body), "127.0.0.1:9999") {
		t.Errorf("the consent page does not show the client's host: %s", consent.body)
	}
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("registered public client: %v", err)
	}

	// A confidential client gets client credentials.
	r = tc.register(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "openid", "client_name": "Service"}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("register confidential: %d %s", r.status, r.body)
	}
	conf := r.json(t)
	if conf["client_secret"] == nil || conf["client_secret_expires_at"] != float64(0) || conf["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Errorf("confidential registration = %v", conf)
	}
	cc := tc.token(conf["client_id"].(string), conf["client_secret"].(string), url.Values{"resource": {"https://api.example.com"}})

	// Read.
	got := tc.manage(http.MethodGet, uri, rat, nil)
	if got.status != http.StatusOK || got.json(t)["client_name"] != "Agent" || got.json(t)["client_id"] != id || got.header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET: %d %s", got.status, got.body)
	}
	// Update: the client_id must match; the metadata is replaced and validated again.
	upd := map[string]any{"client_id": id, "client_name": "Agent 2", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1:9999/cb", "https://agent.example/cb"}}
	if r := tc.manage(http.MethodPut, uri, rat, upd); r.status != http.StatusOK || r.json(t)["client_name"] != "Agent 2" {
		t.Errorf("PUT: %d %s", r.status, r.body)
	}
	if r := tc.manage(http.MethodGet, uri, rat, nil); len(anyStrings(r.json(t)["redirect_uris"])) != 2 {
		t.Errorf("after PUT: %s", r.body)
	}
	for name, tt := range map[string]struct {
		body map[string]any
		code string
	}{
		"other client_id":      {map[string]any{"client_id": "x", "redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"no client_id":         {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"sends the token":      {map[string]any{"client_id": id, "registration_access_token": rat, "redirect_uris": []string{"https://a.example/cb"}}, "invalid_request"},
		"becomes confidential": {map[string]any{"client_id": id, "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": []string{"https://a.example/cb"}}, "invalid_client_metadata"},
		"bad redirect":         {map[string]any{"client_id": id, "token_endpoint_auth_method": "none", "redirect_uris": []string{"http://evil.example/cb"}}, "invalid_redirect_uri"},
	} {
		if r := tc.manage(http.MethodPut, uri, rat, tt.body); r.status != http.StatusBadRequest || r.json(t)["error"] != tt.code {
			t.Errorf("PUT %s: %d %s; want %s", name, r.status, r.body, tt.code)
		}
	}
	// Wrong or missing tokens, other clients, clients from config: 401 alike.
	for name, tt := range map[string][2]string{
		"no token":       {uri, ""},
		"wrong token":    {uri, "ag_rat_wrong"},
		"other client":   {conf["registration_client_uri"].(string), rat},
		"config client":  {tc.issuer + "/register/svc", rat},
		"unknown client": {tc.issuer + "/register/nobody", rat},
	} {
		r := tc.manage(http.MethodGet, tt[0], tt[1], nil)
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q", name, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := tc.manage(http.MethodPost, uri, rat, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to the configuration endpoint: %d", r.status)
	}
	// Delete: gone, and its tokens with it.
	if r := tc.manage(http.MethodDelete, uri, rat, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if tc.active(tok.AccessToken) || tc.active(tok.RefreshToken) {
		t.Error("the deleted client's tokens are still active")
	}
	if r := tc.manage(http.MethodGet, uri, rat, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET after DELETE: %d", r.status)
	}
	if r := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); r.status != http.StatusBadRequest {
		t.Errorf("authorize for a deleted client: %d", r.status)
	}
	// Registered clients survive a restart.
	tc.restart()
	if !tc.active(cc) {
		t.Error("a registered client's token is inactive after a restart")
	}
	tc.token(conf["client_id"].(string), conf["client_secret"].(string), nil)
}

// TestRegistrationRejects covers RFC 7591 §3.2.2 refusals and bad input.
func TestRegistrationRejects(t *testing.T) {
	tc := startCaddy(t, openRegistration)
	web := []string{"https://app.example/cb"}
	cases := map[string]struct {
		body map[string]any
		code string
	}{
		"fragment":                    {map[string]any{"redirect_uris": []string{"https://app.example/cb#x"}}, "invalid_redirect_uri"},
		"http non-loopback":           {map[string]any{"redirect_uris": []string{"http://app.example/cb"}}, "invalid_redirect_uri"},
		"relative":                    {map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		"custom scheme, confidential": {map[string]any{"redirect_uris": []string{"com.example.app:/cb"}}, "invalid_redirect_uri"},
		"javascript":                  {map[string]any{"redirect_uris": []string{"javascript:alert(1)"}, "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
		"no redirect for code":        {map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		"implicit":                    {map[string]any{"redirect_uris": web, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		"password":                    {map[string]any{"redirect_uris": web, "grant_types": []string{"password"}}, "invalid_client_metadata"},
		"token response type":         {map[string]any{"redirect_uris": web, "response_types": []string{"token"}}, "invalid_client_metadata"},
		"grant/response mismatch":     {map[string]any{"grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}, "invalid_client_metadata"},
		"public client credentials":   {map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"refresh alone":               {map[string]any{"grant_types": []string{"refresh_token"}}, "invalid_client_metadata"},
		"private_key_jwt":             {map[string]any{"redirect_uris": web, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		"scope not allowed":           {map[string]any{"redirect_uris": web, "scope": "openid admin"}, "invalid_client_metadata"},
		"bad scope":                   {map[string]any{"redirect_uris": web, "scope": `"quoted"`}, "invalid_client_metadata"},
		"http client_uri":             {map[string]any{"redirect_uris": web, "client_uri": "http://app.example"}, "invalid_client_metadata"},
		"wrong type":                  {map[string]any{"redirect_uris": "https://app.example/cb"}, "invalid_client_metadata"},
		"long name":                   {map[string]any{"redirect_uris": web, "client_name": strings.Repeat("n", 300)}, "invalid_client_metadata"},
	}
	for name, tt := range cases {
		r := tc.register(tt.body, "")
		if r.status != http.StatusBadRequest || r.json(t)["error"] != tt.code || r.json(t)["error_description"] == nil {
			t.Errorf("%s: %d %s; want %s", name, r.status, r.body, tt.code)
		}
	}
	// A public native client may use a private-use scheme.
	if r := tc.register(map[string]any{"redirect_uris": []string{"com.example.app:/oauth"}, "token_endpoint_auth_method": "none"}, ""); r.status != http.StatusCreated {
		t.Errorf("custom scheme for a public client: %d %s", r.status, r.body)
	}
	raw := func(ct, body string) response {
		req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/register", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		return do(t, req)
	}
	for name, tt := range map[string]struct {
		ct, body string
		status   int
	}{
		"form body": {"application/x-www-form-urlencoded", "redirect_uris=https://a.example/cb", 400},
		"no type":   {"", `{"redirect_uris":["https://a.example/cb"]}`, 400},
		"malformed": {"application/json", `{"redirect_uris":[`, 400},
		"array":     {"application/json", `[{"redirect_uris":["https://a.example/cb"]}]`, 400},
		"null":      {"application/json", `null`, 400},
		"oversized": {"application/json", `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
	} {
		r := raw(tt.ct, tt.body)
		if r.status != tt.status || r.json(t)["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/register", nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /register: %d", r.status)
	}
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["registration_endpoint"] != tc.issuer+"/register" {
		t.Errorf("registration_endpoint = %v", m["registration_endpoint"])
	}
}

// TestRegistrationAccess: disabled, token mode (configured and admin
// tokens), and the per-address limit.
func TestRegistrationAccess(t *testing.T) {
	body := map[string]any{"redirect_uris": []string{"https://app.example/cb"}}
	tc := startCaddy(t, signinClients)
	if r := tc.register(body, ""); r.status != http.StatusForbidden || r.json(t)["error"] != "access_denied" {
		t.Errorf("registration disabled by default: %d %s", r.status, r.body)
	}
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["registration_endpoint"] != nil {
		t.Errorf("a disabled registration endpoint is advertised")
	}
	tc.reload(signinClients + `
		registration token {
			initial_access_token configured-token-0123456789
			per_address_per_hour 8
		}`)
	if r := tc.register(body, ""); r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("no initial access token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := tc.register(body, "configured-token-0123456789"); r.status != http.StatusCreated {
		t.Errorf("configured token: %d %s", r.status, r.body)
	}
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
	// 4 requests so far; the 9th is over the per-address limit of 8.
	var last response
	for range 5 {
		last = tc.register(body, "configured-token-0123456789")
	}
	if last.status != http.StatusTooManyRequests {
		t.Errorf("over the per-address limit: %d %s", last.status, last.body)
	}
}
