package gateway

// The MCP-aware gateway (Config.MCP): on a route to an MCP server
// (Streamable HTTP), the JSON-RPC message a request carries is read once
// the credentials are valid, so policy can decide by method and tool; a
// tools/call the policy refuses gets a JSON-RPC error, or a step-up
// challenge when a scope is missing; a tools/list answer is filtered to
// the tools the caller may call.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/authgate/authgate/policy"
)

// DefaultMCPMaxBody bounds the JSON-RPC message of an MCP request when
// Config.MCPMaxBody is not set: 1 MiB.
const DefaultMCPMaxBody = 1 << 20

// MaxToolsListAnswer bounds a tools/list answer (a JSON body, or one
// server-sent event) that the gateway filters: 8 MiB. A larger one is
// replaced by a JSON-RPC error, never passed on unfiltered.
const MaxToolsListAnswer = 8 << 20

// JSON-RPC error codes the gateway answers with.
const (
	// CodeParseError: the body is not JSON (JSON-RPC 2.0).
	CodeParseError = -32700
	// CodeInvalidRequest: not a JSON-RPC message the gateway accepts: a
	// batch, a message that is neither a request, a notification nor a
	// response, a repeated member, a body over the size limit (JSON-RPC
	// 2.0).
	CodeInvalidRequest = -32600
	// CodeInvalidParams: a tools/call without a tool name (JSON-RPC 2.0).
	CodeInvalidParams = -32602
	// CodeInternalError: the upstream's tools/list answer could not be
	// filtered (JSON-RPC 2.0).
	CodeInternalError = -32603
	// CodeHeaderMismatch: the Mcp-Method or Mcp-Name header names
	// another method or tool than the body (MCP 2026-07-28).
	CodeHeaderMismatch = -32020
	// CodeForbidden: the gateway's policy refuses the request: a tool the
	// caller may not call, or a scope it lacks. It is an
	// application-defined code, outside the range JSON-RPC and MCP
	// reserve (-32768 to -32000).
	CodeForbidden = -31403
)

// MCPMessage is what the gateway read from an MCP request's body.
type MCPMessage struct {
	// Method is the JSON-RPC method; empty for a response (to a request
	// the server sent).
	Method string
	// Tool is the tool a tools/call names.
	Tool string
	// ID is the request's id as sent (a JSON string or number); nil for a
	// notification or a response.
	ID json.RawMessage
	// Body is the message as read, to pass on to the upstream.
	Body []byte
}

// IsToolCall reports whether the message calls a tool.
func (m *MCPMessage) IsToolCall() bool { return m != nil && m.Method == policy.MethodToolsCall }

// rpcError is a JSON-RPC error answer the gateway gives.
type rpcError struct {
	status  int
	code    int
	message string
}

func (e *rpcError) decision(id json.RawMessage) Decision {
	return rpcErrorDecision(e.status, id, e.code, e.message, nil)
}

// rpcErrorDecision answers with a JSON-RPC error response: with the
// request's id, or none when there is none (a notification, or a message
// that could not be read), as MCP's Streamable HTTP transport has it.
func rpcErrorDecision(status int, id json.RawMessage, code int, message string, data any) Decision {
	return respond(status, "application/json", rpcErrorBody(id, code, message, data))
}

func rpcErrorBody(id json.RawMessage, code int, message string, data any) []byte {
	type rpcErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id,omitempty"`
		Error   rpcErr          `json:"error"`
	}{"2.0", id, rpcErr{code, message, data}})
	return b
}

// readsMCP reports whether Decide reads the request's body as a JSON-RPC
// message: on an MCP route, every POST and every request with a body.
func (g *Gateway) readsMCP(r *Request) bool {
	return g.cfg.MCP && r.MCP == nil && r.Body != nil && (r.Method == http.MethodPost || r.ContentLength != 0)
}

