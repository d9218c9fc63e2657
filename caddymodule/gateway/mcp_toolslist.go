package gateway

// Filtering the upstream's answer to a tools/list down to the tools the
// caller may call, as JSON or as a Server-Sent Events stream.

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

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
