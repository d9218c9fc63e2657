package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// carolStorePassword is the password of the stored users the tests add.
const carolStorePassword = "correct horse battery"

// usersSignIn signs username in with pw through the harness browser,
// running app's code flow for openid and offline_access (approving
// consent), and returns the browser, with its live session, and the
// tokens.
func (e *testEnv) usersSignIn(username, pw string) (*browser, *oauth2.Token) {
	e.t.Helper()
	cfg := e.appConfig("openid", "offline_access")
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	r := b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	r = b.signIn(r, username, pw)
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := e.callback(r, cfg.RedirectURL)
	tok, err := exchange(e.t, cfg, q.Get("code"), verifier)
	if err != nil || tok.RefreshToken == "" {
		e.t.Fatalf("%s signing in: %v %+v", username, err, tok)
	}
	return b, tok
}

// usersSignInFails reports whether username cannot sign in with pw.
func (e *testEnv) usersSignInFails(username, pw string) bool {
	e.t.Helper()
	b := e.browser()
	r := b.signIn(b.get(signinAuthorizeURL()), username, pw)
	return r.status == http.StatusUnauthorized && isSignInPage(r)
}

// jti returns the jti claim of a JWT, unverified.
func jti(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		ID string `json:"jti"`
	}
	if err != nil || json.Unmarshal(payload, &c) != nil || c.ID == "" {
		t.Fatalf("no jti in %q", jwt)
	}
	return c.ID
}

// revocationLog collects what the revocation feed announces, as a
// gateway's subscription does.
type revocationLog struct {
	mu       sync.Mutex
	jtis     []string
	sessions []string
}

func (l *revocationLog) subscribe(s *Server) {
	s.SubscribeRevocations(func(jtis, sessions []string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.jtis = append(l.jtis, jtis...)
		l.sessions = append(l.sessions, sessions...)
	})
}

func (l *revocationLog) heard(jti string, sessions ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.jtis, jti) {
		return false
	}
	for _, s := range sessions {
		if !slices.Contains(l.sessions, s) {
			return false
		}
	}
	return true
}

