package authserver

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// svcMetadata fetches a metadata document at an absolute URL or an
// endpoint path and checks how it is served.
func (e *testEnv) svcMetadata(t *testing.T, path string) map[string]any {
	t.Helper()
	r := e.get(path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %s = %q; want %q", path, k, got, want)
		}
	}
	return r.json(t)
}

// TestDiscovery: the authorization server metadata (RFC 8414) and the
// OpenID Provider configuration (OIDC Discovery §3) are one document,
// served at both locations (and with a trailing slash); it names the
// issuer, lists only what is implemented, and every endpoint it
// advertises is one the server serves, under the issuer. The device
// authorization endpoint is advertised under its standard name only.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	paths := []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration/", "/.well-known/oauth-authorization-server/"}
	first := e.get(paths[0], nil).body
	for _, path := range paths {
		if r := e.get(path, nil); !bytes.Equal(r.body, first) {
			t.Errorf("%s differs from %s", path, paths[0])
		}
	}
	m := e.svcMetadata(t, paths[0])
	if m["issuer"] != e.issuer {
		t.Errorf("issuer = %v", m["issuer"])
	}
	endpoints := map[string]string{
		"authorization_endpoint": "/authorize", "token_endpoint": "/token", "userinfo_endpoint": "/userinfo", "jwks_uri": "/jwks",
		"introspection_endpoint": "/introspect", "revocation_endpoint": "/revoke", "pushed_authorization_request_endpoint": "/par",
		"end_session_endpoint": "/logout", "device_authorization_endpoint": "/device/code",
	}
	for k, path := range endpoints {
		u, _ := m[k].(string)
		if u != e.issuer+path {
			t.Errorf("%s = %q; want %s", k, u, e.issuer+path)
			continue
		}
		if _, ok := e.srv.Lookup(path); !ok {
			t.Errorf("%s %s is advertised but not served", k, u)
		}
	}
	if r := e.get(m["jwks_uri"].(string), nil); r.status != http.StatusOK {
		t.Errorf("jwks_uri does not answer: %d", r.status)
	}
	for k, want := range map[string][]string{
		"grant_types_supported":                         {GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken, GrantDeviceCode},
		"token_endpoint_auth_methods_supported":         {AuthMethodBasic, AuthMethodPost, AuthMethodNone},
		"revocation_endpoint_auth_methods_supported":    {AuthMethodBasic, AuthMethodPost, AuthMethodNone},
		"introspection_endpoint_auth_methods_supported": {AuthMethodBasic, AuthMethodPost},
		"code_challenge_methods_supported":              {"S256"},
		"response_types_supported":                      {"code"},
		"response_modes_supported":                      {"query"},
		"subject_types_supported":                       {"public"},
		"id_token_signing_alg_values_supported":         {e.srv.cfg.Keys.Algorithm()},
		"prompt_values_supported":                       {"none", "login", "consent"},
		"scopes_supported":                              {"email", "groups", "offline_access", "openid", "profile", "read", "write"},
	} {
		if got := svcAnyStrings(m[k]); !slices.Equal(got, want) {
			t.Errorf("%s = %v; want %v", k, got, want)
		}
	}
	for _, claim := range []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "name", "preferred_username", "email", "email_verified", "groups"} {
		if !slices.Contains(svcAnyStrings(m["claims_supported"]), claim) {
			t.Errorf("claims_supported lacks %s", claim)
		}
	}
	if m["authorization_response_iss_parameter_supported"] != true || m["require_pushed_authorization_requests"] != false {
		t.Errorf("flags: %v", m)
	}
	// Registration and metadata documents are off, so not advertised.
	for _, k := range []string{"registration_endpoint", "client_id_metadata_document_supported"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s is advertised while disabled", k)
		}
	}
	if strings.Contains(string(first), "device-authorization") {
		t.Error("discovery advertises the /device-authorization spelling")
	}
	// go-oidc finds the provider and its keys.
	if _, err := oidc.NewProvider(context.Background(), e.issuer); err != nil {
		t.Errorf("go-oidc discovery: %v", err)
	}
	e.svcRun(t, []svcCase{
		{name: "POST", path: "/.well-known/openid-configuration", status: 405, code: codeInvalidRequest, allow: "GET, HEAD"},
		{name: "PUT", method: http.MethodPut, path: "/.well-known/oauth-authorization-server", status: 405, code: codeInvalidRequest, allow: "GET, HEAD"},
	})
}

