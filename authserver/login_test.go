package authserver

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoginPage: the sign-in page an authorization request leads to
// names the client, carries the pending request and a CSRF token tied to
// a cookie, and forbids framing and caching.
func TestLoginPage(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	r := b.get(signinAuthorizeURL())
	if !isSignInPage(r) || r.status != http.StatusOK {
		t.Fatalf("not the sign-in page: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("sign-in page headers = %v", r.header)
	}
	f := fields(r)
	if f.Get("csrf_token") == "" || f.Get("request") == "" {
		t.Errorf("hidden fields = %v; want csrf_token and request", f)
	}
	if !strings.Contains(string(r.body), `<span class="client">app</span>`) {
		t.Errorf("the page does not name the client: %s", r.body)
	}
	u, _ := url.Parse(e.issuer)
	if len(b.client.Jar.Cookies(u)) != 1 {
		t.Errorf("cookies after the sign-in page: %v; want the CSRF cookie", b.client.Jar.Cookies(u))
	}
	// The standalone page works as well.
	if r := b.get("/login"); !isSignInPage(r) || r.status != http.StatusOK || fields(r).Has("request") {
		t.Errorf("GET /login: %d %s", r.status, r.body)
	}
}

// TestLoginCSRF: a sign-in form without the browser's CSRF cookie, or
// with a token that does not match it, is refused with 403 and signs
// nobody in; the genuine form still works afterwards.
func TestLoginCSRF(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	login := b.get(signinAuthorizeURL())
	other := e.browser()
	otherToken := fields(other.get("/login")).Get("csrf_token")
	for _, tt := range []struct {
		name  string
		from  *browser
		token string // "-" to leave it out
	}{
		{"no CSRF cookie", e.browser(), ""},
		{"forged token", b, "forged"},
		{"no token", b, "-"},
		{"another browser's token", b, otherToken},
		{"the token with another browser's cookie", other, ""},
	} {
		f := fields(login)
		f.Set("username", "alice")
		f.Set("password", alicePassword)
		switch tt.token {
		case "":
		case "-":
			f.Del("csrf_token")
		default:
			f.Set("csrf_token", tt.token)
		}
		r := tt.from.post("/login", f)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "did not come from this site") {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	if r := b.signIn(login, "alice", alicePassword); !isPage(r, "Allow access?") {
		t.Errorf("the genuine form after the refusals: %d %s", r.status, r.body)
	}
}

// TestLoginWrongCredentials: a wrong password, a disabled user and an
// unknown user look the same (401, one message); the page keeps the
// pending request and the typed username, and then the right password
// continues the request.
func TestLoginWrongCredentials(t *testing.T) {
	e := signinEnv(t, nil)
	for _, tt := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "nope"},
		{"disabled user", "bob", alicePassword},
		{"unknown user", "nobody", alicePassword},
		{"empty password", "alice", ""},
		{"password of another user's case", "Alice", alicePassword},
	} {
		b := e.browser()
		login := b.get(signinAuthorizeURL())
		r := b.signIn(login, tt.user, tt.pass)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "Wrong username or password") || !isSignInPage(r) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
			continue
		}
		if fields(r).Get("request") != fields(login).Get("request") || !strings.Contains(string(r.body), `value="`+tt.user+`"`) {
			t.Errorf("%s: the page lost the request or the username: %s", tt.name, r.body)
		}
		if r := b.signIn(r, "alice", alicePassword); !isPage(r, "Allow access?") {
			t.Errorf("%s: then the right password: %d %s", tt.name, r.status, r.body)
		}
	}
}

// TestLoginRateLimit: after LoginAttempts failures within LoginWindow a
// username is blocked, with a clear message, even with the right
// password, until the window ends on the clock; other users are not; a
// success clears the count.
func TestLoginRateLimit(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.LoginAttempts, c.LoginWindow = 3, time.Minute })
	b := e.browser()
	login := b.get(signinAuthorizeURL())
	for _, who := range [][2]string{{"alice", "nope"}, {"bob", alicePassword}, {"alice", "nope"}, {"alice", "nope"}} {
		if r := b.signIn(login, who[0], who[1]); r.status != http.StatusUnauthorized {
			t.Fatalf("failure for %s: %d", who[0], r.status)
		}
	}
	r := b.signIn(login, "alice", alicePassword)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Too many failed sign-in attempts. Try again in") || !isSignInPage(r) {
		t.Fatalf("rate limit: %d %s", r.status, r.body)
	}
	if c := e.browser(); !isPage(c.signIn(c.get("/login"), "carol", alicePassword), "Signed in") {
		t.Error("another user is blocked by alice's failures")
	}
	e.clock.Advance(time.Minute)
	if r := b.signIn(login, "alice", alicePassword); !isPage(r, "Allow access?") {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
	// A success cleared the count: two more failures do not block.
	for range 2 {
		b.signIn(b.get("/login"), "alice", "nope")
	}
	if r := b.signIn(b.get("/login"), "alice", alicePassword); !isPage(r, "Signed in") {
		t.Errorf("after a success and two failures: %d", r.status)
	}
}

