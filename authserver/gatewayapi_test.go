package authserver

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := password.Parse("$2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{Issuer: "https://auth.example", Store: st, Keys: km,
		Users: []*User{{Username: "alice", Password: h}, {Username: "bob", Password: h, Disabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGatewayPushedRedirects: the gateway client may push redirect URIs
// only to the configured hosts' callback paths, never to a host a request
// named.
func TestGatewayPushedRedirects(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	push := func(redirect string) error {
		_, err := s.PushGatewayRequest(ctx, url.Values{
			"response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"},
		})
		return err
	}
	if push("https://app.example/.authgate/callback") == nil {
		t.Fatal("a pushed redirect was accepted before the configuration named any host")
	}
	s.SetGatewayRedirects(func(u *url.URL) bool {
		return u.Hostname() == "app.example" && u.Path == "/.authgate/callback"
	})
	for redirect, ok := range map[string]bool{
		"https://app.example/.authgate/callback":      true,
		"https://evil.example/.authgate/callback":     false,
		"https://app.example/elsewhere":               false,
		"https://app.example/.authgate/callback?x=1":  false,
		"https://app.example/.authgate/callback#f":    false,
		"https://u@app.example/.authgate/callback":    false,
		"javascript://app.example/.authgate/callback": false,
		"//app.example/.authgate/callback":            false,
	} {
		if err := push(redirect); (err == nil) != ok {
			t.Errorf("push %q: %v", redirect, err)
		}
	}
}

// TestGatewaySessions: a gateway session is active until it is ended, or
// until the login session it came from ends.
func TestGatewaySessions(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	var ended []string
	s.SubscribeRevocations(func(_, sessions []string) { ended = append(ended, sessions...) })
	id, err := s.StartGatewaySession(ctx, "alice", "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.GatewaySessionActive(ctx, id); !ok || err != nil {
		t.Fatalf("a new session: %v %v", ok, err)
	}
	if err := s.EndGatewaySession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.GatewaySessionActive(ctx, id); ok {
		t.Error("an ended session is active")
	}
	if len(ended) != 1 || ended[0] != id {
		t.Errorf("subscribers heard of %v", ended)
	}
	if ok, _ := s.GatewaySessionActive(ctx, "no-such-session"); ok {
		t.Error("an unknown session is active")
	}
	// Sessions of one login session end with it.
	sid := loginSID("login-record")
	a, _ := s.StartGatewaySession(ctx, "alice", sid, time.Now().Add(time.Hour))
	b, _ := s.StartGatewaySession(ctx, "alice", loginSID("other-login"), time.Now().Add(time.Hour))
	if _, err := s.cfg.Store.RevokeFamily(ctx, gatewaySessionFamily(sid), time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.GatewaySessionActive(ctx, a); ok {
		t.Error("a gateway session outlived its login session")
	}
	if ok, _ := s.GatewaySessionActive(ctx, b); !ok {
		t.Error("another login session's gateway session ended")
	}
	// A user who can no longer sign in has no gateway session of this
	// server's; a session from another provider is not a user here.
	d, _ := s.StartGatewaySession(ctx, "bob", loginSID("bob-login"), time.Now().Add(time.Hour))
	if ok, _ := s.GatewaySessionActive(ctx, d); ok {
		t.Error("a disabled user's gateway session is active")
	}
	e, _ := s.StartGatewaySession(ctx, "someone-elsewhere", "", time.Now().Add(time.Hour))
	if ok, _ := s.GatewaySessionActive(ctx, e); !ok {
		t.Error("an external provider's session was checked against local users")
	}
	// An expired session is not active.
	c, _ := s.StartGatewaySession(ctx, "alice", "", time.Now().Add(-time.Second))
	if ok, _ := s.GatewaySessionActive(ctx, c); ok {
		t.Error("an expired session is active")
	}
}
