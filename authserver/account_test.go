package authserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// The account page (issue 14 item 4): each section's happy path and its
// refusals, on the httptest harness.

// acctSignIn signs user in through the account page's redirect to the
// sign-in page, from a fresh browser, and returns the browser and the
// account page.
func (e *testEnv) acctSignIn(user, pw string) (*browser, response) {
	e.t.Helper()
	b := e.browser()
	r := b.get("/account")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount" {
		e.t.Fatalf("GET /account without a session = %d %q; want a redirect to sign in", r.status, r.header.Get("Location"))
	}
	r = b.signIn(b.get(r.header.Get("Location")), user, pw)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" {
		e.t.Fatalf("signing in = %d %q %s; want a redirect back to /account", r.status, r.header.Get("Location"), idpMain(r))
	}
	return b, b.acctPage()
}

// acctSession signs u in on a fresh browser directly (a session with
// amr), as the sign-in would, for users the harness cannot sign in
// through the pages (federated, or who must set up a second factor).
func (e *testEnv) acctSession(userID string, amr ...string) *browser {
	e.t.Helper()
	u, ok, err := e.srv.users.lookup(context.Background(), userID)
	if err != nil || !ok {
		e.t.Fatalf("user %q: %v", userID, err)
	}
	rec := httptest.NewRecorder()
	if _, err := e.srv.startSession(rec, httptest.NewRequest(http.MethodGet, e.issuer+"/", nil), u, amr); err != nil {
		e.t.Fatal(err)
	}
	b := e.browser()
	iss, _ := url.Parse(e.issuer)
	b.client.Jar.SetCookies(iss, rec.Result().Cookies())
	return b
}

// acctPage gets the account page, which must be there.
func (b *browser) acctPage() response {
	b.e.t.Helper()
	r := b.get("/account")
	if !isPage(r, "Your account") {
		b.e.t.Fatalf("not the account page: %d %s %s", r.status, r.header.Get("Location"), idpMain(r))
	}
	return r
}

// acctPost posts the account page's CSRF token and the pairs of names
// and values kv to path.
func (b *browser) acctPost(page response, path string, kv ...string) response {
	b.e.t.Helper()
	f := url.Values{"csrf_token": {fields(page).Get("csrf_token")}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return b.post(path, f)
}

// acctDone checks that r redirects back to the account page with done.
func acctDone(t *testing.T, r response, done string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?done="+done {
		t.Fatalf("want a redirect to /account?done=%s, got %d %q %s", done, r.status, r.header.Get("Location"), idpMain(r))
	}
}

// acctSessionOf returns the session b's cookie holds, or nil.
func (e *testEnv) acctSessionOf(b *browser) *session {
	req := httptest.NewRequest(http.MethodGet, e.issuer+"/", nil)
	iss, _ := url.Parse(e.issuer)
	for _, c := range b.client.Jar.Cookies(iss) {
		req.AddCookie(c)
	}
	sess, _ := e.srv.currentSession(req)
	return sess
}

func (e *testEnv) acctAddUser(name, pw string) {
	e.t.Helper()
	if _, err := e.srv.AddUser(context.Background(), NewUser{Username: name, Password: pw, Name: "Dave", Groups: []string{"staff"}}); err != nil {
		e.t.Fatal(err)
	}
}

var acctHandle = regexp.MustCompile(`name="session" value="([0-9a-f]+)"`)

