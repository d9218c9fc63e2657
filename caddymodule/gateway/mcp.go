package gateway

// The MCP-aware gateway (Config.MCP): on a route to an MCP server
// (Streamable HTTP), the JSON-RPC message a request carries is read once
// the credentials are valid, so policy can decide by method and tool; a
// tools/call the policy refuses gets a JSON-RPC error, or a step-up
// challenge when a scope is missing; a tools/list answer is filtered to
// the tools the caller may call.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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