// readMCP reads and checks the JSON-RPC message of an MCP request.
func (g *Gateway) readMCP(r *Request) (*MCPMessage, *Decision) {
	limit := g.cfg.MCPMaxBody
	if limit <= 0 {
		limit = DefaultMCPMaxBody
	}
	tooLarge := func() *Decision {
		d := rpcErrorDecision(http.StatusRequestEntityTooLarge, nil, CodeInvalidRequest,
			fmt.Sprintf("the request body is larger than the %d bytes this gateway reads", limit), nil)
		return &d
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		// The transport defines no body for GET or DELETE; an upstream
		// ignores it, and the gateway would decide on what it says.
		d := rpcErrorDecision(http.StatusBadRequest, nil, CodeInvalidRequest, "a "+r.Method+" request to an MCP server carries no body", nil)
		return nil, &d
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		d := rpcErrorDecision(http.StatusBadRequest, nil, CodeParseError, "the request body could not be read", nil)
		return nil, &d
	}
	if int64(len(body)) > limit {
		return nil, tooLarge()
	}
	msg, rerr := parseMCP(body)
	if rerr != nil {
		d := rerr.decision(msg.ID)
		return nil, &d
	}
	if rerr := headersMatch(r.Header, msg); rerr != nil {
		d := rerr.decision(msg.ID)
		return nil, &d
	}
	return msg, nil
}

// parseMCP reads one JSON-RPC message. It refuses batches (MCP 2025-06-18
// removed JSON-RPC batching; a batch could hide a call among other
// messages), and any repeated member the decision reads, since JSON
// parsers disagree on which copy counts. Member names are matched exactly,
// as the upstream's parser would (Go's encoding/json would also take
// "Method" for "method"). On error, the message returned holds the id when
// it was read.
func parseMCP(body []byte) (*MCPMessage, *rpcError) {
	msg := &MCPMessage{Body: body}
	invalid := func(message string) *rpcError {
		return &rpcError{http.StatusBadRequest, CodeInvalidRequest, message}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return msg, &rpcError{http.StatusBadRequest, CodeParseError, "the request body is empty: an MCP POST carries one JSON-RPC message"}
	}
	// JSON-RPC messages are UTF-8 (MCP); JSON parsers differ on what they
	// make of invalid bytes.
	if !utf8.Valid(body) || !json.Valid(body) {
		return msg, &rpcError{http.StatusBadRequest, CodeParseError, "the request body is not JSON"}
	}
	i := skipSpace(body, 0)
	switch body[i] {
	case '[':
		return msg, invalid("JSON-RPC batches are not accepted: send one message per request (MCP 2025-06-18 removed batching)")
	case '{':
	default:
		return msg, invalid("the request body is not a JSON-RPC message (an object)")
	}
	var (
		method, id, params               []byte
		seenVersion, hasResult, hasError bool
	)
	err := eachMember(body, i, func(key string, value []byte) error {
		if caseVariant(key, messageMembers) {
			return errCaseVariant
		}
		switch key {
		case "jsonrpc":
			if seenVersion {
				return errRepeated
			}
			seenVersion = true
		case "id":
			if id != nil {
				return errRepeated
			}
			id = value
		case "method":
			if method != nil {
				return errRepeated
			}
			method = value
		case "params":
			if params != nil {
				return errRepeated
			}
			params = value
		case "result":
			hasResult = true
		case "error":
			hasError = true
		}
		return nil
	})
	if id != nil && (id[0] == '"' || id[0] == '-' || id[0] >= '0' && id[0] <= '9') {
		msg.ID = id
	}
	if errors.Is(err, errCaseVariant) {
		return msg, invalid("a JSON-RPC message member name differs from jsonrpc, id, method, params, result or error only in case: parsers disagree on it")
	}
	if err != nil {
		return msg, invalid("a JSON-RPC message member is repeated")
	}
	if method == nil {
		if id == nil || !hasResult && !hasError {
			return msg, invalid("the message is neither a JSON-RPC request, a notification nor a response")
		}
		msg.ID = nil // a response: the id is the server's
		return msg, nil
	}
	m, ok := jsonString(method)
	if !ok {
		return msg, invalid("the JSON-RPC method is not a string")
	}
	msg.Method = m
	if m != policy.MethodToolsCall {
		return msg, nil
	}
	badParams := &rpcError{http.StatusBadRequest, CodeInvalidParams, "tools/call needs params with the tool's name"}
	if params == nil || params[0] != '{' {
		return msg, badParams
	}
	var name []byte
	if err := eachMember(params, 0, func(key string, value []byte) error {
		if caseVariant(key, paramsMembers) {
			return errCaseVariant
		}
		if key == "name" {
			if name != nil {
				return errRepeated
			}
			name = value
		}
		return nil
	}); errors.Is(err, errCaseVariant) {
		return msg, invalid("a tools/call params member name differs from name only in case: parsers disagree on it")
	} else if err != nil {
		return msg, invalid("a tools/call params member is repeated")
	}
	tool, ok := jsonString(name)
	if !ok || tool == "" || !validToolName(tool) {
		return msg, badParams
	}
	msg.Tool = tool
	return msg, nil
}

