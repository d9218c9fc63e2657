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
	"time"

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

// TestAuditLogFile runs Caddy with docs/audit-log.md's log blocks: after
// a failed and a successful sign-in, a token request and a key rotation
// through the admin API, the audit file holds their JSON entries, with
// the event field, and no password, token or code; the default log holds
// the app's other lines and none of the audit logger's.
func TestAuditLogFile(t *testing.T) {
	dir := t.TempDir()
	auditFile, defaultFile := filepath.Join(dir, "authgate-audit.log"), filepath.Join(dir, "default.log")
	tc := newTestCaddy(t)
	caddyfile := strings.Replace(tc.globalOptions(signinClients), "\tpersist_config off\n",
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
	// The admin API may answer before its handler has returned and
	// logged, so the last entries are waited for.
	var got []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got = auditEntries(t, auditFile); len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
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
