package authserver

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
)

// The security review of issue 13 (the server as an identity broker):
// each test is an attack through real HTTP on the httptest harness, and
// fails if the attack succeeds. Attacks that still succeed are skipped
// with "BUG:" by review13Open; set AUTHGATE_REVIEW13_OPEN=1 to run them.

// review13Open skips a test of an attack that still succeeds, unless
// AUTHGATE_REVIEW13_OPEN is set.
func review13Open(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("AUTHGATE_REVIEW13_OPEN") == "" {
		t.Skip("BUG: " + bug)
	}
}

// review13Who returns the subject b's session at e is signed in as, or "".
func review13Who(e *testEnv, b *browser) string {
	e.t.Helper()
	return (&idpEnv{testEnv: e}).idpWho(b)
}

// review13Store is a store whose new records of one kind can be held
// back: after hold(kind), the next CreateToken of that kind signals
// arrived and waits for release, as a slow database would make it wait.
type review13Store struct {
	store.Store
	mu      sync.Mutex
	kind    store.TokenKind
	arrived chan struct{}
	release chan struct{}
}

func (s *review13Store) hold(kind store.TokenKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kind, s.arrived, s.release = kind, make(chan struct{}), make(chan struct{})
}

func (s *review13Store) CreateToken(ctx context.Context, t store.Token) error {
	s.wait(t)
	return s.Store.CreateToken(ctx, t)
}

func (s *review13Store) IssueTokens(ctx context.Context, spend *store.Spend, tokens []store.Token) (store.Token, error) {
	s.wait(tokens...)
	return s.Store.IssueTokens(ctx, spend, tokens)
}

// wait holds the caller, if one of tokens is of the kind held, until
// release.
func (s *review13Store) wait(tokens ...store.Token) {
	s.mu.Lock()
	held := s.kind != "" && slices.ContainsFunc(tokens, func(t store.Token) bool { return t.Kind == s.kind })
	if held {
		s.kind = ""
	}
	arrived, release := s.arrived, s.release
	s.mu.Unlock()
	if held {
		close(arrived)
		<-release
	}
}

// during runs act while the request request makes is held at storing a
// record of kind, and returns the request's answer.
func (s *review13Store) during(t *testing.T, kind store.TokenKind, request func() response, act func()) response {
	t.Helper()
	s.hold(kind)
	done := make(chan response)
	go func() { done <- request() }()
	select {
	case <-s.arrived:
	case r := <-done:
		t.Fatalf("the request stored no %s: %d %s", kind, r.status, r.body)
	case <-time.After(10 * time.Second):
		t.Fatalf("the request stored no %s", kind)
	}
	act()
	close(s.release)
	return <-done
}

// TestReview13FederatedGroupWithComma: the gateway joins a user's groups
// with commas into X-Auth-Groups (and Remote-Groups), which upstreams
// split on commas. A provider's group is namespaced ("corp:<group>") so
// that it never passes for the operator's group; a group named
// "eng,admins" at the provider (people can name groups at many
// providers) would reach the upstream as "corp:eng" and "admins". No
// federated group may carry a comma into the groups claim.
func TestReview13FederatedGroupWithComma(t *testing.T) {
	e := newIdpEnv(t, nil)
	e.x.as(connector.Identity{Subject: "comma-1", Username: "mallory", Groups: []string{"eng,admins", "eng, admins", "ok"}})
	c := e.idpClaims(e.idpCodeFlow(e.browser(), "X", "openid groups")["id_token"].(string))
	for _, g := range c.Groups {
		if strings.Contains(g, ",") {
			t.Errorf("group %q has a comma: X-Auth-Groups would carry %q as a group of its own", g, strings.TrimSpace(g[strings.LastIndex(g, ",")+1:]))
		}
	}
	if !slices.Contains(c.Groups, "x:ok") {
		t.Errorf("groups = %q; want x:ok kept", c.Groups)
	}
	if rec, err := e.store.GetUserByProvider(context.Background(), "x", "comma-1"); err != nil || slices.ContainsFunc(rec.Groups, func(g string) bool { return strings.Contains(g, ",") }) {
		t.Errorf("stored groups %q, %v", rec.Groups, err)
	}
}

