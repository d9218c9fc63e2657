package caddymodule

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// The security review of issue 13 through real Caddy: the admin API's
// users endpoints attacked from a browser, through odd paths and bodies,
// for the passwords they are sent; the gateway's pages with markup in
// the site's name.

// review13Caddy starts Caddy with the authgate options, logging
// everything (debug) to a file, whose path it returns.
func review13Caddy(t *testing.T, options string) (*testCaddy, string) {
	t.Helper()
	tc := newTestCaddy(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := strings.Replace(tc.globalOptions(options), "{\n", fmt.Sprintf("{\n\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n", logFile), 1)
	caddyfile := global + fmt.Sprintf("\n%s {\n\tbind 127.0.0.1\n\tauthgate_server\n}\n", tc.site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return tc, logFile
}

// review13Admin sends a request to the admin API with the headers
// (pairs of a name and a value), following no redirects.
func (tc *testCaddy) review13Admin(method, path, body string, headers ...string) response {
	tc.t.Helper()
	req, err := http.NewRequest(method, "http://"+tc.admin+path, strings.NewReader(body))
	if err != nil {
		tc.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return doWith(tc.t, client, req)
}

// TestReview13AdminUsersFromABrowser: a web page the operator visits
// cannot add a user (a backdoor account) through the admin API on
// localhost: a cross-origin form or fetch (text/plain, no preflight),
// a no-cors fetch and a DNS-rebound host are refused; the users
// endpoints are not on the sites Caddy serves.
func TestReview13AdminUsersFromABrowser(t *testing.T) {
	tc := startCaddy(t, signinClients)
	body := `{"username":"backdoor","password":"a long pass phrase","groups":["admins"]}`
	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"a cross-origin form", []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}},
		{"a cross-origin fetch", []string{"Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "cross-site"}},
		{"a no-cors fetch", []string{"Content-Type", "text/plain", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Site", "cross-site"}},
		{"an opaque origin", []string{"Content-Type", "text/plain", "Origin", "null"}},
		{"a DNS-rebound host", []string{"Content-Type", "application/json", "Host", "evil.example:2019"}},
	} {
		if r := tc.review13Admin(http.MethodPost, "/authgate/users", body, tt.headers...); r.status < 400 {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	if r := tc.adminJSON(http.MethodGet, "/authgate/users/backdoor", nil); r.status != http.StatusNotFound {
		t.Errorf("the backdoor user exists: %d %s", r.status, r.body)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, tc.issuer+"/authgate/users", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if r := do(t, req); r.status < 400 || bytes.Contains(r.body, []byte(`"username"`)) {
			t.Errorf("%s /authgate/users on the site: %d %s", method, r.status, r.body)
		}
	}
	if r := tc.adminJSON(http.MethodGet, "/authgate/users/backdoor", nil); r.status != http.StatusNotFound {
		t.Errorf("the backdoor user exists: %d %s", r.status, r.body)
	}
}

// TestReview13AdminUserPaths: a path names one user, percent-decoded
// once: no encoding of a slash, dot segments, a NUL, a trailing slash
// or a repeated slash makes a request reach another user than the one
// it spells.
func TestReview13AdminUserPaths(t *testing.T) {
	tc := startCaddy(t, signinClients)
	if r := tc.adminJSON(http.MethodPost, "/authgate/users", map[string]any{"username": "target", "password": usersPassword}); r.status != http.StatusCreated {
		t.Fatalf("adding: %d %s", r.status, r.body)
	}
	for _, path := range []string{
		"/authgate/users/target%2F", "/authgate/users/target/", "/authgate/users//target", "/authgate/users/%2Ftarget",
		"/authgate/users/x%2F..%2Ftarget", "/authgate/users/x/../target", "/authgate/users/target%00", "/authgate/users/TARGET",
		"/authgate/users/target%20", "/authgate/users/%252e%252e%252ftarget", "/authgate/users/target%2Fmore",
		"/authgate/users/./target", "/authgate/users/%2E/target", "/authgate/users/target;disabled=true",
	} {
		for _, method := range []string{http.MethodDelete, http.MethodPatch} {
			r := tc.review13Admin(method, path, `{"disabled":true}`, "Content-Type", "application/json")
			if r.status < 300 {
				t.Errorf("%s %s: %d %s", method, path, r.status, r.body)
			}
		}
	}
	if r := tc.adminJSON(http.MethodGet, "/authgate/users/target", nil); r.status != http.StatusOK || r.json(t)["disabled"] != false {
		t.Errorf("target after the odd paths: %d %s", r.status, r.body)
	}
}

// TestReview13AdminUserBodies: a huge body is refused before it is
// read whole, and no answer or log line holds a password the API was
// sent, whether it was taken or refused.
func TestReview13AdminUserBodies(t *testing.T) {
	tc, logFile := review13Caddy(t, signinClients)
	huge := `{"username":"huge","password":"a long pass phrase","name":"` + strings.Repeat("n", 2<<20) + `"}`
	if r := tc.review13Admin(http.MethodPost, "/authgate/users", huge, "Content-Type", "application/json"); r.status != http.StatusBadRequest && r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB body: %d %.200s", r.status, r.body)
	}
	secrets := []string{"Pw-Taken-7c1e5a", "Pw-Short", "Pw-Ctrl\x01-0b9d2f", "Pw-Long-" + strings.Repeat("z", 2000), "Pw-Changed-51aa9e", "Pw-Federated-3d0b"}
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodPost, "/authgate/users", `{"username":"pwuser","password":"Pw-Taken-7c1e5a"}`},
		{http.MethodPost, "/authgate/users", `{"username":"pwuser","password":"Pw-Taken-7c1e5a"}`}, // taken
		{http.MethodPost, "/authgate/users", `{"username":"short","password":"Pw-Short"}`},
		{http.MethodPost, "/authgate/users", `{"username":"ctrl","password":"Pw-Ctrl\u0001-0b9d2f"}`},
		{http.MethodPost, "/authgate/users", `{"username":"long","password":"Pw-Long-` + strings.Repeat("z", 2000) + `"}`},
		{http.MethodPost, "/authgate/users", `{"username":"x:y","password":"Pw-Taken-7c1e5a"}`},
		{http.MethodPost, "/authgate/users", `{"username":"typo","pasword":"Pw-Taken-7c1e5a"}`},
		{http.MethodPost, "/authgate/users", `{"username":"typo","password":"Pw-Taken-7c1e5a",}`},
		{http.MethodPatch, "/authgate/users/pwuser", `{"password":"Pw-Changed-51aa9e"}`},
		{http.MethodPatch, "/authgate/users/alice", `{"password":"Pw-Changed-51aa9e"}`},
		{http.MethodPatch, "/authgate/users/nobody", `{"password":"Pw-Federated-3d0b"}`},
		{http.MethodPatch, "/authgate/users/pwuser", `{"password":"Pw-Short"}`},
	} {
		r := tc.review13Admin(tt.method, tt.path, tt.body, "Content-Type", "application/json")
		for _, s := range secrets {
			if bytes.Contains(r.body, []byte(s[:min(len(s), 10)])) {
				t.Errorf("%s %s: the answer holds the password: %d %s", tt.method, tt.path, r.status, r.body)
			}
		}
	}
	caddy.Stop() //nolint:errcheck
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("nothing was logged")
	}
	for _, s := range secrets {
		if bytes.Contains(logs, []byte(s[:min(len(s), 10)])) {
			t.Errorf("the log holds the password %.20q", s)
		}
	}
}

// TestReview13GatewayNameIsText: a gateway's name (the operator's, but
// shown on pages with the host a request names) is text on the gateway's
// own pages and the sign-in page, never markup.
func TestReview13GatewayNameIsText(t *testing.T) {
	const markup = `<img/src=x/onerror=alert(1)>`
	g := startGateway(t, pagesOptions, "accept bearer\n\t\t\tname \""+markup+"\"", "accept session\n\t\t\tname \""+markup+"\"")
	api := g.call("GET", g.app+"/api/things", "", "Accept", "text/html")
	b := newBrowser(g.testCaddy)
	first := b.get(g.app + "/page")
	login := b.get(first.header.Get("Location"))
	out := g.call("GET", g.app+"/.authgate/logout", "", "Sec-Fetch-Site", "cross-site") // asks to confirm
	for name, r := range map[string]response{"the API's 401 page": api, "the sign-in page": login, "the gateway's sign-out page": out} {
		if bytes.Contains(r.body, []byte("<img")) {
			t.Errorf("%s: markup: %s", name, r.body)
		}
		if !bytes.Contains(r.body, []byte("&lt;img")) {
			t.Errorf("%s does not name the site: %d %s", name, r.status, r.body)
		}
	}
	if csp := api.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the API's 401 page: Content-Security-Policy %q", csp)
	}
}

// TestReview13LDAPInClearText: a directory reached over ldap:// without
// StartTLS gets people's passwords in clear text. No attacker on the
// path can make the connector drop TLS it was told to use (StartTLS that
// fails is an error, never a fallback: the ldap package's tests); a
// configuration that uses none for a directory elsewhere than this
// machine starts, for a private link, but with a warning in the log.
func TestReview13LDAPInClearText(t *testing.T) {
	_, logFile := review13Caddy(t, signinClients+`
		identity_provider remote ldap {
			url ldap://ldap.example.org
			base_dn "dc=example,dc=org"
		}
		identity_provider local ldap {
			url ldap://127.0.0.1:3389
			base_dn "dc=example,dc=org"
		}
		identity_provider safe ldap {
			url ldap://ldap.example.org
			starttls
			base_dn "dc=example,dc=org"
		}`)
	caddy.Stop() //nolint:errcheck
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "clear text") {
			for _, name := range []string{"remote", "local", "safe"} {
				if strings.Contains(line, `"identity_provider":"`+name+`"`) {
					warned = append(warned, name)
				}
			}
		}
	}
	if strings.Join(warned, " ") != "remote" {
		t.Errorf("warned of %q; want the remote directory without StartTLS alone", warned)
	}
}

