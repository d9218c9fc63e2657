package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// validateWarnings adapts a Caddyfile (global authgate options, and the
// authgate directive's block on one site) and provisions it as `caddy
// validate` does, returning the warnings logged about unobtainable
// scopes and audiences.
func validateWarnings(t *testing.T, options, directive string) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "log.json")
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %s
	log {
		output file %s
		format json
		level WARN
	}
	authgate {
		issuer https://auth.example.com
		storage sqlite %s
		%s
	}
}

https://api.example.com {
	authgate {
		resource_path /api
		%s
	}
	respond "ok"
}
`, filepath.Join(dir, "caddy"), logFile, filepath.Join(dir, "authgate.db"), options, directive)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	var c caddy.Config
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("validate: %v", err)
	}
	data, _ := os.ReadFile(logFile)
	var out []map[string]any
	for _, line := range strings.Split(string(data), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, "no configured client may") {
			out = append(out, m)
		}
	}
	return out
}

func TestValidateWarnsUnobtainableScope(t *testing.T) {
	const client = `client api {
			secret 0123456789abcdef0123456789abcdef
			scopes read
			audiences https://api.example.com/api
		}`
	for _, tc := range []struct {
		name, options, directive string
		wantScope, wantAudience  string
	}{
		{"unobtainable scope", client, "require scope write", "write", ""},
		{"obtainable scope", client, "require scope read", "", ""},
		{"scope for a tool", client, "mcp\n\t\trequire scope admin for tool delete", "admin", ""},
		{"registration grants it", client + "\n\t\tregistration open {\n\t\t\tscopes write\n\t\t}", "require scope write", "", ""},
		{"registration disabled lists it", client + "\n\t\tregistration disabled {\n\t\t\tscopes write\n\t\t}", "require scope write", "write", ""},
		{"default registration scope", "registration open", "require scope email", "", ""},
		{"unobtainable audience", client, "require audience https://other.example.com", "", "https://other.example.com"},
		{"obtainable audience", client, "require audience https://api.example.com/api", "", ""},
		{"external issuer", client, "issuer https://idp.example.com\n\t\taccept bearer\n\t\trequire scope write", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validateWarnings(t, tc.options, tc.directive)
			want := 0
			if tc.wantScope != "" || tc.wantAudience != "" {
				want = 1
			}
			if len(got) != want {
				t.Fatalf("got %d warnings, want %d: %v", len(got), want, got)
			}
			if want == 0 {
				return
			}
			w := got[0]
			t.Logf("%s", w["msg"])
			if w["level"] != "warn" || w["scope"] != nilIfEmpty(tc.wantScope) || w["audience"] != nilIfEmpty(tc.wantAudience) {
				t.Errorf("warning = %v, want scope %q audience %q", w, tc.wantScope, tc.wantAudience)
			}
			if route, _ := w["route"].(string); !strings.Contains(route, "resource_path=/api") || !strings.Contains(w["msg"].(string), route) {
				t.Errorf("warning %v does not name the route", w)
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
