package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestSessionCookie: signing in sets an HttpOnly, SameSite=Lax session
// cookie for the whole host, lasting SessionLifetime (plain names on an
// http issuer; cookies_test.go covers https).
func TestSessionCookie(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	r := b.signIn(b.get("/login"), "alice", alicePassword)
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "authgate_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie: %v", r.header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure ||
		session.MaxAge != int((24*time.Hour).Seconds()) {
		t.Errorf("session cookie = %+v", session)
	}
}

// TestSessionIdleTimeout: a session used within SessionIdleTimeout stays
// valid however long it lives; one left idle longer ends (measured on the
// test clock).
func TestSessionIdleTimeout(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.SessionIdleTimeout = 10 * time.Minute })
	b := e.signinSignedIn()
	for _, tt := range []struct {
		idle time.Duration
		want string // "code" or an error
	}{
		{9 * time.Minute, "code"},
		{9*time.Minute + 59*time.Second, "code"},
		{9 * time.Minute, "code"}, // 28 minutes after signing in
		{10*time.Minute + time.Second, codeLoginRequired},
	} {
		e.clock.Advance(tt.idle)
		q := e.signinSilent(b)
		if got := q.Get("error"); (tt.want == "code" && q.Get("code") == "") || (tt.want != "code" && got != tt.want) {
			t.Errorf("after %s idle: %v; want %s", tt.idle, q, tt.want)
		}
	}
}

// TestSessionLifetime: a session ends SessionLifetime after sign-in on the
// clock, however busy.
func TestSessionLifetime(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.SessionLifetime = time.Hour })
	b := e.signinSignedIn()
	for _, tt := range []struct {
		advance time.Duration
		active  bool
	}{
		{30 * time.Minute, true},
		{29*time.Minute + 59*time.Second, true},
		{time.Second, false},
	} {
		e.clock.Advance(tt.advance)
		q := e.signinSilent(b)
		if active := q.Get("code") != ""; active != tt.active || (!active && q.Get("error") != codeLoginRequired) {
			t.Errorf("after another %s: %v; want active %v", tt.advance, q, tt.active)
		}
	}
}

// TestSessionRestart: a session survives a restart, since its cookie
// keys live in the store; it ends when its user is disabled.
func TestSessionRestart(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	for _, tt := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"same configuration", nil, ""},
		{"alice disabled", func(c *Config) { c.Users = signinDisabled(t) }, codeLoginRequired},
	} {
		rb := e.signinRestart(tt.change).browser(b)
		q := e.signinSilent(rb)
		if q.Get("error") != tt.want || (tt.want == "" && q.Get("code") == "") {
			t.Errorf("%s: %v", tt.name, q)
		}
	}
}

// TestSessionReplaced: signing in again ends the browser's previous
// session, so its old cookie no longer signs anyone in; a tampered
// cookie is no session at all.
func TestSessionReplaced(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	old := e.signinCopyBrowser(b)
	e.clock.Advance(time.Second)
	r := b.get(signinAuthorizeURL("prompt", "login"))
	if q := e.callback(b.signIn(r, "alice", alicePassword), signinRedirect); q.Get("code") == "" {
		t.Fatalf("signing in again: %v", q)
	}
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("the new session: %v", q)
	}
	if q := e.signinSilent(old); q.Get("error") != codeLoginRequired {
		t.Errorf("the replaced session: %v", q)
	}

	u, _ := url.Parse(e.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "authgate_session" {
			flipped := "A"
			if c.Value[:1] == "A" {
				flipped = "B"
			}
			c.Value = flipped + c.Value[1:]
			c.Path = "/"
			b.client.Jar.SetCookies(u, []*http.Cookie{c})
		}
	}
	if q := e.signinSilent(b); q.Get("error") != codeLoginRequired {
		t.Errorf("a tampered session cookie: %v", q)
	}
}