// TestAccountRequiresSession: the page and every form send a browser
// without a session to sign in, to come back to the page.
func TestAccountRequiresSession(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	login := b.get("/login") // a CSRF cookie and token, but no session
	for _, path := range []string{"/account", "/account/totp"} {
		r := b.get(path)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount" {
			t.Errorf("GET %s = %d %q; want a redirect to sign in", path, r.status, r.header.Get("Location"))
		}
	}
	for _, path := range []string{"/account/password", "/account/totp", "/account/totp/remove", "/account/recovery-codes",
		"/account/sessions/end", "/account/sessions/end-others", "/account/apps/revoke"} {
		r := b.acctPost(login, path)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount" {
			t.Errorf("POST %s = %d %q; want a redirect to sign in", path, r.status, r.header.Get("Location"))
		}
	}
	// The profile, after signing in.
	_, page := e.acctSignIn("alice", alicePassword)
	body := string(page.body)
	for _, want := range []string{"Alice Liddell", "alice@example.com", "users, admins", "With your password",
		"Your password is set in this server", `href="/account/passkeys"`, "You have no passkeys.", "Authenticator app: off",
		`<strong>This browser</strong>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	if page.header.Get("Cache-Control") != "no-store" || page.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", page.header)
	}
	if r := e.browser().get("/"); strings.Contains(string(r.body), `href="/account"`) {
		t.Error("the landing page links to the account page for no one signed in")
	}
}

// TestAccountRefusals: a bad CSRF token, a stale sign-in for sensitive
// changes, and changes a user cannot make.
func TestAccountRefusals(t *testing.T) {
	e := signinEnv(t, nil)
	e.acctAddUser("dave", "correct horse")
	b, page := e.acctSignIn("dave", "correct horse")
	change := []string{"current_password", "correct horse", "new_password", "battery staple", "new_password_again", "battery staple"}
	for _, path := range []string{"/account/password", "/account/totp", "/account/totp/remove", "/account/recovery-codes",
		"/account/sessions/end", "/account/sessions/end-others", "/account/apps/revoke"} {
		f := url.Values{"csrf_token": {"forged"}}
		if r := b.post(path, f); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "This form has expired") {
			t.Errorf("POST %s with a bad CSRF token = %d; want 403", path, r.status)
		}
		if r := b.post(path, url.Values{}); r.status != http.StatusForbidden {
			t.Errorf("POST %s without a CSRF token = %d; want 403", path, r.status)
		}
	}
	cases := []struct {
		name   string
		kv     []string
		status int
		want   string
	}{
		{"wrong current password", []string{"current_password", "wrong horse", "new_password", "battery staple", "new_password_again", "battery staple"},
			http.StatusUnauthorized, "Your current password is not right."},
		{"new passwords differ", []string{"current_password", "correct horse", "new_password", "battery staple", "new_password_again", "battery stable"},
			http.StatusBadRequest, "The two new passwords are not the same."},
		{"weak new password", []string{"current_password", "correct horse", "new_password", "short", "new_password_again", "short"},
			http.StatusBadRequest, "at least 8 characters"},
		{"nothing typed", nil, http.StatusBadRequest, "Enter your current password and a new one."},
		{"remove an app that is not there", nil, http.StatusNotFound, "That app has no access"},
		{"recovery codes without a second factor", nil, http.StatusConflict, "Set up an authenticator app first."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/account/password"
			switch {
			case strings.HasPrefix(tc.name, "remove an app"):
				path = "/account/apps/revoke"
				tc.kv = []string{"client", "app"}
			case strings.HasPrefix(tc.name, "recovery"):
				path = "/account/recovery-codes"
			}
			r := b.acctPost(page, path, tc.kv...)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("= %d %s; want %d %q", r.status, idpMain(r), tc.status, tc.want)
			}
		})
	}
	// The password is unchanged.
	if _, ok, _ := e.srv.users.authenticate(context.Background(), "dave", "correct horse"); !ok {
		t.Fatal("a refused change changed the password")
	}

	// A sign-in older than 10 minutes must be renewed for sensitive changes.
	e.clock.Advance(11 * time.Minute)
	page = b.acctPage()
	for _, path := range []string{"/account/password", "/account/totp/remove", "/account/recovery-codes"} {
		r := b.acctPost(page, path, change...)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount" {
			t.Errorf("POST %s after 11 minutes = %d %q; want a redirect to sign in again", path, r.status, r.header.Get("Location"))
		}
	}
	// Signing in again (as prompt=login would) makes the change possible.
	r := b.signIn(b.get("/login?return_to=%2Faccount"), "dave", "correct horse")
	if r.header.Get("Location") != "/account" {
		t.Fatalf("signing in again = %d %q", r.status, r.header.Get("Location"))
	}
	acctDone(t, b.acctPost(b.acctPage(), "/account/password", change...), "password")

	// A configured user and a federated one have no password to change here.
	alice := e.acctSession("alice", "pwd")
	r = alice.acctPost(alice.acctPage(), "/account/password", "current_password", alicePassword, "new_password", "new password", "new_password_again", "new password")
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "set in this server") {
		t.Errorf("a configured user's change = %d %s; want 403", r.status, idpMain(r))
	}
	ctx := context.Background()
	if err := e.store.CreateUser(ctx, store.UserRecord{ID: "fed-1", Username: "corp:erin", Provider: "corp", ProviderSubject: "erin",
		Name: "Erin", CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	erin := e.acctSession("fed-1")
	fedPage := erin.acctPage()
	if !strings.Contains(string(fedPage.body), "You sign in through corp, so you have no password here.") {
		t.Errorf("a federated user's page: %s", idpMain(fedPage))
	}
	r = erin.acctPost(fedPage, "/account/password", "current_password", "x", "new_password", "new password", "new_password_again", "new password")
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "no password here") {
		t.Errorf("a federated user's change = %d %s; want 403", r.status, idpMain(r))
	}
}

// TestAccountPassword: a local user changes their password; this browser
// stays signed in with a new session, everything else of the user ends.
func TestAccountPassword(t *testing.T) {
	e := signinEnv(t, nil)
	e.acctAddUser("dave", "correct horse")
	b, page := e.acctSignIn("dave", "correct horse")
	old := e.signinCopyBrowser(b)
	oldSess := e.acctSessionOf(b)
	other, _ := e.acctSignIn("dave", "correct horse")
	gw, err := e.srv.StartGatewaySession(context.Background(), "dave", oldSess.sid(), e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	acctDone(t, b.acctPost(page, "/account/password", "current_password", "correct horse",
		"new_password", "battery staple", "new_password_again", "battery staple"), "password")
	page = b.get("/account?done=password")
	if !isPage(page, "Your account") || !strings.Contains(string(page.body), "Your password was changed.") {
		t.Errorf("no notice: %s", idpMain(page))
	}
	now := e.acctSessionOf(b)
	if now == nil || now.id == oldSess.id || now.data.AuthTime != oldSess.data.AuthTime || now.expires != oldSess.expires {
		t.Errorf("session after the change = %+v; want a new one with the old sign-in time and end (old %+v)", now, oldSess)
	}
	for name, br := range map[string]*browser{"the old cookie": old, "another browser": other} {
		if r := br.get("/account"); r.status != http.StatusSeeOther {
			t.Errorf("%s still works after the password change: %d", name, r.status)
		}
	}
	if ok, _ := e.srv.GatewaySessionActive(context.Background(), gw); ok {
		t.Error("a gateway session outlived the password change")
	}
	if _, ok, _ := e.srv.users.authenticate(context.Background(), "dave", "battery staple"); !ok {
		t.Error("the new password does not work")
	}
	if _, ok, _ := e.srv.users.authenticate(context.Background(), "dave", "correct horse"); ok {
		t.Error("the old password still works")
	}
}

// TestAccountTOTP: setting up an authenticator app from the account
// page, recovery codes shown once and made anew, and removing the app.
func TestAccountTOTP(t *testing.T) {
	e := &mfaEnv{testEnv: signinEnv(t, nil)}
	b, _ := e.acctSignIn("carol", alicePassword)
	setup := b.get("/account/totp")
	if !isPage(setup, "Set up an authenticator app") {
		t.Fatalf("setup page: %d %s", setup.status, idpMain(setup))
	}
	m := mfaSecret.FindStringSubmatch(string(setup.body))
	if m == nil {
		t.Fatalf("no key on the setup page: %s", idpMain(setup))
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if !mfaImg.Match(setup.body) {
		t.Error("no QR code on the setup page")
	}
	f := fields(setup)
	f.Set("code", mfaWrong(e.mfaCode(secret, 0)))
	if r := b.post("/account/totp", f); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "That code is not right") {
		t.Errorf("a wrong first code = %d %s", r.status, idpMain(r))
	}
	f.Set("code", e.mfaCode(secret, 0))
	r := b.post("/account/totp", f)
	codes := mfaRecoveryCode.FindAllStringSubmatch(string(r.body), -1)
	if !isPage(r, "Save your recovery codes") || len(codes) != 10 {
		t.Fatalf("after the first code: %d %s", r.status, idpMain(r))
	}
	page := b.acctPage()
	for _, want := range []string{"Authenticator app: on", "You have 10 recovery codes left.", "Remove authenticator app"} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	if r := b.get("/account/totp"); r.status != http.StatusSeeOther {
		t.Errorf("the setup page with an app set up = %d; want a redirect back", r.status)
	}
	// New recovery codes replace the old ones.
	r = b.acctPost(page, "/account/recovery-codes")
	fresh := mfaRecoveryCode.FindAllStringSubmatch(string(r.body), -1)
	if !isPage(r, "Save your recovery codes") || len(fresh) != 10 || fresh[0][1] == codes[0][1] {
		t.Fatalf("new recovery codes: %d %s", r.status, idpMain(r))
	}
	if _, err := e.srv.useRecoveryCode(context.Background(), e.acctUser("carol"), codes[0][1]); err == nil {
		t.Error("an old recovery code still works")
	}
	// Removing needs a right code or the password.
	e.clock.Advance(30 * time.Second)
	for _, tc := range []struct {
		kv     []string
		status int
	}{
		{[]string{"code", mfaWrong(e.mfaCode(secret, 0))}, http.StatusUnauthorized},
		{[]string{"password", "not the password"}, http.StatusUnauthorized},
		{nil, http.StatusBadRequest},
	} {
		if r := b.acctPost(page, "/account/totp/remove", tc.kv...); r.status != tc.status {
			t.Errorf("removing with %v = %d; want %d", tc.kv, r.status, tc.status)
		}
	}
	acctDone(t, b.acctPost(page, "/account/totp/remove", "code", e.mfaCode(secret, 0)), "totp-off")
	if n, _ := e.srv.RecoveryCodesLeft(context.Background(), "carol"); n != 0 {
		t.Errorf("%d recovery codes left after removing the only factor", n)
	}
	// Set up again (through the API) and removed with the password.
	e.mfaEnrol("carol")
	acctDone(t, b.acctPost(b.acctPage(), "/account/totp/remove", "password", alicePassword), "totp-off")
	if m, _ := e.srv.userFactors(context.Background(), "carol"); m.has() {
		t.Error("the app is still there")
	}
}

func (e *testEnv) acctUser(id string) *User {
	u, ok, err := e.srv.users.lookup(context.Background(), id)
	if !ok || err != nil {
		e.t.Fatalf("user %q: %v", id, err)
	}
	return u
}

// TestAccountLastFactor: a user who must have a second factor cannot
// remove the last one, and the page says why; a passkey besides lets
// them, and is counted.
func TestAccountLastFactor(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		why  string
	}{
		{"everyone", func(c *Config) { c.RequireMFA = true }, "Everyone who signs in here must use two-step verification."},
		{"group", func(c *Config) { c.RequireMFAGroups = []string{"admins"} }, `Members of the group &#34;admins&#34; must use two-step verification.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &mfaEnv{testEnv: signinEnv(t, tc.cfg)}
			secret := e.mfaEnrol("alice")
			b := e.acctSession("alice", "pwd", "otp", "mfa")
			page := b.acctPage()
			if !strings.Contains(string(page.body), tc.why) || !strings.Contains(string(page.body), "cannot be removed") {
				t.Errorf("the page does not say why: %s", idpMain(page))
			}
			r := b.acctPost(page, "/account/totp/remove", "code", e.mfaCode(secret, 0))
			if r.status != http.StatusConflict || !strings.Contains(string(r.body), tc.why) {
				t.Fatalf("removing the last factor = %d %s; want 409", r.status, idpMain(r))
			}
			if m, _ := e.srv.userFactors(context.Background(), "alice"); !m.has() {
				t.Fatal("the last factor went")
			}
			if err := e.store.CreateFactor(context.Background(), store.Factor{UserID: "alice", Kind: store.FactorWebAuthn, ID: "cred-1",
				Name: "Laptop", Data: []byte(`{}`), Confirmed: true, CreatedAt: e.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			page = b.acctPage()
			if !strings.Contains(string(page.body), "You have 1 passkey.") {
				t.Errorf("the passkey is not counted: %s", idpMain(page))
			}
			acctDone(t, b.acctPost(page, "/account/totp/remove", "password", alicePassword), "totp-off")
		})
	}
}