// TestReview13GatewaySignOutStaySignedIn: a person who signs out of a
// gateway site and, asked by the sign-in service, stays signed in there
// (the "Stay signed in" button, then "Back to" the site), signs in to the
// site again at once: before, the gateway session that sign-in started
// was stored ended (the first one's end marked the whole sign-in's
// family), and the browser went round between the site and the sign-in
// service.
func TestReview13GatewaySignOutStaySignedIn(t *testing.T) {
	g := startGateway(t, pagesOptions, `accept bearer`, `
			accept session
			name "Grafana"`)
	b := newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("sign-in through the gateway: %d %s", r.status, r.body)
	}
	out := b.get(g.app + "/.authgate/logout")
	confirm := b.get(out.header.Get("Location"))
	if !isPage(confirm, "Sign out?") {
		t.Fatalf("the sign-out page: %d %s", confirm.status, confirm.body)
	}
	f := fields(confirm)
	f.Set("decision", "stay")
	if stayed := b.post("/logout", f); !isPage(stayed, "Still signed in") {
		t.Fatalf("staying signed in: %d %s", stayed.status, stayed.body)
	}
	if r := b.signInThroughGateway(g.app + "/page"); !strings.Contains(string(r.body), "sub=alice ") {
		t.Errorf("back at the site after staying signed in: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
}
