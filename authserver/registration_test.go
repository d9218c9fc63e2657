package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// svcRegistered is what a registration answered.
type svcRegistered struct {
	id, secret, token, uri string
	m                      map[string]any
}

// svcMustRegister registers a client and fails the test unless it is
// created.
func (e *testEnv) svcMustRegister(body map[string]any) svcRegistered {
	e.t.Helper()
	r := e.svcRegister(body, "")
	if r.status != http.StatusCreated {
		e.t.Fatalf("register: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	secret, _ := m["client_secret"].(string)
	return svcRegistered{id: m["client_id"].(string), secret: secret, token: m["registration_access_token"].(string),
		uri: m["registration_client_uri"].(string), m: m}
}

// svcAuthURL is an authorization request URL with PKCE for a client.
func (e *testEnv) svcAuthURL(clientID, redirect string) string {
	cfg := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize"}}
	return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
}

// TestRegistrationLifecycle: a client registers (RFC 7591) and gets the
// defaults it left out, uses what it registered for (a public client the
// code flow with PKCE, a confidential one client credentials for the
// policy's audience), then reads, replaces and deletes its registration
// with its registration access token (RFC 7592); deleting it ends its
// tokens. Registrations live in the store, so a restarted server knows
// them.
func TestRegistrationLifecycle(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	// The product's first curl: a public client with one loopback
	// redirect URI; unknown fields and language tags are ignored.
	r := e.svcRegister(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none",
		"client_name": "Agent", "unknown_field": 42, "client_name#fr": "Agent FR"}, "")
	if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v %s", r.status, r.header, r.body)
	}
	if m := r.json(t); strings.Join(svcAnyStrings(m["grant_types"]), " ") != "authorization_code" ||
		strings.Join(svcAnyStrings(m["response_types"]), " ") != "code" || m["unknown_field"] != nil || m["client_name#fr"] != nil {
		t.Errorf("defaults: %s", r.body)
	}
	pub := e.svcMustRegister(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb", "http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token", "authorization_code"}, "client_name": "Agent"})
	if pub.m["client_secret"] != nil || pub.m["client_secret_expires_at"] != nil || pub.m["token_endpoint_auth_method"] != "none" ||
		pub.uri != e.issuer+"/register/"+pub.id || !strings.HasPrefix(pub.id, "ag_c_") || !strings.HasPrefix(pub.token, "ag_rat_") ||
		pub.m["client_id_issued_at"] != float64(e.clock.Now().Unix()) || pub.m["scope"] != "openid profile email offline_access" ||
		len(svcAnyStrings(pub.m["redirect_uris"])) != 1 || len(svcAnyStrings(pub.m["grant_types"])) != 2 {
		t.Errorf("registration response = %v", pub.m)
	}

	// It completes the code flow with PKCE; the consent page names it,
	// unverified, with its redirect URI's host.
	cfg := &oauth2.Config{ClientID: pub.id, RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	b := e.browser()
	consent := b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", alicePassword)
	if body := string(consent.body); !isPage(consent, "Allow access?") || !strings.Contains(body, "Agent") || !strings.Contains(body, `class="host">127.0.0.1:9999<`) {
		t.Errorf("the consent page does not show the client's host: %s", consent.body)
	}
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("registered public client: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}
	// Without PKCE, a registered client is refused.
	if r := b.get(cfg.AuthCodeURL("s")); r.status == http.StatusSeeOther && strings.Contains(r.header.Get("Location"), "code=") {
		t.Errorf("a registered client got a code without PKCE")
	}

	// A confidential client gets client credentials for the policy's
	// audience.
	conf := e.svcMustRegister(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "openid", "client_name": "Service"})
	if !strings.HasPrefix(conf.secret, "ag_cs_") || conf.m["client_secret_expires_at"] != float64(0) || conf.m["token_endpoint_auth_method"] != "client_secret_basic" ||
		len(svcAnyStrings(conf.m["response_types"])) != 0 {
		t.Errorf("confidential registration = %v", conf.m)
	}
	cc := e.svcToken(conf.id, conf.secret, url.Values{"resource": {"https://api.example.com"}})
	if r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}, "resource": {"https://other.example.com"}}, conf.id, conf.secret); r.errorCode(t) != codeInvalidTarget {
		t.Errorf("a resource outside the policy: %s", r.body)
	}
	if r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}, "client_id": {conf.id}, "client_secret": {conf.secret}}, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("client_secret_post for a client_secret_basic client: %d", r.status)
	}

	// Read, and HEAD.
	got := e.svcManage(http.MethodGet, pub.uri, pub.token, nil)
	if m := got.json(t); got.status != http.StatusOK || m["client_name"] != "Agent" || m["client_id"] != pub.id || got.header.Get("Cache-Control") != "no-store" ||
		m["registration_access_token"] != nil || m["registration_client_uri"] != pub.uri || m["client_id_issued_at"] != pub.m["client_id_issued_at"] {
		t.Errorf("GET: %d %s", got.status, got.body)
	}
	if m := e.svcManage(http.MethodGet, conf.uri, conf.token, nil).json(t); m["client_secret"] != nil || m["client_secret_expires_at"] != float64(0) {
		t.Errorf("GET of a confidential client: %v", m)
	}
	if r := e.svcManage(http.MethodHead, pub.uri, pub.token, nil); r.status != http.StatusOK {
		t.Errorf("HEAD: %d", r.status)
	}
	// Update: the client_id must match; the metadata is replaced and
	// validated again.
	upd := map[string]any{"client_id": pub.id, "client_name": "Agent 2", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1:9999/cb", "https://agent.example/cb"}}
	if r := e.svcManage(http.MethodPut, pub.uri, pub.token, upd); r.status != http.StatusOK || r.json(t)["client_name"] != "Agent 2" {
		t.Errorf("PUT: %d %s", r.status, r.body)
	}
	if m := e.svcManage(http.MethodGet, pub.uri, pub.token, nil).json(t); len(svcAnyStrings(m["redirect_uris"])) != 2 || m["grant_types"] == nil {
		t.Errorf("after PUT: %v", m)
	}
	// A confidential client may repeat its secret, and keeps its method
	// when it leaves it out.
	if r := e.svcManage(http.MethodPut, conf.uri, conf.token, map[string]any{"client_id": conf.id, "client_secret": conf.secret,
		"grant_types": []string{"client_credentials"}, "scope": "openid"}); r.status != http.StatusOK || r.json(t)["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Errorf("PUT with the client's secret: %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name, uri, token string
		body             map[string]any
		code             string
	}{
		{"other client_id", pub.uri, pub.token, map[string]any{"client_id": "x", "redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}, codeInvalidClientMetadata},
		{"no client_id", pub.uri, pub.token, map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}, codeInvalidClientMetadata},
		{"sends the token", pub.uri, pub.token, map[string]any{"client_id": pub.id, "registration_access_token": pub.token, "redirect_uris": []string{"https://a.example/cb"}}, codeInvalidRequest},
		{"sends the URI", pub.uri, pub.token, map[string]any{"client_id": pub.id, "registration_client_uri": pub.uri, "redirect_uris": []string{"https://a.example/cb"}}, codeInvalidRequest},
		{"sends client_id_issued_at", pub.uri, pub.token, map[string]any{"client_id": pub.id, "client_id_issued_at": 1, "redirect_uris": []string{"https://a.example/cb"}}, codeInvalidRequest},
		{"sends client_secret_expires_at", conf.uri, conf.token, map[string]any{"client_id": conf.id, "client_secret_expires_at": 0, "grant_types": []string{"client_credentials"}}, codeInvalidRequest},
		{"becomes confidential", pub.uri, pub.token, map[string]any{"client_id": pub.id, "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": []string{"https://a.example/cb"}}, codeInvalidClientMetadata},
		{"becomes public", conf.uri, conf.token, map[string]any{"client_id": conf.id, "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://a.example/cb"}}, codeInvalidClientMetadata},
		{"chooses a secret", conf.uri, conf.token, map[string]any{"client_id": conf.id, "client_secret": "my-own-secret", "grant_types": []string{"client_credentials"}}, codeInvalidClientMetadata},
		{"bad redirect", pub.uri, pub.token, map[string]any{"client_id": pub.id, "token_endpoint_auth_method": "none", "redirect_uris": []string{"http://evil.example/cb"}}, codeInvalidRedirectURI},
		{"scope not allowed", pub.uri, pub.token, map[string]any{"client_id": pub.id, "redirect_uris": []string{"https://a.example/cb"}, "scope": "admin"}, codeInvalidClientMetadata},
	} {
		t.Run("PUT "+tt.name, func(t *testing.T) {
			svcWantError(t, e.svcManage(http.MethodPut, tt.uri, tt.token, tt.body), http.StatusBadRequest, tt.code)
		})
	}
	if r := e.svcRequest(http.MethodPut, pub.uri, "text/plain", "{}", http.Header{"Authorization": {"Bearer " + pub.token}}); r.errorCode(t) != codeInvalidClientMetadata {
		t.Errorf("PUT with a text body: %s", r.body)
	}
	// Wrong or missing tokens, other clients, clients from configuration
	// and unknown clients are answered alike (RFC 7592 §3).
	for name, tt := range map[string][2]string{
		"no token":       {pub.uri, ""},
		"wrong token":    {pub.uri, "ag_rat_wrong"},
		"other client":   {conf.uri, pub.token},
		"config client":  {e.issuer + "/register/svc", pub.token},
		"unknown client": {e.issuer + "/register/nobody", pub.token},
	} {
		r := e.svcManage(http.MethodGet, tt[0], tt[1], nil)
		if r.status != http.StatusUnauthorized || r.errorCode(t) != "invalid_token" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer realm=") ||
			!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q %s", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	if r := e.svcRequest(http.MethodGet, pub.uri, "", "", http.Header{"Authorization": {"Basic " + pub.token}}); r.status != http.StatusUnauthorized {
		t.Errorf("the token in another scheme: %d", r.status)
	}
	if r := e.svcManage(http.MethodPost, pub.uri, pub.token, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, PUT, DELETE" {
		t.Errorf("POST to the configuration endpoint: %d %v", r.status, r.header)
	}

	// Delete: gone, and its tokens with it.
	if r := e.svcManage(http.MethodDelete, pub.uri, pub.token, nil); r.status != http.StatusNoContent || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if e.svcActive(tok.AccessToken) || e.svcActive(tok.RefreshToken) {
		t.Error("the deleted client's tokens are still active")
	}
	if r := e.svcManage(http.MethodGet, pub.uri, pub.token, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET after DELETE: %d", r.status)
	}
	if r := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); r.status != http.StatusBadRequest {
		t.Errorf("authorize for a deleted client: %d", r.status)
	}
	if r := e.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}, "client_id": {pub.id}}, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("a deleted client at the token endpoint: %d %s", r.status, r.body)
	}

	// Registered clients survive a restart.
	restarted := e.svcRestart(svcOpenRegistration)
	r = svcServe(t, restarted, svcFormRequest(t, e.issuer+"/introspect", url.Values{"token": {cc}}, "rs", "rs-secret"))
	if r.json(t)["active"] != true {
		t.Error("a registered client's token is inactive after a restart")
	}
	r = svcServe(t, restarted, svcFormRequest(t, e.issuer+"/token", url.Values{"grant_type": {GrantClientCredentials}}, conf.id, conf.secret))
	if r.status != http.StatusOK {
		t.Errorf("a registered client after a restart: %d %s", r.status, r.body)
	}
}

