package caddymodule

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
)

// Users managed at runtime, through real Caddy: the admin API's
// /authgate/users and the `caddy authgate user` commands.

// usersPassword is the password of the users the tests add.
const usersPassword = "a long pass phrase"

// adminJSON sends a request to tc's admin API with body as JSON (nil for
// none).
func (tc *testCaddy) adminJSON(method, path string, body any) response {
	tc.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tc.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+tc.admin+path, r)
	if err != nil {
		tc.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(tc.t, req)
}

// adminRaw sends a raw body to tc's admin API.
func (tc *testCaddy) adminRaw(method, path, body string) response {
	tc.t.Helper()
	req, err := http.NewRequest(method, "http://"+tc.admin+path, strings.NewReader(body))
	if err != nil {
		tc.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(tc.t, req)
}

// TestAdminAPIUsers: the users endpoints add, show, change, list and
// delete users, with the status codes of each refusal, no-store answers
// that never hold a password, and usernames of any characters in the
// path.
func TestAdminAPIUsers(t *testing.T) {
	tc := startCaddy(t, signinClients)
	const name = "Zoë Ünïcode" // a space and non-ASCII letters
	const escaped = "/authgate/users/Zo%C3%AB%20%C3%9Cn%C3%AFcode"
	add := map[string]any{"username": name, "password": usersPassword, "email": "zoe@example.com", "name": "Zoë", "groups": []string{"staff", "ops"}}
	created := tc.adminJSON(http.MethodPost, "/authgate/users", add)
	if created.status != http.StatusCreated || created.header.Get("Location") != escaped {
		t.Fatalf("adding: %d %s, Location %q", created.status, created.body, created.header.Get("Location"))
	}
	check := func(what string, r response, status int) {
		t.Helper()
		if r.status != status {
			t.Errorf("%s: %d %s; want %d", what, r.status, r.body, status)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q; want no-store", what, r.header.Get("Cache-Control"))
		}
		for _, secret := range []string{usersPassword, "tiny", "$argon2id$", "$2a$"} {
			if bytes.Contains(r.body, []byte(secret)) {
				t.Errorf("%s: the answer holds %q: %s", what, secret, r.body)
			}
		}
	}
	check("adding", created, http.StatusCreated)
	if u := created.json(t); u["username"] != name || u["id"] != name || u["source"] != "store" || u["read_only"] != false || u["has_password"] != true {
		t.Errorf("the added user: %v", u)
	}

	got := tc.adminJSON(http.MethodGet, escaped, nil)
	check("getting", got, http.StatusOK)
	if u := got.json(t); u["email"] != "zoe@example.com" || u["name"] != "Zoë" {
		t.Errorf("the user: %v", u)
	}

	patched := tc.adminJSON(http.MethodPatch, escaped, map[string]any{"name": "Zoë Ü", "groups": []string{}, "disabled": true})
	check("patching", patched, http.StatusOK)
	if u := patched.json(t); u["name"] != "Zoë Ü" || u["disabled"] != true || len(u["groups"].([]any)) != 0 || u["email"] != "zoe@example.com" {
		t.Errorf("the patched user: %v", u)
	}

	list := tc.adminJSON(http.MethodGet, "/authgate/users", nil)
	check("listing", list, http.StatusOK)
	var users []map[string]any
	if err := json.Unmarshal(list.body, &users); err != nil {
		t.Fatalf("the list: %v %s", err, list.body)
	}
	sources := map[string]string{}
	for _, u := range users {
		sources[u["username"].(string)] = u["source"].(string)
		if u["username"] == "alice" && u["read_only"] != true {
			t.Errorf("a configured user is not read-only: %v", u)
		}
	}
	if len(users) != 3 || sources["alice"] != "config" || sources["bob"] != "config" || sources[name] != "store" {
		t.Errorf("the list: %s", list.body)
	}

	// A slash in a username travels as %2F; "." and ".." are escaped.
	for _, odd := range []string{"a/b", "..", "."} {
		if r := tc.adminJSON(http.MethodPost, "/authgate/users", map[string]any{"username": odd, "password": usersPassword}); r.status != http.StatusCreated {
			t.Errorf("adding %q: %d %s", odd, r.status, r.body)
			continue
		}
		if r := tc.adminJSON(http.MethodGet, userPath(odd), nil); r.status != http.StatusOK || r.json(t)["username"] != odd {
			t.Errorf("getting %q at %s: %d %s", odd, userPath(odd), r.status, r.body)
		}
		if r := tc.adminJSON(http.MethodDelete, userPath(odd), nil); r.status != http.StatusNoContent {
			t.Errorf("deleting %q: %d %s", odd, r.status, r.body)
		}
	}

	for _, tt := range []struct {
		what, method, path, body string
		status                   int
	}{
		{"a taken username", "POST", "/authgate/users", `{"username":"Zoë Ünïcode","password":"a long pass phrase"}`, http.StatusConflict},
		{"a configured user's name", "POST", "/authgate/users", `{"username":"alice","password":"a long pass phrase"}`, http.StatusConflict},
		{"a short password", "POST", "/authgate/users", `{"username":"new","password":"tiny"}`, http.StatusBadRequest},
		{"a colon in the username", "POST", "/authgate/users", `{"username":"x:y","password":"a long pass phrase"}`, http.StatusBadRequest},
		{"a bad email", "POST", "/authgate/users", `{"username":"new","password":"a long pass phrase","email":"nope"}`, http.StatusBadRequest},
		{"not JSON", "POST", "/authgate/users", `username=new`, http.StatusBadRequest},
		{"an unknown member", "POST", "/authgate/users", `{"username":"new","password":"a long pass phrase","admin":true}`, http.StatusBadRequest},
		{"two JSON values", "POST", "/authgate/users", `{"username":"new","password":"a long pass phrase"} {}`, http.StatusBadRequest},
		{"another method on the list", "PUT", "/authgate/users", `{}`, http.StatusMethodNotAllowed},
		{"an unknown user", "GET", "/authgate/users/nobody", ``, http.StatusNotFound},
		{"patching an unknown user", "PATCH", "/authgate/users/nobody", `{"disabled":true}`, http.StatusNotFound},
		{"deleting an unknown user", "DELETE", "/authgate/users/nobody", ``, http.StatusNotFound},
		{"patching a configured user", "PATCH", "/authgate/users/alice", `{"disabled":true}`, http.StatusForbidden},
		{"a configured user's password", "PATCH", "/authgate/users/alice", `{"password":"a long pass phrase"}`, http.StatusForbidden},
		{"deleting a configured user", "DELETE", "/authgate/users/bob", ``, http.StatusForbidden},
		{"a weak new password", "PATCH", escaped, `{"password":"tiny"}`, http.StatusBadRequest},
		{"an empty patch", "PATCH", escaped, `{}`, http.StatusBadRequest},
		{"a patch with a wrong type", "PATCH", escaped, `{"disabled":"yes"}`, http.StatusBadRequest},
		{"another method on a user", "PUT", escaped, `{}`, http.StatusMethodNotAllowed},
		{"a deeper path", "GET", escaped + "/more", ``, http.StatusNotFound},
	} {
		r := tc.adminRaw(tt.method, tt.path, tt.body)
		check(tt.what, r, tt.status)
		if msg, _ := r.json(t)["error"].(string); msg == "" {
			t.Errorf("%s: no error message: %s", tt.what, r.body)
		}
		if tt.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
			t.Errorf("%s: no Allow header", tt.what)
		}
	}

	deleted := tc.adminJSON(http.MethodDelete, escaped, nil)
	check("deleting", deleted, http.StatusNoContent)
	check("getting a deleted user", tc.adminJSON(http.MethodGet, escaped, nil), http.StatusNotFound)
}

