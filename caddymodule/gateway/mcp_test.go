package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authgate/authgate/policy"
)

func TestParseMCP(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		method, tool string
		id           string
		code         int // 0: accepted
	}{
		{name: "tools/call", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":[1,{"name":"no"}]}}}`, method: "tools/call", tool: "echo", id: "1"},
		{name: "spaces everywhere", body: " \r\n\t{ \"params\" : { \"arguments\" : { } , \"name\" : \"echo\" } , \"method\" : \"tools/call\" , \"id\" : \"a\" } ", method: "tools/call", tool: "echo", id: `"a"`},
		{name: "nested name is not the name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"secret"},"name":"echo"}}`, method: "tools/call", tool: "echo", id: "1"},
		{name: "strings with braces and escapes", body: `{"id":-2.5e3,"x":"}{\"","method":"tools/call","params":{"y":"\\\"}","name":"a\"b"}}`, method: "tools/call", tool: `a"b`, id: "-2.5e3"},
		{name: "other method", body: `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x"}}`, method: "resources/read", id: "1"},
		{name: "notification", body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, method: "notifications/cancelled"},
		{name: "null id is no id", body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, method: "ping"},
		{name: "object id is no id", body: `{"jsonrpc":"2.0","id":{},"method":"ping"}`, method: "ping"},
		{name: "response", body: `{"jsonrpc":"2.0","id":1,"result":{"method":"tools/call"}}`},
		{name: "error response", body: `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}`},
		{name: "empty method is a method", body: `{"jsonrpc":"2.0","id":1,"method":""}`, method: "", id: "1"},
		{name: "unknown members are fine", body: `{"jsonrpc":"2.0","id":1,"method":"ping","extra":[1,2,{"a":"b"}],"jsonrpcx":1}`, method: "ping", id: "1"},
		{name: "deep nesting in arguments", body: `{"id":1,"method":"tools/call","params":{"arguments":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `,"name":"echo"}}`, method: "tools/call", tool: "echo", id: "1"},
		{name: "repeated jsonrpc", body: `{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}`, code: CodeInvalidRequest},
		{name: "repeated id", body: `{"id":1,"id":2,"method":"ping"}`, code: CodeInvalidRequest},
		{name: "repeated params", body: `{"id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}`, code: CodeInvalidRequest},
		{name: "escaped repeat", body: `{"id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`, code: CodeInvalidRequest},
		{name: "params not an object", body: `{"id":1,"method":"tools/call","params":["echo"]}`, code: CodeInvalidParams},
		{name: "name null", body: `{"id":1,"method":"tools/call","params":{"name":null}}`, code: CodeInvalidParams},
		{name: "control character in a name", body: `{"id":1,"method":"tools/call","params":{"name":"a\u0000"}}`, code: CodeInvalidParams},
		{name: "number", body: `12`, code: CodeInvalidRequest},
		{name: "null", body: `null`, code: CodeInvalidRequest},
		{name: "empty batch", body: `[]`, code: CodeInvalidRequest},
		{name: "two messages", body: `{"id":1,"method":"ping"}{"id":2,"method":"ping"}`, code: CodeParseError},
		{name: "trailing garbage", body: `{"id":1,"method":"ping"} x`, code: CodeParseError},
		{name: "whitespace only", body: " \n", code: CodeParseError},
		{name: "BOM", body: "\xef\xbb\xbf{\"id\":1,\"method\":\"ping\"}", code: CodeParseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, rerr := parseMCP([]byte(tt.body))
			if tt.code != 0 {
				if rerr == nil || rerr.code != tt.code {
					t.Fatalf("parseMCP = %+v, %+v; want code %d", msg, rerr, tt.code)
				}
				return
			}
			if rerr != nil {
				t.Fatalf("parseMCP: %+v", rerr)
			}
			if msg.Method != tt.method || msg.Tool != tt.tool || string(msg.ID) != tt.id || string(msg.Body) != tt.body {
				t.Errorf("parseMCP = %q %q %s", msg.Method, msg.Tool, msg.ID)
			}
		})
	}
}

