package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
)

// The gateway's require mfa with the bundled server, end to end in a
// real Caddy: the step-up a route asks for (acr_values=mfa) is answered
// by the server's second-factor page, the amr of the session reaches the
// upstream, and the bundled verifier reads amr and acr from access
// tokens.

// mfaGatewayUsers are the users and clients of these tests, besides
// signinClients' alice (groups users and admins), all with alice's
// password. None has a second factor at first; ops must have one
// (require_mfa_groups ops). mfacli gets user tokens for the app ($APP).
const mfaGatewayUsers = `
		require_mfa_groups ops
		user carol {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			email carol@example.com
			groups ops
		}
		user dave {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			email dave@example.com
		}
		user erin {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			email erin@example.com
		}
		client mfacli {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid read
			audiences $APP
			skip_consent
		}
`

// mfaEcho is an upstream that shows who the gateway let through and how
// they signed in.
const mfaEcho = `respond "sub={http.request.header.X-Auth-Subject} email={http.request.header.X-Auth-Email} amr={http.request.header.X-Auth-Amr} acr={http.request.header.X-Auth-Acr} path={http.request.uri}" 200`

// mfaGateway is a Caddy with the bundled server and an app whose
// /admin/* (sessions) and /api/* (bearer tokens) require a second factor
// and whose other pages do not.
type mfaGateway struct {
	*testCaddy
	app string
}

func startMFAGateway(t *testing.T) *mfaGateway {
	t.Helper()
	tc := newTestCaddy(t)
	app := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	const fields = "header X-Auth-Amr amr\n\t\t\theader X-Auth-Acr acr"
	caddyfile := tc.globalOptions(signinClients+strings.ReplaceAll(mfaGatewayUsers, "$APP", app)) + fmt.Sprintf(`
%[1]s {
	bind 127.0.0.1
	authgate_server
	respond "issuer site" 404
}

%[2]s {
	bind 127.0.0.1
	route /admin/* {
		authgate {
			accept session
			require mfa
			%[3]s
		}
		%[4]s
	}
	route /api/* {
		authgate {
			accept bearer
			require mfa
			%[3]s
		}
		%[4]s
	}
	route {
		authgate {
			accept session
			%[3]s
		}
		%[4]s
	}
}
`, tc.issuer, app, fields, mfaEcho)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return &mfaGateway{testCaddy: tc, app: app}
}

// totpApp is a user's authenticator app: it shows the code of a step
// after the last one it showed (the server takes each step once, RFC
// 6238 §5.2), of the current one at the earliest, waiting when the next
// step is beyond the one step ahead the server accepts.
type totpApp struct {
	t      *testing.T
	secret string
	last   int64
}

func (a *totpApp) code() string {
	a.t.Helper()
	step := max(a.last+1, time.Now().Unix()/30)
	for step > time.Now().Unix()/30+1 {
		time.Sleep(time.Until(time.Unix((time.Now().Unix()/30+1)*30, 0)) + 100*time.Millisecond)
	}
	a.last = step
	code, err := totp.GenerateCodeCustom(a.secret, time.Unix(step*30, 0), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return code
}

// setUpTOTP sets up a TOTP app for the user through the server's API,
// as the account page does, and returns it.
func setUpTOTP(t *testing.T, user string) *totpApp {
	t.Helper()
	s := activeApp(t).server
	secret, _, err := s.BeginTOTP(context.Background(), user)
	if err != nil {
		t.Fatalf("BeginTOTP(%s): %v", user, err)
	}
	app := &totpApp{t: t, secret: secret}
	if err := s.ConfirmTOTP(context.Background(), user, app.code()); err != nil {
		t.Fatalf("ConfirmTOTP(%s): %v", user, err)
	}
	return app
}

// isFactorPage reports whether r is the server's page that asks for a
// second factor.
func isFactorPage(r response) bool {
	return isPage(r, "Confirm it is you") && strings.Contains(string(r.body), `name="code"`)
}

// submitFactor posts field=value with page's hidden fields to the
// second-factor page.
func (b *browser) submitFactor(page response, field, value string) response {
	b.t.Helper()
	f := fields(page)
	if f.Get("csrf_token") == "" {
		b.t.Fatalf("no form on the page: %d %s", page.status, page.body)
	}
	f.Set(field, value)
	return b.post("/login/factor", f)
}

// passwordSignIn opens page without a session, signs in as user with
// the password at the sign-in page it leads to, and returns the answer
// to the password.
func (b *browser) passwordSignIn(page, user, password string) response {
	b.t.Helper()
	r, at := b.follow(page, b.get(page))
	if !strings.HasPrefix(at, b.tc.issuer+"/authorize") || !strings.Contains(string(r.body), `name="password"`) {
		b.t.Fatalf("%s did not lead to the sign-in page: %d at %s\n%s", page, r.status, at, r.body)
	}
	return b.signIn(r, user, password)
}

// atUpstream checks that r, at, is the upstream's answer for want with
// the subject and, in its amr, mfa or not.
func atUpstream(t *testing.T, what string, r response, at, want, sub string, mfa bool) {
	t.Helper()
	body := string(r.body)
	if r.status != http.StatusOK || at != want || !strings.Contains(body, "sub="+sub+" ") {
		t.Fatalf("%s: %d at %s (want %s)\n%s", what, r.status, at, want, body)
	}
	m := regexp.MustCompile(`amr=(\S*) acr=(\S*) `).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no amr in %s", what, body)
	}
	amr := strings.Split(m[1], ",")
	hasMFA := false
	for _, v := range amr {
		hasMFA = hasMFA || v == "mfa"
	}
	if hasMFA != mfa || (m[2] == "mfa") != mfa || !strings.Contains(","+m[1]+",", ",pwd,") {
		t.Errorf("%s: amr %q acr %q; want mfa in them: %v", what, m[1], m[2], mfa)
	}
}

