package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"golang.org/x/oauth2"
)

// auditDoc returns docs/audit-log.md.
func auditDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/audit-log.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditLogSnippetsAdapt adapts the README's and docs/audit-log.md's
// Caddyfiles in process: each routes the authgate.audit logger to a JSON
// file of its own and excludes it from the default log.
func TestAuditLogSnippetsAdapt(t *testing.T) {
	for _, tc := range []struct {
		name, text string
	}{
		{"README", readmeSection(t, "### Audit log")},
		{"docs/audit-log.md", auditDoc(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks := codeBlocks(tc.text, "caddyfile")
			if len(blocks) != 1 {
				t.Fatalf("%d Caddyfiles; want 1", len(blocks))
			}
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(blocks[0]), nil)
			if err != nil {
				t.Fatalf("the snippet does not adapt: %v\n%s", err, blocks[0])
			}
			var cfg struct {
				Logging caddy.Logging `json:"logging"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			audit, def := cfg.Logging.Logs["audit"], cfg.Logging.Logs["default"]
			if audit == nil || def == nil {
				t.Fatalf("logs %v; want audit and default", cfg.Logging.Logs)
			}
			if !slices.Equal(audit.Include, []string{"authgate.audit"}) || !slices.Contains(def.Exclude, "authgate.audit") {
				t.Errorf("audit includes %v, default excludes %v; want authgate.audit in both", audit.Include, def.Exclude)
			}
			if !bytes.Contains(audit.WriterRaw, []byte(`"filename":"/var/log/caddy/authgate-audit.log"`)) || !bytes.Contains(audit.EncoderRaw, []byte(`"format":"json"`)) {
				t.Errorf("audit log writer %s, encoder %s; want the JSON file", audit.WriterRaw, audit.EncoderRaw)
			}
		})
	}
}

// auditLogBlocks returns the global log blocks of docs/audit-log.md's
// Caddyfile, writing the audit file in dir and the default log to the
// file defaultLog (as JSON) instead of stderr.
func auditLogBlocks(t *testing.T, dir, defaultLog string) string {
	t.Helper()
	blocks := regexp.MustCompile(`(?s)\tlog (?:default|audit) \{\n.*?\n\t\}\n`).FindAllString(codeBlocks(auditDoc(t), "caddyfile")[0], -1)
	if len(blocks) != 2 {
		t.Fatalf("%d log blocks in docs/audit-log.md; want default and audit", len(blocks))
	}
	text := strings.Join(blocks, "")
	for old, repl := range map[string]string{
		"/var/log/caddy/": dir + "/",
		"output stderr":   "output file " + defaultLog,
		"format console":  "format json",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("the log blocks lack %q:\n%s", old, text)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	return text
}

// auditEntries reads a JSON log file's entries of the audit logger.
func auditEntries(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// startAuditCaddy runs Caddy with the authgate options and
// docs/audit-log.md's log blocks, and returns it with the audit log's
// file and the default log's.
func startAuditCaddy(t *testing.T, options string) (tc *testCaddy, auditFile, defaultFile string) {
	t.Helper()
	dir := t.TempDir()
	auditFile, defaultFile = filepath.Join(dir, "authgate-audit.log"), filepath.Join(dir, "default.log")
	tc = newTestCaddy(t)
	caddyfile := strings.Replace(tc.globalOptions(options), "\tpersist_config off\n",
		"\tpersist_config off\n"+auditLogBlocks(t, dir, defaultFile), 1) + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
}
`, tc.site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return tc, auditFile, defaultFile
}

// TestAuditLogFile runs Caddy with docs/audit-log.md's log blocks: after
// a failed and a successful sign-in, a token request and a key rotation
// through the admin API, the audit file holds their JSON entries, with
// the event field, and no password, token or code; the default log holds
// the app's other lines and none of the audit logger's.
func TestAuditLogFile(t *testing.T) {
	tc, auditFile, defaultFile := startAuditCaddy(t, signinClients)
	b := newBrowser(tc)
	app := tc.appConfig("openid")
	if r := b.signIn(b.get(app.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "not-"+alicePassword); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", r.status)
	}
	code, verifier := b.codeFlow(app)
	tok, err := exchange(t, app, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if r := tc.adminPost("/authgate/keys/rotate"); r.status != http.StatusOK {
		t.Fatalf("rotating: %d %s", r.status, r.body)
	}
	secrets := []string{alicePassword, code, verifier, tok.AccessToken, tok.Extra("id_token").(string)}

	want := []struct{ event, outcome, method string }{
		{"signin", "failure", "password"},
		{"signin", "success", "password"},
		{"consent.given", "", "remembered"},
		{"token.issued", "", "authorization_code"},
		{"key.rotated", "", "ES256"},
		{"admin", "success", "keys.rotate"},
	}
	got := auditEntries(t, auditFile)
	if len(got) != len(want) {
		t.Fatalf("%d audit entries; want %d: %v", len(got), len(want), got)
	}
	raw, _ := os.ReadFile(auditFile)
	for i, w := range want {
		e := got[i]
		if e["logger"] != "authgate.audit" || e["event"] != w.event || e["msg"] != w.event || str(e, "outcome") != w.outcome || str(e, "method") != w.method {
			t.Errorf("entry %d = %v; want event %s, outcome %q, method %q", i, e, w.event, w.outcome, w.method)
		}
	}
	if e := got[3]; e["client_id"] != "app" || e["subject"] != "alice" || str(e, "jti") == "" || e["remote_ip"] != "127.0.0.1" {
		t.Errorf("token.issued = %v", e)
	}
	if e := got[5]; e["remote_ip"] != "127.0.0.1" {
		t.Errorf("admin = %v; want the admin request's address", e)
	}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) || strings.Contains(string(raw), url.QueryEscape(s)) {
			t.Errorf("the audit log holds the secret %q", s)
		}
	}

	def, err := os.ReadFile(defaultFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(def), "authgate started") {
		t.Errorf("the default log lacks the app's lines:\n%s", def)
	}
	if strings.Contains(string(def), "authgate.audit") || strings.Contains(string(def), `"event":`) {
		t.Errorf("the default log holds audit entries:\n%s", def)
	}
}

// TestAuditAdminActions: each admin API call that changes something,
// done or refused, is an admin entry in the audit log with its action,
// outcome, what it touched and the caller's address, after the entries of
// what it did; reads are none; the new password is nowhere.
func TestAuditAdminActions(t *testing.T) {
	tc, auditFile, _ := startAuditCaddy(t, defaultClients)
	admin := func(method, path, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+tc.admin+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r := do(t, req); r.status != want {
			t.Fatalf("%s %s: %d %s; want %d", method, path, r.status, r.body, want)
		}
	}
	admin(http.MethodPost, "/authgate/users", `{"username":"dave","password":"dave-first-password"}`, http.StatusCreated)
	admin(http.MethodPatch, "/authgate/users/dave", `{"password":"dave-second-password"}`, http.StatusOK)
	admin(http.MethodPatch, "/authgate/users/dave", `{"disabled":true}`, http.StatusOK)
	admin(http.MethodGet, "/authgate/users", "", http.StatusOK)
	admin(http.MethodDelete, "/authgate/users/dave", "", http.StatusNoContent)
	admin(http.MethodDelete, "/authgate/users/dave", "", http.StatusNotFound)
	admin(http.MethodPost, "/authgate/tokens/revoke", `{"client":"svc"}`, http.StatusOK)

	want := []map[string]any{
		{"event": "user.changed", "outcome": "success", "method": "added", "username": "dave", "subject": "dave"},
		{"event": "admin", "outcome": "success", "method": "users.add", "username": "dave", "subject": "dave", "remote_ip": "127.0.0.1"},
		{"event": "user.changed", "outcome": "success", "method": "password_changed", "username": "dave", "subject": "dave"},
		{"event": "admin", "outcome": "success", "method": "users.passwd", "username": "dave", "remote_ip": "127.0.0.1"},
		{"event": "user.changed", "outcome": "success", "method": "disabled", "username": "dave", "subject": "dave"},
		{"event": "admin", "outcome": "success", "method": "users.disable", "username": "dave", "remote_ip": "127.0.0.1"},
		{"event": "user.changed", "outcome": "success", "method": "deleted", "username": "dave", "subject": "dave"},
		{"event": "admin", "outcome": "success", "method": "users.delete", "username": "dave", "remote_ip": "127.0.0.1"},
		{"event": "admin", "outcome": "failure", "method": "users.delete", "username": "dave", "remote_ip": "127.0.0.1", "error": "not_found"},
		{"event": "token.revoked", "outcome": "success", "method": "admin", "client_id": "svc"},
		{"event": "admin", "outcome": "success", "method": "tokens.revoke", "client_id": "svc", "remote_ip": "127.0.0.1"},
	}
	got := auditEntries(t, auditFile)
	if len(got) != len(want) {
		t.Fatalf("%d audit entries; want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		for _, drop := range []string{"level", "ts", "logger", "msg"} {
			delete(e, drop)
		}
		if fmt.Sprint(e) != fmt.Sprint(w) {
			t.Errorf("entry %d:\n got %v\nwant %v", i, e, w)
		}
	}
	raw, _ := os.ReadFile(auditFile)
	if strings.Contains(string(raw), "dave-first-password") || strings.Contains(string(raw), "dave-second-password") {
		t.Error("the audit log holds a password")
	}
}