// FuzzParseMCP: whatever parseMCP accepts, a standard JSON parser reads
// the same method and tool from (so the upstream cannot be told something
// else than the policy was), and nothing panics.
func FuzzParseMCP(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`,
		`{"id":"x","method":"tools/call","params":{"name":"a\u0062c","arguments":{"name":"z"}}}`,
		`{"method":"notifications/initialized"}`,
		`{"id":1,"result":{}}`,
		`[{"id":1,"method":"ping"}]`,
		`{"id":1,"me\u0074hod":"tools/call","params":{"name":"s"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, rerr := parseMCP(body)
		if rerr != nil {
			return
		}
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("accepted %q, which is no JSON object: %v", body, err)
		}
		raw, hasMethod := ref["method"]
		var method string
		if hasMethod {
			if err := json.Unmarshal(raw, &method); err != nil {
				t.Fatalf("accepted a method that is no string: %q", body)
			}
		}
		if method != msg.Method {
			t.Fatalf("method %q, the reference reads %q: %q", msg.Method, method, body)
		}
		if method == "tools/call" {
			var p map[string]json.RawMessage
			if err := json.Unmarshal(ref["params"], &p); err != nil {
				t.Fatalf("accepted tools/call params %q", ref["params"])
			}
			var name string
			if err := json.Unmarshal(p["name"], &name); err != nil || name != msg.Tool {
				t.Fatalf("tool %q, the reference reads %q (%v): %q", msg.Tool, name, err, body)
			}
		}
	})
}

func TestHeadersMatch(t *testing.T) {
	call := &MCPMessage{Method: "tools/call", Tool: "échø"}
	tests := []struct {
		h  http.Header
		ok bool
	}{
		{http.Header{}, true},
		{http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?w6ljaMO4?="}}, true},
		{http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"échø"}}, true},
		{http.Header{"Mcp-Method": {"tools/list"}}, false},
		{http.Header{"Mcp-Method": {"tools/call", "tools/call"}}, false},
		{http.Header{"Mcp-Name": {"=?base64?!!?="}}, false},
		{http.Header{"Mcp-Name": {"echo"}}, false},
		{http.Header{"Mcp-Name": {"échø", "echo"}}, false},
	}
	for i, tt := range tests {
		if got := headersMatch(tt.h, call) == nil; got != tt.ok {
			t.Errorf("%d: headersMatch(%v) = %v", i, tt.h, got)
		}
	}
	// Mcp-Name on another method names a resource or a prompt, not read.
	if headersMatch(http.Header{"Mcp-Method": {"resources/read"}, "Mcp-Name": {"file:///x"}}, &MCPMessage{Method: "resources/read"}) != nil {
		t.Error("resources/read refused")
	}
}

// keepNoSecrets keeps every tool but those starting with secret.
func keepNoSecrets(name string) bool { return !strings.HasPrefix(name, "secret") }

const listAnswer = `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo","description":"e"},{"name":"secret_keys"},{"description":"no name"},{"name":5}],"nextCursor":"n","ttlMs":5000,"cacheScope":"public"}}`

func checkFiltered(t *testing.T, msg []byte) {
	t.Helper()
	var m struct {
		ID     int `json:"id"`
		Result struct {
			Tools []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"tools"`
			NextCursor string `json:"nextCursor"`
			TTL        int    `json:"ttlMs"`
			CacheScope string `json:"cacheScope"`
		} `json:"result"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("%q: %v", msg, err)
	}
	if m.ID != 7 || len(m.Result.Tools) != 1 || m.Result.Tools[0].Name != "echo" || m.Result.Tools[0].Description != "e" ||
		m.Result.NextCursor != "n" || m.Result.TTL != 5000 || m.Result.CacheScope != "private" {
		t.Errorf("filtered: %s", msg)
	}
}

// upstream writes an answer in chunks of n bytes, flushing after each.
func upstream(w http.ResponseWriter, status int, header http.Header, body string, n int) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	for i := 0; i < len(body); i += n {
		w.Write([]byte(body[i:min(i+n, len(body))])) //nolint:errcheck
		w.(http.Flusher).Flush()
	}
}

func newToolsListWriter(rec http.ResponseWriter) *toolsListWriter {
	return &toolsListWriter{w: rec, keep: keepNoSecrets, id: json.RawMessage("7")}
}

