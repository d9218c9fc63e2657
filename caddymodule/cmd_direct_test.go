package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// TestDirectStoreCommands: with --config and no Caddy running, the
// commands work on the configuration's SQLite store itself (JSON config,
// or a Caddyfile with --adapter), and what they change is there when
// Caddy starts; while a running Caddy holds the store they fail and
// point at its admin endpoint.
func TestDirectStoreCommands(t *testing.T) {
	tc := newTestCaddy(t)
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(jsonFile, tc.adapt(signinClients), 0o600); err != nil {
		t.Fatal(err)
	}
	caddyfile := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(caddyfile, []byte(tc.globalOptions(signinClients)+"\n"+tc.site+" {\n\tauthgate_server\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	direct := []string{"--config", jsonFile}
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, err := authgateCmd(t, stdin, args...)
		if err != nil {
			t.Fatalf("caddy authgate %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	signing := func() string {
		t.Helper()
		var st statusReport
		if err := json.Unmarshal([]byte(run("", append([]string{"status", "--json"}, direct...)...)), &st); err != nil {
			t.Fatal(err)
		}
		for _, k := range st.Keys {
			if k.Signing {
				return k.ID
			}
		}
		t.Fatalf("no key signs: %+v", st.Keys)
		return ""
	}

	before := signing()
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"status", "", []string{"status"}, []string{tc.issuer, "sqlite (" + filepath.Join(tc.dataDir, "authgate.db") + ")", "8 configured, 0 registered", before}},
		{"status from a Caddyfile", "", []string{"status", "--config", caddyfile, "--adapter", "caddyfile"}, []string{tc.issuer, before}},
		{"user add", usersPassword + "\n", []string{"user", "add", "dora", "--password-stdin"}, []string{`"dora" added`}},
		{"user list", "", []string{"user", "list"}, []string{"dora", "store", "alice", "config"}},
		{"clients list", "", []string{"clients", "list"}, []string{"webapp", "configured"}},
		{"clients show", "", []string{"clients", "show", "svc"}, []string{"client_credentials"}},
		{"sessions list", "", []string{"sessions", "list"}, []string{"SUBJECT"}},
		{"tokens revoke", "", []string{"tokens", "revoke", "--subject", "dora"}, []string{"revoked"}},
		{"keys list", "", []string{"keys", "list"}, []string{before}},
		{"keys rotate", "", []string{"keys", "rotate"}, []string{"rotated"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if !strings.Contains(strings.Join(args, " "), "--config") {
				args = append(args, direct...)
			}
			out := run(c.stdin, args...)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
		})
	}
	if after := signing(); after == before {
		t.Errorf("keys rotate --config left %s signing", before)
	}
	if _, _, err := authgateCmd(t, "", "status", "--config", jsonFile, "--address", tc.admin); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("--config with --address: %v", err)
	}

	// Caddy started on the store sees what the commands did.
	tc.config, _ = os.ReadFile(jsonFile)
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	if out := run("", "user", "list", "--address", tc.admin); !strings.Contains(out, "dora") {
		t.Errorf("the running Caddy does not list the user added with --config:\n%s", out)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && !strings.HasSuffix(runtime.GOOS, "bsd") {
		return // no flock(2): a running Caddy is not detected
	}
	// A running Caddy (another process) holds the store: its lock.
	release, err := lockDatabase(filepath.Join(tc.dataDir, "authgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer release() //nolint:errcheck
	for _, args := range [][]string{{"status"}, {"user", "list"}, {"keys", "rotate"}, {"sessions", "revoke", "--subject", "alice"}} {
		_, stderr, err := authgateCmd(t, "", append(args, direct...)...)
		if err == nil {
			t.Fatalf("%s --config on a store in use succeeded", strings.Join(args, " "))
		}
		for _, w := range []string{"is in use by a running Caddy", "use its admin endpoint instead", "without --config", "--address " + tc.admin} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", strings.Join(args, " "), err, w)
			}
		}
		if !strings.Contains(stderr, "Error: ") {
			t.Errorf("stderr %q", stderr)
		}
	}
}

// TestDirectStoreCommandsPostgres: a PostgreSQL store, which instances
// share, can be changed with --config while Caddy runs on it: its
// status and sessions show, and ending a user's sessions through
// --config signs the running Caddy's browser out.
func TestDirectStoreCommandsPostgres(t *testing.T) {
	dsn, password := pgtest.WithPassword(pgtest.FreshDB(t))
	t.Setenv("AUTHGATE_TEST_DSN", dsn)
	tc := newTestCaddy(t)
	tc.config = tc.adapt(signinClients)
	tc.config = []byte(strings.Replace(string(tc.config), `"backend":"sqlite","path":`+strconv.Quote(filepath.Join(tc.dataDir, "authgate.db")),
		`"backend":"postgres","dsn":"{env.AUTHGATE_TEST_DSN}"`, 1))
	if !strings.Contains(string(tc.config), "AUTHGATE_TEST_DSN") {
		t.Fatalf("no postgres storage in %s", tc.config)
	}
	file := filepath.Join(t.TempDir(), "caddy.json")
	if err := os.WriteFile(file, tc.config, 0o600); err != nil {
		t.Fatal(err)
	}
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	b := newBrowser(tc)
	b.signInAs(tc.appConfig("openid"), "alice", alicePassword)
	if b.get("/account").status != http.StatusOK {
		t.Fatal("the browser is not signed in")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "postgres"},
		{[]string{"sessions", "list"}, "alice"},
		{[]string{"sessions", "revoke", "--subject", "alice"}, "1 ended"},
	} {
		out, stderr, err := authgateCmd(t, "", append(c.args, "--config", file)...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("%s --config: %v, %q; want %q\n%s", strings.Join(c.args, " "), err, out, c.want, stderr)
		}
		if password != "" && (strings.Contains(out, password) || strings.Contains(stderr, password)) {
			t.Errorf("%s --config shows the database password", strings.Join(c.args, " "))
		}
	}
	if b.get("/account").status == http.StatusOK {
		t.Error("the browser is still signed in after sessions revoke --config")
	}
}
