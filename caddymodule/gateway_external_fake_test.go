package caddymodule

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/go-jose/go-jose/v4"
)

// fakeProvider is a small external OpenID provider whose every answer a
// test controls: the typ and claims of the JWTs it signs, the iss it
// puts in authorization responses, what its discovery advertises, and
// who its userinfo endpoint says the user is. Its sign-in needs no
// interaction: /authorize answers with a code at once.
type fakeProvider struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey
	// advertiseIss is what discovery says of
	// authorization_response_iss_parameter_supported.
	advertiseIss bool

	mu sync.Mutex
	// respIss is the iss sent with authorization responses: "" for the
	// issuer, "-" for none, anything else as it is.
	respIss string
	// idClaims are added to the ID token (sub is always "erin").
	idClaims map[string]any
	// userinfo is what /userinfo answers (sub "erin" unless it says); nil
	// makes it answer 503.
	userinfo map[string]any
	codes    map[string]url.Values // code → the authorization request
	// signInClaims, if set, adds claims to the ID token given the
	// authorization request it answers (amr and acr by its acr_values).
	signInClaims func(authRequest url.Values) map[string]any
	// asked lists the authorization requests received.
	asked []url.Values
	// userinfoCalls counts the calls to /userinfo.
	userinfoCalls int
}

const (
	fakeClientID     = "gw"
	fakeClientSecret = "gw-secret"
	fakeAccessToken  = "opaque-access-token-for-erin"
)

func newFakeProvider(t *testing.T, advertiseIss bool) *fakeProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, key: key, advertiseIss: advertiseIss, codes: map[string]url.Values{},
		userinfo: map[string]any{"sub": "erin", "email": "erin@fake.example", "name": "Erin Example", "preferred_username": "erin", "groups": []string{"staff", "ops"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/userinfo", p.userInfo)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) URL() string { return p.srv.URL }

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // test server
}

func (p *fakeProvider) discovery(w http.ResponseWriter, r *http.Request) {
	u := p.srv.URL
	writeJSONBody(w, map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
		"jwks_uri": u + "/jwks", "userinfo_endpoint": u + "/userinfo",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": p.advertiseIss,
	})
}

func (p *fakeProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != fakeClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomString()
	p.mu.Lock()
	p.codes[code] = q
	p.asked = append(p.asked, q)
	respIss := p.respIss
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"code": {code}, "state": {q.Get("state")}}
	switch respIss {
	case "":
		v.Set("iss", p.srv.URL)
	case "-":
	default:
		v.Set("iss", respIss)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	if id != fakeClientID || secret != fakeClientSecret || r.PostFormValue("grant_type") != "authorization_code" {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSONBody(w, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	req, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	extra := p.idClaims
	signInClaims := p.signInClaims
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || req.Get("redirect_uri") != r.PostFormValue("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != req.Get("code_challenge") {
		w.WriteHeader(http.StatusBadRequest)
		writeJSONBody(w, map[string]string{"error": "invalid_grant"})
		return
	}
	claims := map[string]any{"sub": "erin", "aud": fakeClientID, "nonce": req.Get("nonce"), "azp": fakeClientID}
	for k, v := range extra {
		claims[k] = v
	}
	if signInClaims != nil {
		for k, v := range signInClaims(req) {
			claims[k] = v
		}
	}
	writeJSONBody(w, map[string]any{"access_token": fakeAccessToken, "token_type": "Bearer", "expires_in": 300,
		"id_token": p.sign("JWT", claims)})
}

func (p *fakeProvider) userInfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.userinfoCalls++
	info := p.userinfo
	p.mu.Unlock()
	if info == nil {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeAccessToken {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSONBody(w, info)
}

// sign returns a JWT signed with the provider's key, with the typ header
// typ (none if empty) and claims, given iss, iat and exp unless they are
// set.
func (p *fakeProvider) sign(typ string, claims map[string]any) string {
	return p.signWith(p.key, typ, claims)
}

func (p *fakeProvider) signWith(key *rsa.PrivateKey, typ string, claims map[string]any) string {
	p.t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", "k1")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	now := time.Now()
	all := map[string]any{"iss": p.srv.URL, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
			continue
		}
		all[k] = v
	}
	payload, err := json.Marshal(all)
	if err != nil {
		p.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// identityEcho is an upstream that shows the identity headers it got.
const identityEcho = `respond "sub={http.request.header.X-Auth-Subject} user={http.request.header.X-Auth-Username} email={http.request.header.X-Auth-Email} name={http.request.header.X-Auth-Name} groups={http.request.header.X-Auth-Groups} client={http.request.header.X-Auth-Client-Id} scopes={http.request.header.X-Auth-Scopes}" 200`

// startExternalGateway runs Caddy with the bundled server's site and an
// app site whose routes are the given authgate blocks (path matcher →
// block contents; "" is the catch-all route, placed last), each in front
// of identityEcho. It returns the app's origin.
func startExternalGateway(t *testing.T, routes [][2]string) (*testCaddy, string) {
	t.Helper()
	tc := newTestCaddy(t)
	app := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "\troute %s {\n\t\tauthgate {\n%s\n\t\t}\n\t\t%s\n\t}\n", r[0], r[1], identityEcho)
	}
	caddyfile := tc.globalOptions("") + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	respond "issuer site" 404
}

%s {
	bind 127.0.0.1
%s}
`, tc.issuer, app, b.String())
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return tc, app
}