// TestAccountSessions: the sessions are listed with this browser marked;
// ending one stops it and the gateway sessions signed in through it;
// ending all others leaves this one.
func TestAccountSessions(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	a, _ := e.acctSignIn("alice", alicePassword)
	e.clock.Advance(time.Minute)
	bb, _ := e.acctSignIn("alice", alicePassword)
	e.clock.Advance(time.Minute)
	c, _ := e.acctSignIn("alice", alicePassword)
	carol, _ := e.acctSignIn("carol", alicePassword)
	gw := map[string]string{}
	for name, br := range map[string]*browser{"a": a, "b": bb, "c": c} {
		id, err := e.srv.StartGatewaySession(ctx, "alice", e.acctSessionOf(br).sid(), e.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		gw[name] = id
	}
	page := a.acctPage()
	handles := acctHandle.FindAllStringSubmatch(string(page.body), -1)
	if len(handles) != 3 || strings.Count(string(page.body), "<strong>This browser</strong>") != 1 {
		t.Fatalf("sessions listed: %d handles; page %s", len(handles), idpMain(page))
	}
	// Oldest first: a's (this browser), then b's, then c's.
	for i, br := range []*browser{a, bb, c} {
		if handles[i][1] != accountHandle(e.acctSessionOf(br).id) {
			t.Fatalf("session %d listed is not the one expected", i)
		}
	}
	// Another user's session cannot be ended from here.
	acctDone(t, a.acctPost(page, "/account/sessions/end", "session", accountHandle(e.acctSessionOf(carol).id)), "session-absent")
	carol.acctPage()

	acctDone(t, a.acctPost(page, "/account/sessions/end", "session", handles[1][1]), "session-ended")
	if r := bb.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the ended session still works: %d", r.status)
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if ok, _ := e.srv.GatewaySessionActive(ctx, gw[name]); ok != want {
			t.Errorf("gateway session of %s active = %v; want %v", name, ok, want)
		}
	}
	acctDone(t, a.acctPost(a.acctPage(), "/account/sessions/end-others"), "others-ended")
	if r := c.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("another session survived ending all others: %d", r.status)
	}
	for name, want := range map[string]bool{"a": true, "c": false} {
		if ok, _ := e.srv.GatewaySessionActive(ctx, gw[name]); ok != want {
			t.Errorf("gateway session of %s active = %v; want %v", name, ok, want)
		}
	}
	page = a.acctPage()
	if n := len(acctHandle.FindAll(page.body, -1)); n != 1 {
		t.Errorf("%d sessions listed; want this one alone", n)
	}
	acctDone(t, a.acctPost(page, "/account/sessions/end-others"), "no-others")
	carol.acctPage() // another user's session was never touched

	// Ending this browser's own session signs it out.
	r := a.acctPost(page, "/account/sessions/end", "session", accountHandle(e.acctSessionOf(a).id))
	if !isPage(r, "Signed out") {
		t.Fatalf("ending this session: %d %s", r.status, idpMain(r))
	}
	if r := a.get("/account"); r.status != http.StatusSeeOther {
		t.Error("still signed in")
	}
	if ok, _ := e.srv.GatewaySessionActive(ctx, gw["a"]); ok {
		t.Error("this browser's gateway session outlived signing out")
	}
}

