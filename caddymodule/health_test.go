package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
	"github.com/authgate/authgate/authserver/store/sqlstore"
)

// startHealthCaddy runs Caddy with global (the global options block,
// logging to logFile) and a site that serves authgate_health at
// /healthz besides authgate_server.
func startHealthCaddy(t *testing.T, tc *testCaddy, global, logFile string) {
	t.Helper()
	global = strings.Replace(global, "persist_config off", "persist_config off\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel INFO\n\t}", 1)
	caddyfile := global + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_health /healthz
	authgate_server
	respond "site content" 404
}
`, tc.site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
}

// checkHealth asks both health checks (the site's /healthz and the admin
// API's /authgate/health) with GET and HEAD and checks their answers.
func checkHealth(t *testing.T, tc *testCaddy, wantOK bool, wantStore string) {
	t.Helper()
	for _, u := range []string{tc.issuer + "/healthz", "http://" + tc.admin + "/authgate/health"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, u, nil)
			r := do(t, req)
			if wantOK && r.status != http.StatusOK || !wantOK && r.status != http.StatusServiceUnavailable {
				t.Errorf("%s %s = %d %s; want %v", method, u, r.status, r.body, map[bool]int{true: 200, false: 503}[wantOK])
			}
			if !wantOK && r.status/100 == 2 {
				t.Errorf("%s %s answered %d with the store down", method, u, r.status)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s %s: Cache-Control = %q; want no-store", method, u, cc)
			}
			if method == http.MethodHead {
				continue
			}
			body := r.json(t)
			wantStatus := map[bool]string{true: "ok", false: "unavailable"}[wantOK]
			if body["status"] != wantStatus || body["store"] != wantStore {
				t.Errorf("%s %s body = %s; want status %q, store %q", method, u, r.body, wantStatus, wantStore)
			}
		}
	}
}

// startLine returns the fields of the "authgate started" log line.
func startLine(t *testing.T, logFile string) (map[string]any, string) {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "authgate started" {
			return m, sc.Text()
		}
	}
	t.Fatalf("no \"authgate started\" line in the log")
	return nil, ""
}

// TestHealthSQLite: both health checks answer 200 while the store
// answers, and 503 (never 2xx) once its database is closed underneath;
// the start-up line names the issuer, the store and the signing key.
func TestHealthSQLite(t *testing.T) {
	tc := newTestCaddy(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	startHealthCaddy(t, tc, tc.globalOptions(defaultClients), logFile)

	checkHealth(t, tc, true, "ok")
	req, _ := http.NewRequest(http.MethodPost, "http://"+tc.admin+"/authgate/health", nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /authgate/health = %d; want 405", r.status)
	}

	line, raw := startLine(t, logFile)
	t.Log(raw)
	app := activeApp(t)
	keys := app.keys.Info()
	for k, want := range map[string]any{
		"issuer":             tc.issuer,
		"store":              "sqlite",
		"store_path":         filepath.Join(tc.dataDir, "authgate.db"),
		"signing_key":        keys[len(keys)-1].ID,
		"signing_algorithm":  "ES256",
		"clients":            float64(5),
		"users":              float64(0),
		"identity_providers": float64(0),
	} {
		if line[k] != want {
			t.Errorf("start-up line %s = %v; want %v\n%s", k, line[k], want, raw)
		}
	}

	// The database goes away under the running server.
	db := app.store.(*lockedStore).Store.(*sqlstore.Store).DB()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, tc, false, "closed")
}

// TestHealthPostgres: the same on PostgreSQL, with a password in the DSN
// that the start-up line and the health answers never show.
func TestHealthPostgres(t *testing.T) {
	dsn, password := pgtest.WithPassword(pgtest.FreshDB(t))
	t.Setenv("AUTHGATE_TEST_DSN", dsn)
	tc := newTestCaddy(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := strings.Replace(tc.globalOptions(defaultClients), "storage sqlite "+filepath.Join(tc.dataDir, "authgate.db"), "storage postgres {env.AUTHGATE_TEST_DSN}", 1)
	startHealthCaddy(t, tc, global, logFile)

	checkHealth(t, tc, true, "ok")
	line, raw := startLine(t, logFile)
	t.Log(raw)
	if line["issuer"] != tc.issuer || line["store"] != "postgres" || line["store_database"] == "" || line["store_port"] == nil {
		t.Errorf("start-up line lacks the issuer or the store: %s", raw)
	}
	if u, err := url.Parse(dsn); err == nil && u.Hostname() != "" && line["store_host"] != u.Hostname() {
		t.Errorf("store_host = %v; want %s", line["store_host"], u.Hostname())
	}
	if password == "" {
		t.Log("the DSN has no password; the password check is vacuous")
	} else if strings.Contains(raw, password) || strings.Contains(raw, url.QueryEscape(password)) {
		t.Errorf("the start-up line shows the password: %s", raw)
	}
	if strings.Contains(raw, dsn) {
		t.Errorf("the start-up line shows the DSN: %s", raw)
	}

	// The pool closes under the running server.
	if err := activeApp(t).store.(*sqlstore.Store).DB().Close(); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, tc, false, "closed")
	if b, err := os.ReadFile(logFile); err != nil {
		t.Fatal(err)
	} else if password != "" && strings.Contains(string(b), password) {
		t.Error("the log shows the DSN's password")
	}
}

// TestHealthCaddyfile: authgate_health adapts to its handler, first in
// the order (before authgate_server and the gateway), with its matcher.
func TestHealthCaddyfile(t *testing.T) {
	cfg, err := adaptCaddyfile(t, `{
	authgate {
		issuer https://auth.example.com
	}
}
auth.example.com {
	reverse_proxy 127.0.0.1:8080
	authgate
	authgate_server
	authgate_health /healthz
}`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	var at []int
	for _, h := range []string{"authgate_health", "authgate_server", "authgate", "reverse_proxy"} {
		i := strings.Index(s, `"handler":"`+h+`"`)
		if i < 0 {
			t.Fatalf("no %s handler in %s", h, s)
		}
		at = append(at, i)
	}
	for i := 1; i < len(at); i++ {
		if at[i-1] > at[i] {
			t.Fatalf("handlers out of order (want authgate_health, authgate_server, authgate, reverse_proxy): %s", s)
		}
	}
	if !strings.Contains(s, `"path":["/healthz"]`) {
		t.Errorf("the matcher was lost: %s", s)
	}
	for _, bad := range []string{"authgate_health /healthz extra", "authgate_health {\n\t\tstore x\n\t}"} {
		if _, err := adaptCaddyfile(t, "a.example {\n\t"+bad+"\n}"); err == nil {
			t.Errorf("%q adapted; want an error", bad)
		}
	}
}