// authgateCmd runs `caddy authgate args…` in-process, as the caddy
// binary runs the registered command, with stdin from a pipe holding
// stdin, and returns what it printed and its error (a non-nil error is
// exit status 1).
func authgateCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	registered, ok := caddycmd.Commands()["authgate"]
	if !ok {
		t.Fatal("the authgate command is not registered")
	}
	root := &cobra.Command{Use: "caddy", SilenceUsage: true}
	cmd := &cobra.Command{Use: registered.Name, Short: registered.Short}
	registered.CobraFunc(cmd)
	root.AddCommand(cmd)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		pw.WriteString(stdin) //nolint:errcheck
		pw.Close()
	}()
	var out, errOut bytes.Buffer
	root.SetIn(pr)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"authgate"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// TestUserCommands: the CLI adds, lists, changes, disables, enables and
// deletes users through the test Caddy's admin API, prints the API's
// refusals plainly and fails on them; a user it added signs in through
// the sign-in page.
func TestUserCommands(t *testing.T) {
	tc := startCaddy(t, signinClients)
	addr := "--address=" + tc.admin
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, err := authgateCmd(t, stdin, append(args, addr)...)
		if err != nil {
			t.Fatalf("caddy authgate %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	fails := func(stdin, want string, args ...string) {
		t.Helper()
		_, stderr, err := authgateCmd(t, stdin, append(args, addr)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("caddy authgate %s: error %v; want one saying %q", strings.Join(args, " "), err, want)
		}
		if !strings.Contains(stderr, "Error: ") || strings.Contains(stderr, `{"error"`) || strings.Contains(stderr, usersPassword) {
			t.Errorf("caddy authgate %s printed %q; want the error plainly, without JSON or the password", strings.Join(args, " "), stderr)
		}
	}

	out := run(usersPassword+"\n", "user", "add", "Ann Lee", "--password-stdin", "--email", "ann@example.com", "--name", "Ann", "--groups", "staff, ops")
	if !strings.Contains(out, `"Ann Lee" added`) {
		t.Errorf("add printed %q", out)
	}
	table := run("", "user", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "USERNAME") {
		t.Fatalf("list printed:\n%s", table)
	}
	for _, want := range [][]string{
		{"Ann Lee", "Ann", "ann@example.com", "staff,ops", "store", "no"},
		{"alice", "Alice Liddell", "alice@example.com", "users,admins", "config", "no"},
		{"bob", "-", "-", "-", "config", "yes"},
	} {
		if !strings.Contains(table, strings.Join(want, "")) && !containsInOrder(table, want) {
			t.Errorf("list has no row %v:\n%s", want, table)
		}
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(run("", "user", "list", "--json")), &listed); err != nil || len(listed) != 3 {
		t.Errorf("list --json: %v %v", listed, err)
	}

	// The user signs in through the sign-in page with the password.
	b := newBrowser(tc)
	tok := b.codeFlowAs(tc.appConfig("openid", "profile"), "Ann Lee", usersPassword)
	if id := tc.verifyIDToken(tok.Extra("id_token").(string), "app"); id.Subject != "Ann Lee" {
		t.Errorf("sub = %q", id.Subject)
	}

	// Refusals, printed plainly, fail the command.
	fails(usersPassword+"\n", "taken (HTTP 409 Conflict)", "user", "add", "Ann Lee", "--password-stdin")
	fails("tiny\n", "HTTP 400", "user", "add", "Bea", "--password-stdin")
	fails("", "no password on stdin", "user", "add", "Bea", "--password-stdin")
	fails(usersPassword+"\n", "stdin is not a terminal", "user", "add", "Bea")
	fails(usersPassword+"\n", "change it in the configuration (HTTP 403 Forbidden)", "user", "passwd", "alice", "--password-stdin")
	fails("", "read-only", "user", "disable", "bob")
	fails("", "no such user (HTTP 404 Not Found)", "user", "enable", "nobody")
	fails("", "no such user", "user", "delete", "nobody")
	if _, _, err := authgateCmd(t, "", "user", "list", "--address=127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "reaching Caddy's admin API") {
		t.Errorf("an unreachable admin API: %v", err)
	}
	if _, _, err := authgateCmd(t, "", "user", "add", addr); err == nil {
		t.Error("add without a username succeeded")
	}

	// passwd: the old password stops working, the new one works.
	run("another long password\r\n", "user", "passwd", "Ann Lee", "--password-stdin")
	if r := newBrowser(tc).signInAs(tc.appConfig("openid"), "Ann Lee", usersPassword); r.status != http.StatusUnauthorized {
		t.Errorf("the old password after passwd: %d", r.status)
	}
	newBrowser(tc).codeFlowAs(tc.appConfig("openid"), "Ann Lee", "another long password")

	// disable, enable, delete.
	if out := run("", "user", "disable", "Ann Lee"); !strings.Contains(out, "disabled") {
		t.Errorf("disable printed %q", out)
	}
	if r := newBrowser(tc).signInAs(tc.appConfig("openid"), "Ann Lee", "another long password"); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled user signing in: %d", r.status)
	}
	run("", "user", "enable", "Ann Lee")
	newBrowser(tc).codeFlowAs(tc.appConfig("openid"), "Ann Lee", "another long password")
	if out := run("", "user", "delete", "Ann Lee"); !strings.Contains(out, "deleted") {
		t.Errorf("delete printed %q", out)
	}
	if r := tc.adminJSON(http.MethodGet, userPath("Ann Lee"), nil); r.status != http.StatusNotFound {
		t.Errorf("a deleted user: %d", r.status)
	}
}

