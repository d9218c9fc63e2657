package authserver

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// pagesSite is the site of the pages tests' gateway: its redirect URI.
const pagesSite = "https://grafana.example.com/.authgate/callback"

// pagesEnv is signinEnv branded as Example Corp, with a gateway that
// protects grafana.example.com.
func pagesEnv(t *testing.T) *testEnv {
	t.Helper()
	e := signinEnv(t, func(c *Config) {
		c.ProductName = "Example Corp"
		c.LogoURL = "https://cdn.example.net/logo.png"
		c.AccentColor = "#ffcc00"
	})
	e.srv.SetGatewayRedirects(func(u *url.URL) bool {
		return u.Host == "grafana.example.com" && u.Path == "/.authgate/callback"
	})
	return e
}

// pushGateway pushes the gateway's sign-in request for pagesSite with
// extra parameters (pairs of a name and a value) and returns the URL the
// browser is sent to.
func (e *testEnv) pushGateway(extra ...string) string {
	e.t.Helper()
	params := url.Values{
		"response_type": {"code"}, "redirect_uri": {pagesSite}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		params.Set(extra[i], extra[i+1])
	}
	u, err := e.srv.PushGatewayRequest(context.Background(), params)
	if err != nil {
		e.t.Fatalf("pushing the gateway's request: %v", err)
	}
	return u
}

var (
	styleBlock = regexp.MustCompile(`(?s)<style>.*?</style>`)
	anyTag     = regexp.MustCompile(`<[^>]*>`)
	spaces     = regexp.MustCompile(`\s+`)
)

// visibleText is the text of a page a person reads: no markup, no style
// sheet, no hidden fields' names.
func visibleText(body []byte) string {
	s := styleBlock.ReplaceAllString(string(body), " ")
	s = anyTag.ReplaceAllString(s, "")
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(s), " "))
}

