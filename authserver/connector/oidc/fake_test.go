package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeProvider is a small OpenID provider for what the real server never
// does: ID tokens without email, claims of odd types, a userinfo endpoint
// that answers for someone else. It serves discovery, JWKS, a token
// endpoint that answers each code with what the test prepared, and a
// userinfo endpoint. Its ID tokens are signed with go-jose.
type fakeProvider struct {
	t      *testing.T
	issuer string
	key    *ecdsa.PrivateKey
	// stranger signs ID tokens with a key not in the JWKS.
	stranger *ecdsa.PrivateKey

	mu sync.Mutex
	// meta is added to the discovery document.
	meta map[string]any
	// discoveryFailures is how many discovery requests to fail next.
	discoveryFailures int
	hits              map[string]int
	grants            map[string]*fakeGrant
	byAccessToken     map[string]*fakeGrant
	// authMethods records how each token request authenticated.
	authMethods []string
}

// fakeGrant is what the fake answers for one code.
type fakeGrant struct {
	code, accessToken, idToken string
	// tokenError, if set, is the token endpoint's 400 body.
	tokenError string
	// userinfo is the userinfo endpoint's answer; userinfoStatus, if
	// set, its status instead.
	userinfo       map[string]any
	userinfoStatus int
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	f := &fakeProvider{t: t, meta: map[string]any{}, hits: map[string]int{},
		grants: map[string]*fakeGrant{}, byAccessToken: map[string]*fakeGrant{}}
	var err error
	if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.stranger, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("GET /jwks", f.jwks)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /userinfo", f.userinfoEndpoint)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	f.issuer = hs.URL
	return f
}

func (f *fakeProvider) count(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[what]
}

func (f *fakeProvider) discovery(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits["discovery"]++
	if f.discoveryFailures > 0 {
		f.discoveryFailures--
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]any{
		"issuer":                                f.issuer,
		"authorization_endpoint":                f.issuer + "/authorize",
		"token_endpoint":                        f.issuer + "/token",
		"userinfo_endpoint":                     f.issuer + "/userinfo",
		"jwks_uri":                              f.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	}
	maps.Copy(doc, f.meta)
	for k, v := range doc {
		if v == nil {
			delete(doc, k)
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (f *fakeProvider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"},
	}})
}

func (f *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, basic := r.BasicAuth()
	method := "client_secret_basic"
	if !basic {
		id, secret, method = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "client_secret_post"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits["token"]++
	f.authMethods = append(f.authMethods, method)
	g := f.grants[r.PostForm.Get("code")]
	switch {
	case id != rpClientID || secret != rpSecret:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
	case g == nil || r.PostForm.Get("code_verifier") == "" || r.PostForm.Get("grant_type") != "authorization_code":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
	case g.tokenError != "":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(g.tokenError))
	default:
		resp := map[string]any{"access_token": g.accessToken, "token_type": "Bearer", "expires_in": 3600}
		if g.idToken != "" {
			resp["id_token"] = g.idToken
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func (f *fakeProvider) userinfoEndpoint(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits["userinfo"]++
	g := f.byAccessToken[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	switch {
	case g == nil:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	case g.userinfoStatus != 0:
		http.Error(w, "userinfo is unwell with "+r.Header.Get("Authorization"), g.userinfoStatus)
	default:
		writeJSON(w, http.StatusOK, g.userinfo)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Values of the fake's sign-ins.
const (
	fakeSubject = "u-1234"
	fakeNonce   = "n-fake-nonce"
)

// idClaims are the claims of a valid ID token for the fake's sign-in,
// with changes: a nil value removes a claim.
func (f *fakeProvider) idClaims(changes map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": f.issuer, "aud": rpClientID, "sub": fakeSubject, "nonce": fakeNonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	maps.Copy(c, changes)
	for k, v := range c {
		if v == nil {
			delete(c, k)
		}
	}
	return c
}

// sign signs claims as a JWT with key.
func (f *fakeProvider) sign(key *ecdsa.PrivateKey, claims map[string]any) string {
	f.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// grant prepares a code: its access token is fresh, its ID token is
// idToken(accessToken) (none when idToken is nil), and {code} in its
// tokenError is the code.
func (f *fakeProvider) grant(g fakeGrant, idToken func(accessToken string) string) *fakeGrant {
	g.code, g.accessToken = "code-"+randomString(), "at-"+randomString()
	g.tokenError = strings.ReplaceAll(g.tokenError, "{code}", g.code)
	if idToken != nil {
		g.idToken = idToken(g.accessToken)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants[g.code] = &g
	f.byAccessToken[g.accessToken] = &g
	return &g
}

// atHash is the at_hash of an access token for ES256.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// noNetwork is an HTTP client that fails the test if it is used.
func noNetwork(t *testing.T) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request to %s", r.URL)
		return nil, http.ErrHandlerTimeout
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