// containsInOrder reports whether one line of table has the fields in
// order.
func containsInOrder(table string, fields []string) bool {
	for _, line := range strings.Split(table, "\n") {
		rest, ok := line, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok {
			return true
		}
	}
	return false
}

// signInAs starts cfg's code flow and submits the sign-in page as user,
// returning the answer to that.
func (b *browser) signInAs(cfg *oauth2.Config, user, pass string) response {
	b.t.Helper()
	r := b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	return b.signIn(r, user, pass)
}

// codeFlowAs runs cfg's code flow, signing in as user and approving
// consent, and returns the tokens.
func (b *browser) codeFlowAs(cfg *oauth2.Config, user, pass string) *oauth2.Token {
	b.t.Helper()
	verifier := oauth2.GenerateVerifier()
	r := b.get(cfg.AuthCodeURL("st-as", oauth2.S256ChallengeOption(verifier)))
	if strings.Contains(string(r.body), `name="password"`) {
		r = b.signIn(r, user, pass)
	}
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := callback(b.t, b.tc, r, cfg.RedirectURL)
	tok, err := exchange(b.t, cfg, q.Get("code"), verifier)
	if err != nil {
		b.t.Fatalf("%s: exchanging the code: %v", user, err)
	}
	return tok
}

// signInThroughGatewayAs is signInThroughGateway as user.
func (b *browser) signInThroughGatewayAs(target, user, pass string) response {
	b.t.Helper()
	cur := target
	follow := func(r response) response {
		for i := 0; i < 10 && (r.status == http.StatusFound || r.status == http.StatusSeeOther); i++ {
			base, _ := url.Parse(cur)
			next, err := base.Parse(r.header.Get("Location"))
			if err != nil {
				b.t.Fatalf("bad Location %q", r.header.Get("Location"))
			}
			cur = next.String()
			r = b.get(cur)
		}
		return r
	}
	r := follow(b.get(target))
	if strings.Contains(string(r.body), `name="password"`) {
		cur = b.tc.issuer + "/login"
		r = follow(b.signIn(r, user, pass))
	}
	return r
}

