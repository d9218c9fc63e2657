package gateway

// Reading an MCP request's JSON-RPC message as strictly as the strictest
// upstream parser would: one message, no repeated or case-variant members
// the decision reads, tool names as the upstream sees them.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/authgate/authgate/policy"
)

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
