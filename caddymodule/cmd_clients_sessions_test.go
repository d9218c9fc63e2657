package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/store"
)

// registeredSecretHash and registeredTokenHash stand for a registered
// client's secret hash and registration access token hash: no answer may
// show them.
const (
	registeredSecretHash = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e70000"
	registeredTokenHash  = "7e91577e91577e91577e91577e91577e91577e91577e91577e91577e91571111"
)

// registerClient stores a registered client as dynamic registration
// would.
func registerClient(t *testing.T, app *App, id, name string) {
	t.Helper()
	now := time.Now()
	jsonName, _ := json.Marshal(name)
	meta := `{"redirect_uris":["https://reg.example/cb"],"token_endpoint_auth_method":"client_secret_basic",` +
		`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":` + string(jsonName) + `,` +
		`"client_uri":"https://reg.example","scope":"openid read"}`
	err := app.store.CreateClient(context.Background(), store.RegisteredClient{ID: id, Metadata: []byte(meta),
		SecretHash: registeredSecretHash, RegistrationTokenHash: registeredTokenHash, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClientCommands: clients list shows the configured and registered
// clients, clients show one client's metadata, through the test Caddy's
// admin API; no answer holds a secret, its hash or a registration
// access token hash; an unknown client is a 404 and a failed command.
func TestClientCommands(t *testing.T) {
	tc := startCaddy(t, signinClients)
	registerClient(t, activeApp(t), "reg-1", "Registered App")
	// A name that would drive the operator's terminal: an escape
	// sequence, a right-to-left override.
	registerClient(t, activeApp(t), "reg-2", "Evil\x1b]0;pwned\x07\x1b[2J\u202eApp")
	addr := "--address=" + tc.admin

	for _, c := range []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"list", []string{"clients", "list"}, []string{"ID", "KIND", "svc", "client_credentials", "configured", "reg-1", "Registered App", "registered"}, ""},
		{"list json", []string{"clients", "list", "--json"}, []string{`"id":"reg-1"`, `"kind":"registered"`, `"id":"spa"`, `"public":true`}, ""},
		{"show configured", []string{"clients", "show", "webapp"}, []string{"webapp", "configured", "https://webapp.example/cb", "Skip consent:", "yes"}, ""},
		{"show registered", []string{"clients", "show", "reg-1"}, []string{"Registered App", "registered", "https://reg.example/cb", "Client URI:", "https://reg.example", "client_secret_basic"}, ""},
		{"show json", []string{"clients", "show", "reg-1", "--json"}, []string{`"redirect_uris":["https://reg.example/cb"]`, `"created_at"`}, ""},
		{"show unknown", []string{"clients", "show", "nobody"}, nil, "no such client (HTTP 404 Not Found)"},
		{"show the gateway client", []string{"clients", "show", authserver.GatewayClientID}, nil, "no such client (HTTP 404 Not Found)"},
		{"status", []string{"status"}, []string{"8 configured, 2 registered"}, ""},
		{"list escapes control characters", []string{"clients", "list"}, []string{`Evil\u001b]0;pwned\u0007\u001b[2J\u202eApp`}, ""},
		{"show escapes control characters", []string{"clients", "show", "reg-2"}, []string{`Evil\u001b]0;pwned`}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := authgateCmd(t, "", append(c.args, addr)...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v; want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			// JSON escapes control characters; the tables escape invisible
			// format characters too.
			if strings.ContainsAny(out, "\x1b\x07") || !slices.Contains(c.args, "--json") && strings.ContainsRune(out, '\u202e') {
				t.Errorf("the answer holds a control character:\n%q", out)
			}
			for _, secret := range []string{registeredSecretHash, registeredTokenHash, "webapp-secret", "svc-secret"} {
				if strings.Contains(out, secret) {
					t.Errorf("the answer shows a secret or its hash %q:\n%s", secret, out)
				}
			}
		})
	}

	// The endpoints themselves.
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/authgate/clients", http.StatusOK},
		{http.MethodGet, "/authgate/clients/reg-1", http.StatusOK},
		{http.MethodGet, "/authgate/clients/nobody", http.StatusNotFound},
		{http.MethodGet, "/authgate/clients/a%2Fb", http.StatusNotFound},
		{http.MethodGet, "/authgate/clients/", http.StatusNotFound},
		{http.MethodPost, "/authgate/clients", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/authgate/clients/reg-1", http.StatusMethodNotAllowed},
	} {
		r := tc.adminRaw(c.method, c.path, "")
		if r.status != c.status {
			t.Errorf("%s %s = %d %s; want %d", c.method, c.path, r.status, r.body, c.status)
		}
		if strings.Contains(string(r.body), registeredSecretHash) || strings.Contains(string(r.body), registeredTokenHash) {
			t.Errorf("%s %s shows a hash: %s", c.method, c.path, r.body)
		}
	}
}

// TestSessionCommands: sessions list shows a signed-in browser's session
// (by an ID that is not its cookie), sessions revoke <id> ends it (the
// browser is signed out), sessions revoke --subject ends every session
// of the user; an unknown ID is a 404 and a failed command.
func TestSessionCommands(t *testing.T) {
	tc := startCaddy(t, signinClients)
	addr := "--address=" + tc.admin
	run := func(args ...string) string {
		t.Helper()
		out, stderr, err := authgateCmd(t, "", append(args, addr)...)
		if err != nil {
			t.Fatalf("caddy authgate %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	signedIn := func(b *browser) bool {
		t.Helper()
		return b.get("/account").status == http.StatusOK
	}
	list := func(args ...string) []authserver.SessionInfo {
		t.Helper()
		var sessions []authserver.SessionInfo
		if err := json.Unmarshal([]byte(run(append([]string{"sessions", "list", "--json"}, args...)...)), &sessions); err != nil {
			t.Fatal(err)
		}
		return sessions
	}

	first, second := newBrowser(tc), newBrowser(tc)
	for _, b := range []*browser{first, second} {
		b.signInAs(tc.appConfig("openid"), "alice", alicePassword)
		if !signedIn(b) {
			t.Fatal("the browser is not signed in")
		}
	}
	sessions := list()
	if len(sessions) != 2 || sessions[0].Subject != "alice" || sessions[0].Username != "alice" || len(sessions[0].AMR) == 0 ||
		sessions[0].ExpiresAt.Before(time.Now()) || sessions[0].CreatedAt.IsZero() {
		t.Fatalf("sessions list: %+v", sessions)
	}
	if got := list("--subject", "nobody"); len(got) != 0 {
		t.Errorf("sessions of nobody: %+v", got)
	}
	if got := list("--subject", "alice"); len(got) != 2 {
		t.Errorf("sessions of alice: %+v", got)
	}
	// The ID is no cookie: not the cookie's value nor part of it.
	issuer, _ := http.NewRequest(http.MethodGet, tc.issuer, nil)
	for _, b := range []*browser{first, second} {
		for _, ck := range b.client.Jar.Cookies(issuer.URL) {
			for _, s := range sessions {
				if strings.Contains(ck.Value, s.ID) {
					t.Errorf("session ID %s is in cookie %s", s.ID, ck.Name)
				}
			}
		}
	}
	table := run("sessions", "list")
	for _, w := range []string{"ID", "SUBJECT", "LAST USED", sessions[0].ID, sessions[1].ID, "alice"} {
		if !strings.Contains(table, w) {
			t.Errorf("sessions list has no %q:\n%s", w, table)
		}
	}

	for _, c := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown ID", []string{"sessions", "revoke", "0123456789abcdef0123456789abcdef"}, "no live sign-in session has that ID (HTTP 404 Not Found)"},
		{"ID and subject", []string{"sessions", "revoke", "x", "--subject", "alice"}, "not both"},
		{"neither", []string{"sessions", "revoke"}, "give a session ID or --subject"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := authgateCmd(t, "", append(c.args, addr)...)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v; want one saying %q", err, c.wantErr)
			}
		})
	}
	if !signedIn(first) || !signedIn(second) {
		t.Fatal("a refused revoke signed a browser out")
	}

	// Which browser has which session: end one, see which is signed out.
	if out := run("sessions", "revoke", sessions[0].ID); !strings.Contains(out, "1 ended") {
		t.Errorf("sessions revoke printed %q", out)
	}
	if signedIn(first) == signedIn(second) {
		t.Fatalf("after ending one session: first signed in %v, second %v", signedIn(first), signedIn(second))
	}
	if got := list(); len(got) != 1 || got[0].ID != sessions[1].ID {
		t.Errorf("after revoke: %+v", got)
	}
	if out := run("sessions", "revoke", "--subject", "alice"); !strings.Contains(out, "1 ended") {
		t.Errorf("sessions revoke --subject printed %q", out)
	}
	if signedIn(first) || signedIn(second) {
		t.Error("a browser is still signed in after revoke --subject")
	}
	for _, body := range []string{
		`{"session":"a","subject":"b"}`,  // both
		`{}`,                             // neither
		`{"session":`,                    // malformed
		`{"session":"a"}{"session":"b"}`, // repeated
		`{"session":"a","admin":true}`,   // unknown field
		`{"session":"` + strings.Repeat("x", 1<<20) + `"}`, // oversized
	} {
		if r := tc.adminRaw(http.MethodPost, "/authgate/sessions/revoke", body); r.status != http.StatusBadRequest {
			t.Errorf("revoke with %.40q = %d %.200s; want 400", body, r.status, r.body)
		}
	}
	if r := tc.adminRaw(http.MethodGet, "/authgate/sessions/revoke", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET revoke = %d", r.status)
	}
}