// TestGatewayBundledStepUp: require mfa with the bundled server.
//   - A user signs in with the password at a page without the
//     requirement and reaches it; sets up a TOTP app (through the API the
//     account page uses); opens a page that requires a second factor: the
//     gateway steps up (acr_values=mfa, which is all that makes the server
//     ask: the user needs no second factor otherwise), the server asks for
//     the code only, not the password, and the browser is back at the
//     page, whose upstream sees amr with mfa and acr mfa.
//   - Bearer tokens at a route that requires a second factor: one from a
//     password sign-in gets 401 with the RFC 9470 challenge, one from a
//     sign-in with a TOTP code passes, and the upstream sees its amr.
//   - A user of a group of require_mfa_groups without a factor sets one up
//     right after the password, then reaches the page, and the pages that
//     require a second factor open at once.
func TestGatewayBundledStepUp(t *testing.T) {
	g := startMFAGateway(t)

	t.Run("step-up of a password session", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r, at := b.follow(g.issuer+"/login", b.passwordSignIn(g.app+"/home?tab=1", "alice", alicePassword))
		atUpstream(t, "the password sign-in", r, at, g.app+"/home?tab=1", "alice", false)

		app := setUpTOTP(t, "alice")
		// The page that requires the factor: to the server, which asks
		// for the code, not the password.
		page := g.app + "/admin/console?x=1"
		r = b.get(page)
		if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), g.issuer+"/authorize?") {
			t.Fatalf("the page that requires a second factor: %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
		r, at = b.follow(page, r)
		if at != g.issuer+"/login/factor" || !isFactorPage(r) || strings.Contains(string(r.body), `name="password"`) {
			t.Fatalf("the step-up: %d at %s\n%s", r.status, at, r.body)
		}
		if !strings.Contains(string(r.body), "<strong>alice</strong>") {
			t.Errorf("the factor page does not say who signs in: %s", r.body)
		}
		// A wrong code is refused on the same page.
		code := app.code()
		wrong := []byte(code)
		wrong[0] = '0' + (wrong[0]-'0'+1)%10
		if r := b.submitFactor(r, "code", string(wrong)); r.status != http.StatusUnauthorized ||
			!strings.Contains(string(r.body), "<h1>Confirm it is you</h1>") || !strings.Contains(string(r.body), "That code is not right") {
			t.Fatalf("a wrong code: %d %s", r.status, r.body)
		}
		r, at = b.follow(g.issuer+"/login/factor", b.submitFactor(r, "code", code))
		atUpstream(t, "after the step-up", r, at, page, "alice", true)
		if !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") {
			t.Errorf("the upstream's amr: %s", r.body)
		}
		// The session with the factor serves every page, and asks no more.
		for _, p := range []string{g.app + "/admin/other", g.app + "/home"} {
			r := b.get(p)
			atUpstream(t, p, r, p, p, "alice", true)
		}
	})

	// userToken signs user in for mfacli from a fresh browser, asking for
	// a second factor or not, types app's code if the server asks for
	// one, and returns the access token.
	userToken := func(t *testing.T, user string, acrMFA bool, app *totpApp) string {
		t.Helper()
		b := newBrowser(g.testCaddy)
		cfg := &oauth2.Config{ClientID: "mfacli", RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid", "read"},
			Endpoint: oauth2.Endpoint{AuthURL: g.issuer + "/authorize", TokenURL: g.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
		verifier := oauth2.GenerateVerifier()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
		if acrMFA {
			opts = append(opts, oauth2.SetAuthURLParam("acr_values", "mfa"))
		}
		r := b.signIn(b.get(cfg.AuthCodeURL("st-token", opts...)), user, alicePassword)
		if app != nil {
			r, at := b.follow(g.issuer+"/login", r)
			if !isFactorPage(r) {
				t.Fatalf("%s was not asked for the code: %d at %s\n%s", user, r.status, at, r.body)
			}
			r = b.submitFactor(r, "code", app.code())
			q := callback(t, g.testCaddy, r, cfg.RedirectURL)
			return exchangeCode(t, cfg, q, verifier)
		}
		return exchangeCode(t, cfg, callback(t, g.testCaddy, r, cfg.RedirectURL), verifier)
	}

	t.Run("bearer tokens", func(t *testing.T) {
		api := g.app + "/api/things"
		password := userToken(t, "erin", false, nil)
		checkStepUp(t, "a token from a password sign-in", g.bearerCall(api, password))
		withMFA := userToken(t, "dave", true, setUpTOTP(t, "dave"))
		r := g.bearerCall(api, withMFA)
		atUpstream(t, "a token from a sign-in with a TOTP code", r, api, api, "dave", true)
		if !strings.Contains(string(r.body), "amr=pwd,otp,mfa acr=mfa ") {
			t.Errorf("the upstream: %s", r.body)
		}
	})

	t.Run("required for a group: set up after the password", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r, at := b.follow(g.issuer+"/login", b.passwordSignIn(g.app+"/home", "carol", alicePassword))
		if at != g.issuer+"/login/factor" || !isPage(r, "Set up a second factor") {
			t.Fatalf("carol was not asked to set up a second factor: %d at %s\n%s", r.status, at, r.body)
		}
		m := regexp.MustCompile(`<span class="secret" id="totp-secret">([A-Z2-7 ]+)</span>`).FindStringSubmatch(string(r.body))
		if m == nil {
			t.Fatalf("no key on the setup page: %s", r.body)
		}
		app := &totpApp{t: t, secret: strings.ReplaceAll(m[1], " ", "")}
		r = b.submitFactor(r, "code", app.code())
		if !isPage(r, "Save your recovery codes") || len(regexp.MustCompile(`<li>[a-z0-9]{5}-[a-z0-9]{5}</li>`).FindAll(r.body, -1)) == 0 {
			t.Fatalf("the recovery codes: %d %s", r.status, r.body)
		}
		r, at = b.follow(g.issuer+"/login/factor", b.submitFactor(r, "", ""))
		atUpstream(t, "after setting up", r, at, g.app+"/home", "carol", true)
		r = b.get(g.app + "/admin/x")
		atUpstream(t, "a page that requires a second factor", r, g.app+"/admin/x", g.app+"/admin/x", "carol", true)
	})
}