// TestUsersEndSignIns: disabling, deleting or changing the password of a
// stored user ends what the user was signed in with, at once and without
// a poll: the browser's session (prompt=none is login_required), the
// refresh token (invalid_grant), the access token (inactive), and the
// gateway sessions of the user, both the ones signed in through that
// login session and the others; the revocation feed announces the access
// token and the gateway sessions to subscribers (the gateways), so
// caches drop them. Enabling the user again brings none of it back.
func TestUsersEndSignIns(t *testing.T) {
	for _, tt := range []struct {
		name   string
		act    func(ctx context.Context, s *Server) error
		signIn string // the password that signs in afterwards, if any
	}{
		{"disable ends a live session", func(ctx context.Context, s *Server) error {
			return s.SetUserDisabled(ctx, "carol s", true)
		}, ""},
		{"disable and enable again", func(ctx context.Context, s *Server) error {
			if err := s.SetUserDisabled(ctx, "carol s", true); err != nil {
				return err
			}
			return s.SetUserDisabled(ctx, "carol s", false)
		}, carolStorePassword},
		{"delete", func(ctx context.Context, s *Server) error {
			return s.DeleteUser(ctx, "carol s")
		}, ""},
		{"password change", func(ctx context.Context, s *Server) error {
			return s.SetUserPassword(ctx, "carol s", "a new password")
		}, "a new password"},
		{"disable through UpdateUser", func(ctx context.Context, s *Server) error {
			yes := true
			_, err := s.UpdateUser(ctx, "carol s", UserChanges{Disabled: &yes})
			return err
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := signinEnv(t, nil)
			ctx := context.Background()
			var feed revocationLog
			feed.subscribe(e.srv)
			if _, err := e.srv.AddUser(ctx, NewUser{Username: "carol s", Password: carolStorePassword}); err != nil {
				t.Fatal(err)
			}
			b, tok := e.usersSignIn("carol s", carolStorePassword)
			if q := e.signinSilent(b); q.Get("code") == "" {
				t.Fatalf("no live session before: %v", q)
			}
			// The gateway sessions of the user: one signed in through
			// the login session (its sid), one on its own.
			sess, _ := e.srv.currentSession(reqWithCookies(t, e, b))
			if sess == nil {
				t.Fatal("no session record")
			}
			gwLogin, err := e.srv.StartGatewaySession(ctx, "carol s", loginSID(sess.id), e.clock.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			gwOther, err := e.srv.StartGatewaySession(ctx, "carol s", "", e.clock.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			_, alice := e.usersSignIn("alice", alicePassword)

			if err := tt.act(ctx, e.srv); err != nil {
				t.Fatal(err)
			}

			if q := e.signinSilent(b); q.Get("error") != codeLoginRequired {
				t.Errorf("prompt=none after: %v; want login_required (the session ended)", q)
			}
			if r := e.signinRefresh("app", tok.RefreshToken, ""); r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
				t.Errorf("the refresh token after: %d %s; want invalid_grant", r.status, r.body)
			}
			if e.signinActive(tok.AccessToken) {
				t.Error("the access token introspects active after")
			}
			for _, id := range []string{gwLogin, gwOther} {
				if ok, err := e.srv.GatewaySessionActive(ctx, id); ok || err != nil {
					t.Errorf("a gateway session of the user is active after: %v %v", ok, err)
				}
			}
			if !feed.heard(jti(t, tok.AccessToken), gwLogin, gwOther) {
				t.Errorf("the feed announced jtis %v and gateway sessions %v; want the access token and both sessions at once", feed.jtis, feed.sessions)
			}
			if slices.Contains(feed.jtis, jti(t, alice.AccessToken)) {
				t.Error("another user's token was revoked")
			}
			if in := e.signinIntrospect(alice.AccessToken); in["active"] != true {
				t.Errorf("another user's access token: %v", in)
			}
			if tt.signIn == "" {
				if !e.usersSignInFails("carol s", carolStorePassword) {
					t.Error("the user can still sign in")
				}
				return
			}
			if tt.signIn != carolStorePassword && !e.usersSignInFails("carol s", carolStorePassword) {
				t.Error("the old password still signs in")
			}
			_, again := e.usersSignIn("carol s", tt.signIn)
			if !e.signinActive(again.AccessToken) {
				t.Error("a new sign-in after the change is not active")
			}
			if e.signinActive(tok.AccessToken) || e.signinActive(tok.RefreshToken) {
				t.Error("the old tokens came back")
			}
			if ok, _ := e.srv.GatewaySessionActive(ctx, gwOther); ok {
				t.Error("an old gateway session came back")
			}
		})
	}
}

// reqWithCookies is a request carrying the browser's cookies for the
// issuer, to find its session record.
func reqWithCookies(t *testing.T, e *testEnv, b *browser) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.issuer+"/authorize", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	return req
}

// TestUsersAddRefused: AddUser refuses a bad username, a taken one, a
// weak password and a bad profile, each with its typed error, and stores
// nothing then.
func TestUsersAddRefused(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "dave", Password: "dave's password"}); err != nil {
		t.Fatal(err)
	}
	const pw = "long enough"
	for _, tt := range []struct {
		name string
		user NewUser
		want error
	}{
		{"empty username", NewUser{Username: "", Password: pw}, ErrInvalidUser},
		{"colon", NewUser{Username: "a:b", Password: pw}, ErrInvalidUser},
		{"surrounding space", NewUser{Username: " eve", Password: pw}, ErrInvalidUser},
		{"control character", NewUser{Username: "e\nve", Password: pw}, ErrInvalidUser},
		{"a configured user's name", NewUser{Username: "alice", Password: pw}, ErrUserExists},
		{"taken", NewUser{Username: "dave", Password: pw}, ErrUserExists},
		{"short password", NewUser{Username: "eve", Password: "1234567"}, ErrWeakPassword},
		{"short in characters, long in bytes", NewUser{Username: "eve", Password: "ééééééé"}, ErrWeakPassword},
		{"huge password", NewUser{Username: "eve", Password: strings.Repeat("x", MaxPasswordLength+1)}, ErrWeakPassword},
		{"control character in the password", NewUser{Username: "eve", Password: "long\tenough"}, ErrWeakPassword},
		{"email with a display name", NewUser{Username: "eve", Password: pw, Email: "Eve <eve@example.com>"}, ErrInvalidUser},
		{"not an email", NewUser{Username: "eve", Password: pw, Email: "eve"}, ErrInvalidUser},
		{"control character in the name", NewUser{Username: "eve", Password: pw, Name: "Eve\x00"}, ErrInvalidUser},
		{"group with a space", NewUser{Username: "eve", Password: pw, Groups: []string{"a b"}}, ErrInvalidUser},
		{"group with a comma", NewUser{Username: "eve", Password: pw, Groups: []string{"a,b"}}, ErrInvalidUser},
		{"empty group", NewUser{Username: "eve", Password: pw, Groups: []string{""}}, ErrInvalidUser},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.srv.AddUser(ctx, tt.user)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v; want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.user.Password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := e.srv.GetUser(ctx, "eve"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("a refused user was stored: %v", err)
	}
}

