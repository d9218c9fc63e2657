package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestRouteLogLines: at start the app logs one "authgate protects a
// route" line per gateway with its hosts, paths, credentials, issuer,
// requirements, rules and headers, and no secret (the introspection
// client's secret).
func TestRouteLogLines(t *testing.T) {
	tc := newTestCaddy(t)
	app := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := strings.Replace(tc.globalOptions(defaultClients), "persist_config off",
		"persist_config off\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel INFO\n\t}", 1)
	caddyfile := global + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
}

%s {
	bind 127.0.0.1
	route /api/* {
		authgate {
			accept bearer
			require scope read
			require audience https://api.example.com
			allow group admins ops
			deny claim dept sales
			header X-Team groups
			remote_headers
			introspection https://introspect.example/x rs rs-secret-b7f1
		}
		respond "api" 200
	}
	route {
		authgate {
			accept session
			strip_authorization
		}
		respond "web" 200
	}
}
`, tc.issuer, app)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "rs-secret-b7f1") {
			t.Errorf("a log line holds the introspection secret: %s", sc.Text())
		}
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "authgate protects a route" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d route lines; want 2: %v", len(lines), lines)
	}
	strs := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	host := "127.0.0.1"
	for _, c := range []struct {
		name string
		line map[string]any
		want map[string]any
	}{
		{"api", lines[0], map[string]any{
			"handler": "authgate", "hosts": []string{host}, "paths": []string{"/api/*"}, "accept": []string{"bearer"},
			"issuer": "bundled", "introspection": true, "require_scopes": []string{"read"},
			"require_audiences": []string{"https://api.example.com"}, "rules": []string{"allow group admins,ops", "deny claim dept=sales"},
			"identity_headers": "X-Auth-*, Remote-*", "custom_headers": []string{"X-Team=groups"}, "strip_authorization": false,
		}},
		{"web", lines[1], map[string]any{
			"handler": "authgate", "hosts": []string{host}, "accept": []string{"session"}, "issuer": "bundled",
			"introspection": false, "identity_headers": "X-Auth-*", "strip_authorization": true,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, want := range c.want {
				got, ok := c.line[k]
				if !ok {
					t.Errorf("no %s in %v", k, c.line)
					continue
				}
				if w, isList := want.([]string); isList {
					if !slices.Equal(strs(got), w) {
						t.Errorf("%s = %v; want %v", k, got, w)
					}
				} else if got != want {
					t.Errorf("%s = %v; want %v", k, got, want)
				}
			}
			if c.name == "web" {
				if _, ok := c.line["paths"]; ok {
					t.Errorf("the catch-all route has paths: %v", c.line["paths"])
				}
			}
		})
	}
}
