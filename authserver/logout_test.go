package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// signinLogoutURL is /logout with the given parameters, pairs of a name
// and a value.
func signinLogoutURL(params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return "/logout?" + q.Encode()
}

// signinIDTokenAs signs user in with b for app (openid), approving
// consent, and returns the ID token.
func (e *testEnv) signinIDTokenAs(b *browser, user string) string {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	r := b.get(signinURL(signinParams(verifier)))
	if isSignInPage(r) {
		r = b.signIn(r, user, alicePassword)
	}
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := e.callback(r, signinRedirect)
	resp := e.signinToken(signinRedeemForm(q.Get("code"), verifier))
	if resp.status != http.StatusOK {
		e.t.Fatalf("redeeming %s's code: %d %s", user, resp.status, resp.body)
	}
	return resp.json(e.t)["id_token"].(string)
}

// TestLogoutWithHint: RP-initiated logout with an id_token_hint of the
// signed-in user signs out at once, even with the hint expired, and
// returns to the registered post_logout_redirect_uri with state and iss;
// prompt=none then needs a sign-in.
func TestLogoutWithHint(t *testing.T) {
	for _, tt := range []struct {
		name    string
		advance time.Duration
		params  []string
	}{
		{"fresh hint", 0, []string{"post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s1"}},
		{"expired hint", 2 * time.Hour, []string{"post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s1"}},
		{"matching client_id", 0, []string{"client_id", "app", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s1"}},
		{"no redirect", 0, nil},
	} {
		e := signinEnv(t, func(c *Config) { c.SessionLifetime, c.SessionIdleTimeout = 48*time.Hour, 48*time.Hour })
		b := e.browser()
		hint := e.signinIDTokenAs(b, "alice")
		e.clock.Advance(tt.advance)
		r := b.get(signinLogoutURL(append([]string{"id_token_hint", hint}, tt.params...)...))
		if tt.params == nil {
			if !isPage(r, "Signed out") {
				t.Errorf("%s: %d %s", tt.name, r.status, r.body)
			}
		} else if q := e.callback(r, "http://127.0.0.1:9999/bye"); q.Get("state") != "s1" {
			t.Errorf("%s: logout returned %v", tt.name, q)
		}
		if q := e.signinSilent(b); q.Get("error") != codeLoginRequired || q.Get("state") != "xyz" {
			t.Errorf("%s: after logout prompt=none gave %v", tt.name, q)
		}
	}
}

// TestLogoutErrors: a logout request naming a redirect that is not
// registered for the client, a hint this server did not issue (or too
// old to vouch), a client_id that disagrees with the hint, an unknown
// client, or repeated parameters gets an error page and signs nobody
// out.
func TestLogoutErrors(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	hint := e.signinIDTokenAs(b, "alice")
	access := e.signedIn("openid").AccessToken
	for _, tt := range []struct {
		name string
		url  string
	}{
		{"unregistered redirect", signinLogoutURL("id_token_hint", hint, "post_logout_redirect_uri", "https://evil.example/")},
		{"login redirect as logout redirect", signinLogoutURL("id_token_hint", hint, "post_logout_redirect_uri", signinRedirect)},
		{"redirect without a client", signinLogoutURL("post_logout_redirect_uri", "http://127.0.0.1:9999/bye")},
		{"redirect of another client", signinLogoutURL("client_id", "webapp", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye")},
		{"garbage hint", signinLogoutURL("id_token_hint", "not.a.jwt")},
		{"access token as hint", signinLogoutURL("id_token_hint", access)},
		{"tampered hint", signinLogoutURL("id_token_hint", hint[:len(hint)-4]+"AAAA")},
		{"client_id differs from the hint", signinLogoutURL("id_token_hint", hint, "client_id", "webapp")},
		{"unknown client", signinLogoutURL("client_id", "nobody")},
		{"repeated parameter", signinLogoutURL("state", "a") + "&state=b"},
		{"malformed query", "/logout?state=%zz"},
	} {
		if why := signinIsErrorPage(b.get(tt.url), http.StatusBadRequest); why != "" {
			t.Errorf("%s: %s", tt.name, why)
		}
	}
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("a refused logout signed the user out: %v", q)
	}
	// A hint that expired more than 30 days ago vouches for nothing.
	e.clock.Advance(31*24*time.Hour + time.Hour)
	if why := signinIsErrorPage(b.get(signinLogoutURL("id_token_hint", hint)), http.StatusBadRequest); why != "" {
		t.Errorf("a hint 31 days past its expiry: %s", why)
	}
}

// TestLogoutConfirm: without a hint of the signed-in user the logout
// page asks first, keeping the request's parameters; "Sign out" (with
// CSRF) signs out and returns to the client, "Stay signed in" does not,
// and a forged form is refused.
func TestLogoutConfirm(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	e.signinIDTokenAs(b, "alice")

	for _, tt := range []struct {
		name   string
		params []string
		hidden url.Values
	}{
		{"no parameters", nil, url.Values{}},
		{"client and redirect", []string{"client_id", "app", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s2"},
			url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/bye"}, "state": {"s2"}}},
	} {
		r := b.get(signinLogoutURL(tt.params...))
		if !isPage(r, "Sign out?") || !strings.Contains(string(r.body), "<strong>alice</strong>") {
			t.Fatalf("%s: %d %s", tt.name, r.status, r.body)
		}
		f := fields(r)
		if f.Get("csrf_token") == "" {
			t.Errorf("%s: no CSRF token", tt.name)
		}
		f.Del("csrf_token")
		if f.Encode() != tt.hidden.Encode() {
			t.Errorf("%s: hidden fields %v; want %v", tt.name, f, tt.hidden)
		}
	}
	page := b.get(signinLogoutURL("client_id", "app", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s2"))
	stay := fields(page)
	stay.Set("decision", "stay")
	if r := b.post("/logout", stay); !isPage(r, "Still signed in") {
		t.Errorf("stay: %d %s", r.status, r.body)
	}
	forged := fields(page)
	forged.Set("decision", "logout")
	forged.Set("csrf_token", "forged")
	if r := b.post("/logout", forged); r.status != http.StatusForbidden {
		t.Errorf("a forged logout form: %d", r.status)
	}
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Fatalf("stay or a forged form signed the user out: %v", q)
	}
	out := fields(page)
	out.Set("decision", "logout")
	if q := e.callback(b.post("/logout", out), "http://127.0.0.1:9999/bye"); q.Get("state") != "s2" {
		t.Errorf("sign out: %v", q)
	}
	if q := e.signinSilent(b); q.Get("error") != codeLoginRequired {
		t.Errorf("after signing out: %v", q)
	}
}

// TestLogoutOtherUsersHint: a hint of another user than the signed-in
// one does not sign out at once: the page asks, for the hint's client.
func TestLogoutOtherUsersHint(t *testing.T) {
	e := signinEnv(t, nil)
	carol := e.signinIDTokenAs(e.browser(), "carol")
	b := e.browser()
	e.signinIDTokenAs(b, "alice")
	r := b.get(signinLogoutURL("id_token_hint", carol, "post_logout_redirect_uri", "http://127.0.0.1:9999/bye"))
	if !isPage(r, "Sign out?") || fields(r).Get("client_id") != "app" || !strings.Contains(string(r.body), "<strong>alice</strong>") {
		t.Errorf("carol's hint in alice's browser: %d %s", r.status, r.body)
	}
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("another user's hint signed alice out: %v", q)
	}
}

// TestLogoutWithoutSession: with nobody signed in, logout says so, or
// returns to a registered redirect with state.
func TestLogoutWithoutSession(t *testing.T) {
	e := signinEnv(t, nil)
	hint := e.signinIDTokenAs(e.browser(), "alice")
	b := e.browser()
	for _, tt := range []struct {
		name     string
		url      string
		redirect bool
	}{
		{"no parameters", "/logout", false},
		{"client_id and redirect", signinLogoutURL("client_id", "app", "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s3"), true},
		{"hint and redirect", signinLogoutURL("id_token_hint", hint, "post_logout_redirect_uri", "http://127.0.0.1:9999/bye", "state", "s3"), true},
	} {
		r := b.get(tt.url)
		if tt.redirect {
			if q := e.callback(r, "http://127.0.0.1:9999/bye"); q.Get("state") != "s3" {
				t.Errorf("%s: %v", tt.name, q)
			}
		} else if !isPage(r, "Signed out") {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
}

// TestLogoutPostFromRP: an RP may send the logout request as a form POST
// (OIDC RP-Initiated Logout 1.0 §2: the OP MUST support GET and POST);
// such a POST carries no CSRF token of this server's pages, nor (the
// session cookie being SameSite=Lax) the session cookie when cross-site,
// so it continues as the same request by GET, which does.
func TestLogoutPostFromRP(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	hint := e.signinIDTokenAs(b, "alice")
	r := b.post("/logout", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/bye"}, "state": {"s4"}})
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/logout?") {
		t.Fatalf("an RP's logout POST: %d %q %s; want 303 to the GET", r.status, loc, r.body)
	}
	r = b.get(loc)
	if q := e.callback(r, "http://127.0.0.1:9999/bye"); q.Get("state") != "s4" {
		t.Errorf("logout POST returned %v", q)
	}
	if q := e.signinSilent(b); q.Get("error") != codeLoginRequired {
		t.Errorf("after the logout POST: %v", q)
	}
}
