package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// jwks fetches the published key set.
func (tc *testCaddy) jwks() jose.JSONWebKeySet {
	tc.t.Helper()
	r := tc.get("/jwks")
	if r.status != http.StatusOK {
		tc.t.Fatalf("GET /jwks: %d %s", r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		tc.t.Fatalf("decoding JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			tc.t.Fatalf("the JWKS publishes private key material for %s", k.KeyID)
		}
	}
	return set
}

// accessClaims are the RFC 9068 claims a test checks.
type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyJWT checks an access token's signature against the published
// keys, as a resource server would, and returns its kid and claims.
func (tc *testCaddy) verifyJWT(raw string) (string, accessClaims) {
	tc.t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		tc.t.Fatalf("parsing access token: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		tc.t.Errorf("typ = %v; want at+jwt (RFC 9068)", h.ExtraHeaders[jose.HeaderType])
	}
	set := tc.jwks()
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		tc.t.Fatalf("kid %q is not in the JWKS", h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm || keys[0].Use != "sig" {
		tc.t.Errorf("published key alg/use = %s/%s; token alg %s", keys[0].Algorithm, keys[0].Use, h.Algorithm)
	}
	var c accessClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		tc.t.Fatalf("verifying access token against the JWKS: %v", err)
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: tc.issuer, Time: time.Now()}, time.Minute); err != nil {
		tc.t.Fatalf("claims: %v", err)
	}
	return h.KeyID, c
}

// TestClientCredentialsWithOAuth2Library is the done-when flow with
// golang.org/x/oauth2 as the client: token, verify against /jwks,
// introspect, revoke, introspect again.
func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := clientcredentials.Config{
			ClientID: "svc", ClientSecret: "svc-secret", TokenURL: tc.issuer + "/token",
			Scopes: []string{"read"}, AuthStyle: style,
			EndpointParams: url.Values{"resource": {"https://api.example.com"}},
		}
		tok, err := cfg.Token(context.Background())
		if err != nil {
			t.Fatalf("auth style %d: %v", style, err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
			t.Errorf("token = %+v; want a Bearer token with an expiry and no refresh token", tok)
		}
		if tok.Extra("scope") != "read" {
			t.Errorf("granted scope = %v; want read", tok.Extra("scope"))
		}
		_, c := tc.verifyJWT(tok.AccessToken)
		if c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "read" || c.ID == "" ||
			!slices.Equal(c.Audience, jwt.Audience{"https://api.example.com"}) || c.IssuedAt == nil || c.Expiry == nil {
			t.Errorf("claims = %+v", c)
		}
		if got := time.Until(c.Expiry.Time()); got < 59*time.Minute || got > time.Hour+time.Minute {
			t.Errorf("token lives %v; want the default hour", got)
		}

		in := tc.introspect(tok.AccessToken)
		if in["active"] != true || in["client_id"] != "svc" || in["sub"] != "svc" || in["scope"] != "read" ||
			in["aud"] != "https://api.example.com" || in["iss"] != tc.issuer || in["token_type"] != "Bearer" || in["jti"] != c.ID {
			t.Errorf("introspection = %v", in)
		}

		r := tc.postForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, "svc", "svc-secret")
		if r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if in := tc.introspect(tok.AccessToken); len(in) != 1 || in["active"] != false {
			t.Errorf("after revocation introspection = %v; want only active:false", in)
		}
	}
}

func TestTokenResponseHeaders(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("headers = %v", r.header)
	}
	m := r.json(t)
	if m["scope"] != "read write" || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) {
		t.Errorf("response = %v; want all the client's scopes when none is asked", m)
	}
	// With no resource, the audience is every audience the client has.
	_, c := tc.verifyJWT(m["access_token"].(string))
	if !slices.Equal(c.Audience, jwt.Audience{"https://api.example.com", "https://other.example.com"}) {
		t.Errorf("aud = %v", c.Audience)
	}
	// A client without audiences gets the issuer as audience.
	_, c = tc.verifyJWT(tc.token("other", "other-secret", nil))
	if !slices.Equal(c.Audience, jwt.Audience{tc.issuer}) {
		t.Errorf("aud = %v; want the issuer", c.Audience)
	}
	// Several resources (RFC 8707 §2) give several audiences.
	_, c = tc.verifyJWT(tc.token("svc", "svc-secret", url.Values{"resource": {"https://other.example.com", "https://api.example.com"}}))
	if !slices.Equal(c.Audience, jwt.Audience{"https://other.example.com", "https://api.example.com"}) {
		t.Errorf("aud = %v", c.Audience)
	}
}