// TestAccountApps: the apps the user allowed are listed; revoking one
// ends its refresh token (invalid_grant), its access token (inactive at
// introspection) and its remembered consent, and no other app's.
func TestAccountApps(t *testing.T) {
	e := signinEnv(t, nil)
	cfg := e.appConfig("openid", "profile", "offline_access")
	b := e.browser()
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("tokens: %v %+v", err, tok)
	}
	// Another user's token of the same client stays.
	carolB := e.browser()
	vr := oauth2.GenerateVerifier()
	r := carolB.signIn(carolB.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(vr))), "carol", alicePassword)
	q := e.callback(carolB.consent(r, "approve", true), cfg.RedirectURL)
	carolTok, err := exchange(t, cfg, q.Get("code"), vr)
	if err != nil {
		t.Fatal(err)
	}
	page := b.acctPage()
	body := string(page.body)
	for _, want := range []string{`name="client" value="app"`, "See your name and username", "Stay connected when you are not using it"} {
		if !strings.Contains(body, want) {
			t.Errorf("the apps section lacks %q: %s", want, idpMain(page))
		}
	}
	acctDone(t, b.acctPost(page, "/account/apps/revoke", "client", "app"), "app-revoked")
	if r := e.signinRefresh("app", tok.RefreshToken, ""); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_grant" {
		t.Errorf("the revoked app's refresh token = %d %s; want invalid_grant", r.status, r.body)
	}
	if e.signinActive(tok.AccessToken) {
		t.Error("the revoked app's access token is still active")
	}
	if !e.signinActive(carolTok.AccessToken) {
		t.Error("another user's access token of the app was revoked")
	}
	if r := e.signinRefresh("app", carolTok.RefreshToken, ""); r.status != http.StatusOK {
		t.Errorf("another user's refresh token = %d %s", r.status, r.body)
	}
	page = b.acctPage()
	if strings.Contains(string(page.body), `name="client" value="app"`) {
		t.Error("the revoked app is still listed")
	}
	// The consent went: the app must ask again.
	if r := b.get(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); !isPage(r, "Allow access?") {
		t.Errorf("after revoking, the app got in without asking: %d %s", r.status, r.header.Get("Location"))
	}
}