func TestToolsListJSON(t *testing.T) {
	for _, n := range []int{1, 13, 1 << 20} {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, 200, http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Content-Length": {"999"}}, listAnswer, n)
		if rec.Body.Len() != 0 || rec.Flushed {
			t.Fatalf("chunks of %d: the answer went out before it was filtered", n)
		}
		tw.finish(nil)
		checkFiltered(t, rec.Body.Bytes())
		if rec.Header().Get("Content-Length") != itoa(rec.Body.Len()) {
			t.Errorf("Content-Length %q for %d bytes", rec.Header().Get("Content-Length"), rec.Body.Len())
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestToolsListSSE(t *testing.T) {
	notification := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`
	// Two data lines make one message, joined by a newline.
	split := strings.Index(listAnswer, `"result"`)
	for _, eol := range []string{"\n", "\r\n", "\r"} {
		stream := ":comment" + eol + eol +
			"event: message" + eol + "data: " + notification + eol + eol +
			"data: {not json" + eol + eol +
			"id: 9" + eol + "data: " + listAnswer[:split] + eol + "data: " + listAnswer[split:] + eol + eol +
			"data: after" + eol + eol
		for _, n := range []int{1, 5, 64, 1 << 20} {
			rec := httptest.NewRecorder()
			tw := newToolsListWriter(rec)
			upstream(tw, 200, http.Header{"Content-Type": {"text/event-stream"}}, stream, n)
			tw.finish(nil)
			out := rec.Body.String()
			var datas []string
			for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					datas = append(datas, d)
				}
			}
			if len(datas) != 3 || datas[0] != notification || datas[2] != "after" {
				t.Fatalf("eol %q, chunks of %d: %q", eol, n, out)
			}
			checkFiltered(t, []byte(datas[1]))
			if !strings.Contains(out, "id: 9\n") || !strings.HasPrefix(out, ":comment") {
				t.Errorf("eol %q: lines lost: %q", eol, out)
			}
		}
	}
}

func TestToolsListSSEIncompleteEvent(t *testing.T) {
	// A stream that ends inside the response event: clients discard an
	// incomplete event, and so does the filter.
	rec := httptest.NewRecorder()
	tw := newToolsListWriter(rec)
	upstream(tw, 200, http.Header{"Content-Type": {"text/event-stream"}}, "data: "+listAnswer+"\n", 8)
	tw.finish(nil)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("an unfiltered list went out: %q", rec.Body.String())
	}
}

func TestToolsListRefusals(t *testing.T) {
	t.Run("compressed", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, 200, http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, "\x1f\x8b garbage", 4)
		tw.finish(nil)
		if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "compressed") || rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("%d %q %v", rec.Code, rec.Body, rec.Header())
		}
	})
	t.Run("another content type", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, 200, http.Header{"Content-Type": {"text/plain"}}, listAnswer, 4)
		tw.finish(nil)
		if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%d %q", rec.Code, rec.Body)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, 200, http.Header{"Content-Type": {"application/json"}}, `{"tools":[`, 4)
		tw.finish(nil)
		if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"id":7`) {
			t.Errorf("%d %q", rec.Code, rec.Body)
		}
	})
	t.Run("too large JSON", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		big := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"secret","d":"` + strings.Repeat("x", MaxToolsListAnswer) + `"}]}}`
		upstream(tw, 200, http.Header{"Content-Type": {"application/json"}}, big, 1<<16)
		tw.finish(nil)
		if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%d %.100q", rec.Code, rec.Body)
		}
	})
	t.Run("too large event", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		big := "data: " + `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"secret","d":"` + strings.Repeat("x", MaxToolsListAnswer+1<<16) + `"}]}}` + "\n\n"
		upstream(tw, 200, http.Header{"Content-Type": {"text/event-stream"}}, big, 1<<16)
		tw.finish(nil)
		if rec.Code != 200 || strings.Contains(rec.Body.String(), "secret") || !strings.Contains(rec.Body.String(), `"code":-32603`) {
			t.Errorf("%d %.200q", rec.Code, rec.Body)
		}
	})
	t.Run("the upstream failed", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, 200, http.Header{"Content-Type": {"application/json"}}, `{"jsonrpc":"2.0",`, 4)
		tw.finish(errors.New("connection reset"))
		if rec.Body.Len() != 0 {
			t.Errorf("wrote %q; the server answers the error", rec.Body)
		}
	})
}

func TestToolsListPassesOtherAnswers(t *testing.T) {
	for _, tt := range []struct {
		status int
		ct     string
		body   string
	}{
		{400, "application/json", `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"no"}}`},
		{202, "", ""},
		{404, "text/plain", "not found"},
	} {
		rec := httptest.NewRecorder()
		tw := newToolsListWriter(rec)
		upstream(tw, tt.status, http.Header{"Content-Type": {tt.ct}}, tt.body, 3)
		tw.finish(nil)
		if rec.Code != tt.status || rec.Body.String() != tt.body {
			t.Errorf("%d %q: got %d %q", tt.status, tt.body, rec.Code, rec.Body)
		}
	}
}

func TestFilterMessageArray(t *testing.T) {
	out, isResponse, changed := filterMessage([]byte(`[`+listAnswer+`,{"jsonrpc":"2.0","method":"x"}]`), keepNoSecrets)
	if !isResponse || !changed || bytes.Contains(out, []byte("secret")) || !bytes.Contains(out, []byte(`"method":"x"`)) {
		t.Errorf("%s %v %v", out, isResponse, changed)
	}
	// A request that carries result.tools is not a response and is left.
	in := `{"jsonrpc":"2.0","id":1,"method":"m","result":{"tools":[{"name":"secret"}]}}`
	if out, isResponse, changed := filterMessage([]byte(in), keepNoSecrets); isResponse || changed || string(out) != in {
		t.Errorf("%s %v %v", out, isResponse, changed)
	}
	// tools that are no list become an empty one.
	out, _, _ = filterMessage([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"secret"}}}`), keepNoSecrets)
	if bytes.Contains(out, []byte("secret")) {
		t.Errorf("%s", out)
	}
}