// TestSecretEncodingAndHashes covers RFC 6749 §2.3.1 form-encoding of
// Basic credentials and secrets configured as bcrypt and argon2id hashes.
func TestSecretEncodingAndHashes(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("some-salt-value!")
	argon := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("argon-secret"), salt, 1, 64, 1, 32))
	tc := startCaddy(t, defaultClients+`
		client hashed {
			secret_hash `+string(hash)+`
		}
		client argon {
			secret_hash `+argon+`
		}`)
	tc.token("special", "p@ss:w%rd &x=", nil)
	r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"special"}, "client_secret": {"p@ss:w%rd &x="}}, "", "")
	if r.status != http.StatusOK {
		t.Errorf("client_secret_post with special characters: %d %s", r.status, r.body)
	}
	for range 2 { // the second check is served from the cache
		tc.token("hashed", "hashed-secret", nil)
	}
	if r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "hashed", "wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("a wrong secret for a hashed client: %d", r.status)
	}
	tc.token("argon", "argon-secret", nil)
}

func TestDiscovery(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration/"} {
		r := tc.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.status)
		}
		m := r.json(t)
		if m["issuer"] != tc.issuer {
			t.Errorf("%s: issuer = %v", path, m["issuer"])
		}
		for _, k := range []string{"token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"} {
			u, _ := m[k].(string)
			if !strings.HasPrefix(u, tc.issuer+"/") {
				t.Errorf("%s: %s = %q; want an absolute URL under the issuer", path, k, u)
				continue
			}
			if k != "jwks_uri" {
				continue
			}
			if r := tc.get(strings.TrimPrefix(u, tc.issuer)); r.status != http.StatusOK {
				t.Errorf("%s does not answer: %d", u, r.status)
			}
		}
		if g := m["grant_types_supported"]; !slices.Equal(anyStrings(g), []string{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}) {
			t.Errorf("grant_types_supported = %v; want only what is implemented", g)
		}
		for _, k := range []string{"authorization_endpoint", "userinfo_endpoint", "pushed_authorization_request_endpoint", "end_session_endpoint", "device_authorization_endpoint"} {
			if u, _ := m[k].(string); !strings.HasPrefix(u, tc.issuer+"/") {
				t.Errorf("%s = %q", k, u)
			}
		}
		if m["authorization_response_iss_parameter_supported"] != true || !slices.Equal(anyStrings(m["code_challenge_methods_supported"]), []string{"S256"}) ||
			!slices.Equal(anyStrings(m["response_types_supported"]), []string{"code"}) || len(anyStrings(m["id_token_signing_alg_values_supported"])) == 0 {
			t.Errorf("OpenID Provider metadata incomplete: %v", m)
		}
		if s := anyStrings(m["scopes_supported"]); !slices.Contains(s, "read") || !slices.Contains(s, "write") {
			t.Errorf("scopes_supported = %v", s)
		}
		if a := anyStrings(m["token_endpoint_auth_methods_supported"]); !slices.Equal(a, []string{"client_secret_basic", "client_secret_post", "none"}) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", a)
		}
	}
}

