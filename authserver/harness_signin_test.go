package authserver

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/password"
)

// Helpers of the sign-in side's endpoint tests (authorize, PAR, login,
// consent, sessions, the code and refresh grants, userinfo, logout, ID
// tokens), on top of harness_test.go.

// signinRedirect is app's first redirect URI, where its answers go.
const signinRedirect = "http://127.0.0.1:9999/cb"

// signinExtraClients are clients only the sign-in tests need: one that
// may use plain PKCE, a confidential first-party one that must use PKCE
// and has audiences, and one with redirect URIs that may not use the code
// flow.
func signinExtraClients() []*Client {
	return []*Client{
		{ID: "plain", Public: true, RedirectURIs: []string{signinRedirect}, Scopes: []string{"openid"}, AllowPlainPKCE: true},
		{ID: "strict", Secret: PlainSecret("strict-secret"), RedirectURIs: []string{"https://strict.example/cb"},
			Scopes: []string{"openid"}, Audiences: []string{"https://api.example.com", "https://other.example.com"},
			RequirePKCE: true, SkipConsent: true},
		{ID: "nocode", Public: true, RedirectURIs: []string{signinRedirect}, GrantTypes: []string{GrantRefreshToken}},
	}
}

// signinEnv is newEnv with signinExtraClients and a second user who can
// sign in, carol (password alicePassword). configure, if not nil, changes
// the configuration after that.
func signinEnv(t *testing.T, configure func(*Config)) *testEnv {
	t.Helper()
	return newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, signinExtraClients()...)
		c.Users = signinUsers(t)
		if configure != nil {
			configure(c)
		}
	})
}

