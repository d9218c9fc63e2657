package oidc

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// The connector's tests sign in at a real OpenID provider: this module's
// own authorization server, served by net/http/httptest on a temporary
// SQLite store, with a browser (an HTTP client with cookies that follows
// no redirects) on its sign-in and consent pages.

const (
	// rpCallback is the connector's callback URL, registered at the
	// upstream server. The browser never follows the redirect to it.
	rpCallback = "https://rp.example/callback"
	rpClientID = "rp"
	rpSecret   = "rp-secret-9Zq"
	// userPassword is the password of the upstream's users.
	userPassword = "wonderland"
)

// upstream is the authorization server the connector signs in at.
type upstream struct {
	t      *testing.T
	issuer string
}

// newUpstream starts an authorization server with the client rp and the
// users alice (example.com, groups users and admins) and carol
// (example.org, no groups).
func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "upstream.db"))
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
	encoded, err := bcrypt.GenerateFromPassword([]byte(userPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := password.Parse(string(encoded))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	t.Cleanup(hs.Close)
	cfg := authserver.Config{
		Issuer: "http://" + hs.Listener.Addr().String(), Store: st, Keys: km,
		Users: []*authserver.User{
			{Username: "alice", Password: hash, Name: "Alice Liddell", Email: "alice@example.com", Groups: []string{"users", "admins"}},
			{Username: "carol", Password: hash, Name: "Carol Vorderman", Email: "carol@example.org"},
		},
		Clients: []*authserver.Client{{
			ID: rpClientID, Secret: authserver.PlainSecret(rpSecret), RedirectURIs: []string{rpCallback},
			Scopes: []string{"openid", "profile", "email", "groups"},
		}},
	}
	srv, err := authserver.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	return &upstream{t: t, issuer: cfg.Issuer}
}

// connector returns a connector for the upstream's client rp, configured
// further by configure if not nil.
func (u *upstream) connector(configure func(*Config)) *Connector {
	u.t.Helper()
	cfg := Config{Issuer: u.issuer, ClientID: rpClientID, ClientSecret: rpSecret}
	if configure != nil {
		configure(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		u.t.Fatal(err)
	}
	return c
}

// page is what the upstream answered the browser.
type page struct {
	status int
	header http.Header
	body   string
}

// browser stands in for a person's browser at the upstream.
type browser struct {
	u      *upstream
	client *http.Client
}

func (u *upstream) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		u.t.Fatal(err)
	}
	return &browser{u: u, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

func (b *browser) do(req *http.Request) page {
	b.u.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.u.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.u.t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(u string) page {
	b.u.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.u.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.u.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.u.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.u.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// fields returns a page's hidden form fields.
func fields(p page) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		out.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

// authorize follows authURL at the upstream as user, signing in and
// answering the consent page with decision ("approve" or "deny"), and
// returns the query of the redirect to the callback.
func (b *browser) authorize(authURL, user, decision string) url.Values {
	b.u.t.Helper()
	t := b.u.t
	p := b.get(authURL)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("GET the authorization URL: not the sign-in page: %d %s", p.status, p.body)
	}
	f := fields(p)
	f.Set("username", user)
	f.Set("password", userPassword)
	p = b.post("/login", f)
	if p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Allow access?</h1>") {
		t.Fatalf("after signing in: not the consent page: %d %s", p.status, p.body)
	}
	f = fields(p)
	f.Set("decision", decision)
	p = b.post("/consent", f)
	if p.status != http.StatusSeeOther {
		t.Fatalf("after consent: want a redirect to the callback, got %d %s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), rpCallback+"?") {
		t.Fatalf("redirected to %q; want %s", p.header.Get("Location"), rpCallback)
	}
	return loc.Query()
}

// signIn is one sign-in's secrets, as the server keeps them.
type signIn struct {
	state, nonce, verifier string
}

func newSignIn() signIn {
	return signIn{state: "st-" + randomString(), nonce: "n-" + randomString(), verifier: oauth2.GenerateVerifier()}
}

// randomString is a fresh random URL-safe string.
func randomString() string { return oauth2.GenerateVerifier()[:20] }

// start runs the browser's part of a sign-in through c at the upstream as
// user and returns the callback's query, after checking its state.
func (u *upstream) start(c *Connector, s signIn, user, decision string) url.Values {
	u.t.Helper()
	authURL, err := c.AuthURL(context.Background(), rpCallback, s.state, s.nonce, s.verifier)
	if err != nil {
		u.t.Fatalf("AuthURL: %v", err)
	}
	q := u.browser().authorize(authURL, user, decision)
	if q.Get("state") != s.state {
		u.t.Fatalf("callback state = %q; want %q", q.Get("state"), s.state)
	}
	return q
}