// TestReview13DirectoryGuessing: a directory account's password cannot
// be guessed without bound by spreading the guesses over many addresses
// and over spellings the directory takes as the same name (LDAP matches
// uid without regard to case or surrounding spaces): the guesses are
// counted per directory and name, as a local user's are, before the
// directory is asked (which would otherwise also lock the account out at
// the directory, for everyone).
func TestReview13DirectoryGuessing(t *testing.T) {
	e := newIdpEnv(t, func(c *Config) {
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	b := e.browser()
	page := b.get("/login")
	post := func(user, pass, addr string) response {
		f := fields(page)
		f.Set("idp", "corp")
		f.Set("username", user)
		f.Set("password", pass)
		req, err := http.NewRequest(http.MethodPost, e.url("/login"), strings.NewReader(f.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Test-Client", addr)
		return e.do(b.client, req)
	}
	spellings := []string{"dana", "Dana", "DANA", " dana", "dana "}
	for i := range 40 {
		post(spellings[i%len(spellings)], "guess-"+randomID(4), fmt.Sprintf("192.0.2.%d", i+1))
	}
	if n := e.dir.callCount(); n > 5 {
		t.Errorf("the directory was asked %d times for one name from 40 addresses; want at most the 5 attempts a name has", n)
	}
	// The window ends, and dana signs in.
	e.clock.Advance(16 * time.Minute)
	if r := post("dana", "dana-pw", "198.51.100.7"); !isPage(r, "Signed in") {
		t.Errorf("dana after the window: %d %s", r.status, idpMain(r))
	}
}

// TestReview13FederatedUsernameCase: a provider's usernames are unique
// without regard to case (GitHub logins, LDAP uids, most OIDC
// providers), and upstreams behind the gateway often look users up the
// same way. When one person renames at the provider and another takes
// the name in other letter case, the second must not get a username that
// differs from the first's only in case (X-Auth-Username "x:Octocat" and
// "x:octocat" are one account to such an upstream).
func TestReview13FederatedUsernameCase(t *testing.T) {
	e := newIdpEnv(t, nil)
	for _, id := range []connector.Identity{{Subject: "case-1", Username: "Octocat"}, {Subject: "case-2", Username: "octocat"}} {
		e.x.as(id)
		b := e.browser()
		if r := b.idpSignIn(b.get("/login"), "X"); !isPage(r, "Signed in") {
			t.Fatalf("%s: %d %s", id.Username, r.status, idpMain(r))
		}
	}
	_, first := e.idpUser("x", "case-1")
	_, second := e.idpUser("x", "case-2")
	if strings.EqualFold(first, second) {
		t.Errorf("two people have the usernames %q and %q, one to a case-insensitive upstream", first, second)
	}
}

// TestReview13ClientIDIsNoUsername: the subject of a client's
// client-credentials tokens is its client ID, and a user's is their ID
// (a local user's username). A configured client whose ID is a user's
// would share the subject with that user: a policy naming the user
// admits the client, and ending the user's sign-ins ends the client's
// tokens. New refuses it, as AddUser refuses a username that is a
// client's ID.
func TestReview13ClientIDIsNoUsername(t *testing.T) {
	t.Run("a configured user", func(t *testing.T) {
		err := idpNew(t, func(c *Config) {
			c.Clients = append(c.Clients, &Client{ID: "alice", Secret: PlainSecret("s"), GrantTypes: []string{GrantClientCredentials}})
		})
		if err == nil {
			t.Error("a client with a configured user's name was accepted")
		}
	})
	t.Run("a stored user", func(t *testing.T) {
		e := signinEnv(t, nil)
		ctx := context.Background()
		if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
			t.Fatal(err)
		}
		cfg := e.srv.cfg
		cfg.Users = signinUsers(t)
		cfg.Clients = append(append(testClients(), signinExtraClients()...),
			&Client{ID: "dora", Secret: PlainSecret("dora-secret"), GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read"}})
		if _, err := New(ctx, cfg); err == nil {
			t.Error("a client with a stored user's name was accepted")
		}
	})
}

// TestReview13PasswordChangeDuringSignIn: a sign-in whose password was
// checked just before an operator changed it (because it leaked), or
// disabled the user, must not leave a session: the change is to end
// everything signed in with the old password, and the session, stored a
// moment after the change revoked the user's records, is one of those.
func TestReview13PasswordChangeDuringSignIn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		act    func(ctx context.Context, s *Server) error
		status int
	}{
		{"password changed", func(ctx context.Context, s *Server) error { return s.SetUserPassword(ctx, "dora", "a new pass phrase") }, http.StatusConflict},
		{"disabled", func(ctx context.Context, s *Server) error { return s.SetUserDisabled(ctx, "dora", true) }, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var st *review13Store
			e := signinEnv(t, func(c *Config) {
				st = &review13Store{Store: c.Store}
				c.Store = st
			})
			ctx := context.Background()
			if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
				t.Fatal(err)
			}
			b := e.browser()
			page := b.get(signinAuthorizeURL())
			r := st.during(t, store.Session, func() response { return b.signIn(page, "dora", carolStorePassword) }, func() {
				if err := tt.act(ctx, e.srv); err != nil {
					t.Error(err)
				}
			})
			if r.status != tt.status || r.header.Get("Location") != "" {
				t.Errorf("the sign-in answered %d %s %s; want %d", r.status, r.header.Get("Location"), idpMain(r), tt.status)
			}
			if tt.name == "disabled" {
				if err := e.srv.SetUserDisabled(ctx, "dora", false); err != nil {
					t.Fatal(err)
				}
			}
			if who := review13Who(e, b); who != "" {
				t.Errorf("the browser that signed in before the change is signed in as %q", who)
			}
		})
	}
}

// TestReview13PasswordChangeDuringGrant: tokens a grant is storing while
// the user's password changes (an operator ending a leaked password's
// sign-ins) must not outlive the change: a code redeemed, a refresh token
// used, and a device's approval polled at that moment.
func TestReview13PasswordChangeDuringGrant(t *testing.T) {
	setup := func(t *testing.T) (*testEnv, *review13Store) {
		var st *review13Store
		e := svcDeviceEnv(t, func(c *Config) {
			st = &review13Store{Store: c.Store}
			c.Store = st
		})
		if _, err := e.srv.AddUser(context.Background(), NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
			t.Fatal(err)
		}
		return e, st
	}
	change := func(t *testing.T, e *testEnv) func() {
		return func() {
			if err := e.srv.SetUserPassword(context.Background(), "dora", "a brand new pass phrase"); err != nil {
				t.Error(err)
			}
		}
	}
	// survived reports what of a token response still works.
	survived := func(t *testing.T, e *testEnv, client string, r response) {
		t.Helper()
		if r.status != http.StatusOK {
			return // refused: nothing survived
		}
		m := r.json(t)
		if at, _ := m["access_token"].(string); at != "" && e.signinActive(at) {
			t.Error("the access token issued during the change is active")
		}
		if rt, _ := m["refresh_token"].(string); rt != "" {
			if r := e.signinRefresh(client, rt, ""); r.status == http.StatusOK {
				t.Error("the refresh token issued during the change still refreshes")
			}
		}
	}
	t.Run("a code redeemed", func(t *testing.T) {
		e, st := setup(t)
		cfg := e.appConfig("openid", "offline_access")
		b := e.browser()
		verifier := oauth2.GenerateVerifier()
		r := b.signIn(b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), "dora", carolStorePassword)
		q := e.callback(b.consent(r, "approve", false), cfg.RedirectURL)
		got := st.during(t, store.RefreshToken, func() response { return e.signinToken(signinRedeemForm(q.Get("code"), verifier)) }, change(t, e))
		survived(t, e, "app", got)
	})
	t.Run("a refresh token used", func(t *testing.T) {
		e, st := setup(t)
		_, tok := e.usersSignIn("dora", carolStorePassword)
		got := st.during(t, store.RefreshToken, func() response { return e.signinRefresh("app", tok.RefreshToken, "") }, change(t, e))
		survived(t, e, "app", got)
	})
	t.Run("a device's approval polled", func(t *testing.T) {
		e, st := setup(t)
		da := e.svcDeviceStart("openid offline_access")
		b := e.browser()
		page := b.get("/device")
		if page.status == http.StatusSeeOther {
			r := b.signIn(b.get(page.header.Get("Location")), "dora", carolStorePassword)
			page = b.get(r.header.Get("Location"))
		}
		f := fields(page)
		f.Set("user_code", da["user_code"].(string))
		f.Set("decision", "lookup")
		f = fields(b.post("/device", f))
		f.Set("decision", "approve")
		if r := b.post("/device", f); r.status != http.StatusOK {
			t.Fatalf("approving: %d %s", r.status, idpMain(r))
		}
		e.clock.Advance(10 * time.Second)
		got := st.during(t, store.RefreshToken, func() response { return e.svcPoll(da["device_code"].(string), "tv", "") }, change(t, e))
		survived(t, e, "tv", got)
	})
}

