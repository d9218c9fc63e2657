package caddymodule

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestSignInOptions: the Caddyfile options of the sign-in pages reach the
// server: templates replaces a page (and a broken override fails the
// config load, naming the file), login_limit blocks after its attempts,
// session_idle_timeout is the app's. What the options do is tested in
// package authserver.
func TestSignInOptions(t *testing.T) {
	dir := t.TempDir()
	page := `{{define "content"}}<p id="custom">Welcome to Example Corp</p><form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRFToken}}">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}<input name="username"><input type="password" name="password"></form>{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	options := signinClients + "\n\t\ttemplates " + dir + "\n\t\tlogin_limit 1 1m\n\t\tsession_idle_timeout 7m"
	tc := startCaddy(t, options)
	if got := time.Duration(activeApp(t).SessionIdleTimeout); got != 7*time.Minute {
		t.Errorf("session_idle_timeout = %s", got)
	}
	b := newBrowser(tc)
	r := b.get(tc.appConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !strings.Contains(string(r.body), "Welcome to Example Corp") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("templates: the override is not used: %s", r.body)
	}
	if got := b.signIn(r, "alice", "nope"); got.status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", got.status)
	}
	if got := b.signIn(r, "alice", alicePassword); got.status != http.StatusTooManyRequests {
		t.Errorf("login_limit 1: the second attempt got %d", got.status)
	}
	if err := os.WriteFile(filepath.Join(dir, "consent.html"), []byte(`{{define "content"}}{{.Nope`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := loadConfig(tc.adapt(options)); err == nil || !strings.Contains(err.Error(), "consent") {
		t.Errorf("a broken template loaded: %v", err)
	}
}