// TestIssuerWithPath serves the endpoints under the issuer's path, and the
// RFC 8414 §3.1 metadata location with the path appended.
func TestIssuerWithPath(t *testing.T) {
	tc := &testCaddy{t: t, port: freePort(t), dataDir: t.TempDir()}
	tc.admin = "127.0.0.1:" + itoa(freePort(t))
	site := "http://127.0.0.1:" + itoa(tc.port)
	tc.site, tc.issuer = site, site+"/oauth"
	tc.config = tc.adapt(defaultClients)
	tc.load()
	t.Cleanup(func() { caddy.Stop() })
	tc.token("svc", "svc-secret", nil)
	for _, path := range []string{"/.well-known/oauth-authorization-server/oauth", "/oauth/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		r := do(t, req)
		if r.status != http.StatusOK || r.json(t)["token_endpoint"] != tc.issuer+"/token" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, site+"/jwks", nil)
	if r := do(t, req); r.status != http.StatusNotFound {
		t.Errorf("/jwks outside the issuer path answered %d; want it passed on", r.status)
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestIntrospectionPrivacy: a client sees its own tokens, tokens naming it
// in aud, or any token if it may introspect any; to other clients every
// token is inactive (RFC 7662 §2.2).
func TestIntrospectionPrivacy(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	tok := tc.token("svc", "svc-secret", nil)
	for _, tt := range []struct {
		client, secret string
		sees           bool
	}{
		{"svc", "svc-secret", true},
		{"rs", "rs-secret", true},
		{"other", "other-secret", false},
	} {
		r := tc.postForm("/introspect", url.Values{"token": {tok}}, tt.client, tt.secret)
		m := r.json(t)
		_, details := m["sub"]
		if m["active"] != tt.sees || details != tt.sees {
			t.Errorf("%s: introspection = %v; want it to see the token: %v", tt.client, m, tt.sees)
		}
	}
	// Only the client a token was issued to may revoke it.
	r := tc.postForm("/revoke", url.Values{"token": {tok}}, "other", "other-secret")
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "unauthorized_client" {
		t.Errorf("revoking another client's token: %d %s", r.status, r.body)
	}
	if !tc.active(tok) {
		t.Error("another client revoked the token")
	}
	// An expired token is inactive.
	short := startCaddyReuse(t, tc, defaultClients+`
		client brief {
			secret brief-secret
			access_token_lifetime 1s
		}`)
	brief := short.token("brief", "brief-secret", nil)
	if !short.active(brief) {
		t.Fatal("a fresh token is inactive")
	}
	time.Sleep(2100 * time.Millisecond)
	if short.active(brief) {
		t.Error("an expired token is active")
	}
}

// startCaddyReuse reloads tc's Caddy with other options and returns it.
func startCaddyReuse(t *testing.T, tc *testCaddy, options string) *testCaddy {
	tc.reload(options)
	return tc
}

// TestRotationKeepsOldTokensValid rotates the signing key through the
// admin API: new tokens use the new key, old ones keep verifying.
func TestRotationKeepsOldTokensValid(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	before := tc.token("svc", "svc-secret", nil)
	oldKid, _ := tc.verifyJWT(before)

	r := tc.adminPost("/authgate/keys/rotate")
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	after := tc.token("svc", "svc-secret", nil)
	newKid, _ := tc.verifyJWT(after)
	if newKid == oldKid {
		t.Fatal("the signing key did not change")
	}
	if n := len(tc.jwks().Keys); n != 2 {
		t.Errorf("JWKS has %d keys; want the current and the previous", n)
	}
	tc.verifyJWT(before)
	if !tc.active(before) || !tc.active(after) {
		t.Error("a token stopped being active across rotation")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+tc.admin+"/authgate/keys/rotate", nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET on rotate: %d", r.status)
	}
}

// TestRestartKeepsState stops Caddy and starts it again on the same data
// directory: keys, tokens and revocations survive.
func TestRestartKeepsState(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	kept := tc.token("svc", "svc-secret", nil)
	revoked := tc.token("svc", "svc-secret", nil)
	if r := tc.postForm("/revoke", url.Values{"token": {revoked}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	kid, _ := tc.verifyJWT(kept)

	tc.restart()

	if !tc.active(kept) {
		t.Error("a token is inactive after a restart")
	}
	if tc.active(revoked) {
		t.Error("a revoked token is active after a restart")
	}
	if again, _ := tc.verifyJWT(tc.token("svc", "svc-secret", nil)); again != kid {
		t.Errorf("a restart changed the signing key: %s then %s", kid, again)
	}
}

// TestReloadSharesStore reloads the config as `caddy reload` does: the
// store handle is shared, not reopened, and tokens stay valid.
func TestReloadSharesStore(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	tok := tc.token("svc", "svc-secret", nil)
	before := activeApp(t)

	tc.reload(defaultClients + `
		client added {
			secret added-secret
		}`)
	after := activeApp(t)
	if before == after {
		t.Fatal("the reload did not replace the app")
	}
	if before.store != after.store {
		t.Error("the reload reopened the store")
	}
	if n, _ := storePool.References("sqlite:" + tc.dataDir + "/authgate.db"); n != 1 {
		t.Errorf("store pool holds %d references after the reload; want 1", n)
	}
	if !tc.active(tok) {
		t.Error("a token is inactive after a reload")
	}
	tc.token("added", "added-secret", nil)
}

func activeApp(t *testing.T) *App {
	t.Helper()
	app, err := caddy.ActiveContext().App("authgate")
	if err != nil {
		t.Fatal(err)
	}
	return app.(*App)
}