var (
	errRepeated    = errors.New("repeated member")
	errCaseVariant = errors.New("member name differs only in case")
)

// The member names the decision reads, of the message and of a tools/call's
// params.
var (
	messageMembers = []string{"jsonrpc", "id", "method", "params", "result", "error"}
	paramsMembers  = []string{"name"}
)

// caseVariant reports whether key is one of names under Unicode case
// folding without being it: "Method", "NAME", "paramſ". Some upstream
// parsers (Go's encoding/json, which mcp-go uses) match member names
// without case and let the last one win, so the gateway would decide on
// one member and the upstream act on another.
func caseVariant(key string, names []string) bool {
	for _, n := range names {
		if key != n && strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// validToolName refuses names no parser agreement can be counted on for:
// U+FFFD (what a lone surrogate escape decodes to in Go) and control
// characters.
func validToolName(s string) bool {
	for _, c := range s {
		if c == utf8.RuneError || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// headersMatch checks the Mcp-Method and Mcp-Name headers (MCP
// 2026-07-28) against the body, when a client sent them: something in
// front of the upstream may route by them, and the policy decided by the
// body.
func headersMatch(h http.Header, msg *MCPMessage) *rpcError {
	mismatch := func(what string) *rpcError {
		return &rpcError{http.StatusBadRequest, CodeHeaderMismatch, "header mismatch: the " + what + " header does not match the request body"}
	}
	if vs, ok := h["Mcp-Method"]; ok && (len(vs) != 1 || vs[0] != msg.Method) {
		return mismatch("Mcp-Method")
	}
	if vs, ok := h["Mcp-Name"]; ok && msg.IsToolCall() {
		if len(vs) != 1 {
			return mismatch("Mcp-Name")
		}
		name := vs[0]
		if enc, ok := strings.CutPrefix(name, "=?base64?"); ok && strings.HasSuffix(enc, "?=") {
			dec, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(enc, "?="))
			if err != nil {
				return mismatch("Mcp-Name")
			}
			name = string(dec)
		}
		if name != msg.Tool {
			return mismatch("Mcp-Name")
		}
	}
	return nil
}

// ---- a small scanner over JSON already checked by json.Valid ----

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// eachMember calls f with each member of the object at b[i], its name
// decoded and its value as raw JSON, until f returns an error.
func eachMember(b []byte, i int, f func(key string, value []byte) error) error {
	i = skipSpace(b, i+1) // after '{'
	for i < len(b) && b[i] != '}' {
		end := skipString(b, i)
		key, _ := jsonString(b[i:end])
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // after ':'
		end = skipValue(b, i)
		if err := f(key, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

// jsonString decodes a JSON string value; ok is false for other values.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return knownString(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// knownString returns the MCP method names and member names without
// allocating, and other strings as new strings.
func knownString(b []byte) string {
	switch string(b) {
	case "jsonrpc":
		return "jsonrpc"
	case "id":
		return "id"
	case "method":
		return "method"
	case "params":
		return "params"
	case "name":
		return "name"
	case "arguments":
		return "arguments"
	case "_meta":
		return "_meta"
	case "result":
		return "result"
	case "error":
		return "error"
	case "tools/call":
		return "tools/call"
	case "tools/list":
		return "tools/list"
	case "initialize":
		return "initialize"
	case "notifications/initialized":
		return "notifications/initialized"
	case "ping":
		return "ping"
	}
	return string(b)
}

// ---- answers, filtering and logs ----

// mcpRefused answers an MCP request the policy refuses: 403 with a
// JSON-RPC error the client can show, and for missing scopes the
// insufficient_scope challenge naming every scope this request needs (MCP
// authorization: scope challenge handling; RFC 6750 §3.1), so the client
// steps up with them. A plain refusal has no challenge: no scope would
// help, and a client that saw insufficient_scope would ask the user to
// authorize again for nothing.
func (g *Gateway) mcpRefused(r *Request, id *Identity, pd policy.Decision) Decision {
	msg := r.MCP
	if pd.Reason == policy.ReasonInsufficientScope {
		scope := strings.Join(pd.NeededScopes, " ")
		text := "the access token lacks scope " + strings.Join(pd.MissingScopes, " ") + " that this request needs"
		if msg.IsToolCall() {
			text = "calling tool " + strconv.Quote(msg.Tool) + " needs scope " + strings.Join(pd.MissingScopes, " ") + ", which the access token lacks"
		}
		d := rpcErrorDecision(http.StatusForbidden, msg.ID, CodeForbidden, text, map[string]string{"error": "insufficient_scope", "scope": scope})
		d.Header.Set("WWW-Authenticate", g.challenge(r, "insufficient_scope", "more scope is needed for this request", scope))
		return d
	}
	text := "this MCP request is not allowed for " + id.Subject
	if msg.IsToolCall() {
		text = "tool " + strconv.Quote(msg.Tool) + " is not allowed for " + id.Subject
	}
	return rpcErrorDecision(http.StatusForbidden, msg.ID, CodeForbidden, text, nil)
}

// logToolCall writes one line per tools/call: who, which tool, the
// decision and how long it took (the upstream's answer included, when it
// was passed on). Never a token, never the arguments.
func (g *Gateway) logToolCall(id *Identity, msg *MCPMessage, decision string, status int, elapsed time.Duration, extra ...zap.Field) {
	ce := g.cfg.Logger.Check(zap.InfoLevel, "mcp tool call")
	if ce == nil {
		return
	}
	tool := msg.Tool
	if len(tool) > 256 {
		tool = tool[:256] + "…"
	}
	fields := append([]zap.Field{
		zap.String("subject", id.Subject), zap.String("client_id", id.ClientID), zap.String("auth", id.Auth),
		zap.String("tool", tool), zap.String("decision", decision), zap.Int("status", status), zap.Duration("latency", elapsed),
	}, extra...)
	ce.Write(fields...)
}

// logRefusedToolCall logs a tools/call the policy refused.
func (g *Gateway) logRefusedToolCall(r *Request, id *Identity, pd policy.Decision, status int) {
	extra := []zap.Field{zap.String("reason", string(pd.Reason))}
	if pd.Rule >= 0 {
		if rule, ok := g.cfg.Policy.Rule(pd.Rule); ok {
			extra = append(extra, zap.String("rule", rule.String()))
		}
	}
	if len(pd.MissingScopes) > 0 {
		extra = append(extra, zap.Strings("missing_scopes", pd.MissingScopes))
	}
	if pd.Err != nil {
		extra = append(extra, zap.NamedError("rule_error", pd.Err))
	}
	decision := "denied"
	if pd.Reason == policy.ReasonInsufficientScope {
		decision = "insufficient_scope"
	}
	g.logToolCall(id, r.MCP, decision, status, time.Since(r.received), extra...)
}

// PassMCP prepares the answer to an MCP request Decide allowed: it returns
// the writer to give the upstream, and a function to call with the
// upstream's error once it has answered. A tools/list answer, and a
// resumed stream (GET with Last-Event-ID) that may replay one, is filtered
// to the tools the caller may call (when the policy tells tools apart); a
// tools/call is logged. Other requests get w itself.
func (g *Gateway) PassMCP(w http.ResponseWriter, r *Request, id *Identity) (http.ResponseWriter, func(error)) {
	msg := r.MCP
	switch {
	case r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" && g.cfg.Policy.UsesMCP():
		// MCP 2025-03-26 to 2025-11-25: a client resumes a broken stream
		// with GET, and the server replays what it missed, a tools/list
		// answer maybe.
		r.Header.Del("Accept-Encoding")
		tw := &toolsListWriter{w: w, keep: g.toolFilter(r, id), resumed: true}
		return tw, tw.finish
	case msg == nil:
	case msg.Method == "tools/list" && msg.ID != nil && g.cfg.Policy.UsesMCP():
		// The filter reads the answer: ask the upstream for it
		// uncompressed (Caddy's encode compresses what the client gets).
		r.Header.Del("Accept-Encoding")
		tw := &toolsListWriter{w: w, keep: g.toolFilter(r, id), id: msg.ID}
		return tw, tw.finish
	case msg.IsToolCall():
		sw := &statusWriter{ResponseWriter: w}
		return sw, func(err error) {
			status := sw.status
			if status == 0 && err != nil {
				status = http.StatusBadGateway
			}
			var extra []zap.Field
			if err != nil {
				extra = append(extra, zap.NamedError("upstream_error", err))
			}
			g.logToolCall(id, msg, "allowed", status, time.Since(r.received), extra...)
		}
	}
	return w, func(error) {}
}

// toolFilter says whether the caller may call a tool, as the policy would
// decide a tools/call of it: allowed, or allowed after a step-up (a tool
// that needs a scope the caller lacks is listed, so that a client can learn
// of it and ask for the scope when it calls it).
func (g *Gateway) toolFilter(r *Request, id *Identity) func(string) bool {
	pid := id.Identity
	req := policyRequest(r)
	req.MCPMethod = policy.MethodToolsCall
	return func(name string) bool {
		req.MCPTool = name
		d := g.cfg.Policy.Evaluate(pid, req)
		return d.Allowed || d.Reason == policy.ReasonInsufficientScope
	}
}

// policyRequest is the request as the policy sees it.
func policyRequest(r *Request) policy.Request {
	req := policy.Request{Method: r.Method, Path: CleanPath(r.Path), Host: hostname(r.Host), RemoteIP: r.RemoteIP}
	if r.MCP != nil {
		req.MCPMethod, req.MCPTool = r.MCP.Method, r.MCP.Tool
	}
	return req
}

// statusWriter remembers the status the upstream answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() } //nolint:errcheck

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ---- tools/list filtering ----

// Modes of a toolsListWriter, chosen when the upstream's header comes.
const (
	modeUnknown = iota
	modePass    // not an answer with tools: passed on as it is
	modeJSON    // application/json: buffered, filtered at the end
	modeSSE     // text/event-stream: filtered event by event
	modeFailed  // could not be filtered: an error replaces it
)

// toolsListWriter filters the tools of the upstream's answer to a
// tools/list: a JSON body (buffered, up to MaxToolsListAnswer) or an SSE
// stream (each event until the response, up to MaxToolsListAnswer each).
// An answer it cannot read is replaced by a JSON-RPC error, never passed on
// unfiltered.
type toolsListWriter struct {
	w       http.ResponseWriter
	keep    func(string) bool
	id      json.RawMessage
	mode    int
	status  int
	buf     bytes.Buffer
	sseDone bool // the response went by: the rest passes as it is
	// resumed: a stream resumed with GET and Last-Event-ID, which may
	// replay any earlier answer: every event is filtered.
	resumed bool
	sent    bool // the header went to the client
	failMsg string
}

func (t *toolsListWriter) Header() http.Header { return t.w.Header() }

// Unwrap lets http.ResponseController reach the server's writer for what
// the filter does not handle itself.
func (t *toolsListWriter) Unwrap() http.ResponseWriter { return t.w }

func (t *toolsListWriter) WriteHeader(code int) {
	if t.mode != modeUnknown {
		return
	}
	if code < 200 {
		t.w.WriteHeader(code) // 1xx: informational
		return
	}
	t.status = code
	h := t.w.Header()
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	encoded := h.Get("Content-Encoding") != "" && !strings.EqualFold(h.Get("Content-Encoding"), "identity")
	switch {
	case code != http.StatusOK:
		// An error, or a 202: no list in it.
		t.mode, t.sent = modePass, true
		t.w.WriteHeader(code)
	case mt != "application/json" && mt != "text/event-stream":
		// Not an answer MCP allows; a lenient client might still read a
		// list from it.
		t.fail("the upstream's answer is " + strconv.Quote(mt) + ", not JSON or an event stream")
	case encoded:
		t.fail("the upstream's tools/list answer is compressed")
	case mt == "application/json":
		t.mode = modeJSON
	default:
		t.mode, t.sent = modeSSE, true
		h.Del("Content-Length")
		t.w.WriteHeader(code)
	}
}

// fail replaces an answer that cannot be filtered. Before the header is
// sent it becomes a 502 with a JSON-RPC error; on an SSE stream, an error
// event for the request.
func (t *toolsListWriter) fail(reason string) {
	if t.mode == modeSSE {
		t.mode = modeFailed
		b := rpcErrorBody(t.id, CodeInternalError, "the gateway could not filter the tools list: "+reason, nil)
		t.w.Write(append(append([]byte("event: message\ndata: "), b...), "\n\n"...)) //nolint:errcheck
		return
	}
	t.mode = modeFailed
	t.failMsg = reason
}

func (t *toolsListWriter) Write(p []byte) (int, error) {
	if t.mode == modeUnknown {
		t.WriteHeader(http.StatusOK)
	}
	switch t.mode {
	case modePass:
		return t.w.Write(p)
	case modeJSON:
		if t.buf.Len()+len(p) > MaxToolsListAnswer {
			t.buf = bytes.Buffer{}
			t.fail("the answer is larger than " + strconv.Itoa(MaxToolsListAnswer) + " bytes")
			return len(p), nil
		}
		t.buf.Write(p)
		return len(p), nil
	case modeSSE:
		if t.sseDone {
			return t.w.Write(p)
		}
		t.buf.Write(p)
		if err := t.events(false); err != nil {
			return 0, err
		}
		if t.buf.Len() > MaxToolsListAnswer {
			t.buf = bytes.Buffer{}
			t.fail("an event is larger than " + strconv.Itoa(MaxToolsListAnswer) + " bytes")
		}
		return len(p), nil
	}
	return len(p), nil // failed: the rest is dropped
}

// Flush sends what was written, unless the answer is being buffered.
func (t *toolsListWriter) Flush() {
	if t.sent {
		http.NewResponseController(t.w).Flush() //nolint:errcheck
	}
}

// events passes on the complete events in the buffer, filtered; at the
// end of the stream (last), what is left is an incomplete event, which
// clients discard (the SSE specification), and so does the filter.
func (t *toolsListWriter) events(last bool) error {
	for !t.sseDone {
		b := t.buf.Bytes()
		end, next := eventEnd(b, last)
		if end < 0 {
			if last {
				t.buf.Reset()
			}
			return nil
		}
		out, done := filterEvent(b[:end], t.keep)
		t.sseDone = done && !t.resumed
		if out == nil {
			out = b[:next]
		}
		if _, err := t.w.Write(out); err != nil {
			return err
		}
		t.buf.Next(next)
	}
	if t.buf.Len() > 0 {
		rest := t.buf.Bytes()
		t.buf = bytes.Buffer{}
		if _, err := t.w.Write(rest); err != nil {
			return err
		}
	}
	return nil
}

// eventEnd finds the blank line that ends the first event in b: end is
// where the event's last line ends, next where the following event starts;
// -1 when no event is complete. Lines end with CRLF, LF or CR; a CR at the
// very end may be the first half of a CRLF, so it waits for more unless
// last.
func eventEnd(b []byte, last bool) (end, next int) {
	lineStart := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' && b[i] != '\r' {
			continue
		}
		n := i + 1
		if b[i] == '\r' {
			if n == len(b) && !last {
				return -1, -1
			}
			if n < len(b) && b[n] == '\n' {
				n++
			}
		}
		if i == lineStart { // an empty line
			return i, n
		}
		lineStart = n
		i = n - 1
	}
	return -1, -1
}

// filterEvent filters the tools of a JSON-RPC response in one SSE event
// (its lines, without the blank line that ends it): out is the event to
// send instead, with its blank line, or nil to send it as it is; an event
// whose data is not JSON is dropped (out is empty). done reports that the
// event held a response, after which nothing needs filtering.
func filterEvent(event []byte, keep func(string) bool) (out []byte, done bool) {
	var data, other [][]byte
	for rest := event; len(rest) > 0; {
		// Lines end with CRLF, LF or CR.
		line := rest
		rest = nil
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			next := i + 1
			if line[i] == '\r' && next < len(line) && line[next] == '\n' {
				next++
			}
			line, rest = line[:i], line[next:]
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			value = nil
		}
		if string(field) == "data" {
			data = append(data, bytes.TrimPrefix(value, []byte(" ")))
			continue
		}
		other = append(other, line)
	}
	if len(data) == 0 {
		return nil, false
	}
	payload := bytes.Join(data, []byte("\n"))
	if len(bytes.TrimSpace(payload)) > 0 && !json.Valid(payload) {
		// No JSON-RPC message, which a lenient client might still read
		// a list from: dropped.
		return []byte{}, false
	}
	filtered, isResponse, changed := filterMessage(payload, keep)
	if !changed {
		return nil, isResponse
	}
	var b bytes.Buffer
	for _, line := range other {
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteString("data: ")
	b.Write(filtered)
	b.WriteString("\n\n")
	return b.Bytes(), isResponse
}

// filterMessage removes the tools the caller may not call from a JSON-RPC
// response's result.tools (or from each response of an array), and marks
// the result's cacheScope private. isResponse reports that msg is a
// response; changed, that the output differs. A tool without a string name
// is removed.
func filterMessage(msg []byte, keep func(string) bool) (out []byte, isResponse, changed bool) {
	trimmed := bytes.TrimSpace(msg)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(trimmed, &arr) != nil {
			return msg, false, false
		}
		for i, m := range arr {
			o, resp, ch := filterMessage(m, keep)
			isResponse = isResponse || resp
			if ch {
				arr[i], changed = o, true
			}
		}
		if !changed {
			return msg, isResponse, false
		}
		out, _ = json.Marshal(arr)
		return out, isResponse, true
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(trimmed, &top) != nil {
		return msg, false, false
	}
	_, hasMethod := top["method"]
	_, hasResult := top["result"]
	_, hasError := top["error"]
	isResponse = !hasMethod && (hasResult || hasError)
	if !isResponse || !hasResult {
		return msg, isResponse, false
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(top["result"], &result) != nil {
		return msg, true, false
	}
	rawTools, ok := result["tools"]
	if !ok {
		return msg, true, false
	}
	var tools []json.RawMessage
	if json.Unmarshal(rawTools, &tools) != nil {
		// Not a list of tools: nothing a client could call from it.
		result["tools"] = json.RawMessage("[]")
	} else {
		kept := tools[:0]
		for _, tool := range tools {
			if name, ok := toolName(tool); ok && keep(name) {
				kept = append(kept, tool)
			}
		}
		if len(kept) == 0 {
			result["tools"] = json.RawMessage("[]")
		} else if len(kept) < len(tools) {
			result["tools"], _ = json.Marshal(kept)
		}
	}
	// The list is this caller's: no intermediary may serve it to another
	// (MCP 2026-07-28 result caching, SEP-2549; "public" when absent).
	result["cacheScope"] = json.RawMessage(`"private"`)
	top["result"], _ = json.Marshal(result)
	out, _ = json.Marshal(top)
	return out, true, true
}

// toolName reads a tool's name from its JSON (valid, as the list it came
// from was decoded); ok is false if it has no string name, or more than
// one.
func toolName(tool []byte) (name string, ok bool) {
	i := skipSpace(tool, 0)
	if i >= len(tool) || tool[i] != '{' {
		return "", false
	}
	var raw []byte
	if eachMember(tool, i, func(key string, value []byte) error {
		if key == "name" {
			if raw != nil {
				return errRepeated
			}
			raw = value
		}
		return nil
	}) != nil {
		return "", false
	}
	return jsonString(raw)
}

// finish ends the answer once the upstream is done: a buffered JSON answer
// is filtered and sent; what is left of an SSE stream is dropped (an
// incomplete event); an answer that could not be filtered is replaced.
func (t *toolsListWriter) finish(err error) {
	switch t.mode {
	case modeJSON:
		if err != nil {
			return // nothing was sent: the server answers the error
		}
		out, _, changed := filterMessage(t.buf.Bytes(), t.keep)
		if !changed {
			out = t.buf.Bytes()
		}
		if !json.Valid(out) {
			t.fail("the upstream's answer is not JSON")
			t.finish(nil)
			return
		}
		t.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		t.w.WriteHeader(t.status)
		t.w.Write(out) //nolint:errcheck // the client went away
	case modeSSE:
		t.events(true) //nolint:errcheck // the client went away
	case modeFailed:
		if t.failMsg == "" {
			return // an error event went on the stream
		}
		h := t.w.Header()
		h.Del("Content-Encoding")
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		b := rpcErrorBody(t.id, CodeInternalError, "the gateway could not filter the tools list: "+t.failMsg, nil)
		h.Set("Content-Length", strconv.Itoa(len(b)))
		t.w.WriteHeader(http.StatusBadGateway)
		t.w.Write(b) //nolint:errcheck
		t.failMsg = ""
	}
}