// signinUsers are testUsers and carol, who can sign in with
// alicePassword.
func signinUsers(t *testing.T) []*User {
	t.Helper()
	h, err := password.Parse(testPasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return append(testUsers(t), &User{Username: "carol", Password: h, Name: "Carol"})
}

// signinParams is a valid authorization request of app for openid with
// state "xyz" and the S256 challenge of verifier.
func signinParams(verifier string) url.Values {
	return url.Values{
		"client_id": {"app"}, "redirect_uri": {signinRedirect}, "response_type": {"code"}, "state": {"xyz"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "scope": {"openid"},
	}
}

// signinURL returns /authorize with the parameters base changed by
// changes, pairs of a name and a value; the value "-" removes the
// parameter.
func signinURL(base url.Values, changes ...string) string {
	q := url.Values{}
	for k, v := range base {
		q[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "-" {
			q.Del(changes[i])
		} else {
			q.Set(changes[i], changes[i+1])
		}
	}
	return "/authorize?" + q.Encode()
}

// signinAuthorizeURL is signinURL on a valid request of app with a fresh
// verifier, which tests that do not redeem the code use.
func signinAuthorizeURL(changes ...string) string {
	return signinURL(signinParams(oauth2.GenerateVerifier()), changes...)
}

// signinIsErrorPage reports why r is not the error page the
// authorization server shows where a redirect would be unsafe (400, no
// Location, anti-framing headers), or "" if it is.
func signinIsErrorPage(r response, status int) string {
	switch {
	case r.status != status:
		return "status " + http.StatusText(r.status)
	case r.header.Get("Location") != "":
		return "redirects to " + r.header.Get("Location")
	case !strings.Contains(string(r.body), "<h1>Something went wrong</h1>"):
		return "not the error page"
	case r.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'"):
		return "no anti-framing headers"
	case r.header.Get("Cache-Control") != "no-store":
		return "cacheable"
	}
	return ""
}

// signinToken posts a token request without client authentication
// (form changed by changes, as signinURL does).
func (e *testEnv) signinToken(form url.Values, changes ...string) response {
	e.t.Helper()
	q := url.Values{}
	for k, v := range form {
		q[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "-" {
			q.Del(changes[i])
		} else {
			q.Set(changes[i], changes[i+1])
		}
	}
	return e.postForm("/token", q, "", "")
}

// signinRedeemForm is app's token request for code with verifier.
func signinRedeemForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "code_verifier": {verifier},
		"client_id": {"app"}, "redirect_uri": {signinRedirect}}
}

// signinRefresh uses a refresh token of a public client, narrowing the
// scope if scope is not empty.
func (e *testEnv) signinRefresh(client, rt, scope string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}, "client_id": {client}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.postForm("/token", f, "", "")
}

// signinIntrospect introspects a token as the resource server rs.
func (e *testEnv) signinIntrospect(token string) map[string]any {
	e.t.Helper()
	r := e.postForm("/introspect", url.Values{"token": {token}}, "rs", "rs-secret")
	if r.status != http.StatusOK {
		e.t.Fatalf("introspection: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// signinActive reports whether a token introspects active.
func (e *testEnv) signinActive(token string) bool {
	e.t.Helper()
	return e.signinIntrospect(token)["active"] == true
}

// signinUserinfo calls /userinfo with the given Authorization header
// values (none, one, or a repeated header).
func (e *testEnv) signinUserinfo(method string, authorization ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url("/userinfo"), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	return e.do(nil, req)
}

// signinSilent sends app's request with prompt=none from b and returns
// the callback's query.
func (e *testEnv) signinSilent(b *browser, changes ...string) url.Values {
	e.t.Helper()
	return e.callback(b.get(signinAuthorizeURL(append([]string{"prompt", "none"}, changes...)...)), signinRedirect)
}

// signinSignedIn signs alice in with b (approving app's consent for
// openid, remembered) and returns the browser.
func (e *testEnv) signinSignedIn() *browser {
	e.t.Helper()
	b := e.browser()
	b.codeFlow(e.appConfig("openid"))
	return b
}

// signinRestarted is a second Server on an environment's store and keys,
// as a restart of the process (possibly with a changed configuration)
// makes, reached at the same issuer URL.
type signinRestarted struct {
	e    *testEnv
	srv  *Server
	addr string
}

// signinRestart starts a new Server from e's configuration, changed by
// change if not nil, on e's store: the cookie keys, sessions and tokens
// are the ones e's server made.
func (e *testEnv) signinRestart(change func(*Config)) *signinRestarted {
	e.t.Helper()
	cfg := e.srv.cfg
	cfg.Users = signinUsers(e.t)
	cfg.Clients = append(testClients(), signinExtraClients()...)
	if change != nil {
		change(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	e.t.Cleanup(hs.Close)
	return &signinRestarted{e: e, srv: srv, addr: hs.Listener.Addr().String()}
}

// client returns an HTTP client that sends requests for the issuer to
// the restarted server, with cookies from jar (nil for none), following
// no redirects.
func (rs *signinRestarted) client(jar http.CookieJar) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, rs.addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// browser returns b as it reaches the restarted server: the same
// cookies.
func (rs *signinRestarted) browser(b *browser) *browser {
	return &browser{e: rs.e, client: rs.client(b.client.Jar)}
}

// postForm posts a form to the restarted server, authenticating with
// Basic if user is not empty.
func (rs *signinRestarted) postForm(path string, form url.Values, user, pass string) response {
	rs.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rs.e.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		rs.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return rs.e.do(rs.client(nil), req)
}

// get sends a GET to the restarted server with the given header.
func (rs *signinRestarted) get(path string, header http.Header) response {
	rs.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rs.e.url(path), nil)
	if err != nil {
		rs.e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return rs.e.do(rs.client(nil), req)
}

// signinCopyBrowser returns a browser holding b's cookies as they are
// now, to replay them after b's change.
func (e *testEnv) signinCopyBrowser(b *browser) *browser {
	e.t.Helper()
	u, _ := url.Parse(e.issuer)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, b.client.Jar.Cookies(u))
	c := e.browser()
	c.client.Jar = jar
	return c
}

// signinDisabled returns signinUsers with alice disabled.
func signinDisabled(t *testing.T) []*User {
	users := signinUsers(t)
	users[0].Disabled = true
	return users
}

// signinCode sends app's request, changed by changes as signinURL does,
// from b, whose session and remembered consent must lead straight to a
// code, and returns the code and the PKCE verifier.
func (e *testEnv) signinCode(b *browser, changes ...string) (code, verifier string) {
	e.t.Helper()
	verifier = oauth2.GenerateVerifier()
	redirect := signinRedirect
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i] == "redirect_uri" && changes[i+1] != "-" {
			redirect = changes[i+1]
		}
	}
	q := e.callback(b.get(signinURL(signinParams(verifier), changes...)), redirect)
	if q.Get("code") == "" {
		e.t.Fatalf("no code: %v", q)
	}
	return q.Get("code"), verifier
}
