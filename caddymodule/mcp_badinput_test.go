package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestMCPBadInput sends the authgate_mcp handler what no MCP client
// should: every answer is a 4xx with a JSON-RPC error (or a 2xx for what
// the protocol accepts), never a 500.
func TestMCPBadInput(t *testing.T) {
	m := startMCP(t, mcpClients, "", false)
	type answer struct {
		status int
		code   float64 // the JSON-RPC error code; 0 for none
	}
	send := func(method, contentType, accept, body string, header ...string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, m.endpoint, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		r := do(t, req)
		if r.status >= 500 {
			t.Fatalf("%s %.60q: %d %s", method, body, r.status, r.body)
		}
		a := answer{status: r.status}
		if len(r.body) > 0 {
			var msg struct {
				JSONRPC string `json:"jsonrpc"`
				Error   *struct {
					Code    float64 `json:"code"`
					Message string  `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.body, &msg); err != nil || msg.JSONRPC != "2.0" {
				t.Errorf("%s %.60q: %d not JSON-RPC: %.200s", method, body, r.status, r.body)
			}
			if msg.Error != nil {
				a.code = msg.Error.Code
				if msg.Error.Message == "" {
					t.Errorf("%.60q: an error without a message", body)
				}
			}
		}
		return a
	}
	const both = "application/json, text/event-stream"
	v0618 := []string{"Mcp-Protocol-Version", "2025-06-18"}
	for _, c := range []struct {
		name                        string
		method, ctype, accept, body string
		header                      []string
		want                        answer
	}{
		{"not JSON", "POST", "application/json", both, "hello", nil, answer{400, -32700}},
		{"empty body", "POST", "application/json", both, "", nil, answer{400, -32700}},
		{"a number", "POST", "application/json", both, "42", nil, answer{400, -32700}},
		{"truncated", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/li`, nil, answer{400, -32700}},
		{"JSON-RPC 1.0", "POST", "application/json", both, `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, v0618, answer{400, -32600}},
		{"a call without id", "POST", "application/json", both, `{"jsonrpc":"2.0","method":"tools/list"}`, v0618, answer{400, -32600}},
		{"an unknown method", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"nope"}`, v0618, answer{400, -32601}},
		{"an unknown tool", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope","arguments":{}}}`, v0618, answer{200, -32602}},
		{"params not an object", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, v0618, answer{200, -32602}},
		{"an empty batch", "POST", "application/json", both, `[]`, nil, answer{400, -32600}},
		{"a batch in 2025-06-18", "POST", "application/json", both, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`, v0618, answer{400, -32600}},
		{"a notification", "POST", "application/json", both, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, v0618, answer{202, 0}},
		{"a cancellation", "POST", "application/json", both, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`, v0618, answer{202, 0}},
		{"a stray response", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"result":{}}`, v0618, answer{202, 0}},
		{"an unsupported version", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []string{"Mcp-Protocol-Version", "1999-01-01"}, answer{400, -32600}},
		{"text/plain", "POST", "text/plain", both, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, answer{415, -32600}},
		{"no Accept", "POST", "application/json", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, answer{400, -32600}},
		{"too large", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, nil, answer{413, -32600}},
		{"GET", "GET", "", "text/event-stream", "", nil, answer{405, -32600}},
		{"DELETE", "DELETE", "", "", "", []string{"Mcp-Session-Id", "x"}, answer{405, -32600}},
		{"PUT", "PUT", "application/json", both, `{}`, nil, answer{405, -32600}},
		{"ping", "POST", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, v0618, answer{200, 0}},
	} {
		if got := send(c.method, c.ctype, c.accept, c.body, c.header...); got != c.want {
			t.Errorf("%s: %+v; want %+v", c.name, got, c.want)
		}
	}
	// Wrong argument types and missing arguments are tool errors the
	// model can read, not protocol errors.
	for _, args := range []string{`"x"`, `{"token":42}`, `{}`, `{"token":"x","client_id":["a"]}`, `{"token":"x","extra":1}`} {
		req, _ := http.NewRequest(http.MethodPost, m.endpoint, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"oauth2_validate_token","arguments":`+args+`}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", both)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		r := do(t, req)
		var msg struct {
			Result struct {
				IsError bool `json:"isError"`
			} `json:"result"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &msg) != nil || !msg.Result.IsError {
			t.Errorf("arguments %s: %d %s", args, r.status, r.body)
		}
	}
}
