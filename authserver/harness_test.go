package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// The endpoint tests run a Server behind net/http/httptest on a temporary
// SQLite store, with a clock they move by hand: no Caddy, no sleeping.

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// alicePassword is the password of the test users (bcrypt cost 4).
const alicePassword = "wonderland"

const testPasswordHash = "$2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue"

// testUsers are alice, who can sign in, and bob, who is disabled.
func testUsers(t *testing.T) []*User {
	t.Helper()
	h, err := password.Parse(testPasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return []*User{
		{Username: "alice", Password: h, Name: "Alice Liddell", Email: "alice@example.com", Groups: []string{"users", "admins"}},
		{Username: "bob", Password: h, Disabled: true},
	}
}

// testClients are the clients most endpoint tests use.
func testClients() []*Client {
	return []*Client{
		{ID: "svc", Secret: PlainSecret("svc-secret"), GrantTypes: []string{GrantClientCredentials},
			Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example.com", "https://other.example.com"}},
		{ID: "other", Secret: PlainSecret("other-secret"), Scopes: []string{"read"}},
		{ID: "rs", Secret: PlainSecret("rs-secret"), IntrospectAny: true},
		{ID: "special", Secret: PlainSecret("p@ss:w%rd &x="), Scopes: []string{"read"}},
		{ID: "spa", Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb"}},
		{ID: "app", Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb", "http://127.0.0.1/native"},
			PostLogoutRedirectURIs: []string{"http://127.0.0.1:9999/bye"},
			Scopes:                 []string{"openid", "profile", "email", "groups", "offline_access", "read"}},
		{ID: "webapp", Secret: PlainSecret("webapp-secret"), RedirectURIs: []string{"https://webapp.example/cb"},
			Scopes: []string{"openid", "profile", "read"}, IssueRefreshTokens: true, SkipConsent: true},
		{ID: "pushy", Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, Scopes: []string{"openid"}, RequirePAR: true},
		{ID: "tv", Public: true, GrantTypes: []string{GrantDeviceCode, GrantRefreshToken},
			Scopes: []string{"openid", "profile", "offline_access", "read"}},
	}
}

// testEnv is a Server under test and what reaches it.
type testEnv struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	issuer string
	store  store.Store
	clock  *testClock
}

// newEnv starts a Server on a temporary SQLite store, served by httptest
// at a loopback issuer, with testUsers, testClients and a test clock.
// configure, if not nil, changes the configuration before New.
func newEnv(t *testing.T, configure func(*Config)) *testEnv {
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
	if err := km.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	t.Cleanup(hs.Close)
	clock := &testClock{now: time.Now()}
	cfg := Config{
		Issuer: "http://" + hs.Listener.Addr().String(), Store: st, Keys: km,
		Users: testUsers(t), Clients: testClients(), Now: clock.Now,
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	return &testEnv{t: t, srv: srv, http: hs, issuer: cfg.Issuer, store: st, clock: clock}
}

// response is what an endpoint answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes a JSON response body.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

// errorCode returns the "error" member of a JSON error response.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	code, _ := r.json(t)["error"].(string)
	return code
}

// do sends req with client, which may be nil for one that follows no
// redirects.
func (e *testEnv) do(client *http.Client, req *http.Request) response {
	e.t.Helper()
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// url returns the absolute URL of an endpoint path, or u unchanged when
// it is already absolute.
func (e *testEnv) url(u string) string {
	if strings.HasPrefix(u, "/") {
		return e.issuer + u
	}
	return u
}

// get sends a GET to an endpoint path.
func (e *testEnv) get(path string, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url(path), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return e.do(nil, req)
}

// postForm posts form values to an endpoint path, authenticating with
// Basic if user is not empty (form-encoding id and secret as RFC 6749
// §2.3.1 says).
func (e *testEnv) postForm(path string, form url.Values, user, pass string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(nil, req)
}

// clientCredentials gets an access token for svc with the given extra
// parameters and returns the token response.
func (e *testEnv) clientCredentials(extra url.Values) map[string]any {
	e.t.Helper()
	form := url.Values{"grant_type": {GrantClientCredentials}}
	for k, vs := range extra {
		form[k] = vs
	}
	r := e.postForm("/token", form, "svc", "svc-secret")
	if r.status != http.StatusOK {
		e.t.Fatalf("client credentials: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// expire moves a stored record's expiry into the past, to test expiry of
// what the clock does not govern.
func (e *testEnv) expire(kind store.TokenKind, secret string) {
	e.t.Helper()
	sum := sha256.Sum256([]byte(secret))
	_, err := e.store.UpdateToken(context.Background(), kind, hex.EncodeToString(sum[:]), func(tok store.Token) (store.Token, error) {
		tok.ExpiresAt = e.clock.Now().Add(-time.Second)
		return tok, nil
	})
	if err != nil {
		e.t.Fatalf("expiring %s: %v", kind, err)
	}
}

// browser is an HTTP client with cookies that follows no redirects,
// standing in for a user's browser on the server's pages.
type browser struct {
	e      *testEnv
	client *http.Client
}

func (e *testEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

func (b *browser) get(u string) response {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.url(u), nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.e.do(b.client, req)
}

func (b *browser) post(path string, form url.Values) response {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.e.do(b.client, req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// fields returns a page's hidden form fields.
func fields(r response) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(r.body), -1) {
		out.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

// isPage reports whether r is the page with the given heading.
func isPage(r response, title string) bool {
	return r.status == http.StatusOK && strings.Contains(string(r.body), "<h1>"+title+"</h1>")
}

// isSignInPage reports whether r asks for a password.
func isSignInPage(r response) bool {
	return strings.Contains(string(r.body), `name="password"`)
}

// signIn submits the sign-in page r and returns the next response.
func (b *browser) signIn(r response, user, pass string) response {
	b.e.t.Helper()
	if !isSignInPage(r) {
		b.e.t.Fatalf("not a sign-in page: %d %s", r.status, r.body)
	}
	f := fields(r)
	f.Set("username", user)
	f.Set("password", pass)
	return b.post("/login", f)
}

// consent answers the consent page r with "approve" or "deny".
func (b *browser) consent(r response, decision string, remember bool) response {
	b.e.t.Helper()
	if !isPage(r, "Allow access?") {
		b.e.t.Fatalf("not the consent page: %d %s", r.status, r.body)
	}
	f := fields(r)
	f.Set("decision", decision)
	if remember {
		f.Set("remember", "yes")
	}
	return b.post("/consent", f)
}

// callback checks that r redirects to redirectURI and returns the query
// it carries, checking iss (RFC 9207).
func (e *testEnv) callback(r response, redirectURI string) url.Values {
	e.t.Helper()
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("want a redirect to %s, got %d %s", redirectURI, r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
		e.t.Fatalf("redirected to %q; want %s", r.header.Get("Location"), redirectURI)
	}
	q := loc.Query()
	if q.Get("iss") != e.issuer {
		e.t.Errorf("iss = %q; want %s (RFC 9207)", q.Get("iss"), e.issuer)
	}
	return q
}

// appConfig is the OAuth client configuration of the public client "app".
func (e *testEnv) appConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: "app", RedirectURL: "http://127.0.0.1:9999/cb", Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// codeFlow runs the browser's part of the authorization code flow for
// cfg as alice, approving consent, and returns the code and the PKCE
// verifier.
func (b *browser) codeFlow(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	b.e.t.Helper()
	verifier = oauth2.GenerateVerifier()
	state := "st-" + oauth2.GenerateVerifier()[:8]
	r := b.get(cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...))
	if isSignInPage(r) {
		r = b.signIn(r, "alice", alicePassword)
	}
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := b.e.callback(r, cfg.RedirectURL)
	if q.Get("state") != state || q.Get("code") == "" {
		b.e.t.Fatalf("callback = %v; want a code and state %s", q, state)
	}
	return q.Get("code"), verifier
}

// exchange redeems a code with the oauth2 library.
func exchange(t *testing.T, cfg *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
}

// signedIn runs the code flow for app with scopes and returns its tokens.
func (e *testEnv) signedIn(scopes ...string) *oauth2.Token {
	e.t.Helper()
	cfg := e.appConfig(scopes...)
	code, verifier := e.browser().codeFlow(cfg)
	tok, err := exchange(e.t, cfg, code, verifier)
	if err != nil {
		e.t.Fatalf("exchanging the code: %v", err)
	}
	return tok
}

// verifyIDToken checks an ID token with go-oidc against the server's
// discovery document and keys.
func (e *testEnv) verifyIDToken(raw, clientID string) *oidc.IDToken {
	e.t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatalf("OIDC discovery: %v", err)
	}
	cfg := &oidc.Config{ClientID: clientID, Now: e.clock.Now}
	id, err := provider.Verifier(cfg).Verify(ctx, raw)
	if err != nil {
		e.t.Fatalf("verifying ID token: %v", err)
	}
	return id
}

// TestHarness: the harness serves the server, signs alice in, and its
// clock governs token lifetimes.
func TestHarness(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.signedIn("openid", "profile")
	if id := e.verifyIDToken(tok.Extra("id_token").(string), "app"); id.Subject != "alice" {
		t.Errorf("sub = %q", id.Subject)
	}
	at := e.clientCredentials(nil)["access_token"].(string)
	if _, err := e.srv.VerifyAccessToken(context.Background(), at); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.srv.VerifyAccessToken(context.Background(), at); err == nil {
		t.Error("a token outlived its lifetime on the test clock")
	}
}
