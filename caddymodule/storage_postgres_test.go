package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// authgateJSON adapts a Caddyfile and returns the authgate app's JSON.
func authgateJSON(t *testing.T, text string) map[string]json.RawMessage {
	t.Helper()
	cfg, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var got struct {
		Apps struct {
			Authgate map[string]json.RawMessage `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &got); err != nil {
		t.Fatal(err)
	}
	return got.Apps.Authgate
}

func TestPostgresCaddyfileAdapts(t *testing.T) {
	for _, tt := range []struct{ name, arg, want string }{
		{"placeholder", `{env.AUTHGATE_DSN}`, `{"backend":"postgres","dsn":"{env.AUTHGATE_DSN}"}`},
		{"url", `postgres://authgate:pw@db.example:5432/authgate?sslmode=verify-full`,
			`{"backend":"postgres","dsn":"postgres://authgate:pw@db.example:5432/authgate?sslmode=verify-full"}`},
		{"quoted key=value", `"host=db.example dbname=authgate user=authgate"`,
			`{"backend":"postgres","dsn":"host=db.example dbname=authgate user=authgate"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := authgateJSON(t, "{\n\tauthgate {\n\t\tissuer https://auth.example.com\n\t\tstorage postgres "+tt.arg+"\n\t}\n}\n")
			if got := string(app["storage"]); got != tt.want {
				t.Errorf("storage JSON:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPostgresCaddyfileErrors(t *testing.T) {
	for _, tt := range []struct{ name, arg, want string }{
		{"no DSN", ``, "storage postgres needs a DSN"},
		{"unquoted key=value", `host=db.example password=hunter2-secret dbname=authgate`, "takes one DSN"},
		{"empty DSN", `""`, "storage postgres needs a DSN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, "{\n\tauthgate {\n\t\tstorage postgres "+tt.arg+"\n\t}\n}\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v; want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// validatePostgres adapts and validates (provisions) a config whose store
// is `storage postgres <arg>`.
func validatePostgres(t *testing.T, arg string) error {
	t.Helper()
	cfgJSON, err := adaptCaddyfile(t, "{\n\tauthgate {\n\t\tissuer https://a.example\n\t\tstorage postgres "+arg+"\n\t}\n}\nhttps://a.example {\n\tauthgate_server\n}\n")
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// TestPostgresConfigErrors needs no server: each config adapts but fails
// `caddy validate`, naming the problem and never showing the password.
func TestPostgresConfigErrors(t *testing.T) {
	const password = "s3cr3t-pw"
	t.Setenv("AUTHGATE_TEST_EMPTY_DSN", "")
	t.Setenv("AUTHGATE_TEST_BAD_DSN", "postgres://app:"+password+"@127.0.0.1:1/db?sslmode=disable&connect_timeout=5")
	for _, tt := range []struct{ name, arg, want string }{
		{"empty placeholder", `{env.AUTHGATE_TEST_EMPTY_DSN}`, "DSN is empty once its placeholders are replaced"},
		{"malformed", `"postgres://app:` + password + `@127.0.0.1:notaport/db"`, "not a valid connection URL"},
		{"malformed key=value", `"host=127.0.0.1 password='` + password + `"`, "not a valid connection URL"},
		{"unreachable", `postgres://app:` + password + `@127.0.0.1:1/db?sslmode=disable&connect_timeout=5`, "opening postgres"},
		{"unreachable from placeholder", `{env.AUTHGATE_TEST_BAD_DSN}`, "opening postgres"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := validatePostgres(t, tt.arg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestPostgresStorage runs the authorization server on a fresh PostgreSQL
// database with the DSN from an environment placeholder: a token survives
// a reload (the pool is shared, not reopened) and a restart, the pool is
// keyed without the password, and the last config's Cleanup releases it.
func TestPostgresStorage(t *testing.T) {
	dsn, password := pgtest.WithPassword(pgtest.FreshDB(t))
	t.Setenv("AUTHGATE_TEST_DSN", dsn)

	tc := &testCaddy{t: t, port: freePort(t), dataDir: t.TempDir()}
	tc.issuer = fmt.Sprintf("http://127.0.0.1:%d", tc.port)
	tc.site = tc.issuer
	tc.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adapt := func(options string) []byte {
		t.Helper()
		cfg, err := adaptCaddyfile(t, fmt.Sprintf(`{
	admin %s
	persist_config off
	authgate {
		issuer %s
		storage postgres {env.AUTHGATE_TEST_DSN}
		%s
		%s
	}
}

%s {
	bind 127.0.0.1
	authgate_server
}
`, tc.admin, tc.issuer, defaultClients, options, tc.site))
		if err != nil {
			t.Fatalf("adapt: %v", err)
		}
		if !strings.Contains(string(cfg), "{env.AUTHGATE_TEST_DSN}") {
			t.Fatalf("the DSN placeholder was not kept for provisioning: %s", cfg)
		}
		return cfg
	}
	tc.config = adapt("")
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	poolKeys := func() []string {
		var keys []string
		storePool.Range(func(k, _ any) bool {
			if k := k.(string); strings.HasPrefix(k, "postgres:") {
				keys = append(keys, k)
			}
			return true
		})
		return keys
	}
	keys := poolKeys()
	if len(keys) != 1 {
		t.Fatalf("store pool keys = %q; want one postgres handle", keys)
	}
	if password != "" && (strings.Contains(keys[0], password) || strings.Contains(keys[0], url.QueryEscape(password))) {
		t.Fatalf("the pool key %q shows the password", keys[0])
	}
	st := activeApp(t).store

	tok := tc.token("svc", "svc-secret", nil)
	if !tc.active(tok) {
		t.Fatal("a new token is not active")
	}

	// A reload shares the open store and its pool.
	tc.config = adapt("access_token_lifetime 30m")
	tc.load()
	if activeApp(t).store != st {
		t.Error("the reload opened the database again instead of sharing the handle")
	}
	if !tc.active(tok) {
		t.Fatal("the token is not active after a reload")
	}
	if got := poolKeys(); len(got) != 1 || got[0] != keys[0] {
		t.Fatalf("after a reload the pool keys are %q; want %q", got, keys)
	}

	// A restart opens it again and finds the token; a revocation sticks.
	tc.restart()
	if !tc.active(tok) {
		t.Fatal("the token is not active after a restart")
	}
	if r := tc.postForm("/revoke", url.Values{"token": {tok}}, "svc", "svc-secret"); r.status != 200 {
		t.Fatalf("revocation: %d %s", r.status, r.body)
	}
	if tc.active(tok) {
		t.Fatal("the revoked token is still active")
	}

	// Stopping the last config releases the handle.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := poolKeys(); len(got) != 0 {
		t.Fatalf("after stopping, the pool still holds %q", got)
	}
}
