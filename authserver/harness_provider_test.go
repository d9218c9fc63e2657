package authserver

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// Helpers of the identity provider tests (login_provider_test.go), on top
// of harness_test.go and harness_signin_test.go. Each is prefixed idp.
//
// The fake providers stand in for real ones: idpRedirect is a
// connector.Redirect whose "provider" is a small httptest server that
// signs whoever the test says in and sends the browser back to the
// callback with a code and the state; idpDirectory is a
// connector.Password with a fixed table of accounts.

// idpRedirect is a fake redirect connector with its own provider.
type idpRedirect struct {
	t  *testing.T
	hs *httptest.Server

	mu sync.Mutex
	// identity is who the provider signs in next.
	identity connector.Identity
	// deny, if set, is the error code the provider sends back instead of
	// a code (access_denied when the person declines).
	deny string
	// authErr fails AuthURL; callbackErr fails Callback after its checks.
	authErr, callbackErr error
	// grants are the codes the provider issued, by code.
	grants map[string]*idpGrant
	// callbacks counts Callback calls.
	callbacks int
}

// idpGrant is what a code of the fake provider stands for.
type idpGrant struct {
	identity                   connector.Identity
	redirect, nonce, challenge string
	used                       bool
}

// newIdpRedirect starts a fake provider that signs in id.
func newIdpRedirect(t *testing.T, id connector.Identity) *idpRedirect {
	p := &idpRedirect{t: t, identity: id, grants: map[string]*idpGrant{}}
	p.hs = httptest.NewServer(http.HandlerFunc(p.authorize))
	t.Cleanup(p.hs.Close)
	return p
}

// set changes the provider's behaviour under its lock.
func (p *idpRedirect) set(change func(p *idpRedirect)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(p)
}

// as makes the provider sign in id next.
func (p *idpRedirect) as(id connector.Identity) {
	p.set(func(p *idpRedirect) { p.identity = id })
}

func (p *idpRedirect) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.callbacks
}