// TestDecideMCP: Decide on an MCP route, without HTTP.
func TestDecideMCP(t *testing.T) {
	p, err := policy.Compile(policy.Config{
		Require: policy.Requirements{Scopes: []string{"read"}, Tools: []policy.ToolScopes{{Tools: []string{"admin_*"}, Scopes: []string{"tools:admin"}}}},
		Rules:   []policy.Rule{{Effect: policy.Deny, Kind: policy.KindTool, Values: []string{"secret_*"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{AcceptBearer: true, Verifier: new(countingVerifier), Policy: p, Hosts: []string{"127.0.0.1"}, MCP: true, MCPMaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(body string) (*Request, Decision) {
		r := mcpBenchRequest([]byte(body))
		return r, g.Decide(t.Context(), r)
	}
	if r, d := decide(toolCallBody("echo")); !d.Allowed || r.MCP.Tool != "echo" || string(r.MCP.Body) != toolCallBody("echo") {
		t.Errorf("echo: %+v", d)
	}
	_, d := decide(toolCallBody("admin_reset"))
	if d.Status != 403 || !strings.Contains(d.Header.Get("WWW-Authenticate"), `scope="read tools:admin"`) {
		t.Errorf("admin_reset: %d %v", d.Status, d.Header)
	}
	if _, d := decide(toolCallBody("secret_x")); d.Status != 403 || d.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("secret_x: %d %v", d.Status, d.Header)
	}
	// Content-Length over the limit: refused without reading.
	r := mcpBenchRequest([]byte("{}"))
	r.ContentLength = 5000
	if d := g.Decide(t.Context(), r); d.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length over the limit: %d", d.Status)
	}
	// An unknown length over the limit.
	r = mcpBenchRequest(bytes.Repeat([]byte(" "), 5000))
	r.ContentLength = -1
	if d := g.Decide(t.Context(), r); d.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d", d.Status)
	}
	// Without a token, the body is not read.
	r = mcpBenchRequest([]byte("garbage"))
	r.Header.Del("Authorization")
	if d := g.Decide(t.Context(), r); d.Status != http.StatusUnauthorized || r.MCP != nil || r.Body.(*bytes.Reader).Len() != len("garbage") {
		t.Errorf("no token: %d", d.Status)
	}
}

// TestPassMCPResumedStream: a stream resumed with GET and Last-Event-ID
// (MCP 2025 revisions) may replay a tools/list answer: every event on it
// is filtered, not just the first response.
func TestPassMCPResumedStream(t *testing.T) {
	p, err := policy.Compile(policy.Config{Rules: []policy.Rule{{Effect: policy.Deny, Kind: policy.KindTool, Values: []string{"secret*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{AcceptBearer: true, Verifier: new(countingVerifier), Policy: p, Hosts: []string{"127.0.0.1"}, MCP: true})
	if err != nil {
		t.Fatal(err)
	}
	r := mcpBenchRequest(nil)
	r.Method, r.Body, r.ContentLength = http.MethodGet, nil, 0
	r.Header.Set("Last-Event-ID", "5")
	r.Header.Set("Accept-Encoding", "gzip")
	d := g.Decide(t.Context(), r)
	if !d.Allowed || r.MCP != nil {
		t.Fatalf("GET: %+v", d)
	}
	rec := httptest.NewRecorder()
	w, done := g.PassMCP(rec, r, d.Identity)
	if r.Header.Get("Accept-Encoding") != "" {
		t.Error("the upstream may compress the stream")
	}
	stream := "id: 6\ndata: " + listAnswer + "\n\nid: 7\ndata: " + listAnswer + "\n\n"
	upstream(w, 200, http.Header{"Content-Type": {"text/event-stream"}}, stream, 10)
	done(nil)
	if strings.Contains(rec.Body.String(), "secret") || strings.Count(rec.Body.String(), `"echo"`) != 2 {
		t.Errorf("resumed stream: %q", rec.Body)
	}
	// Without Last-Event-ID, a GET stream carries no answers: not read.
	r.Header.Del("Last-Event-ID")
	if w, _ := g.PassMCP(rec, r, d.Identity); w != http.ResponseWriter(rec) {
		t.Error("a plain GET stream is wrapped")
	}
}