// TestDiscoveryFollowsConfiguration: what the metadata advertises
// follows the configuration: the registration endpoint when registration
// is on, metadata documents when enabled, PAR when required, plain PKCE
// when a client may use it.
func TestDiscoveryFollowsConfiguration(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.Registration.Mode = RegistrationToken
		cfg.MetadataDocuments = &MetadataDocumentPolicy{}
		cfg.RequirePAR = true
		cfg.Clients = append(cfg.Clients, &Client{ID: "legacy", Public: true, RedirectURIs: []string{"https://legacy.example/cb"},
			AllowPlainPKCE: true, Scopes: []string{"legacy:read"}})
	})
	m := e.svcMetadata(t, "/.well-known/oauth-authorization-server")
	if m["registration_endpoint"] != e.issuer+"/register" || m["client_id_metadata_document_supported"] != true ||
		m["require_pushed_authorization_requests"] != true {
		t.Errorf("metadata = %v", m)
	}
	if got := svcAnyStrings(m["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256", "plain"}) {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	if !slices.Contains(svcAnyStrings(m["scopes_supported"]), "legacy:read") {
		t.Errorf("scopes_supported lacks a configured client's scope: %v", m["scopes_supported"])
	}
	if _, ok := e.srv.Lookup("/register"); !ok {
		t.Error("the advertised registration endpoint is not served")
	}
}

// TestDiscoveryIssuerWithPath: with an issuer that has a path, every
// endpoint is served under it, the metadata is found both under it and
// where RFC 8414 §3.1 puts it (/.well-known/oauth-authorization-server
// followed by the path), the issuer's own path is the landing page, and
// nothing is served outside the path.
func TestDiscoveryIssuerWithPath(t *testing.T) {
	e := newEnv(t, func(cfg *Config) { cfg.Issuer += "/oauth" })
	root := e.http.URL
	if e.issuer != root+"/oauth" {
		t.Fatalf("issuer = %s", e.issuer)
	}
	for _, u := range []string{root + "/.well-known/oauth-authorization-server/oauth", e.issuer + "/.well-known/openid-configuration",
		e.issuer + "/.well-known/oauth-authorization-server"} {
		m := e.svcMetadata(t, u)
		if m["issuer"] != e.issuer || m["token_endpoint"] != e.issuer+"/token" || m["device_authorization_endpoint"] != e.issuer+"/device/code" {
			t.Errorf("GET %s: %v", u, m)
		}
	}
	tok := e.svcToken("svc", "svc-secret", nil)
	if _, c := e.svcVerifyJWT(tok); c.Issuer != e.issuer || !e.svcActive(tok) {
		t.Errorf("a token under the path: iss %s", c.Issuer)
	}
	for _, p := range []string{"/jwks", "/token", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
		"/.well-known/oauth-authorization-server/other", "/", "/oauthx", "/oauthx/jwks"} {
		if r := e.get(root+p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s outside the issuer path answered %d; want it not served", p, r.status)
		}
	}
	for _, p := range []string{"/oauth", "/oauth/"} {
		if r := e.get(root+p, nil); !isPage(r, "Sign-in service") {
			t.Errorf("GET %s, the issuer's path: %d; want the landing page", p, r.status)
		}
	}
	// The device's verification URI and the sign-in redirect keep the path.
	da := e.postForm("/device/code", url.Values{"client_id": {"tv"}}, "", "").json(t)
	if da["verification_uri"] != e.issuer+"/device" {
		t.Errorf("verification_uri = %v", da["verification_uri"])
	}
	if r := e.get("/device", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/oauth/login?") {
		t.Errorf("GET /oauth/device: %d %q", r.status, r.header.Get("Location"))
	}
	if _, err := oidc.NewProvider(context.Background(), e.issuer); err != nil {
		t.Errorf("go-oidc discovery under a path: %v", err)
	}
}
