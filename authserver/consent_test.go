package authserver

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConsentPage: the consent page says who is signed in, which client
// asks and what each scope allows, and carries the pending request and a
// CSRF token; it forbids framing.
func TestConsentPage(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	r := b.signIn(b.get(signinAuthorizeURL("scope", "openid email offline_access read")), "alice", alicePassword)
	if !isPage(r, "Allow access?") {
		t.Fatalf("not the consent page: %d %s", r.status, r.body)
	}
	body := string(r.body)
	for _, want := range []string{"<strong>alice</strong>", `<span class="client">app</span>`, "Confirm who you are",
		"See your email address", "Stay connected when you are not using it", "<li>read</li>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the consent page lacks %q", want)
		}
	}
	if f := fields(r); f.Get("csrf_token") == "" || f.Get("request") == "" {
		t.Errorf("hidden fields = %v", f)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("consent page headers = %v", r.header)
	}
}

// TestConsentDecisions: deny sends access_denied (RFC 6749 §4.1.2.1) and
// is not remembered; approve sends a code, and with "remember" the
// consent covers later requests for the same or fewer scopes, for that
// user only; wider scopes and prompt=consent ask again.
func TestConsentDecisions(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	ask := func(scope string, params ...string) response {
		t.Helper()
		return b.get(signinAuthorizeURL(append([]string{"scope", scope}, params...)...))
	}
	r := b.signIn(ask("openid"), "alice", alicePassword)
	if q := e.callback(b.consent(r, "deny", false), signinRedirect); q.Get("error") != codeAccessDenied || q.Get("state") != "xyz" ||
		q.Get("error_description") == "" || q.Has("code") {
		t.Errorf("deny: %v", q)
	}
	if q := e.signinSilent(b); q.Get("error") != codeConsentRequired {
		t.Errorf("after a denial prompt=none gave %v; want consent_required", q)
	}
	if q := e.callback(b.consent(ask("openid"), "approve", false), signinRedirect); q.Get("code") == "" {
		t.Errorf("approve: %v", q)
	}
	if r := ask("openid"); !isPage(r, "Allow access?") {
		t.Errorf("an approval not remembered was remembered: %d", r.status)
	}
	if q := e.callback(b.consent(ask("openid profile"), "approve", true), signinRedirect); q.Get("code") == "" {
		t.Errorf("approve and remember: %v", q)
	}
	for _, tt := range []struct {
		name   string
		scope  string
		params []string
		asks   bool
	}{
		{"the same scopes", "openid profile", nil, false},
		{"fewer scopes", "profile", nil, false},
		{"a wider scope", "openid email", nil, true},
		{"prompt=consent", "openid", []string{"prompt", "consent"}, true},
	} {
		r := ask(tt.scope, tt.params...)
		if asked := isPage(r, "Allow access?"); asked != tt.asks {
			t.Errorf("%s: asked %v; want %v (%d)", tt.name, asked, tt.asks, r.status)
		} else if !asked {
			if q := e.callback(r, signinRedirect); q.Get("code") == "" {
				t.Errorf("%s: %v", tt.name, q)
			}
		}
	}
	// Approving the wider scope with remember adds to what is remembered.
	e.callback(b.consent(ask("openid email"), "approve", true), signinRedirect)
	if r := ask("openid profile email"); !strings.Contains(r.header.Get("Location"), "code=") {
		t.Errorf("the remembered consent did not grow: %d", r.status)
	}
	// Another user has not consented.
	c := e.browser()
	if r := c.signIn(c.get(signinAuthorizeURL()), "carol", alicePassword); !isPage(r, "Allow access?") {
		t.Errorf("alice's consent served carol: %d", r.status)
	}
}

// TestConsentBadDecision: a consent form with no decision, or another
// one, gets an error page and leaves the request open; a forged CSRF
// token gets 403.
func TestConsentBadDecision(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	r := b.signIn(b.get(signinAuthorizeURL()), "alice", alicePassword)
	for _, decision := range []string{"", "maybe"} {
		f := fields(r)
		f.Set("decision", decision)
		if why := signinIsErrorPage(b.post("/consent", f), http.StatusBadRequest); why != "" {
			t.Errorf("decision %q: %s", decision, why)
		}
	}
	f := fields(r)
	f.Set("decision", "approve")
	f.Set("csrf_token", "forged")
	if got := b.post("/consent", f); got.status != http.StatusForbidden {
		t.Errorf("a forged CSRF token: %d", got.status)
	}
	if q := e.callback(b.consent(r, "approve", false), signinRedirect); q.Get("code") == "" {
		t.Errorf("approving after the refusals: %v", q)
	}
}

// TestConsentSkip: a first-party client (SkipConsent) is never asked
// about, except with prompt=consent.
func TestConsentSkip(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	web := signinAuthorizeURL("client_id", "webapp", "redirect_uri", "https://webapp.example/cb", "scope", "openid profile read")
	if q := e.callback(b.get(web), "https://webapp.example/cb"); q.Get("code") == "" {
		t.Errorf("a first-party client: %v", q)
	}
	if r := b.get(web + "&prompt=consent"); !isPage(r, "Allow access?") {
		t.Errorf("a first-party client with prompt=consent: %d", r.status)
	}
}

// TestConsentLifetime: a remembered consent lasts ConsentLifetime on the
// clock.
func TestConsentLifetime(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.ConsentLifetime = time.Hour })
	b := e.signinSignedIn()
	e.clock.Advance(time.Hour - time.Second)
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("within the consent's lifetime: %v", q)
	}
	e.clock.Advance(time.Second)
	if q := e.signinSilent(b); q.Get("error") != codeConsentRequired {
		t.Errorf("after the consent's lifetime: %v; want consent_required", q)
	}
}

// TestConsentAfterSessionEnded: approving after the session ended (here
// idle) leads to the sign-in page for the same request, then consent
// again, then the code.
func TestConsentAfterSessionEnded(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.SessionIdleTimeout = 10 * time.Minute })
	b := e.browser()
	consent := b.signIn(b.get(signinAuthorizeURL()), "alice", alicePassword)
	e.clock.Advance(11 * time.Minute)
	r := b.consent(consent, "approve", true)
	if !isSignInPage(r) || fields(r).Get("request") != fields(consent).Get("request") {
		t.Fatalf("approving without a session: %d %s", r.status, r.body)
	}
	r = b.signIn(r, "alice", alicePassword)
	if q := e.callback(b.consent(r, "approve", false), signinRedirect); q.Get("code") == "" || q.Get("state") != "xyz" {
		t.Errorf("after signing in again: %v", q)
	}
}