// TestUsersManage: what changing, disabling and deleting accept and
// refuse, with the typed errors: configured users are read-only, unknown
// ones not found, and federated ones have no password or profile of
// their own here but can be disabled, enabled and deleted.
func TestUsersManage(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.store.CreateUser(ctx, store.UserRecord{ID: "fed:x1", Username: "github:octocat", Provider: "github", ProviderSubject: "1",
		Email: "octo@example.com", EmailVerified: true, Groups: []string{"devs"}, CreatedAt: now, UpdatedAt: now, LastLogin: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "dave", Password: "dave's password", Email: "dave@example.com", Name: "Dave",
		Groups: []string{"ops", "ops", "dev"}}); err != nil {
		t.Fatal(err)
	}
	// A gateway session of the federated user, which disabling ends.
	fedSession, err := e.srv.StartGatewaySession(ctx, "fed:x1", "", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	update := func(username string, ch UserChanges) func() error {
		return func() error { _, err := e.srv.UpdateUser(ctx, username, ch); return err }
	}
	no := false
	for _, tt := range []struct {
		name string
		call func() error
		want error
	}{
		{"get: unknown", func() error { _, err := e.srv.GetUser(ctx, "nobody"); return err }, ErrUserNotFound},
		{"passwd: configured", func() error { return e.srv.SetUserPassword(ctx, "alice", "long enough") }, ErrUserReadOnly},
		{"passwd: unknown", func() error { return e.srv.SetUserPassword(ctx, "nobody", "long enough") }, ErrUserNotFound},
		{"passwd: weak", func() error { return e.srv.SetUserPassword(ctx, "dave", "short") }, ErrWeakPassword},
		{"passwd: federated", func() error { return e.srv.SetUserPassword(ctx, "github:octocat", "long enough") }, ErrUserFederated},
		{"disable: configured", func() error { return e.srv.SetUserDisabled(ctx, "alice", true) }, ErrUserReadOnly},
		{"disable: unknown", func() error { return e.srv.SetUserDisabled(ctx, "nobody", true) }, ErrUserNotFound},
		{"delete: configured", func() error { return e.srv.DeleteUser(ctx, "bob") }, ErrUserReadOnly},
		{"delete: unknown", func() error { return e.srv.DeleteUser(ctx, "nobody") }, ErrUserNotFound},
		{"update: a federated user's email", update("github:octocat", UserChanges{Email: str("x@example.com")}), ErrUserFederated},
		{"update: bad email", update("dave", UserChanges{Email: str("not an address")}), ErrInvalidUser},
		{"update: configured", update("alice", UserChanges{Name: str("A")}), ErrUserReadOnly},
		{"disable a federated user", func() error { return e.srv.SetUserDisabled(ctx, "github:octocat", true) }, nil},
		{"enable a federated user", func() error { return e.srv.SetUserDisabled(ctx, "github:octocat", false) }, nil},
		{"update a local user's profile", update("dave", UserChanges{Email: str(""), Name: str("David"), Groups: &[]string{"x"}, Disabled: &no}), nil},
		{"disable", func() error { return e.srv.SetUserDisabled(ctx, "dave", true) }, nil},
		{"disable again", func() error { return e.srv.SetUserDisabled(ctx, "dave", true) }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error %v; want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "long enough") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	dave, err := e.srv.GetUser(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	if dave.Name != "David" || dave.Email != "" || !slices.Equal(dave.Groups, []string{"x"}) || !dave.Disabled || dave.ReadOnly ||
		dave.Source != UserSourceStore || !dave.HasPassword || dave.ID != "dave" {
		t.Errorf("dave = %+v", dave)
	}
	if ok, _ := e.srv.GatewaySessionActive(ctx, fedSession); ok {
		t.Error("disabling a federated user left its gateway session active")
	}
	octo, err := e.srv.GetUser(ctx, "github:octocat")
	if err != nil || octo.Source != UserSourceProvider || octo.Provider != "github" || octo.HasPassword || octo.Disabled || octo.Email != "octo@example.com" {
		t.Errorf("the federated user = %+v, %v", octo, err)
	}
	if err := e.srv.DeleteUser(ctx, "github:octocat"); err != nil {
		t.Errorf("deleting a federated user: %v", err)
	}
	if _, err := e.srv.GetUser(ctx, "github:octocat"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("a deleted user: %v", err)
	}
}

// TestUsersList: the list has the configured users (read-only) and the
// stored ones, ordered by username, and never a password hash.
func TestUsersList(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "Zoë", Password: carolStorePassword, Groups: []string{"g"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "bart", Password: carolStorePassword, Email: "bart@example.com"}); err != nil {
		t.Fatal(err)
	}
	users, err := e.srv.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
		want := UserSourceStore
		if u.Username == "alice" || u.Username == "bob" || u.Username == "carol" {
			want = UserSourceConfig
		}
		if u.Source != want || u.ReadOnly != (want == UserSourceConfig) || !u.HasPassword || u.Groups == nil {
			t.Errorf("%s: %+v", u.Username, u)
		}
	}
	if want := []string{"Zoë", "alice", "bart", "bob", "carol"}; !slices.Equal(names, want) {
		t.Errorf("users %v; want %v", names, want)
	}
	b, _ := json.Marshal(users)
	if strings.Contains(string(b), "$argon2id$") || strings.Contains(string(b), "$2a$") {
		t.Errorf("the list shows password hashes: %s", b)
	}
	rec, err := e.store.GetUserByUsername(ctx, "bart")
	if err != nil || !strings.HasPrefix(rec.PasswordHash, "$argon2id$") || !rec.EmailVerified {
		t.Errorf("stored: %+v %v; want an argon2id hash", rec, err)
	}
}

// TestUsersAddedSignIn: a user added at runtime signs in at once with the
// password, gets its profile in the ID token, and a name someone used
// before starts with none of what they left.
func TestUsersAddedSignIn(t *testing.T) {
	e := signinEnv(t, nil)
	ctx := context.Background()
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "ünï cødé", Password: carolStorePassword, Email: "u@example.com", Name: "U"}); err != nil {
		t.Fatal(err)
	}
	_, tok := e.usersSignIn("ünï cødé", carolStorePassword)
	if id := e.verifyIDToken(tok.Extra("id_token").(string), "app"); id.Subject != "ünï cødé" {
		t.Errorf("sub = %q; want the username", id.Subject)
	}
	// Delete and add again: the refresh token of the first does not
	// work for the second.
	if err := e.srv.DeleteUser(ctx, "ünï cødé"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "ünï cødé", Password: carolStorePassword}); err != nil {
		t.Fatal(err)
	}
	if r := e.signinRefresh("app", tok.RefreshToken, ""); r.status != http.StatusBadRequest {
		t.Errorf("the earlier user's refresh token: %d %s", r.status, r.body)
	}
	// A stale token of a name left in the store (a removed configured
	// user's, say) is revoked when the name is taken again.
	now := e.clock.Now()
	if err := e.store.CreateToken(ctx, store.Token{Kind: store.GatewaySession, ID: "left-behind", ClientID: GatewayClientID,
		Subject: "frank", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "frank", Password: carolStorePassword}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.srv.GatewaySessionActive(ctx, "left-behind"); ok {
		t.Error("a new user inherited a gateway session of its name")
	}
}