// TestPagesSayWhereYouAre: every page names what the user is signing in
// to (never "this site"), carries the product's branding within the
// Content-Security-Policy, keeps the accessible skeleton, speaks no
// protocol jargon, and says what it is for: the sign-in page for an
// application, for a gateway's site (by its configured name and host, or
// its host), and for the server itself; consent; sign-out (asked, done,
// stayed) with the way back to the application or site; the device
// page's code entry and its approval, which shows the user code to
// compare; the landing page at the issuer; and the error pages.
func TestPagesSayWhereYouAre(t *testing.T) {
	e := pagesEnv(t)
	signedIn := e.browser()
	e.signinIDTokenAs(signedIn, "alice")
	device := e.postForm("/device/code", url.Values{"client_id": {"tv"}}, "", "").json(t)
	userCode, _ := device["user_code"].(string)
	if userCode == "" {
		t.Fatalf("device authorization: %v", device)
	}

	for _, tt := range []struct {
		name   string
		page   func(t *testing.T) response
		status int
		title  string
		want   []string // in the HTML
		text   []string // in the visible text
		not    []string // nowhere in the visible text
	}{
		{
			name:   "sign-in for an application",
			page:   func(*testing.T) response { return e.browser().get(signinAuthorizeURL()) },
			status: http.StatusOK, title: "Sign in",
			want: []string{`Sign in to continue to <span class="client">app</span>`, `<label for="username">`, `<label for="password">`},
			text: []string{"Sign in to continue to app."},
		},
		{
			name:   "sign-in for a gateway site with a name",
			page:   func(*testing.T) response { return e.browser().get(e.pushGateway(GatewayAppNameParam, "Grafana")) },
			status: http.StatusOK, title: "Sign in",
			want: []string{`<span class="client">Grafana</span> (<span class="host">grafana.example.com</span>)`},
			text: []string{"Sign in to continue to Grafana (grafana.example.com)."},
		},
		{
			name:   "sign-in for a gateway site without a name",
			page:   func(*testing.T) response { return e.browser().get(e.pushGateway()) },
			status: http.StatusOK, title: "Sign in",
			text: []string{"Sign in to continue to grafana.example.com."},
		},
		{
			name:   "sign-in to the server itself",
			page:   func(*testing.T) response { return e.browser().get("/login") },
			status: http.StatusOK, title: "Sign in",
			text: []string{"Sign in to continue to Example Corp"},
		},
		{
			name: "consent",
			page: func(t *testing.T) response {
				b := e.browser()
				return b.signIn(b.get(signinAuthorizeURL("scope", "openid email")), "alice", alicePassword)
			},
			status: http.StatusOK, title: "Allow access?",
			want: []string{`<span class="client">app</span>`, `name="decision" value="approve"`},
			text: []string{"app asks for access to your account alice.", "See your email address", "Remember this decision"},
		},
		{
			name:   "sign-out, asked",
			page:   func(*testing.T) response { return signedIn.get(signinLogoutURL("client_id", "webapp")) },
			status: http.StatusOK, title: "Sign out?",
			text: []string{"You are signed in as alice. Do you want to sign out of webapp and every other application?"},
		},
		{
			name:   "signed out, with the way back to the application",
			page:   func(*testing.T) response { return e.browser().get(signinLogoutURL("client_id", "webapp")) },
			status: http.StatusOK, title: "Signed out",
			want: []string{`<a href="https://webapp.example/">Back to webapp</a>`},
			text: []string{"You are signed out."},
		},
		{
			name: "still signed in, with the way back to the application",
			page: func(t *testing.T) response {
				f := fields(signedIn.get(signinLogoutURL("client_id", "app", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s")))
				f.Set("decision", "stay")
				return signedIn.post("/logout", f)
			},
			status: http.StatusOK, title: "Still signed in",
			want: []string{`<a href="http://127.0.0.1:9999/">Back to app</a>`},
			text: []string{"You are still signed in as alice."},
		},
		{
			name: "sign-out of a gateway's site, asked",
			page: func(*testing.T) response {
				return signedIn.get(signinLogoutURL("client_id", GatewayClientID, GatewaySiteParam, pagesSite))
			},
			status: http.StatusOK, title: "Sign out?",
			want: []string{`<input type="hidden" name="` + GatewaySiteParam + `" value="` + pagesSite + `">`},
			text: []string{"Do you want to sign out of grafana.example.com and every other application?"},
		},
		{
			name: "signed out of a gateway's site",
			page: func(*testing.T) response {
				return e.browser().get(signinLogoutURL("client_id", GatewayClientID, GatewaySiteParam, pagesSite))
			},
			status: http.StatusOK, title: "Signed out",
			want: []string{`<a href="https://grafana.example.com/">Back to grafana.example.com</a>`},
		},
		{
			name: "signed out, a site the gateway does not protect",
			page: func(*testing.T) response {
				return e.browser().get(signinLogoutURL("client_id", GatewayClientID, GatewaySiteParam, "https://evil.example/.authgate/callback"))
			},
			status: http.StatusOK, title: "Signed out",
			not: []string{"evil.example", "Back to"},
		},
		{
			name:   "device, the code to enter",
			page:   func(*testing.T) response { return signedIn.get("/device") },
			status: http.StatusOK, title: "Connect a device",
			want: []string{`<label for="user_code">Code</label>`},
			text: []string{"Enter the code shown on your device to connect it to your account alice."},
		},
		{
			name: "device, the code to compare",
			page: func(*testing.T) response {
				f := fields(signedIn.get("/device"))
				f.Set("user_code", strings.ToLower(strings.ReplaceAll(userCode, "-", "")))
				f.Set("decision", "lookup")
				return signedIn.post("/device", f)
			},
			status: http.StatusOK, title: "Connect a device",
			want: []string{`<p class="usercode" id="user-code" aria-describedby="user-code-check">` + userCode + `</p>`},
			text: []string{"tv on your device asks for access", "Check that this code is the one your device shows: " + userCode, "choose Deny"},
		},
		{
			name:   "landing page",
			page:   func(*testing.T) response { return e.browser().get(e.issuer) },
			status: http.StatusOK, title: "Sign-in service",
			want: []string{`<a href="/.well-known/openid-configuration">`, `<a href="/device">Connect a device</a>`, `<a href="/login">Sign in</a>`, `<nav aria-label="Example Corp">`},
			text: []string{"Example Corp signs you in to the applications and sites that use it."},
		},
		{
			name:   "landing page, signed in",
			page:   func(*testing.T) response { return signedIn.get("/") },
			status: http.StatusOK, title: "Sign-in service",
			want: []string{`<a href="/logout">Sign out</a>`},
			text: []string{"You are signed in as alice."},
		},
		{
			name:   "error, an unknown application",
			page:   func(*testing.T) response { return e.browser().get(signinAuthorizeURL("client_id", "nobody")) },
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"This sign-in service does not know the application that sent you here."},
		},
		{
			name: "error, an unregistered redirect",
			page: func(*testing.T) response {
				return e.browser().get(signinAuthorizeURL("redirect_uri", "https://evil.example/cb"))
			},
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"has not registered, so the sign-in stopped to keep you safe."},
		},
		{
			name:   "error, no redirect",
			page:   func(*testing.T) response { return e.browser().get(signinAuthorizeURL("redirect_uri", "-")) },
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"The application did not say where to send you back after signing in."},
		},
		{
			name: "error, a used sign-in link",
			page: func(*testing.T) response {
				return e.browser().get("/authorize?client_id=app&request_uri=urn:ietf:params:oauth:request_uri:nope")
			},
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"This sign-in link has expired or was already used."},
		},
		{
			name:   "error, a sign-out with a bad hint",
			page:   func(*testing.T) response { return e.browser().get(signinLogoutURL("id_token_hint", "not.a.jwt")) },
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"could not be checked"},
		},
		{
			name: "error, a sign-out to an unregistered address",
			page: func(*testing.T) response {
				return e.browser().get(signinLogoutURL("client_id", "app", "post_logout_redirect_uri", "https://evil.example/"))
			},
			status: http.StatusBadRequest, title: "Something went wrong",
			text: []string{"so the sign-out stopped to keep you safe"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.page(t)
			body := string(r.body)
			if r.status != tt.status {
				t.Fatalf("status %d; want %d: %s", r.status, tt.status, body)
			}
			want := append([]string{
				`<html lang="en">`, `<title>` + html.EscapeString(tt.title) + ` · Example Corp</title>`, `<h1>` + html.EscapeString(tt.title) + `</h1>`,
				`<header class="brand"><img src="https://cdn.example.net/logo.png" alt="" height="32"><span class="product">Example Corp</span></header>`,
				`<main>`, `color-scheme: light dark`, `--accent: #ffcc00`, `--accent-text: #000`, `:focus-visible`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
			}, tt.want...)
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q:\n%s", w, body)
				}
			}
			text := visibleText(r.body)
			for _, w := range tt.text {
				if !strings.Contains(text, w) {
					t.Errorf("the page does not say %q:\n%s", w, text)
				}
			}
			for _, w := range append([]string{"this site", "client_id", "redirect_uri", "id_token_hint", "request_uri", "post_logout", "invalid_request"}, tt.not...) {
				if strings.Contains(text, w) {
					t.Errorf("the page says %q:\n%s", w, text)
				}
			}
			if strings.Contains(body, "<script") {
				t.Error("the page has a script")
			}
			csp := r.header.Get("Content-Security-Policy")
			for _, w := range []string{"default-src 'none'", "img-src 'self' data: https://cdn.example.net;", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, w) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, w)
				}
			}
			if strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy %q allows scripts", csp)
			}
		})
	}
}