// TestUserCommandsGatewaySession: a user added with `caddy authgate user
// add` signs in through a gateway route, and `caddy authgate user
// disable` ends that live gateway session: the session cookie stops
// working within the revocation feed's poll.
func TestUserCommandsGatewaySession(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	addr := "--address=" + g.admin
	if _, stderr, err := authgateCmd(t, usersPassword+"\n", "user", "add", "gw ünï", "--password-stdin", "--groups", "staff", addr); err != nil {
		t.Fatalf("add: %v %s", err, stderr)
	}
	b := newBrowser(g.testCaddy)
	r := b.signInThroughGatewayAs(g.app+"/page", "gw ünï", usersPassword)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "sub=gw ünï") || !strings.Contains(string(r.body), "groups=staff") {
		t.Fatalf("signing in through the gateway: %d %s", r.status, r.body)
	}
	raw, _, _ := sessionCookie(t, b, g.app)
	replay := func() int {
		req, _ := http.NewRequest(http.MethodGet, g.app+"/page", nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: "authgate_session_gw", Value: raw})
		return doWith(t, newBrowser(g.testCaddy).client, req).status
	}
	if s := replay(); s != http.StatusOK {
		t.Fatalf("the session cookie before disabling: %d", s)
	}

	if _, stderr, err := authgateCmd(t, "", "user", "disable", "gw ünï", addr); err != nil {
		t.Fatalf("disable: %v %s", err, stderr)
	}
	deadline := time.Now().Add(5 * time.Second) // the feed polls every second
	for {
		s := replay()
		if s == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway session still answers %d after disabling the user", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := b.get(g.app + "/page"); r.status != http.StatusFound {
		t.Errorf("the browser's session after disabling: %d", r.status)
	}
	// Enabling the user again does not bring the session back.
	if _, stderr, err := authgateCmd(t, "", "user", "enable", "gw ünï", addr); err != nil {
		t.Fatalf("enable: %v %s", err, stderr)
	}
	if s := replay(); s != http.StatusFound {
		t.Errorf("the old session cookie after enabling again: %d", s)
	}
}