// TestReview13GatewaySessionAfterRevocation: the gateway starts its
// session after redeeming the code; if the user's password changes (or
// the user is disabled or deleted) between the two, the gateway session,
// stored after the revocation, must not be active.
func TestReview13GatewaySessionAfterRevocation(t *testing.T) {
	for _, tt := range []struct {
		name string
		act  func(ctx context.Context, s *Server) error
	}{
		{"disabled", func(ctx context.Context, s *Server) error { return s.SetUserDisabled(ctx, "dora", true) }},
		{"deleted", func(ctx context.Context, s *Server) error { return s.DeleteUser(ctx, "dora") }},
		{"password changed", func(ctx context.Context, s *Server) error { return s.SetUserPassword(ctx, "dora", "a new pass phrase") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := pagesEnv(t)
			ctx := context.Background()
			if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
				t.Fatal(err)
			}
			gc := e.srv.GatewayClient()
			verifier := oauth2.GenerateVerifier()
			push, err := gc.Push(ctx, url.Values{
				"response_type": {"code"}, "redirect_uri": {pagesSite}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
			})
			if err != nil {
				t.Fatal(err)
			}
			b := e.browser()
			q := e.callback(b.signIn(b.get(push), "dora", carolStorePassword), pagesSite)
			cfg := oauth2.Config{ClientID: gc.ClientID, RedirectURL: pagesSite, Endpoint: oauth2.Endpoint{TokenURL: gc.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
			tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, gc.HTTPClient), q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			var claims IDTokenClaims
			if err := e.verifyIDToken(tok.Extra("id_token").(string), GatewayClientID).Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if err := tt.act(ctx, e.srv); err != nil {
				t.Fatal(err)
			}
			// The gateway's callback reaches StartSession only now.
			id, err := e.srv.StartGatewaySession(ctx, claims.Subject, claims.SessionID, e.clock.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if active, err := e.srv.GatewaySessionActive(ctx, id); err != nil || active {
				t.Errorf("the gateway session of a sign-in revoked before it started is active: %v %v", active, err)
			}
		})
	}
}

// TestReview13RecreatedUserInheritsNothing: a username given again is a
// new person. A stored user deleted and added again, and a configured
// user removed from the configuration and then added to the store, get
// none of what the earlier user of the name left: sessions, refresh and
// access tokens, remembered consents.
func TestReview13RecreatedUserInheritsNothing(t *testing.T) {
	t.Run("deleted and added again", func(t *testing.T) {
		e := signinEnv(t, nil)
		ctx := context.Background()
		if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
			t.Fatal(err)
		}
		b, tok := e.usersSignIn("dora", carolStorePassword)
		if err := e.srv.DeleteUser(ctx, "dora"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: "another pass phrase"}); err != nil {
			t.Fatal(err)
		}
		if who := review13Who(e, b); who != "" {
			t.Errorf("the old browser session is signed in as %q", who)
		}
		if e.signinActive(tok.AccessToken) {
			t.Error("the old access token is active")
		}
		if r := e.signinRefresh("app", tok.RefreshToken, ""); r.status != http.StatusBadRequest {
			t.Errorf("the old refresh token: %d %s", r.status, r.body)
		}
		n := e.browser()
		r := n.signIn(n.get(e.appConfig("openid", "offline_access").AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "dora", "another pass phrase")
		if !isPage(r, "Allow access?") {
			t.Errorf("the new dora was not asked for consent: %d %s", r.status, idpMain(r))
		}
	})
	t.Run("configured, then stored", func(t *testing.T) {
		e := signinEnv(t, nil)
		b, tok := e.usersSignIn("carol", alicePassword)
		rs := e.signinRestart(func(c *Config) {
			c.Users = slices.DeleteFunc(c.Users, func(u *User) bool { return u.Username == "carol" })
		})
		if _, err := rs.srv.AddUser(context.Background(), NewUser{Username: "carol", Password: carolStorePassword}); err != nil {
			t.Fatal(err)
		}
		if r := rs.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, "", ""); r.status != http.StatusBadRequest {
			t.Errorf("the configured carol's refresh token works for the stored carol: %d %s", r.status, r.body)
		}
		if r := rs.postForm("/introspect", url.Values{"token": {tok.AccessToken}}, "rs", "rs-secret"); r.json(t)["active"] == true {
			t.Error("the configured carol's access token is active for the stored carol")
		}
		rb := rs.browser(b)
		if q := e.callback(rb.get(signinAuthorizeURL("prompt", "none")), signinRedirect); q.Get("code") != "" {
			t.Error("the configured carol's session signs the stored carol in")
		}
	})
}