// TestPagesDefaultBranding: without branding the pages are authgate's,
// in its blue with white button text, and let images come only from
// their own origin.
func TestPagesDefaultBranding(t *testing.T) {
	e := newEnv(t, nil)
	r := e.browser().get("/")
	body := string(r.body)
	for _, w := range []string{`<title>Sign-in service · authgate</title>`, `<span class="product">authgate</span>`, `--accent: #1f5fbf`, `--accent-text: #fff`} {
		if !strings.Contains(body, w) {
			t.Errorf("the landing page lacks %q", w)
		}
	}
	if strings.Contains(body, "<img") {
		t.Error("a logo without logo_url")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:;") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for _, method := range []string{http.MethodHead, http.MethodPost} {
		req, _ := http.NewRequest(method, e.issuer+"/", nil)
		r := e.do(nil, req)
		if want := map[string]int{http.MethodHead: 200, http.MethodPost: 405}[method]; r.status != want {
			t.Errorf("%s /: %d; want %d", method, r.status, want)
		}
	}
}

// TestPagesBrandingChecked: the branding options are refused unless the
// product name is plain text, the accent color exactly #rrggbb and the
// logo https or under the issuer.
func TestPagesBrandingChecked(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func(*Config)
		ok   bool
	}{
		{"a product name", func(c *Config) { c.ProductName = "Example Corp — Sign-in" }, true},
		{"a long product name", func(c *Config) { c.ProductName = strings.Repeat("x", 61) }, false},
		{"a product name with a newline", func(c *Config) { c.ProductName = "Example\nCorp" }, false},
		{"a product name with a zero-width space", func(c *Config) { c.ProductName = "Ex\u200bample" }, false},
		{"a product name with spaces around", func(c *Config) { c.ProductName = " Example " }, false},
		{"an accent color", func(c *Config) { c.AccentColor = "#A1b2C3" }, true},
		{"a short accent color", func(c *Config) { c.AccentColor = "#abc" }, false},
		{"a named accent color", func(c *Config) { c.AccentColor = "red" }, false},
		{"CSS in the accent color", func(c *Config) { c.AccentColor = "#fff;}body{" }, false},
		{"an https logo", func(c *Config) { c.LogoURL = "https://cdn.example.net/a/logo.svg?v=2" }, true},
		{"a logo path under the issuer", func(c *Config) { c.LogoURL = "/static/logo.png" }, true},
		{"a logo URL under the issuer", func(c *Config) { c.LogoURL = c.Issuer + "/static/logo.png" }, true},
		{"an http logo", func(c *Config) { c.LogoURL = "http://cdn.example.net/logo.png" }, false},
		{"a data logo", func(c *Config) { c.LogoURL = "data:image/png;base64,AAAA" }, false},
		{"a javascript logo", func(c *Config) { c.LogoURL = "javascript:alert(1)" }, false},
		{"a protocol-relative logo", func(c *Config) { c.LogoURL = "//cdn.example.net/logo.png" }, false},
		{"a relative logo", func(c *Config) { c.LogoURL = "logo.png" }, false},
		{"a logo with a quote", func(c *Config) { c.LogoURL = `https://cdn.example.net/"logo.png` }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := newEnvErr(t, tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("accepted = %v (%v); want %v", err == nil, err, tt.ok)
			}
		})
	}
	// Under an issuer with a path, a logo path must be under it.
	for path, ok := range map[string]bool{"/auth/logo.png": true, "/logo.png": false, "/authx/logo.png": false, "/auth/../logo.png": false} {
		err := newEnvErr(t, func(c *Config) { c.Issuer += "/auth"; c.LogoURL = path })
		if (err == nil) != ok {
			t.Errorf("logo %s under /auth: %v", path, err)
		}
	}
}