// TestLoginRateLimitPerAddress: failures with made-up usernames count
// against the client address (four times LoginAttempts), which then
// blocks everyone signing in from it.
func TestLoginRateLimitPerAddress(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.LoginAttempts = 1 })
	b := e.browser()
	for i := range 4 {
		if r := b.signIn(b.get("/login"), "nobody"+string(rune('a'+i)), "x"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	if r := b.signIn(b.get("/login"), "alice", alicePassword); r.status != http.StatusTooManyRequests {
		t.Errorf("after four failures from the address: %d", r.status)
	}
}

// TestLoginReturnTo: signing in without a pending request shows "Signed
// in", or returns to return_to if it is a path on this server; any
// other return_to is dropped, so the page cannot redirect elsewhere.
func TestLoginReturnTo(t *testing.T) {
	e := signinEnv(t, nil)
	for _, tt := range []struct{ name, returnTo, want string }{
		{"none", "", ""},
		{"local path", "/device?user_code=ABCD", "/device?user_code=ABCD"},
		{"absolute URL", "https://evil.example/", ""},
		{"scheme-relative", "//evil.example/", ""},
		{"backslash", "/\\evil.example/", ""},
		{"tab", "/\t/evil.example", ""},
		{"relative path", "device", ""},
	} {
		b := e.browser()
		page := b.get("/login?" + url.Values{"return_to": {tt.returnTo}}.Encode())
		if got := fields(page).Get("return_to"); got != tt.want {
			t.Errorf("%s: the page carries return_to %q", tt.name, got)
		}
		// Even a form that carries it is not followed.
		f := fields(page)
		f.Set("return_to", tt.returnTo)
		f.Set("username", "alice")
		f.Set("password", alicePassword)
		r := b.post("/login", f)
		switch {
		case tt.want != "" && (r.status != http.StatusSeeOther || r.header.Get("Location") != tt.want):
			t.Errorf("%s: %d to %q; want %s", tt.name, r.status, r.header.Get("Location"), tt.want)
		case tt.want == "" && !isPage(r, "Signed in"):
			t.Errorf("%s: %d %q; want the signed-in page", tt.name, r.status, r.header.Get("Location"))
		}
	}
}

// TestLoginBadForm: a sign-in form that is not form-encoded, or whose
// pending request expired on the clock or is unknown, gets an error page.
func TestLoginBadForm(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	login := b.get(signinAuthorizeURL())

	req, _ := http.NewRequest(http.MethodPost, e.url("/login"), strings.NewReader(fields(login).Encode()))
	req.Header.Set("Content-Type", "text/plain")
	if why := signinIsErrorPage(e.do(b.client, req), http.StatusBadRequest); why != "" {
		t.Errorf("a text/plain form: %s", why)
	}
	f := fields(login)
	f.Set("request", "nope")
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	if why := signinIsErrorPage(b.post("/login", f), http.StatusBadRequest); why != "" {
		t.Errorf("an unknown pending request: %s", why)
	}
	e.clock.Advance(pendingLifetime)
	r := b.signIn(login, "alice", alicePassword)
	if why := signinIsErrorPage(r, http.StatusBadRequest); why != "" || !strings.Contains(string(r.body), "expired") {
		t.Errorf("an expired pending request: %s %s", why, r.body)
	}
}

// TestLoginTemplateOverride: Config.TemplatesDir replaces the sign-in
// page, which keeps the page headers and still signs in; a broken
// override fails New, naming the file.
func TestLoginTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	page := `{{define "content"}}<p id="custom">Welcome to Example Corp</p><form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRFToken}}">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}<input name="username"><input type="password" name="password"></form>{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	e := signinEnv(t, func(c *Config) { c.TemplatesDir = dir })
	b := e.browser()
	r := b.get(signinAuthorizeURL())
	if !strings.Contains(string(r.body), "Welcome to Example Corp") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("override not used: %s", r.body)
	}
	if !isPage(b.signIn(r, "alice", alicePassword), "Allow access?") {
		t.Error("the overridden sign-in form does not sign in")
	}
	if err := os.WriteFile(filepath.Join(dir, "consent.html"), []byte(`{{define "content"}}{{.Nope`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e.srv.cfg
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "consent") {
		t.Errorf("a broken template loaded: %v", err)
	}
}
