package gateway

// Benchmarks of the MCP-aware gateway's per-request cost (issue 11),
// beside the plain bearer check of bench_test.go:
//
//	go test -run '^$' -bench 'Middleware|MCP' -benchmem ./caddymodule/gateway
//
// BenchmarkMiddlewareMCPToolsCall is the handler's gateway work for a
// tools/call on a route marked mcp with per-tool rules: StripHeaders,
// Decide (the cached token, reading and parsing the JSON-RPC message,
// the policy with tool rules and per-tool scopes), ApplyHeaders, and
// PassMCP with its log line's bookkeeping. BenchmarkMiddlewareBearerCached
// is the same without MCP.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/authgate/authgate/policy"
)

// toolCallBody is a tools/call as the Go SDK's client sends it (2026-07-28,
// with the _meta every request carries).
func toolCallBody(tool string) string {
	return `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"bench-client","version":"1.0.0"},"io.modelcontextprotocol/clientCapabilities":{}},` +
		`"name":"` + tool + `","arguments":{"query":"weather in Paris","limit":10}}}`
}

var benchToken = func() string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return signES256(&testing.B{}, key, benchTokenClaims())
}()

// mcpBenchRequest is a POST to an MCP route carrying body and a token.
func mcpBenchRequest(body []byte) *Request {
	h := http.Header{"Authorization": {"Bearer " + benchToken}, "Content-Type": {"application/json"},
		"Accept": {"application/json, text/event-stream"}, "Mcp-Protocol-Version": {"2026-07-28"}}
	return &Request{Method: http.MethodPost, Scheme: "http", Host: "127.0.0.1:9001", LocalPort: "9001", Path: "/mcp", Header: h,
		RemoteIP: "127.0.0.1", Body: bytes.NewReader(body), ContentLength: int64(len(body))}
}

// mcpBenchPolicy is the example: deny tool secret_*, scopes for
// admin tools; plus the route's scope read.
func mcpBenchPolicy(tb testing.TB) *policy.Policy {
	p, err := policy.Compile(policy.Config{
		Require: policy.Requirements{Scopes: []string{"read"}, Tools: []policy.ToolScopes{{Tools: []string{"admin_reset"}, Scopes: []string{"tools:admin"}}}},
		Rules:   []policy.Rule{{Effect: policy.Deny, Kind: policy.KindTool, Values: []string{"secret_*"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func newMCPBenchGateway(b *testing.B) *Gateway {
	b.Helper()
	g, err := New(Config{AcceptBearer: true, Verifier: new(countingVerifier), Policy: mcpBenchPolicy(b), Hosts: []string{"127.0.0.1"},
		MCP: true, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkMiddlewareMCPToolsCall: an allowed tools/call (about 300 bytes)
// on a route with per-tool rules.
func BenchmarkMiddlewareMCPToolsCall(b *testing.B) {
	g := newMCPBenchGateway(b)
	body := []byte(toolCallBody("search"))
	r := mcpBenchRequest(body)
	rd := r.Body.(*bytes.Reader)
	w := httptest.NewRecorder()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		r.MCP = nil
		g.StripHeaders(r.Header)
		id := decideAllowed(ctx, b, g, r)
		g.ApplyHeaders(r.Header, id)
		_, done := g.PassMCP(w, r, id)
		done(nil)
	}
}

// BenchmarkMiddlewareMCPNotification: a notification on the same route
// (no tool: the policy's tool rules are skipped).
func BenchmarkMiddlewareMCPNotification(b *testing.B) {
	g := newMCPBenchGateway(b)
	body := []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r := mcpBenchRequest(body)
	rd := r.Body.(*bytes.Reader)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		r.MCP = nil
		g.StripHeaders(r.Header)
		g.ApplyHeaders(r.Header, decideAllowed(ctx, b, g, r))
	}
}

// BenchmarkDecideMCPToolRefused: a tools/call the policy denies (the
// JSON-RPC error answer is built).
func BenchmarkDecideMCPToolRefused(b *testing.B) {
	g := newMCPBenchGateway(b)
	body := []byte(toolCallBody("secret_keys"))
	r := mcpBenchRequest(body)
	rd := r.Body.(*bytes.Reader)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		r.MCP = nil
		if d := g.Decide(ctx, r); d.Status != http.StatusForbidden {
			b.Fatalf("status %d", d.Status)
		}
	}
}

// BenchmarkParseMCP: reading the message alone.
func BenchmarkParseMCP(b *testing.B) {
	body := []byte(toolCallBody("search"))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if msg, err := parseMCP(body); err != nil || msg.Tool != "search" {
			b.Fatal(err)
		}
	}
}

// BenchmarkToolsListFilter: filtering a tools/list answer of 20 tools with
// schemas (about 6 KB), once per tools/list.
func BenchmarkToolsListFilter(b *testing.B) {
	g := newMCPBenchGateway(b)
	var tools []map[string]any
	for i := range 20 {
		name := fmt.Sprintf("tool_%d", i)
		if i%5 == 0 {
			name = fmt.Sprintf("secret_%d", i)
		}
		tools = append(tools, map[string]any{"name": name, "description": "Does a thing with the input it is given, as the model asks.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}, "limit": map[string]any{"type": "integer"}}}})
	}
	answer, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 12, "result": map[string]any{"tools": tools}})
	r := mcpBenchRequest([]byte(`{"jsonrpc":"2.0","id":12,"method":"tools/list"}`))
	id := decideAllowed(context.Background(), b, g, r)
	b.ReportAllocs()
	b.SetBytes(int64(len(answer)))
	for b.Loop() {
		w := httptest.NewRecorder()
		tw, done := g.PassMCP(w, r, id)
		tw.Header().Set("Content-Type", "application/json")
		tw.WriteHeader(http.StatusOK)
		tw.Write(answer) //nolint:errcheck
		done(nil)
		if w.Body.Len() == 0 {
			b.Fatal("no answer")
		}
	}
}
