package caddymodule

// Found by a security review (issue 11): many MCP servers decode with Go's
// encoding/json (for example mcp-go), which matches member names without
// case (with Unicode folding: "paramſ" is params) and lets the last of two
// matching members win, so a body with "name":"echo" and
// "Name":"secret_keys" was an allowed call of echo to the gateway and a
// call of secret_keys to such a server. And a resumed stream (GET with
// Last-Event-ID) carrying a body was passed on unfiltered. The gateway now
// refuses case variants of the members it decides on, and GET or DELETE
// bodies, and filters every resumed stream; this test failed while either
// got through.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// encodingJSONUpstream decodes each message as mcp-go's server does
// (encoding/json into structs) and records the tools it would call.
type encodingJSONUpstream struct {
	mu    sync.Mutex
	calls []string
}

func (u *encodingJSONUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		// A resumed stream (Last-Event-ID) replaying a tools/list answer;
		// servers ignore a GET's body.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("id: 2\ndata: " + string(rawToolsList("9")) + "\n\n")) //nolint:errcheck
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if msg.Method == "tools/call" {
		u.mu.Lock()
		u.calls = append(u.calls, msg.Params.Name)
		u.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"called %s %s"}]}}`, msg.ID, msg.Method, msg.Params.Name)
}

func TestAttackMCPCaseFoldedMembers(t *testing.T) {
	up := &encodingJSONUpstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)

	tc := newTestCaddy(t)
	g := &mcpGateway{testCaddy: tc, app: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	repl := strings.NewReplacer("$APP", g.app, "$UP", strings.TrimPrefix(srv.URL, "http://"))
	caddyfile := tc.globalOptions(repl.Replace(mcpGatewayClients)) + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	respond "issuer site" 404
}

%s {
	bind 127.0.0.1
	route {
		authgate {
			accept bearer
			mcp
			deny tool secret_*
			require scope tools:admin for tool admin_reset
		}
		reverse_proxy $UP
	}
}
`, tc.issuer, repl.Replace(g.app))
	caddyfile = repl.Replace(caddyfile)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	tok := g.mustToken("read") // no tools:admin
	// Sanity: the plain denied call is refused.
	if r := g.rpcPost("/mcp", tok, toolCall("1", "secret_keys", "{}")); r.status != http.StatusForbidden {
		t.Fatalf("plain denied call: %d %s", r.status, r.body)
	}
	attacks := map[string]string{
		"Name after name (denied tool)":  `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","Name":"secret_keys","arguments":{}}}`,
		"NAME after name (step-up tool)": `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","NAME":"admin_reset","arguments":{}}}`,
		"Method after method":            `{"jsonrpc":"2.0","id":4,"method":"ping","Method":"tools/call","params":{"name":"secret_keys"}}`,
		"paramſ (U+017F) after params":   `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"},"paramſ":{"name":"secret_keys"}}`,
	}
	for name, body := range attacks {
		r := g.rpcPost("/mcp", tok, body)
		t.Logf("%s: gateway answered %d %s", name, r.status, strings.TrimSpace(string(r.body)))
	}
	// A resumed stream: filtered without a body, but not with one.
	for _, body := range []string{"", `{"jsonrpc":"2.0","method":"notifications/initialized"}`} {
		req, _ := http.NewRequest(http.MethodGet, g.app+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", "1")
		req.Header.Set("Content-Type", "application/json")
		r := do(t, req)
		t.Logf("resumed GET with body %q: %d %s", body, r.status, strings.TrimSpace(string(r.body)))
		if strings.Contains(string(r.body), "secret_keys") {
			t.Errorf("VULNERABLE: a resumed stream (GET, Last-Event-ID, body %q) passed secret_keys in a tools list", body)
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, c := range up.calls {
		if strings.HasPrefix(c, "secret_") || c == "admin_reset" {
			t.Errorf("VULNERABLE: the upstream was made to call %q, which the gateway denies (or needs tools:admin); calls seen: %q", c, up.calls)
		}
	}
}