// TestRegistrationRejects: registration refuses, with RFC 7591 §3.2.2's
// invalid_redirect_uri or invalid_client_metadata and a description,
// metadata that breaks RFC 7591 §2, RFC 8252 or the server's policy, and
// bodies that are not one JSON object within the size limit.
func TestRegistrationRejects(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		svcOpenRegistration(cfg)
		cfg.Registration.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
	})
	web := []string{"https://app.example/cb"}
	many := make([]string, 21)
	for i := range many {
		many[i] = "https://app.example/cb" + strings.Repeat("x", i)
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"fragment", map[string]any{"redirect_uris": []string{"https://app.example/cb#x"}}, codeInvalidRedirectURI},
		{"empty fragment", map[string]any{"redirect_uris": []string{"https://app.example/cb#"}}, codeInvalidRedirectURI},
		{"http non-loopback", map[string]any{"redirect_uris": []string{"http://app.example/cb"}}, codeInvalidRedirectURI},
		{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, codeInvalidRedirectURI},
		{"https without a host", map[string]any{"redirect_uris": []string{"https:/cb"}}, codeInvalidRedirectURI},
		{"custom scheme, confidential", map[string]any{"redirect_uris": []string{"com.example.app:/cb"}}, codeInvalidRedirectURI},
		{"custom scheme without a dot", map[string]any{"redirect_uris": []string{"myapp:/cb"}, "token_endpoint_auth_method": "none"}, codeInvalidRedirectURI},
		{"javascript", map[string]any{"redirect_uris": []string{"javascript:alert(1)"}, "token_endpoint_auth_method": "none"}, codeInvalidRedirectURI},
		{"bad logout redirect", map[string]any{"redirect_uris": web, "post_logout_redirect_uris": []string{"http://app.example/bye"}}, codeInvalidRedirectURI},
		{"no redirect for code", map[string]any{"client_name": "x"}, codeInvalidRedirectURI},
		{"implicit", map[string]any{"redirect_uris": web, "grant_types": []string{"implicit"}}, codeInvalidClientMetadata},
		{"password", map[string]any{"redirect_uris": web, "grant_types": []string{"password"}}, codeInvalidClientMetadata},
		{"a grant the policy leaves out", map[string]any{"grant_types": []string{GrantDeviceCode}, "token_endpoint_auth_method": "none"}, codeInvalidClientMetadata},
		{"token response type", map[string]any{"redirect_uris": web, "response_types": []string{"token"}}, codeInvalidClientMetadata},
		{"grant/response mismatch", map[string]any{"grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}, codeInvalidClientMetadata},
		{"code without its response type", map[string]any{"redirect_uris": web, "response_types": []string{}}, codeInvalidClientMetadata},
		{"public client credentials", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, codeInvalidClientMetadata},
		{"refresh alone", map[string]any{"grant_types": []string{"refresh_token"}}, codeInvalidClientMetadata},
		{"private_key_jwt", map[string]any{"redirect_uris": web, "token_endpoint_auth_method": "private_key_jwt"}, codeInvalidClientMetadata},
		{"scope not allowed", map[string]any{"redirect_uris": web, "scope": "openid admin"}, codeInvalidClientMetadata},
		{"bad scope", map[string]any{"redirect_uris": web, "scope": `"quoted"`}, codeInvalidClientMetadata},
		{"blank scope", map[string]any{"redirect_uris": web, "scope": "   "}, codeInvalidClientMetadata},
		{"http client_uri", map[string]any{"redirect_uris": web, "client_uri": "http://app.example"}, codeInvalidClientMetadata},
		{"relative logo_uri", map[string]any{"redirect_uris": web, "logo_uri": "/logo.png"}, codeInvalidClientMetadata},
		{"javascript tos_uri", map[string]any{"redirect_uris": web, "tos_uri": "javascript:alert(1)"}, codeInvalidClientMetadata},
		{"ftp policy_uri", map[string]any{"redirect_uris": web, "policy_uri": "ftp://app.example/policy"}, codeInvalidClientMetadata},
		{"wrong type", map[string]any{"redirect_uris": "https://app.example/cb"}, codeInvalidClientMetadata},
		{"long name", map[string]any{"redirect_uris": web, "client_name": strings.Repeat("n", 300)}, codeInvalidClientMetadata},
		{"long software_id", map[string]any{"redirect_uris": web, "software_id": strings.Repeat("s", 201)}, codeInvalidClientMetadata},
		{"too many redirect URIs", map[string]any{"redirect_uris": many}, codeInvalidClientMetadata},
		{"empty contact", map[string]any{"redirect_uris": web, "contacts": []string{""}}, codeInvalidClientMetadata},
		{"an unknown application_type", map[string]any{"redirect_uris": web, "application_type": "desktop"}, codeInvalidClientMetadata},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svcWantError(t, e.svcRegister(tt.body, ""), http.StatusBadRequest, tt.code)
		})
	}
	// The wrong type's field is named.
	if d := e.svcRegister(map[string]any{"redirect_uris": "https://app.example/cb"}, "").json(t)["error_description"]; d != "redirect_uris has the wrong type" {
		t.Errorf("wrong type: %q", d)
	}
	// A public native client may use a private-use scheme.
	e.svcMustRegister(map[string]any{"redirect_uris": []string{"com.example.app:/oauth"}, "token_endpoint_auth_method": "none"})
	for _, tt := range []struct {
		name, ct, body string
		status         int
	}{
		{"form body", svcFormType, "redirect_uris=https://a.example/cb", 400},
		{"no type", "", `{"redirect_uris":["https://a.example/cb"]}`, 400},
		{"malformed", "application/json", `{"redirect_uris":[`, 400},
		{"array", "application/json", `[{"redirect_uris":["https://a.example/cb"]}]`, 400},
		{"null", "application/json", `null`, 400},
		{"two objects", "application/json", `{}{}`, 400},
		{"oversized", "application/json", `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svcWantError(t, e.svcRequest(http.MethodPost, "/register", tt.ct, tt.body, nil), tt.status, codeInvalidClientMetadata)
		})
	}
	if r := e.get("/register", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /register: %d %v", r.status, r.header)
	}
	if m := e.get("/.well-known/oauth-authorization-server", nil).json(t); m["registration_endpoint"] != e.issuer+"/register" {
		t.Errorf("registration_endpoint = %v", m["registration_endpoint"])
	}

	// With custom schemes off, even a public native client may not.
	e = newEnv(t, func(cfg *Config) {
		svcOpenRegistration(cfg)
		cfg.Registration.NoCustomSchemes = true
	})
	svcWantError(t, e.svcRegister(map[string]any{"redirect_uris": []string{"com.example.app:/oauth"}, "token_endpoint_auth_method": "none", "application_type": "native"}, ""),
		http.StatusBadRequest, codeInvalidRedirectURI)
}

// TestRegistrationPolicyDefaults: a registration that asks for no scope
// gets the policy's scopes; the default policy offers the device grant,
// and refresh_token with it.
func TestRegistrationPolicyDefaults(t *testing.T) {
	e := newEnv(t, func(cfg *Config) { cfg.Registration.Mode = RegistrationOpen })
	reg := e.svcMustRegister(map[string]any{"grant_types": []string{GrantDeviceCode, GrantRefreshToken}, "token_endpoint_auth_method": "none"})
	if reg.m["scope"] != "openid profile email offline_access" {
		t.Errorf("scope = %v", reg.m["scope"])
	}
	// The registered device client can start the device flow.
	if r := e.postForm("/device/code", url.Values{"client_id": {reg.id}, "scope": {"openid"}}, "", ""); r.status != http.StatusOK {
		t.Errorf("a registered device client: %d %s", r.status, r.body)
	}
}

// TestRegistrationAccess: who may register: nobody while registration is
// disabled (the default, 403 access_denied, and not advertised); in token
// mode only with a configured initial access token or a single-use one
// the server issued, unexpired (401 invalid_token with a Bearer
// challenge otherwise); and never more than the per-address limit an
// hour (429), which lapses with the hour.
func TestRegistrationAccess(t *testing.T) {
	body := map[string]any{"redirect_uris": []string{"https://app.example/cb"}}
	e := newEnv(t, nil)
	svcWantError(t, e.svcRegister(body, ""), http.StatusForbidden, "access_denied")
	if m := e.get("/.well-known/oauth-authorization-server", nil).json(t); m["registration_endpoint"] != nil {
		t.Errorf("a disabled registration endpoint is advertised")
	}

	e = newEnv(t, func(cfg *Config) {
		cfg.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Addr") }
		cfg.Registration = RegistrationPolicy{Mode: RegistrationToken, InitialAccessTokens: []string{"configured-token-0123456789"}, PerAddressPerHour: 8}
	})
	register := func(addr, authorization string) response {
		t.Helper()
		return e.svcRequest(http.MethodPost, "/register", "application/json", `{"redirect_uris":["https://app.example/cb"]}`,
			http.Header{"X-Test-Addr": {addr}, "Authorization": {authorization}})
	}
	issued, err := e.srv.IssueInitialAccessToken(context.Background(), time.Hour)
	if err != nil || !strings.HasPrefix(issued, "ag_iat_") {
		t.Fatalf("IssueInitialAccessToken: %q %v", issued, err)
	}
	expiring, err := e.srv.IssueInitialAccessToken(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, authorization string
		status              int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a wrong token", "Bearer wrong-token", http.StatusUnauthorized},
		{"another scheme", "Basic configured-token-0123456789", http.StatusUnauthorized},
		{"the configured token", "Bearer configured-token-0123456789", http.StatusCreated},
		{"the configured token again", "Bearer configured-token-0123456789", http.StatusCreated},
		{"an issued token", "Bearer " + issued, http.StatusCreated},
		{"an issued token again", "Bearer " + issued, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := register("192.0.2.1", tt.authorization)
			if r.status != tt.status {
				t.Fatalf("%d %s; want %d", r.status, r.body, tt.status)
			}
			if tt.status == http.StatusUnauthorized {
				svcWantError(t, r, tt.status, "invalid_token")
				if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer realm=") || !strings.Contains(ch, `error="invalid_token"`) {
					t.Errorf("challenge %q", ch)
				}
			}
		})
	}
	e.clock.Advance(time.Minute)
	if r := register("192.0.2.2", "Bearer "+expiring); r.status != http.StatusUnauthorized {
		t.Errorf("an expired issued token: %d", r.status)
	}
	// Every request counts towards the address's limit of 8: 7 so far
	// from 192.0.2.1; the 9th is refused, another address is not.
	if r := register("192.0.2.1", "Bearer configured-token-0123456789"); r.status != http.StatusCreated {
		t.Errorf("the 8th request: %d", r.status)
	}
	svcWantError(t, register("192.0.2.1", "Bearer configured-token-0123456789"), http.StatusTooManyRequests, codeInvalidRequest)
	if r := register("192.0.2.3", "Bearer configured-token-0123456789"); r.status != http.StatusCreated {
		t.Errorf("another address: %d", r.status)
	}
	e.clock.Advance(time.Hour)
	if r := register("192.0.2.1", "Bearer configured-token-0123456789"); r.status != http.StatusCreated {
		t.Errorf("after the hour: %d %s", r.status, r.body)
	}
}

// TestRegistrationApplicationType: application_type (web or native, OIDC
// Dynamic Client Registration §2), as the MCP authorization
// specification asks clients to declare it, is accepted, stored and
// returned; only a native (or undeclared) public client may register a
// private-use scheme.
func TestRegistrationApplicationType(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	for _, tt := range []struct {
		name, appType, redirect string
		status                  int
		code                    string
	}{
		{"native with a private-use scheme", "native", "com.example.agent:/cb", http.StatusCreated, ""},
		{"native on loopback", "native", "http://127.0.0.1:33418/cb", http.StatusCreated, ""},
		{"web over https", "web", "https://agent.example/cb", http.StatusCreated, ""},
		{"undeclared, private-use scheme", "", "com.example.agent:/cb", http.StatusCreated, ""},
		{"web with a private-use scheme", "web", "com.example.agent:/cb", http.StatusBadRequest, codeInvalidRedirectURI},
		{"an unknown type", "desktop", "http://127.0.0.1:33418/cb", http.StatusBadRequest, codeInvalidClientMetadata},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"redirect_uris": []string{tt.redirect}, "token_endpoint_auth_method": "none"}
			if tt.appType != "" {
				body["application_type"] = tt.appType
			}
			r := e.svcRegister(body, "")
			if tt.code != "" {
				svcWantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.json(t)
			if got, _ := m["application_type"].(string); got != tt.appType {
				t.Errorf("application_type %q, want %q", got, tt.appType)
			}
			// Stored: the RFC 7592 read returns it.
			read := e.svcManage(http.MethodGet, m["registration_client_uri"].(string), m["registration_access_token"].(string), nil)
			if got, _ := read.json(t)["application_type"].(string); got != tt.appType {
				t.Errorf("read back application_type %q, want %q", got, tt.appType)
			}
		})
	}
}

// TestRegistrationNames: a self-registered client cannot take the name
// of a configured client (or the product's), whatever the case, spacing
// or invisible characters, at registration or by an update; it is
// marked unverified, with its redirect URI's host, on the sign-in page
// (also shown again after a wrong password) and the consent page, where
// configured clients are not; and if the operator later configures a
// client of its name, it loses the name.
func TestRegistrationNames(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	for _, name := range []string{"webapp", "WebApp", "  Web\u200bapp ", "APP", "AuthGate"} {
		t.Run("name "+name, func(t *testing.T) {
			r := e.svcRegister(map[string]any{"redirect_uris": []string{"https://evil.example/cb"}, "token_endpoint_auth_method": "none", "client_name": name}, "")
			svcWantError(t, r, http.StatusBadRequest, codeInvalidClientMetadata)
		})
	}
	reg := e.svcMustRegister(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}, "token_endpoint_auth_method": "none", "client_name": "Agent"})
	upd := map[string]any{"client_id": reg.id, "client_name": "WEBAPP", "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://agent.example/cb"}}
	svcWantError(t, e.svcManage(http.MethodPut, reg.uri, reg.token, upd), http.StatusBadRequest, codeInvalidClientMetadata)

	marked := func(r response, name, host string) bool {
		body := string(r.body)
		return strings.Contains(body, name) && strings.Contains(body, `class="unverified">unverified<`) && strings.Contains(body, `class="host">`+host+`<`)
	}
	b := e.browser()
	login := b.get(e.svcAuthURL(reg.id, "https://agent.example/cb"))
	if !isSignInPage(login) || !marked(login, "Agent", "agent.example") {
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
	if r := b.get(e.svcAuthURL("app", "http://127.0.0.1:9999/cb")); strings.Contains(string(r.body), `class="unverified">`) {
		t.Errorf("a configured client is marked unverified: %s", r.body)
	}
	// A registered client without a name is "Unnamed application".
	anon := e.svcMustRegister(map[string]any{"redirect_uris": []string{"https://anon.example/cb"}, "token_endpoint_auth_method": "none"})
	if r := e.browser().get(e.svcAuthURL(anon.id, "https://anon.example/cb")); !marked(r, "Unnamed application", "anon.example") {
		t.Errorf("a nameless registered client: %s", r.body)
	}

	// The operator later configures a client of the same name: the
	// registered one loses it.
	restarted := e.svcRestart(func(cfg *Config) {
		svcOpenRegistration(cfg)
		cfg.Clients = append(cfg.Clients, &Client{ID: "agent-official", Name: "Agent", Public: true, RedirectURIs: []string{"https://official.example/cb"}})
	})
	req, _ := http.NewRequest(http.MethodGet, e.svcAuthURL(reg.id, "https://agent.example/cb"), nil)
	req.Header.Set("Accept", "text/html")
	if r := svcServe(t, restarted, req); !marked(r, "Unnamed application", "agent.example") || strings.Contains(string(r.body), ">Agent<") {
		t.Errorf("a registered client keeps a configured client's name: %s", r.body)
	}
}
