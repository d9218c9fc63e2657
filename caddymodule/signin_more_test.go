package caddymodule

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestSessionLifecycle: a session survives a restart (its cookie keys
// live in the store), ends when idle, and a POST to /authorize works as a
// GET does.
func TestSessionLifecycle(t *testing.T) {
	tc := startCaddy(t, signinClients)
	cfg := tc.appConfig("openid")
	b := newBrowser(tc)
	b.codeFlow(cfg)
	silent := func() url.Values {
		t.Helper()
		return callback(t, tc, b.get(cfg.AuthCodeURL("p", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("prompt", "none"))), cfg.RedirectURL)
	}
	if q := silent(); q.Get("code") == "" {
		t.Fatalf("prompt=none with a session: %v", q)
	}
	tc.restart()
	if q := silent(); q.Get("code") == "" {
		t.Fatalf("the session did not survive a restart: %v", q)
	}

	// POST /authorize (form-encoded) works like GET.
	u, _ := url.Parse(cfg.AuthCodeURL("post", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/authorize", strings.NewReader(u.RawQuery))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if q := callback(t, tc, b.do(req), cfg.RedirectURL); q.Get("code") == "" || q.Get("state") != "post" {
		t.Errorf("POST /authorize: %v", q)
	}

	// An idle session ends: age its last use past the idle timeout.
	tc.reload(signinClients + "\n\t\tsession_idle_timeout 1s")
	// Wait out the idle timeout (1s) plus the one-second resolution.
	sleepSeconds(2)
	if q := silent(); q.Get("error") != "login_required" {
		t.Errorf("an idle session still signs in: %v", q)
	}
}

// TestMaxAgeWithConsent: with max_age=0, signing in and then taking time
// on the consent page still ends with a code (the sign-in was for this
// request), and an /authorize query over 16 KiB gets an error page.
func TestMaxAgeWithConsent(t *testing.T) {
	tc := startCaddy(t, signinClients)
	cfg := tc.appConfig("openid", "email")
	b := newBrowser(tc)
	r := b.signIn(b.get(cfg.AuthCodeURL("m", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "0"))), "alice", alicePassword)
	sleepSeconds(2)
	if q := callback(t, tc, b.consent(r, "approve", false), cfg.RedirectURL); q.Get("code") == "" {
		t.Errorf("max_age=0 then consent: %v", q)
	}
	long := cfg.AuthCodeURL("m", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", strings.Repeat("n", 17<<10)))
	if r := b.get(long); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Errorf("an oversized authorization request: %d", r.status)
	}
	if r := b.get(cfg.AuthCodeURL("m", oauth2.SetAuthURLParam("scope", "openid"), oauth2.SetAuthURLParam("redirect_uri", ""))); r.status != http.StatusBadRequest {
		t.Errorf("an OpenID request without redirect_uri: %d", r.status)
	}
}

// TestRevokeRefreshRevokesFamily: revoking a refresh token at /revoke
// revokes the access tokens issued with it (RFC 7009 §2.1).
func TestRevokeRefreshRevokesFamily(t *testing.T) {
	tc := startCaddy(t, signinClients)
	cfg := tc.appConfig("openid", "offline_access")
	code, verifier := newBrowser(tc).codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	in := tc.introspect(tok.RefreshToken)
	if in["active"] != true || in["client_id"] != "app" || in["sub"] != "alice" || in["scope"] != "openid offline_access" {
		t.Errorf("refresh token introspection = %v", in)
	}
	r := tc.postForm("/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {"app"}}, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if tc.active(tok.AccessToken) || tc.active(tok.RefreshToken) {
		t.Error("the family survived revoking its refresh token")
	}
	if got := refresh(t, tc, "app", tok.RefreshToken, ""); got["error"] != "invalid_grant" {
		t.Errorf("refresh with a revoked token: %v", got)
	}
}

// TestTemplateOverride replaces the sign-in page from a directory.
func TestTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	page := `{{define "content"}}<p id="custom">Welcome to Example Corp</p><form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRFToken}}">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}<input name="username"><input type="password" name="password"></form>{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := startCaddy(t, signinClients+"\n\t\ttemplates "+dir)
	b := newBrowser(tc)
	r := b.get(tc.appConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !strings.Contains(string(r.body), "Welcome to Example Corp") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("override not used: %s", r.body)
	}
	if !isPage(b.signIn(r, "alice", alicePassword), "Allow access?") {
		t.Error("the overridden sign-in form does not sign in")
	}
	// A broken override fails the config, with the file named.
	if err := os.WriteFile(filepath.Join(dir, "consent.html"), []byte(`{{define "content"}}{{.Nope`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgJSON := tc.adapt(signinClients + "\n\t\ttemplates " + dir)
	if err := loadConfig(cfgJSON); err == nil || !strings.Contains(err.Error(), "consent") {
		t.Errorf("a broken template loaded: %v", err)
	}
}