// TestReview13NamesAreText: what operators, clients, providers and
// federated people name (a provider's display name, the product name, a
// federated user's username and name) is shown as text, never markup;
// every page forbids scripts; and no page is made with text/template.
func TestReview13NamesAreText(t *testing.T) {
	const markup = `<img/src=x/onerror=alert(1)>`
	e := newIdpEnv(t, func(c *Config) {
		c.ProductName = "Bank <b>"
		c.IdentityProviders[0].DisplayName = "X " + markup
	})
	e.x.as(connector.Identity{Subject: "xss-1", Username: markup, Name: markup, Email: "x@example.com", EmailVerified: true})
	b := e.browser()
	pages := map[string]response{"sign-in": b.get(signinAuthorizeURL("scope", "openid profile"))}
	link, ok := idpLinks(pages["sign-in"])["X "+markup]
	if !ok {
		t.Fatalf("no escaped X link: %s", idpMain(pages["sign-in"]))
	}
	_, pages["consent"] = b.idpComplete(b.get(link))
	pages["landing"] = b.get("/")
	pages["sign-out"] = b.get("/logout")
	for name, r := range pages {
		body := string(r.body)
		if strings.Contains(body, "<img/src") || strings.Contains(body, "<b>") {
			t.Errorf("%s page: markup in the page: %s", name, body)
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s page: Content-Security-Policy %q", name, csp)
		}
	}
	if !strings.Contains(visibleText(pages["consent"].body), "x:"+markup) {
		t.Errorf("the consent page does not show the username as text: %s", visibleText(pages["consent"].body))
	}

	// No Go file of the module renders a page with text/template.
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"text/template"` {
				t.Errorf("%s imports text/template", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReview13SignOutLinkBack: the sign-out pages' link back goes to the
// gateway's site only when authgate_site names a redirect URI the
// gateway could push, and only with the gateway's client_id; anything an
// attacker puts there (another host, credentials, a query, another
// client) is neither named nor linked.
func TestReview13SignOutLinkBack(t *testing.T) {
	e := pagesEnv(t)
	signedIn := e.signinSignedIn()
	for _, bad := range []struct{ client, site string }{
		{GatewayClientID, "https://evil.example/.authgate/callback"},
		{GatewayClientID, "https://grafana.example.com@evil.example/.authgate/callback"},
		{GatewayClientID, "https://evil.example#@grafana.example.com/.authgate/callback"},
		{GatewayClientID, "https://grafana.example.com.evil.example/.authgate/callback"},
		{GatewayClientID, "javascript://grafana.example.com/.authgate/callback"},
		{GatewayClientID, "//evil.example/.authgate/callback"},
		{"app", "https://evil.example/.authgate/callback"},
	} {
		q := url.Values{"client_id": {bad.client}, GatewaySiteParam: {bad.site}}
		for who, b := range map[string]*browser{"signed in": signedIn, "signed out": e.browser()} {
			r := b.get("/logout?" + q.Encode())
			if strings.Contains(string(r.body), "evil.example") || strings.Contains(string(r.body), "javascript:") {
				t.Errorf("%s, %s %q: the page names or links it: %s", who, bad.client, bad.site, idpMain(r))
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("%s, %s %q: redirected to %s", who, bad.client, bad.site, loc)
			}
		}
	}
	// The signed-in browser confirms; the "Signed out" page links only to
	// a host the gateway protects.
	r := signedIn.get("/logout?" + url.Values{"client_id": {GatewayClientID}, GatewaySiteParam: {"https://evil.example/.authgate/callback"}}.Encode())
	f := fields(r)
	f.Set("decision", "logout")
	f.Set(GatewaySiteParam, "https://evil.example/.authgate/callback")
	if done := signedIn.post("/logout", f); strings.Contains(string(done.body), "evil.example") || done.header.Get("Location") != "" {
		t.Errorf("the confirmed sign-out with a forged site: %d %s %s", done.status, done.header.Get("Location"), idpMain(done))
	}
}

// TestReview13ForgedAppName: a browser, or any client, cannot make the
// sign-in page say "Sign in to continue to Your Bank" with the gateway's
// authgate_app_name: not on the gateway's client_id without PAR, not by
// pushing as the gateway client over HTTP (only the gateway in this
// process can), and not through the idp or login_hint parameters.
func TestReview13ForgedAppName(t *testing.T) {
	e := pagesEnv(t)
	verifier := oauth2.GenerateVerifier()
	params := url.Values{"client_id": {GatewayClientID}, "response_type": {"code"}, "redirect_uri": {pagesSite}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		GatewayAppNameParam: {"Your Bank"}}
	if r := e.browser().get("/authorize?" + params.Encode()); strings.Contains(string(r.body), "Your Bank") || r.header.Get("Location") != "" {
		t.Errorf("the gateway's client_id without PAR: %d %s %s", r.status, r.header.Get("Location"), idpMain(r))
	}
	for _, secret := range []string{"", "guess", e.srv.gatewaySecret} {
		if r := e.postForm("/par", params, GatewayClientID, secret); r.status == http.StatusCreated {
			t.Errorf("PAR as the gateway client over HTTP with secret %q: %d %s", secret, r.status, r.body)
		}
	}
	for _, change := range [][]string{{"idp", "Your Bank"}, {"login_hint", "Your Bank"}} {
		r := e.browser().get(signinAuthorizeURL(change...))
		if strings.Contains(string(r.body), "continue to <span class=\"client\">Your Bank") {
			t.Errorf("%s: %s", change[0], idpMain(r))
		}
	}
}

// TestReview13OpenRedirects: whatever return_to an attacker puts on the
// sign-in page or the start of a provider sign-in, the browser is sent
// back only to this server's origin.
func TestReview13OpenRedirects(t *testing.T) {
	e := newIdpEnv(t, nil)
	issuer, _ := url.Parse(e.issuer)
	for _, target := range []string{
		"/..//evil.example/", "/.//evil.example/", "/%2F%2Fevil.example/", "/%5Cevil.example/", "/%09/evil.example/",
		"/a/../..//evil.example/", "/\u3000/evil.example/", "/@evil.example/", "/;//evil.example/", "/?//evil.example",
	} {
		for _, how := range []string{"provider", "directory"} {
			b := e.browser()
			var r response
			if how == "provider" {
				_, r = b.idpComplete(b.get("/login/x?return_to=" + url.QueryEscape(target)))
			} else {
				r = b.idpDirectoryForm(b.get("/login?return_to="+url.QueryEscape(target)), "corp", "dana", "dana-pw")
			}
			loc := r.header.Get("Location")
			if loc == "" {
				continue // the "Signed in" page
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Errorf("%s, %q: Location %q does not parse", how, target, loc)
				continue
			}
			if got := issuer.ResolveReference(u); got.Host != issuer.Host || got.Scheme != issuer.Scheme || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Errorf("%s, %q: sent to %q (%s)", how, target, loc, got)
			}
		}
	}
	// The idp parameter names a provider, never a place.
	for _, idp := range []string{"https://evil.example/", "//evil.example", "../../evil", "x/../../evil"} {
		r := e.browser().get(signinAuthorizeURL("idp", idp))
		if loc := r.header.Get("Location"); loc != "" {
			t.Errorf("idp=%q redirected to %s", idp, loc)
		}
	}
}

// TestReview13LocalProfilesRefused: what an operator types for a local
// user goes into headers and pages: line breaks in a username, name or
// group, and commas or spaces in a group, are refused.
func TestReview13LocalProfilesRefused(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	for _, nu := range []NewUser{
		{Username: "eve\r\nX-Auth-Groups: admins", Password: carolStorePassword},
		{Username: "eve", Password: carolStorePassword, Name: "Eve\r\nX-Auth-Groups: admins"},
		{Username: "eve", Password: carolStorePassword, Groups: []string{"staff,admins"}},
		{Username: "eve", Password: carolStorePassword, Groups: []string{"staff admins"}},
		{Username: "eve", Password: carolStorePassword, Groups: []string{"staff\nadmins"}},
		{Username: "eve", Password: carolStorePassword, Email: "eve@example.com\r\nBcc: x@example.com"},
	} {
		if _, err := e.srv.AddUser(ctx, nu); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("%+v: %v; want ErrInvalidUser", nu, err)
		}
	}
}

// TestReview13LookalikeUsernames: two usernames that look the same to a
// person, or that an upstream's lookup treats as one (case, Unicode
// compatibility forms, invisible characters, a colon look-alike that
// passes for a federated user's "provider:name"), must not be two users:
// AddUser refuses the second.
func TestReview13LookalikeUsernames(t *testing.T) {
	e := newIdpEnv(t, nil)
	ctx := context.Background()
	b := e.browser()
	if r := b.idpSignIn(b.get("/login"), "X"); !isPage(r, "Signed in") { // x:octocat
		t.Fatalf("%d %s", r.status, idpMain(r))
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "zoë", Password: carolStorePassword}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"Alice", "ALICE", "ａｌｉｃｅ", "alice\u200b", "\u200balice", "ali\u00adce", "alice\u2060", "ali\u202ece",
		"x\uff1aoctocat", "X\ufe55octocat", "zoe\u0308", "ZOË", "bob\u00a0", "alice\u3000",
	} {
		if _, err := e.srv.AddUser(ctx, NewUser{Username: name, Password: carolStorePassword}); err == nil {
			t.Errorf("%q was added beside a user it looks like", name)
			e.srv.DeleteUser(ctx, name) //nolint:errcheck
		}
	}
	// Distinct names still are.
	for _, name := range []string{"alice2", "zoe", "Zoë Ünïcode"} {
		if _, err := e.srv.AddUser(ctx, NewUser{Username: name, Password: carolStorePassword}); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// TestReview13RevocationReachesOtherInstances: disabling or deleting a
// user on one instance reaches the gateways of another instance sharing
// the store at its next poll: the user's access tokens and gateway
// sessions are announced there, and the other instance itself refuses
// the user's session, refresh token and access token at once.
func TestReview13RevocationReachesOtherInstances(t *testing.T) {
	for _, act := range []string{"disable", "delete"} {
		t.Run(act, func(t *testing.T) {
			e := signinEnv(t, nil)
			ctx := context.Background()
			if _, err := e.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
				t.Fatal(err)
			}
			other := e.signinRestart(nil)
			var heard revocationLog
			heard.subscribe(other.srv)
			b, tok := e.usersSignIn("dora", carolStorePassword)
			gw, err := other.srv.StartGatewaySession(ctx, "dora", "", e.clock.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if act == "disable" {
				err = e.srv.SetUserDisabled(ctx, "dora", true)
			} else {
				err = e.srv.DeleteUser(ctx, "dora")
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := other.srv.PollRevocations(ctx); err != nil {
				t.Fatal(err)
			}
			if !heard.heard(jti(t, tok.AccessToken), gw) {
				t.Errorf("the other instance's gateways did not hear of the access token and the gateway session: %+v", heard.jtis)
			}
			if _, err := other.srv.VerifyAccessToken(ctx, tok.AccessToken); err == nil {
				t.Error("the other instance accepts the access token")
			}
			if active, _ := other.srv.GatewaySessionActive(ctx, gw); active {
				t.Error("the other instance's gateway session is active")
			}
			if r := other.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, "", ""); r.status != http.StatusBadRequest {
				t.Errorf("the refresh token at the other instance: %d %s", r.status, r.body)
			}
			if q := e.callback(other.browser(b).get(signinAuthorizeURL("prompt", "none")), signinRedirect); q.Get("code") != "" {
				t.Error("the session signs in at the other instance")
			}
		})
	}
}

// TestReview13LocalAccountsCache: whether the sign-in page shows the
// password form (local accounts exist) is remembered for a minute, per
// instance; it never decides who signs in: a user disabled on another
// instance cannot sign in here while this instance still shows the form.
// (A local account added on another instance gets the form here only
// after that minute: a delay, not a way in.)
func TestReview13LocalAccountsCache(t *testing.T) {
	x := newIdpRedirect(t, idpOctocat)
	e := newEnv(t, func(c *Config) {
		c.Users = nil
		c.IdentityProviders = []IdentityProvider{{Name: "x", DisplayName: "X", Redirect: x}}
	})
	ctx := context.Background()
	other := e.signinRestart(func(c *Config) { c.Users = nil })
	if r := e.browser().get("/login"); isSignInPage(r) {
		t.Fatalf("a password form without local accounts: %s", idpMain(r))
	}
	if _, err := other.srv.AddUser(ctx, NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	signIn := func() response {
		b := e.browser()
		page := b.get("/login")
		if !isSignInPage(page) {
			t.Fatalf("no password form a minute after a local account appeared elsewhere: %s", idpMain(page))
		}
		return b.signIn(page, "dora", carolStorePassword)
	}
	if r := signIn(); !isPage(r, "Signed in") {
		t.Errorf("dora: %d %s", r.status, idpMain(r))
	}
	if err := other.srv.SetUserDisabled(ctx, "dora", true); err != nil {
		t.Fatal(err)
	}
	if r := signIn(); isPage(r, "Signed in") {
		t.Error("a user disabled on another instance signs in here")
	}
}

// TestReview13StoredUsernamesByTiming: a wrong password costs the same
// whether the username is a stored user's or no one's, or the time of
// the answer tells which stored usernames exist. An unknown name is
// checked against a configured user's hash when there is one (a bcrypt
// hash, as `caddy hash-password` makes, cost 14 by default: about a
// second), a stored user's password with argon2id (tens of
// milliseconds).
func TestReview13StoredUsernamesByTiming(t *testing.T) {
	review13Open(t, "with configured users, an unknown username costs a configured user's (bcrypt) hash and a stored user's wrong password an argon2id check: their times differ by the ratio of the two costs, which tells the stored usernames (the per-name failure limit, which only existing names get, tells them too)")
	slow, err := bcrypt.GenerateFromPassword([]byte("configured-pw"), 12)
	if err != nil {
		t.Fatal(err)
	}
	h, err := password.Parse(string(slow))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		c.Users = []*User{{Username: "admin", Password: h}}
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	if _, err := e.srv.AddUser(context.Background(), NewUser{Username: "dora", Password: carolStorePassword}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	page := b.get("/login")
	n := 0
	timed := func(user string) time.Duration {
		best := time.Hour
		for range 3 {
			n++
			f := fields(page)
			f.Set("username", user)
			f.Set("password", "wrong password "+randomID(4))
			req, _ := http.NewRequest(http.MethodPost, e.url("/login"), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Test-Client", fmt.Sprintf("198.51.100.%d", n))
			start := time.Now()
			if r := e.do(b.client, req); r.status != http.StatusUnauthorized {
				t.Fatalf("%s: %d", user, r.status)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	stored, unknown := timed("dora"), timed("nobody-"+randomID(4))
	if ratio := float64(max(stored, unknown)) / float64(min(stored, unknown)); ratio > 3 {
		t.Errorf("a stored user's wrong password takes %v, an unknown name's %v", stored, unknown)
	}
}

// TestReview13FederatedNeverLocal: a person at a provider whose username
// and verified email are a local user's (alice, alice@example.com) signs
// in as a user of their own: not alice's subject, groups or remembered
// consent, and alice's session is not theirs.
func TestReview13FederatedNeverLocal(t *testing.T) {
	e := newIdpEnv(t, nil)
	alice := e.signinSignedIn() // alice's consent to app for openid is remembered
	if who := e.idpWho(alice); who != "alice" {
		t.Fatalf("alice is signed in as %q", who)
	}
	e.x.as(connector.Identity{Subject: "alice", Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Liddell"})
	b := e.browser()
	r := b.idpSignIn(b.get(signinAuthorizeURL()), "X")
	if !isPage(r, "Allow access?") {
		t.Errorf("the provider's alice got alice's consent: %d %s", r.status, idpMain(r))
	}
	c := e.idpClaims(e.idpCodeFlow(e.browser(), "X", "openid profile email groups")["id_token"].(string))
	if c.Subject == "alice" || c.PreferredUsername == "alice" || slices.Contains(c.Groups, "admins") {
		t.Errorf("the provider's alice is the local alice: %+v", c)
	}
	if who := e.idpWho(alice); who != "alice" {
		t.Errorf("the local alice's session became %q", who)
	}
}

// TestReview13GatewaySignOutThenBackIn: signing out of one gateway site
// (which ends that gateway session only, and asks before ending the
// sign-in here) must not keep the person out of gateway sites for the
// rest of their sign-in: a gateway session started afterwards through
// the same sign-in (the same sid), at that site again or another, is
// active.
func TestReview13GatewaySignOutThenBackIn(t *testing.T) {
	e := pagesEnv(t)
	ctx := context.Background()
	b := e.signinSignedIn()
	gc := e.srv.GatewayClient()
	verifier := oauth2.GenerateVerifier()
	push, err := gc.Push(ctx, url.Values{
		"response_type": {"code"}, "redirect_uri": {pagesSite}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := e.callback(b.get(push), pagesSite)
	cfg := oauth2.Config{ClientID: gc.ClientID, RedirectURL: pagesSite, Endpoint: oauth2.Endpoint{TokenURL: gc.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, gc.HTTPClient), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	var claims IDTokenClaims
	if err := e.verifyIDToken(tok.Extra("id_token").(string), GatewayClientID).Claims(&claims); err != nil {
		t.Fatal(err)
	}
	first, err := e.srv.StartGatewaySession(ctx, claims.Subject, claims.SessionID, e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.EndGatewaySession(ctx, first); err != nil { // signing out of the site
		t.Fatal(err)
	}
	again, err := e.srv.StartGatewaySession(ctx, claims.Subject, claims.SessionID, e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if active, err := e.srv.GatewaySessionActive(ctx, again); err != nil || !active {
		t.Errorf("a gateway session started through the same sign-in after signing out of a site is not active (%v)", err)
	}
}

// TestReview13RegisteredClientNameIsText: a client that registered
// itself names itself: markup in its name is text on the sign-in,
// consent and sign-out pages, which mark the name unverified and show
// where the answer goes.
func TestReview13RegisteredClientNameIsText(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	const name = `<img/src=x/onerror=alert(1)> Your Bank`
	reg := e.svcRegister(map[string]any{"client_name": name, "redirect_uris": []string{"http://127.0.0.1:7777/cb"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"}}, "")
	if reg.status != http.StatusCreated {
		t.Fatalf("registering: %d %s", reg.status, reg.body)
	}
	id := reg.json(t)["client_id"].(string)
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {id}, "redirect_uri": {"http://127.0.0.1:7777/cb"}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	b := e.browser()
	login := b.get("/authorize?" + q.Encode())
	consent := b.signIn(login, "alice", alicePassword)
	for what, r := range map[string]response{"sign-in": login, "consent": consent, "sign-out": b.get("/logout?client_id=" + url.QueryEscape(id))} {
		if strings.Contains(string(r.body), "<img") {
			t.Errorf("%s page: markup: %s", what, idpMain(r))
		}
		if text := visibleText(r.body); !strings.Contains(text, "unverified") || !strings.Contains(text, "127.0.0.1") {
			t.Errorf("%s page: the name is not marked unverified with its host: %s", what, text)
		}
	}
}