// newEnvErr is the error New returns for newEnv's configuration changed
// by configure.
func newEnvErr(t *testing.T, configure func(*Config)) error {
	t.Helper()
	base := newEnv(t, nil)
	cfg := base.srv.cfg
	cfg.Issuer = base.issuer
	cfg.ProductName, cfg.AccentColor = "", ""
	cfg.Users, cfg.Clients = testUsers(t), testClients()
	configure(&cfg)
	_, err := New(context.Background(), cfg)
	return err
}

// TestGatewayAppName: the gateway's name for its site counts only in its
// own pushed requests, and only as plain text; another client's app name
// is ignored.
func TestGatewayAppName(t *testing.T) {
	e := pagesEnv(t)
	for _, bad := range []string{"Graf\nana", strings.Repeat("g", 81), " Grafana", "Graf\u202eana"} {
		params := url.Values{
			"response_type": {"code"}, "redirect_uri": {pagesSite}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			GatewayAppNameParam: {bad},
		}
		if _, err := e.srv.PushGatewayRequest(context.Background(), params); err == nil {
			t.Errorf("the app name %q was accepted", bad)
		}
	}
	r := e.browser().get(signinAuthorizeURL(GatewayAppNameParam, "Your Bank"))
	if !isSignInPage(r) || strings.Contains(string(r.body), "Your Bank") {
		t.Errorf("a client's own app name counted: %s", r.body)
	}
	pushed := e.postForm("/par", url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {signinRedirect},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
		"scope": {"openid"}, GatewayAppNameParam: {"Your Bank"}}, "", "")
	if pushed.status != http.StatusCreated {
		t.Fatalf("PAR: %d %s", pushed.status, pushed.body)
	}
	uri := pushed.json(t)["request_uri"].(string)
	if r := e.browser().get("/authorize?" + url.Values{"client_id": {"app"}, "request_uri": {uri}}.Encode()); !isSignInPage(r) || strings.Contains(string(r.body), "Your Bank") {
		t.Errorf("a client's pushed app name counted: %s", r.body)
	}
}
