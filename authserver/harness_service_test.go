package authserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// Helpers of the service-side endpoint tests (token, device,
// introspection, revocation, discovery, registration), on top of the
// harness in harness_test.go. Each is prefixed svc.

// svcFormType is the content type of OAuth requests.
const svcFormType = "application/x-www-form-urlencoded"

// svcRequest sends a request with a raw body; header values are added,
// so a header may be repeated. A contentType of "" sends none.
func (e *testEnv) svcRequest(method, path, contentType, body string, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url(path), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return e.do(nil, req)
}

// svcBasic is an Authorization header value for Basic client
// authentication, form-encoding id and secret (RFC 6749 §2.3.1).
func svcBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// svcToken gets a client credentials access token for a client.
func (e *testEnv) svcToken(client, secret string, extra url.Values) string {
	e.t.Helper()
	form := url.Values{"grant_type": {GrantClientCredentials}}
	for k, vs := range extra {
		form[k] = vs
	}
	r := e.postForm("/token", form, client, secret)
	if r.status != http.StatusOK {
		e.t.Fatalf("token for %s: %d %s", client, r.status, r.body)
	}
	return r.json(e.t)["access_token"].(string)
}

// svcIntrospect introspects a token as the resource server rs, which may
// introspect any token.
func (e *testEnv) svcIntrospect(token string) map[string]any {
	e.t.Helper()
	r := e.postForm("/introspect", url.Values{"token": {token}}, "rs", "rs-secret")
	if r.status != http.StatusOK {
		e.t.Fatalf("introspection: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// svcActive reports whether rs sees a token as active.
func (e *testEnv) svcActive(token string) bool {
	e.t.Helper()
	return e.svcIntrospect(token)["active"] == true
}

// svcForged changes a JWT's payload and keeps its signature.
func svcForged(raw string) string {
	parts := strings.Split(raw, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x","jti":"y","client_id":"svc"}`))
	return strings.Join(parts, ".")
}

// svcJWKS fetches the published key set and checks it holds no private
// key material.
func (e *testEnv) svcJWKS() jose.JSONWebKeySet {
	e.t.Helper()
	r := e.get("/jwks", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /jwks: %d %s", r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		e.t.Fatalf("decoding JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			e.t.Fatalf("the JWKS publishes private key material for %s", k.KeyID)
		}
	}
	return set
}

// svcAccessClaims are the RFC 9068 claims a test checks.
type svcAccessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// svcVerifyJWT checks an access token as a resource server would: typ
// at+jwt, signed by a key of the published JWKS with its algorithm, the
// issuer, and valid now on the test clock. It returns the kid and claims.
func (e *testEnv) svcVerifyJWT(raw string) (string, svcAccessClaims) {
	e.t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		e.t.Fatalf("parsing access token: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		e.t.Errorf("typ = %v; want at+jwt (RFC 9068)", h.ExtraHeaders[jose.HeaderType])
	}
	set := e.svcJWKS()
	published := set.Key(h.KeyID)
	if len(published) != 1 {
		e.t.Fatalf("kid %q is not in the JWKS", h.KeyID)
	}
	if published[0].Algorithm != h.Algorithm || published[0].Use != "sig" {
		e.t.Errorf("published key alg/use = %s/%s; token alg %s", published[0].Algorithm, published[0].Use, h.Algorithm)
	}
	var c svcAccessClaims
	if err := tok.Claims(published[0].Key, &c); err != nil {
		e.t.Fatalf("verifying access token against the JWKS: %v", err)
	}
	if err := c.Claims.Validate(jwt.Expected{Issuer: e.issuer, Time: e.clock.Now()}); err != nil {
		e.t.Fatalf("claims: %v", err)
	}
	return h.KeyID, c
}

// svcRegister posts client metadata to /register, with an initial
// access token if token is not empty.
func (e *testEnv) svcRegister(body any, token string) response {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.svcRequest(http.MethodPost, "/register", "application/json", string(b), h)
}

// svcManage calls the RFC 7592 client configuration endpoint at uri with
// a registration access token and, if body is not nil, a JSON body.
func (e *testEnv) svcManage(method, uri, token string, body any) response {
	e.t.Helper()
	ct, text := "", ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		ct, text = "application/json", string(b)
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.svcRequest(method, uri, ct, text, h)
}

// svcOpenRegistration opens registration with an audience and a limit
// high enough for a test's registrations.
func svcOpenRegistration(cfg *Config) {
	cfg.Registration = RegistrationPolicy{Mode: RegistrationOpen, Audiences: []string{"https://api.example.com"}, PerAddressPerHour: 200}
}

// svcRestart returns a second Server on e's store, issuer and clock, as
// a restart or a reload of the configuration would make; configure, if
// not nil, changes its configuration. Call it with svcServe.
func (e *testEnv) svcRestart(configure func(*Config)) *Server {
	e.t.Helper()
	ctx := context.Background()
	km, err := keys.New(e.store, keys.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := km.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{Issuer: e.issuer, Store: e.store, Keys: km, Users: testUsers(e.t), Clients: testClients(), Now: e.clock.Now}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		e.t.Fatalf("restarting: %v", err)
	}
	return srv
}

// svcServe hands a request to h in this process and returns its answer.
func svcServe(t *testing.T, h http.Handler, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{rec.Code, rec.Result().Header, body}
}

// svcFormRequest builds a form POST to an absolute URL with Basic
// authentication if user is not empty.
func svcFormRequest(t *testing.T, u string, form url.Values, user, pass string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader([]byte(form.Encode())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", svcFormType)
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return req
}

// svcAnyStrings converts a decoded JSON array to strings.
func svcAnyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// svcCase is one request to an endpoint and the answer it must get.
type svcCase struct {
	name                      string
	method, path, contentType string
	// auth are Authorization header values, sent in order.
	auth   []string
	body   string
	status int
	// code is the OAuth error code; "" for a success or an empty answer.
	code string
	// allow is the Allow header a 405 must carry.
	allow string
}

// svcRun sends each case (POST unless it names a method) and checks the
// status and, for an error, the RFC 6749 §5.2 rules: the error code, a
// description, no caching, a Basic challenge on exactly the 401s (RFC
// 9110 §15.5.2), and the Allow header of a 405.
func (e *testEnv) svcRun(t *testing.T, cases []svcCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := e.svcRequest(method, tt.path, tt.contentType, tt.body, http.Header{"Authorization": tt.auth})
			if r.status != tt.status {
				t.Fatalf("status %d; want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.code == "" {
				return
			}
			svcWantError(t, r, tt.status, tt.code)
			wantChallenge := tt.status == http.StatusUnauthorized
			if got := r.header.Get("WWW-Authenticate"); (got != "") != wantChallenge || (wantChallenge && !strings.HasPrefix(got, "Basic realm=")) {
				t.Errorf("WWW-Authenticate = %q; want a Basic challenge: %v", got, wantChallenge)
			}
			if tt.allow != "" && r.header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q; want %q", r.header.Get("Allow"), tt.allow)
			}
		})
	}
}

// svcWantError checks an OAuth error response: its status, its error
// code, a description, and Cache-Control: no-store.
func svcWantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d; want %d %s (%s)", r.status, status, code, r.body)
	}
	m := r.json(t)
	if m["error"] != code {
		t.Errorf("error = %v; want %s (%s)", m["error"], code, r.body)
	}
	if d, _ := m["error_description"].(string); d == "" {
		t.Errorf("no error_description (%s)", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", r.header.Get("Cache-Control"))
	}
}

// svcConfig returns a valid configuration on a new store, without
// clients, for tests of what New accepts.
func svcConfig(t *testing.T) Config {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "authgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return Config{Issuer: "https://auth.example", Store: st, Keys: km, Users: testUsers(t)}
}