// authorize is the provider's authorization endpoint: the person is
// signed in at once, and sent back to the redirect URI with a code (or
// the configured error) and the state.
func (p *idpRedirect) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	answer := url.Values{"state": {q.Get("state")}}
	if p.deny != "" {
		answer.Set("error", p.deny)
		answer.Set("error_description", "the person said no")
	} else {
		code := "code-" + randomID(12)
		p.grants[code] = &idpGrant{identity: p.identity, redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge")}
		answer.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// AuthURL implements connector.Redirect.
func (p *idpRedirect) AuthURL(_ context.Context, callbackURL, state, nonce, verifier string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.authErr != nil {
		return "", p.authErr
	}
	if state == "" || nonce == "" || verifier == "" {
		p.t.Errorf("AuthURL without state, nonce or verifier: %q %q %q", state, nonce, verifier)
	}
	q := url.Values{"redirect_uri": {callbackURL}, "state": {state}, "nonce": {nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	return p.hs.URL + "/authorize?" + q.Encode(), nil
}

// Callback implements connector.Redirect: the code must be one the
// provider issued, unused, for this callback URL, nonce and verifier.
func (p *idpRedirect) Callback(_ context.Context, callbackURL string, query url.Values, nonce, verifier string) (connector.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.callbacks++
	if err := connector.CallbackError(query); err != nil {
		return connector.Identity{}, err
	}
	g := p.grants[query.Get("code")]
	switch {
	case g == nil:
		return connector.Identity{}, errors.New("invalid_grant: unknown code")
	case g.used:
		return connector.Identity{}, errors.New("invalid_grant: the code was used already")
	case g.redirect != callbackURL:
		return connector.Identity{}, errors.New("invalid_grant: redirect_uri mismatch " + g.redirect + " " + callbackURL)
	case g.nonce != nonce:
		return connector.Identity{}, errors.New("the ID token's nonce does not match")
	case g.challenge != oauth2.S256ChallengeFromVerifier(verifier):
		return connector.Identity{}, errors.New("invalid_grant: PKCE verification failed")
	}
	g.used = true
	if p.callbackErr != nil {
		return connector.Identity{}, p.callbackErr
	}
	return g.identity, nil
}

// idpAccount is an account of the fake directory.
type idpAccount struct {
	password string
	identity connector.Identity
	// refused, if set, is the allow-list's reason to keep them out.
	refused string
}

// idpDirectory is a fake password connector.
type idpDirectory struct {
	mu       sync.Mutex
	accounts map[string]idpAccount
	// err, if set, is the answer of a directory that cannot be reached.
	err   error
	calls int
}

// Login implements connector.Password.
func (d *idpDirectory) Login(_ context.Context, username, pw string) (connector.Identity, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil {
		return connector.Identity{}, false, d.err
	}
	a, ok := d.accounts[username]
	if !ok || a.password != pw {
		return connector.Identity{}, false, nil
	}
	if a.refused != "" {
		return connector.Identity{}, false, connector.Refused(a.refused)
	}
	return a.identity, true, nil
}

func (d *idpDirectory) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

func (d *idpDirectory) set(change func(d *idpDirectory)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	change(d)
}

// idpEnv is a test environment with two redirect providers, x ("X") and
// y ("Y"), and a directory, corp ("Corp Directory"), besides the local
// users alice and bob.
type idpEnv struct {
	*testEnv
	x, y *idpRedirect
	dir  *idpDirectory
}

// idpOctocat is who x signs in unless a test says otherwise.
var idpOctocat = connector.Identity{Subject: "1001", Username: "octocat", Email: "octo@example.com", EmailVerified: true,
	Name: "The Octocat", Groups: []string{"cats", "cats:core"}}

// idpDirectoryAccounts are the directory's people: dana, who can sign
// in, and eve, whom the allow-list keeps out.
func idpDirectoryAccounts() map[string]idpAccount {
	return map[string]idpAccount{
		"dana": {password: "dana-pw", identity: connector.Identity{Subject: "uid=dana,ou=people", Username: "dana",
			Email: "dana@corp.example", EmailVerified: true, Name: "Dana", Groups: []string{"staff"}}},
		"eve": {password: "eve-pw", identity: connector.Identity{Subject: "uid=eve,ou=people", Username: "eve"},
			refused: "You are not in a group allowed to sign in here."},
	}
}

// newIdpEnv starts the server with x, y and corp; configure, if not nil,
// changes the configuration after that.
func newIdpEnv(t *testing.T, configure func(*Config)) *idpEnv {
	t.Helper()
	x := newIdpRedirect(t, idpOctocat)
	y := newIdpRedirect(t, connector.Identity{Subject: "y-1", Username: "why"})
	dir := &idpDirectory{accounts: idpDirectoryAccounts()}
	e := newEnv(t, func(c *Config) {
		c.IdentityProviders = []IdentityProvider{
			{Name: "x", DisplayName: "X", Redirect: x},
			{Name: "y", DisplayName: "Y", Redirect: y},
			{Name: "corp", DisplayName: "Corp Directory", Password: dir},
		}
		if configure != nil {
			configure(c)
		}
	})
	return &idpEnv{testEnv: e, x: x, y: y, dir: dir}
}

var idpLink = regexp.MustCompile(`<a class="button" href="([^"]*)">Continue with ([^<]*)</a>`)

// idpLinks returns the "Continue with" links of a sign-in page, by the
// name shown.
func idpLinks(r response) map[string]string {
	out := map[string]string{}
	for _, m := range idpLink.FindAllStringSubmatch(string(r.body), -1) {
		out[html.UnescapeString(m[2])] = html.UnescapeString(m[1])
	}
	return out
}

// idpClick follows the page's "Continue with <display>" link.
func (b *browser) idpClick(page response, display string) response {
	b.e.t.Helper()
	link, ok := idpLinks(page)[display]
	if !ok {
		b.e.t.Fatalf("no link to continue with %s: %d %s", display, page.status, idpMain(page))
	}
	return b.get(link)
}

// idpAtProvider takes the browser from the server's redirect r to the
// provider, which signs the person in, and returns the callback URL the
// provider sends the browser back to.
func (b *browser) idpAtProvider(r response) string {
	b.e.t.Helper()
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/authorize?") {
		b.e.t.Fatalf("want a redirect to the provider, got %d %v %s", r.status, r.header.Get("Location"), idpMain(r))
	}
	at := b.get(r.header.Get("Location"))
	if at.status != http.StatusFound {
		b.e.t.Fatalf("the provider answered %d %s", at.status, idpMain(at))
	}
	return at.header.Get("Location")
}

// idpComplete goes from the server's redirect to the provider through the
// provider and back to the callback, and returns the callback URL and
// the server's answer to it.
func (b *browser) idpComplete(r response) (string, response) {
	b.e.t.Helper()
	cb := b.idpAtProvider(r)
	return cb, b.get(cb)
}

// idpSignIn signs b in with the provider shown as display from the page
// r, and returns the server's answer to the callback.
func (b *browser) idpSignIn(page response, display string) response {
	b.e.t.Helper()
	_, r := b.idpComplete(b.idpClick(page, display))
	return r
}

// idpScopes are the scopes the full flow asks for.
const idpScopes = "openid profile email groups offline_access"

// idpCodeFlow runs app's authorization request for scope from b, signing
// in with the provider shown as display and approving consent, and
// returns the token response.
func (e *idpEnv) idpCodeFlow(b *browser, display, scope string) map[string]any {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	page := b.get(signinURL(signinParams(verifier), "scope", scope))
	r := b.idpSignIn(page, display)
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := e.callback(r, signinRedirect)
	if q.Get("code") == "" || q.Get("state") != "xyz" {
		e.t.Fatalf("callback = %v", q)
	}
	tr := e.signinToken(signinRedeemForm(q.Get("code"), verifier))
	if tr.status != http.StatusOK {
		e.t.Fatalf("redeeming the code: %d %s", tr.status, tr.body)
	}
	return tr.json(e.t)
}

// idpClaims verifies an ID token of app and returns its claims.
func (e *idpEnv) idpClaims(raw string) IDTokenClaims {
	e.t.Helper()
	var c IDTokenClaims
	if err := e.verifyIDToken(raw, "app").Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// idpWho returns the subject b's session is signed in as, or "" when b
// is not signed in: webapp (which skips consent) asks with prompt=none
// and redeems the code.
func (e *idpEnv) idpWho(b *browser) string {
	e.t.Helper()
	q := url.Values{"client_id": {"webapp"}, "redirect_uri": {"https://webapp.example/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "prompt": {"none"}, "state": {"who"}}
	cb := e.callback(b.get("/authorize?"+q.Encode()), "https://webapp.example/cb")
	if cb.Get("error") == codeLoginRequired {
		return ""
	}
	if cb.Get("code") == "" {
		e.t.Fatalf("prompt=none answered %v", cb)
	}
	tr := e.postForm("/token", url.Values{"grant_type": {GrantAuthorizationCode}, "code": {cb.Get("code")},
		"redirect_uri": {"https://webapp.example/cb"}}, "webapp", "webapp-secret")
	if tr.status != http.StatusOK {
		e.t.Fatalf("redeeming webapp's code: %d %s", tr.status, tr.body)
	}
	id := e.verifyIDToken(tr.json(e.t)["id_token"].(string), "webapp")
	return id.Subject
}

// idpUser returns the stored user a provider knows by subject.
func (e *idpEnv) idpUser(provider, subject string) (id, username string) {
	e.t.Helper()
	rec, err := e.store.GetUserByProvider(context.Background(), provider, subject)
	if err != nil {
		e.t.Fatalf("user of %s/%s: %v", provider, subject, err)
	}
	return rec.ID, rec.Username
}

// idpCookies returns the names of b's cookies at the server.
func (b *browser) idpCookies() []string {
	u, _ := url.Parse(b.e.issuer)
	var out []string
	for _, c := range b.client.Jar.Cookies(u) {
		out = append(out, c.Name)
	}
	return out
}

// idpFlowCookies counts b's cookies of sign-ins at providers.
func (b *browser) idpFlowCookies() int {
	n := 0
	for _, name := range b.idpCookies() {
		if strings.HasPrefix(name, "authgate_idp_") {
			n++
		}
	}
	return n
}

// idpIsMessage reports whether r is a message page with the status whose
// text contains want.
func idpIsMessage(r response, status int, want string) bool {
	return r.status == status && strings.Contains(string(r.body), want) && r.header.Get("Location") == ""
}

// idpDirectoryForm fills the sign-in page's form for the password source
// idp ("" for local accounts) and posts it.
func (b *browser) idpDirectoryForm(page response, idp, user, pass string) response {
	b.e.t.Helper()
	if !isSignInPage(page) {
		b.e.t.Fatalf("not a sign-in page: %d %s", page.status, idpMain(page))
	}
	f := fields(page)
	f.Set("idp", idp)
	f.Set("username", user)
	f.Set("password", pass)
	return b.post("/login", f)
}

// idpNew makes a Server as newEnv does, with configure applied, and
// returns New's error: for configurations New must refuse.
func idpNew(t *testing.T, configure func(*Config)) error {
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
	cfg := Config{Issuer: "http://127.0.0.1:1", Store: st, Keys: km, Users: testUsers(t), Clients: testClients()}
	if configure != nil {
		configure(&cfg)
	}
	_, err = New(ctx, cfg)
	return err
}

// idpMain returns what a page's <main> says, or the whole body of
// another answer, for failure messages.
func idpMain(r response) string {
	body := string(r.body)
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
		if j := strings.Index(body, "</main>"); j >= 0 {
			body = body[:j+len("</main>")]
		}
	}
	return body
}

// idpEndSession ends b's session on the server, as signing out
// elsewhere would, and leaves b's cookies as they are: a session that a
// later request of b makes then shows.
func (e *testEnv) idpEndSession(b *browser) {
	e.t.Helper()
	u, _ := url.Parse(e.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name != e.srv.cookies.session {
			continue
		}
		var secret string
		if err := e.srv.cookies.codec.Decode(c.Name, c.Value, &secret); err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.RevokeToken(context.Background(), store.Session, hashID(secret), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
}