// bearerCall gets u with the bearer token.
func (g *mfaGateway) bearerCall(u, token string) response {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return do(g.t, req)
}

// exchangeCode checks the callback's state and redeems its code.
func exchangeCode(t *testing.T, cfg *oauth2.Config, q url.Values, verifier string) string {
	t.Helper()
	if q.Get("state") != "st-token" || q.Get("code") == "" {
		t.Fatalf("callback = %v", q)
	}
	tok, err := exchange(t, cfg, q.Get("code"), verifier)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken
}

// TestBrowserGatewayStepUp is the step-up in headless Chromium: signed
// in with the password at a page without the requirement, the user gets
// a TOTP app, opens a page that requires a second factor, types the code
// the test computes on the server's page (no password asked), and is
// back at that page, whose upstream sees amr with mfa.
func TestBrowserGatewayStepUp(t *testing.T) {
	ctx := newChrome(t)
	g := startMFAGateway(t)
	text := func() string {
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	home := g.app + "/home"
	err := chromedp.Do(ctx,
		chromedp.Navigate(home),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if _, err := waitLocation(ctx, home); err != nil {
		t.Fatalf("never came back to %s: %v", home, err)
	}
	if body, err := waitText(ctx, "sub=alice "); err != nil || !strings.Contains(body, "amr=pwd acr= ") {
		t.Fatalf("the password sign-in: %q %v", body, err)
	}

	app := setUpTOTP(t, "alice")
	admin := g.app + "/admin/console?x=1"
	err = chromedp.Do(ctx,
		chromedp.Navigate(admin),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	if err != nil {
		t.Fatalf("the step-up page: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, g.issuer+"/login/factor") {
		t.Errorf("the code is asked at %s", loc)
	}
	if body := text(); !strings.Contains(body, "Confirm it is you") {
		t.Errorf("the step-up page says %q", body)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#code"), app.code()),
		chromedp.Click(chromedp.CSS(`form:has(#code) button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("typing the code: %v", err)
	}
	if _, err := waitLocation(ctx, admin); err != nil {
		t.Fatalf("never came back to %s: %v", admin, err)
	}
	if body, err := waitText(ctx, "sub=alice "); err != nil || !strings.Contains(body, "amr=pwd,otp,mfa acr=mfa ") {
		t.Fatalf("after the step-up the upstream saw %q %v", body, err)
	}
}

// TestReadmeRequireMFA runs the admin console of the README's "Second
// factors (require mfa)" section on free ports and follows its text:
// admin signs in with the password at the site, opens /admin/, sets up
// an authenticator app when the server offers it, and the console's
// stand-in answers with amr pwd,otp,mfa and acr mfa.
func TestReadmeRequireMFA(t *testing.T) {
	var blocks []string
	for _, b := range codeBlocks(readmeSection(t, "#### Second factors (`require mfa`)"), "caddyfile") {
		if strings.HasPrefix(b, "{\n") && strings.Contains(b, "require mfa") {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("found %d complete Caddyfiles with require mfa in the section; want 1", len(blocks))
	}
	text := blocks[0]
	ports := map[string]string{}
	for _, p := range []string{"9000", "9001", "8080"} {
		ports[p] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		text = strings.ReplaceAll(text, "127.0.0.1:"+p, ports[p])
	}
	text = strings.Replace(text, "{\n", fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tstorage file_system %s\n", freePort(t), t.TempDir()), 1)
	text = strings.Replace(text, "\t\tissuer ", "\t\tstorage sqlite "+t.TempDir()+"/authgate.db\n\t\tissuer ", 1)
	if err := validate(t, text); err != nil {
		t.Fatalf("the README's example does not validate: %v", err)
	}
	cfg, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("running the README's example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	tc := &testCaddy{t: t, issuer: "http://" + ports["9000"]}
	site := "http://" + ports["9001"]

	b := newBrowser(tc)
	r, at := b.follow(tc.issuer+"/login", b.passwordSignIn(site+"/", "admin", "demo-password"))
	if r.status != http.StatusOK || at != site+"/" || !strings.HasPrefix(string(r.body), "/ for admin: amr pwd, ") {
		t.Fatalf("the password sign-in: %d at %s: %s", r.status, at, r.body)
	}
	r, at = b.follow(site+"/admin/", b.get(site+"/admin/"))
	m := regexp.MustCompile(`<span class="secret" id="totp-secret">([A-Z2-7 ]+)</span>`).FindStringSubmatch(string(r.body))
	if at != tc.issuer+"/login/factor" || !isPage(r, "Set up a second factor") || m == nil {
		t.Fatalf("/admin/ did not set up a second factor: %d at %s\n%s", r.status, at, r.body)
	}
	app := &totpApp{t: t, secret: strings.ReplaceAll(m[1], " ", "")}
	r = b.submitFactor(r, "code", app.code())
	if !isPage(r, "Save your recovery codes") {
		t.Fatalf("the recovery codes: %d %s", r.status, r.body)
	}
	r, at = b.follow(tc.issuer+"/login/factor", b.submitFactor(r, "", ""))
	if want := "/admin/ for admin: amr pwd,otp,mfa, acr mfa"; r.status != http.StatusOK || at != site+"/admin/" || string(r.body) != want {
		t.Fatalf("the console: %d at %s: %q; want %q", r.status, at, r.body, want)
	}
}
