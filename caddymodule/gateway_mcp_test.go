package caddymodule

// The MCP-aware gateway (issue 11, item 3) in front of an MCP server that
// is not authgate's: a Go SDK server in this process, stateless with JSON
// answers and stateful with SSE answers, behind Caddy's reverse_proxy; the
// Go SDK's client with client-credentials tokens from the bundled server.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
)

// mcpUpstream is an MCP server on the Go SDK that counts the tool calls
// that reach it and remembers who the gateway said was calling.
type mcpUpstream struct {
	url string
	mu  sync.Mutex
	// calls counts calls per tool; subjects are the X-Auth-Subject
	// headers the tools saw.
	calls    map[string]int
	subjects []string
}

func (u *mcpUpstream) count(tool string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[tool]
}

type mcpText struct {
	Text string `json:"text,omitempty"`
}

type mcpSum struct {
	A int `json:"a"`
	B int `json:"b"`
}

type mcpSumOut struct {
	Sum int `json:"sum"`
}

// upstreamTools are the upstream's tools: echo, add, search, secret_keys
// and admin_reset.
var upstreamTools = []string{"add", "admin_reset", "echo", "search", "secret_keys"}

// startMCPUpstream serves the SDK's Streamable HTTP handler, stateful with
// SSE answers on paths containing /stateful and stateless with JSON
// answers elsewhere, and hand-written answers under /raw/.
func startMCPUpstream(t *testing.T) *mcpUpstream {
	t.Helper()
	u := &mcpUpstream{calls: map[string]int{}}
	server := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	record := func(req *mcp.CallToolRequest) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.calls[req.Params.Name]++
		if req.Extra != nil {
			u.subjects = append(u.subjects, req.Extra.Header.Get("X-Auth-Subject"))
		}
	}
	text := func(name, desc string) {
		mcp.AddTool(server, &mcp.Tool{Name: name, Description: desc}, func(_ context.Context, req *mcp.CallToolRequest, in mcpText) (*mcp.CallToolResult, mcpText, error) {
			record(req)
			return nil, mcpText{Text: name + ":" + in.Text}, nil
		})
	}
	text("echo", "Echoes its text.")
	text("search", "Searches.")
	text("secret_keys", "Shows the secret keys.")
	text("admin_reset", "Resets everything.")
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Adds two integers."}, func(_ context.Context, req *mcp.CallToolRequest, in mcpSum) (*mcp.CallToolResult, mcpSumOut, error) {
		record(req)
		return nil, mcpSumOut{Sum: in.A + in.B}, nil
	})
	server.AddPrompt(&mcp.Prompt{Name: "hello"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
	})
	get := func(*http.Request) *mcp.Server { return server }
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/raw/"):
			rawMCPAnswer(w, r)
		case strings.Contains(r.URL.Path, "/stateful"):
			stateful.ServeHTTP(w, r)
		default:
			stateless.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

// rawToolsList is a tools/list answer with every upstream tool.
func rawToolsList(id string) []byte {
	var tools []map[string]any
	for _, name := range upstreamTools {
		tools = append(tools, map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}})
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(id), "result": map[string]any{"tools": tools, "nextCursor": "c2"}})
	return b
}

// rawMCPAnswer answers tools/list in ways the SDK does not: gzip, SSE with
// CRLF lines cut into small writes, or a list larger than the gateway
// filters.
func rawMCPAnswer(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &msg) //nolint:errcheck
	switch {
	case strings.HasSuffix(r.URL.Path, "/gzip"):
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(rawToolsList(string(msg.ID))) //nolint:errcheck
		zw.Close()
	case strings.HasSuffix(r.URL.Path, "/sse"):
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		stream := ": keep-alive\r\n\r\n" +
			"event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"listing\"}}\r\n\r\n" +
			"event: message\r\nid: 2\r\ndata: " + string(rawToolsList(string(msg.ID))) + "\r\n\r\n" +
			"event: message\r\nid: 3\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"done\"}}\r\n\r\n"
		for i := 0; i < len(stream); i += 7 {
			w.Write([]byte(stream[i:min(i+7, len(stream))])) //nolint:errcheck
			w.(http.Flusher).Flush()
		}
	case strings.HasSuffix(r.URL.Path, "/huge"):
		w.Header().Set("Content-Type", "application/json")
		pad := strings.Repeat("x", 9<<20)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"secret_keys","description":%q}]}}`, msg.ID, pad)
	default:
		http.NotFound(w, r)
	}
}

// mcpGateway is a Caddy with the bundled server and a site whose routes
// protect the upstream.
type mcpGateway struct {
	*testCaddy
	app     string
	up      *mcpUpstream
	logPath string
}

// mcpGatewayClients: mcpc may ask for read and tools:admin, for the
// protected site.
const mcpGatewayClients = `
		client mcpc {
			secret mcpc-secret
			grant_types client_credentials
			scopes read tools:admin
			audiences $APP
		}
`

// mcpGatewayRoutes are the protected site's routes: the configuration
// the issue names, plus a CEL route and an allowlist route.
const mcpGatewayRoutes = `
	route /cel/* {
		authgate {
			accept bearer
			mcp
			allow expression "mcp.method != 'tools/call' || mcp.tool in ['echo', 'search']"
			deny expression "mcp.method == 'prompts/list'"
		}
		reverse_proxy $UP
	}
	route /allow/* {
		authgate {
			accept bearer
			mcp
			allow tool echo search
		}
		reverse_proxy $UP
	}
	route /plain/* {
		authgate {
			accept bearer
		}
		reverse_proxy $UP
	}
	route /small/* {
		authgate {
			accept bearer
			mcp 2KiB
			deny tool secret_*
		}
		reverse_proxy $UP
	}
	route {
		authgate {
			accept bearer
			mcp
			deny tool secret_*
			require scope tools:admin for tool admin_reset
		}
		reverse_proxy $UP
	}
`

func startMCPGateway(t *testing.T) *mcpGateway {
	t.Helper()
	tc := newTestCaddy(t)
	g := &mcpGateway{testCaddy: tc, app: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), up: startMCPUpstream(t),
		logPath: filepath.Join(t.TempDir(), "caddy.log")}
	repl := strings.NewReplacer("$APP", g.app, "$UP", strings.TrimPrefix(g.up.url, "http://"))
	global := tc.globalOptions(repl.Replace(mcpGatewayClients))
	global = strings.Replace(global, "persist_config off", "persist_config off\n\tlog {\n\t\toutput file "+g.logPath+"\n\t\tformat json\n\t\tlevel INFO\n\t}", 1)
	caddyfile := global + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	respond "issuer site" 404
}

%s {
	bind 127.0.0.1
%s
}
`, tc.issuer, g.app, repl.Replace(mcpGatewayRoutes))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return g
}

// ccToken gets a client-credentials token for the protected site, without
// failing the test (it runs inside the MCP client's transport).
func (g *mcpGateway) ccToken(scopes ...string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopes, " ")}, "resource": {g.app}}
	req, _ := http.NewRequest(http.MethodPost, g.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("mcpc", "mcpc-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("token request: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken, nil
}

func (g *mcpGateway) mustToken(scopes ...string) string {
	g.t.Helper()
	tok, err := g.ccToken(scopes...)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// stepUp is an OAuth handler for the SDK's client transport that does
// what the MCP authorization specification asks of a client on 403
// insufficient_scope: ask for the union of the scopes it had and those the
// challenge names (SEP-2350), here with client credentials.
type stepUp struct {
	g          *mcpGateway
	mu         sync.Mutex
	scopes     []string
	token      string
	challenges []string // the scope attributes it was given
}

func (s *stepUp) TokenSource(context.Context) (oauth2.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.token, TokenType: "Bearer"}), nil
}

var challengeScope = regexp.MustCompile(`scope="([^"]*)"`)

func (s *stepUp) Authorize(_ context.Context, _ *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	ch := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(ch, `error="insufficient_scope"`) {
		return nil // as the SDK's own handler: only insufficient_scope is a step-up
	}
	m := challengeScope.FindStringSubmatch(ch)
	if m == nil {
		return errors.New("no scope in the challenge")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challenges = append(s.challenges, m[1])
	for _, sc := range strings.Fields(m[1]) {
		if !slices.Contains(s.scopes, sc) {
			s.scopes = append(s.scopes, sc)
		}
	}
	tok, err := s.g.ccToken(s.scopes...)
	if err != nil {
		return err
	}
	s.token = tok
	return nil
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// connect opens an MCP client session to path on the protected site,
// with a token or a step-up handler.
func (g *mcpGateway) connect(path, version, token string, oauth *stepUp) *mcp.ClientSession {
	g.t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	tr := &mcp.StreamableClientTransport{Endpoint: g.app + path, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}
	if oauth != nil {
		tr.OAuthHandler = oauth
	} else if token != "" {
		hc.Transport = bearerTransport{token}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		g.t.Fatalf("connecting to %s (%q): %v", path, version, err)
	}
	g.t.Cleanup(func() { cs.Close() })
	return cs
}

func callTool(cs *mcp.ClientSession, name string, args any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

func listTools(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// rpcError is the JSON-RPC error the SDK client returns for a call, or
// nil.
func rpcError(err error) *jsonrpc.Error {
	var e *jsonrpc.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// TestMCPGatewayTools runs the scenario with each protocol
// version the SDK speaks, against a stateless server answering JSON and a
// stateful one answering SSE: an allowed tool works; a denied tool is a
// JSON-RPC error the client shows, and never reaches the server; a tool
// that needs a scope the token lacks is a 403 insufficient_scope naming
// only that scope, and the client steps up (the union of its scopes and
// the challenge's) and succeeds; tools/list lists what the caller may
// call.
func TestMCPGatewayTools(t *testing.T) {
	g := startMCPGateway(t)
	for _, path := range []string{"/stateless/mcp", "/stateful/mcp"} {
		for _, version := range []string{"2025-06-18", "2025-11-25", ""} {
			t.Run(path+"@"+version, func(t *testing.T) {
				g.t = t
				before := map[string]int{}
				for _, tool := range upstreamTools {
					before[tool] = g.up.count(tool)
				}
				cs := g.connect(path, version, g.mustToken("read"), nil)

				// tools/list: the denied tool is gone; admin_reset stays (a
				// client can step up for it).
				if got, want := listTools(t, cs), []string{"add", "admin_reset", "echo", "search"}; !slices.Equal(got, want) {
					t.Errorf("tools/list = %q, want %q", got, want)
				}

				res, err := callTool(cs, "echo", map[string]any{"text": "hi"})
				if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.StructuredContent), "echo:hi") {
					t.Fatalf("echo: %v %+v", err, res)
				}

				// A denied tool: the JSON-RPC error, as the client shows it.
				_, err = callTool(cs, "secret_keys", map[string]any{"text": "x"})
				if e := rpcError(err); e == nil || e.Code != -31403 || !strings.Contains(e.Message, `tool "secret_keys" is not allowed`) {
					t.Errorf("secret_keys: %v (%#v)", err, e)
				}

				// A tool whose scope the token lacks.
				_, err = callTool(cs, "admin_reset", nil)
				if e := rpcError(err); e == nil || e.Code != -31403 || !strings.Contains(e.Message, "needs scope tools:admin") {
					t.Errorf("admin_reset without the scope: %v", err)
				}

				// The session is still usable after the refusals.
				if res, err := callTool(cs, "search", map[string]any{"text": "q"}); err != nil || res.IsError {
					t.Errorf("search after the refusals: %v %+v", err, res)
				}

				// Step-up: the client re-authorizes with the union and the
				// call succeeds.
				tok, _ := g.ccToken("read")
				su := &stepUp{g: g, scopes: []string{"read"}, token: tok}
				cs2 := g.connect(path, version, "", su)
				if res, err := callTool(cs2, "admin_reset", map[string]any{"text": "now"}); err != nil || res.IsError {
					t.Fatalf("admin_reset after step-up: %v %+v", err, res)
				}
				if !slices.Equal(su.challenges, []string{"tools:admin"}) || !slices.Equal(su.scopes, []string{"read", "tools:admin"}) {
					t.Errorf("step-up: challenged %q, asked for %q", su.challenges, su.scopes)
				}
				// With the new token, echo still works (nothing was lost).
				if res, err := callTool(cs2, "echo", map[string]any{"text": "again"}); err != nil || res.IsError {
					t.Errorf("echo after step-up: %v", err)
				}

				// The upstream saw only the allowed calls, each with the
				// subject.
				want := map[string]int{"echo": 2, "search": 1, "admin_reset": 1}
				for _, tool := range upstreamTools {
					if got := g.up.count(tool) - before[tool]; got != want[tool] {
						t.Errorf("%s reached the upstream %d times, want %d", tool, got, want[tool])
					}
				}
			})
		}
	}
	g.up.mu.Lock()
	for _, s := range g.up.subjects {
		if s != "mcpc" {
			t.Errorf("the upstream saw subject %q", s)
		}
	}
	g.up.mu.Unlock()
}

// rpcPost sends one raw POST to the protected site.
func (g *mcpGateway) rpcPost(path, token, body string, headers ...string) response {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.app+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(g.t, req)
}

// rpcErr reads a JSON-RPC error answer.
func rpcErr(t *testing.T, r response) (code int, message string, id any) {
	t.Helper()
	var m struct {
		ID    any `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil || m.Error.Code == 0 {
		t.Fatalf("not a JSON-RPC error (%d): %q", r.status, r.body)
	}
	return m.Error.Code, m.Error.Message, m.ID
}

func toolCall(id, name string, args string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `}}`
}

// TestMCPGatewayBadInput: what a client or an attacker may send.
func TestMCPGatewayBadInput(t *testing.T) {
	g := startMCPGateway(t)
	tok := g.mustToken("read")
	const path = "/stateless/mcp"

	t.Run("the insufficient_scope challenge", func(t *testing.T) {
		g.t = t
		r := g.rpcPost(path, tok, toolCall("7", "admin_reset", "{}"))
		ch := r.header.Get("WWW-Authenticate")
		if r.status != http.StatusForbidden || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="tools:admin"`) ||
			!strings.Contains(ch, `resource_metadata="`+g.app+`/.well-known/oauth-protected-resource"`) {
			t.Fatalf("%d %q", r.status, ch)
		}
		if code, msg, id := rpcErr(t, r); code != -31403 || id != float64(7) || !strings.Contains(msg, "tools:admin") {
			t.Errorf("error %d %q id %v", code, msg, id)
		}
		// A denied tool has no challenge: no scope would help.
		r = g.rpcPost(path, tok, toolCall(`"abc"`, "secret_keys", "{}"))
		if r.status != http.StatusForbidden || r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("denied tool: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		if code, _, id := rpcErr(t, r); code != -31403 || id != "abc" {
			t.Errorf("denied tool: %d id %v", code, id)
		}
	})

	t.Run("no token: 401 before the body is read", func(t *testing.T) {
		g.t = t
		r := g.rpcPost(path, "", "not json at all")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Errorf("%d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})

	tests := []struct {
		name    string
		path    string
		body    string
		headers []string
		status  int
		code    int    // JSON-RPC error code, 0 for the upstream's answer
		message string // in the error message
	}{
		{name: "unknown tool goes to the upstream", body: toolCall("1", "nope", "{}"), status: 200, message: "nope"},
		{name: "wrong argument types go to the upstream", body: toolCall("1", "add", `{"a":"one","b":2}`), status: 200, message: "a"},
		{name: "non-JSON", body: "hello", status: 400, code: -32700},
		{name: "truncated JSON", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call"`, status: 400, code: -32700},
		{name: "empty body", body: "", status: 400, code: -32700},
		{name: "invalid UTF-8", body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"secret_\xff\"}}", status: 400, code: -32700},
		{name: "batch", body: "[" + toolCall("1", "echo", "{}") + "," + toolCall("2", "secret_keys", "{}") + "]", status: 400, code: -32600, message: "batches"},
		{name: "batch of one", body: "[" + toolCall("1", "echo", "{}") + "]", status: 400, code: -32600},
		{name: "not an object", body: `"tools/call"`, status: 400, code: -32600},
		{name: "neither request nor response", body: `{"jsonrpc":"2.0","id":1}`, status: 400, code: -32600},
		{name: "method not a string", body: `{"jsonrpc":"2.0","id":1,"method":7}`, status: 400, code: -32600},
		{name: "repeated method", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"secret_keys"}}`, status: 400, code: -32600, message: "repeated"},
		{name: "repeated name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret_keys","name":"echo"}}`, status: 400, code: -32600, message: "repeated"},
		{name: "names are exact: Method is not method", body: `{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"secret_keys"}}`, status: 400, code: -32600},
		{name: "escaped member names are read", body: `{"jsonrpc":"2.0","id":1,"\u006dethod":"tools/call","params":{"na\u006de":"secret\u005fkeys"}}`, status: 403, code: -31403},
		{name: "tools/call without params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, status: 400, code: -32602},
		{name: "tools/call with a number for a name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}`, status: 400, code: -32602},
		{name: "tools/call with an empty name", body: toolCall("1", "", "{}"), status: 400, code: -32602},
		{name: "lone surrogate in a name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret_\ud800"}}`, status: 400, code: -32602},
		{name: "a denied tool as a notification", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"secret_keys"}}`, status: 403, code: -31403},
		{name: "Mcp-Name header names another tool", body: toolCall("1", "secret_keys", "{}"), headers: []string{"Mcp-Method", "tools/call", "Mcp-Name", "echo"}, status: 400, code: -32020},
		{name: "Mcp-Method header names another method", body: toolCall("1", "secret_keys", "{}"), headers: []string{"Mcp-Method", "tools/list"}, status: 400, code: -32020},
		{name: "Base64 Mcp-Name is decoded", body: toolCall("1", "echo", `{"text":"b"}`), headers: []string{"Mcp-Method", "tools/call", "Mcp-Name", "=?base64?ZWNobw==?="}, status: 200, message: "echo:b"},
		{name: "Base64 Mcp-Name mismatch", body: toolCall("1", "secret_keys", "{}"), headers: []string{"Mcp-Method", "tools/call", "Mcp-Name", "=?base64?ZWNobw==?="}, status: 400, code: -32020},
		{name: "notification passes", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, status: 202},
		{name: "response to the server passes", body: `{"jsonrpc":"2.0","id":5,"result":{}}`, status: 202},
		{name: "oversized body", path: "/small/stateless/mcp", body: toolCall("1", "echo", `{"text":"`+strings.Repeat("a", 4096)+`"}`), status: 413, code: -32600, message: "2048 bytes"},
		{name: "oversized body on the default limit", body: toolCall("1", "echo", `{"text":"`+strings.Repeat("a", 1<<20)+`"}`), status: 413, code: -32600},
		{name: "a body just under the limit passes", path: "/small/stateless/mcp", body: toolCall("1", "echo", `{"text":"`+strings.Repeat("a", 1900)+`"}`), status: 200},
		{name: "without mcp the body is not read", path: "/plain/stateless/mcp", body: toolCall("1", "secret_keys", "{}"), status: 200, message: "secret_keys:"},
		{name: "allow tool: the handshake works", path: "/allow/stateless/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, status: 200},
		{name: "allow tool: another tool is refused", path: "/allow/stateless/mcp", body: toolCall("1", "add", `{"a":1,"b":2}`), status: 403, code: -31403},
		{name: "allow tool: a listed tool works", path: "/allow/stateless/mcp", body: toolCall("1", "search", `{"text":"s"}`), status: 200, message: "search:s"},
		{name: "cel: mcp.tool allows echo", path: "/cel/stateless/mcp", body: toolCall("1", "echo", `{"text":"c"}`), status: 200, message: "echo:c"},
		{name: "cel: mcp.tool refuses add", path: "/cel/stateless/mcp", body: toolCall("1", "add", `{"a":1,"b":2}`), status: 403, code: -31403, message: `tool "add" is not allowed`},
		{name: "cel: mcp.method refuses prompts/list", path: "/cel/stateless/mcp", body: `{"jsonrpc":"2.0","id":3,"method":"prompts/list"}`, status: 403, code: -31403, message: "this MCP request is not allowed"},
		{name: "cel: other methods pass", path: "/cel/stateless/mcp", body: `{"jsonrpc":"2.0","id":3,"method":"ping"}`, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.t = t
			p := tt.path
			if p == "" {
				p = path
			}
			r := g.rpcPost(p, tok, tt.body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != 0 {
				code, msg, _ := rpcErr(t, r)
				if code != tt.code || !strings.Contains(msg, tt.message) {
					t.Errorf("error %d %q, want %d with %q", code, msg, tt.code, tt.message)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			if !bytes.Contains(r.body, []byte(tt.message)) {
				t.Errorf("upstream answer %q lacks %q", r.body, tt.message)
			}
		})
	}
	if n := g.up.count("secret_keys"); n != 1 { // only through /plain
		t.Errorf("secret_keys reached the upstream %d times", n)
	}

	t.Run("GET and DELETE are not read", func(t *testing.T) {
		g.t = t
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			r := g.call(m, path, tok)
			if r.status != http.StatusMethodNotAllowed { // the stateless upstream's answer
				t.Errorf("%s: %d %s", m, r.status, r.body)
			}
		}
	})
	t.Run("a body on another method is read", func(t *testing.T) {
		g.t = t
		req, _ := http.NewRequest(http.MethodPut, g.app+path, strings.NewReader(toolCall("1", "secret_keys", "{}")))
		req.Header.Set("Authorization", "Bearer "+tok)
		if r := do(t, req); r.status != http.StatusForbidden {
			t.Errorf("PUT with a denied call: %d %s", r.status, r.body)
		}
	})
}

func (g *mcpGateway) call(method, path, token string) response {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.app+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json, text/event-stream")
	return do(g.t, req)
}

// TestMCPGatewayToolsListFilter: tools/list answers the SDK would not
// give, filtered through Caddy's reverse_proxy, and the other routes'
// lists.
func TestMCPGatewayToolsListFilter(t *testing.T) {
	g := startMCPGateway(t)
	tok := g.mustToken("read")
	list := `{"jsonrpc":"2.0","id":42,"method":"tools/list"}`
	names := func(t *testing.T, msg []byte) []string {
		t.Helper()
		var m struct {
			ID     any `json:"id"`
			Result struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
				NextCursor string `json:"nextCursor"`
			} `json:"result"`
		}
		if err := json.Unmarshal(msg, &m); err != nil || m.ID != float64(42) || m.Result.NextCursor != "c2" {
			t.Fatalf("answer %q: %v", msg, err)
		}
		var out []string
		for _, tool := range m.Result.Tools {
			out = append(out, tool.Name)
		}
		return out
	}
	want := []string{"add", "admin_reset", "echo", "search"}

	t.Run("SSE in pieces with CRLF", func(t *testing.T) {
		g.t = t
		r := g.rpcPost("/raw/sse", tok, list)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %q", r.status, r.body)
		}
		events := regexp.MustCompile(`(?m)^data: (.*)$`).FindAllStringSubmatch(strings.ReplaceAll(string(r.body), "\r\n", "\n"), -1)
		if len(events) != 3 || !strings.Contains(events[0][1], "listing") || !strings.Contains(events[2][1], "done") {
			t.Fatalf("events: %q", r.body)
		}
		if got := names(t, []byte(events[1][1])); !slices.Equal(got, want) {
			t.Errorf("tools %q, want %q", got, want)
		}
		if !strings.Contains(string(r.body), ": keep-alive") || !strings.Contains(string(r.body), "id: 2") {
			t.Errorf("the other lines are not kept: %q", r.body)
		}
	})
	t.Run("a compressed answer is read uncompressed", func(t *testing.T) {
		// The gateway asks for the answer without the client's
		// Accept-Encoding; an upstream that compresses anyway is
		// decompressed by reverse_proxy's transport, and filtered. (One
		// that reaches the filter compressed is refused: see the gateway
		// package's tests.)
		g.t = t
		r := g.rpcPost("/raw/gzip", tok, list, "Accept-Encoding", "gzip")
		if got := names(t, r.body); r.status != 200 || !slices.Equal(got, want) {
			t.Errorf("%d %q", r.status, got)
		}
	})
	t.Run("a list larger than the filter reads is not passed on", func(t *testing.T) {
		g.t = t
		r := g.rpcPost("/raw/huge", tok, list)
		if code, _, _ := rpcErr(t, r); r.status != http.StatusBadGateway || code != -32603 || bytes.Contains(r.body, []byte("secret_keys")) {
			t.Errorf("%d %d %.200q", r.status, code, r.body)
		}
	})
	t.Run("the allowlist route lists its tools", func(t *testing.T) {
		g.t = t
		cs := g.connect("/allow/stateful/mcp", "", tok, nil)
		if got := listTools(t, cs); !slices.Equal(got, []string{"echo", "search"}) {
			t.Errorf("tools/list = %q", got)
		}
	})
	t.Run("the CEL route lists its tools", func(t *testing.T) {
		g.t = t
		cs := g.connect("/cel/stateless/mcp", "2025-06-18", tok, nil)
		if got := listTools(t, cs); !slices.Equal(got, []string{"echo", "search"}) {
			t.Errorf("tools/list = %q", got)
		}
	})
	t.Run("a route without tool rules lists everything", func(t *testing.T) {
		g.t = t
		cs := g.connect("/plain/stateless/mcp", "", tok, nil)
		if got := listTools(t, cs); !slices.Equal(got, upstreamTools) {
			t.Errorf("tools/list = %q", got)
		}
	})
}

// TestMCPGatewayLog: each tool call is one line in Caddy's log, with who,
// which tool, the decision and the latency; never the token.
func TestMCPGatewayLog(t *testing.T) {
	g := startMCPGateway(t)
	tok := g.mustToken("read")
	cs := g.connect("/stateless/mcp", "", tok, nil)
	callTool(cs, "echo", map[string]any{"text": "logged"})        //nolint:errcheck
	callTool(cs, "secret_keys", nil)                              //nolint:errcheck
	callTool(cs, "admin_reset", nil)                              //nolint:errcheck
	g.rpcPost("/stateless/mcp", tok, toolCall("9", "nope", "{}")) // unknown: the upstream's
	type line struct {
		Msg      string  `json:"msg"`
		Logger   string  `json:"logger"`
		Subject  string  `json:"subject"`
		ClientID string  `json:"client_id"`
		Tool     string  `json:"tool"`
		Decision string  `json:"decision"`
		Status   int     `json:"status"`
		Latency  float64 `json:"latency"`
		Rule     string  `json:"rule"`
		Missing  []string
	}
	var got map[string]line
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(g.logPath)
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok[len(tok)-20:])) {
			t.Fatal("the log holds the token")
		}
		got = map[string]line{}
		for _, l := range bytes.Split(b, []byte("\n")) {
			var e line
			if json.Unmarshal(l, &e) == nil && e.Msg == "mcp tool call" {
				got[e.Tool] = e
			}
		}
		if len(got) == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[string]struct {
		decision string
		status   int
	}{"echo": {"allowed", 200}, "secret_keys": {"denied", 403}, "admin_reset": {"insufficient_scope", 403}, "nope": {"allowed", 200}}
	for tool, w := range want {
		e, ok := got[tool]
		if !ok {
			t.Errorf("no log line for %s (%v)", tool, got)
			continue
		}
		if e.Decision != w.decision || e.Status != w.status || e.Subject != "mcpc" || e.ClientID != "mcpc" || e.Latency <= 0 || e.Logger != "http.handlers.authgate" {
			t.Errorf("%s: %+v", tool, e)
		}
	}
	if got["secret_keys"].Rule != "deny tool secret_*" {
		t.Errorf("the denial does not name its rule: %+v", got["secret_keys"])
	}
}

// TestMCPGatewayConfig: the Caddyfile's syntax, and the configurations
// that would silently not protect anything.
func TestMCPGatewayConfig(t *testing.T) {
	adapt := func(block string) (map[string]any, error) {
		cf := ":8080 {\n\troute {\n\t\tauthgate {\n" + block + "\n\t\t}\n\t}\n}\n"
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		json.Unmarshal(cfg, &m) //nolint:errcheck
		var find func(v any) map[string]any
		find = func(v any) map[string]any {
			switch v := v.(type) {
			case map[string]any:
				if v["handler"] == "authgate" {
					return v
				}
				for _, x := range v {
					if f := find(x); f != nil {
						return f
					}
				}
			case []any:
				for _, x := range v {
					if f := find(x); f != nil {
						return f
					}
				}
			}
			return nil
		}
		return find(m), nil
	}
	h, err := adapt("mcp 2MiB\nrequire scope read\nrequire scope tools:admin tools:write for tool admin_* reset\ndeny tool secret_*\nallow tool echo")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"mcp": h["mcp"], "mcp_max_body": h["mcp_max_body"], "require": h["require"], "rules": h["rules"]})
	const want = `{"mcp":true,"mcp_max_body":2097152,"require":{"scopes":["read"],"tools":[{"scopes":["tools:admin","tools:write"],"tools":["admin_*","reset"]}]},"rules":[{"effect":"deny","kind":"tool","values":["secret_*"]},{"effect":"allow","kind":"tool","values":["echo"]}]}`
	if string(b) != want {
		t.Errorf("adapted:\n%s\nwant\n%s", b, want)
	}
	for _, bad := range []string{"mcp 0", "mcp lots", "mcp 1MiB 2", "require scope for tool x", "require scope a for tool"} {
		if _, err := adapt(bad); err == nil {
			t.Errorf("%q adapted", bad)
		}
	}

	// Provisioning refuses what would not protect: mcp on the verify
	// endpoint, tool rules without mcp.
	tc := newTestCaddy(t)
	for _, tt := range []struct{ site, want string }{
		{"authgate_verify {\n\t\tmcp\n\t}", "mcp is for the authgate handler only"},
		{"authgate {\n\t\tdeny tool secret_*\n\t}", "need the mcp option"},
		{"authgate {\n\t\trequire scope a for tool b\n\t}", "need the mcp option"},
		{"authgate {\n\t\tdeny expression \"mcp.tool == 'x'\"\n\t}", "need the mcp option"},
		{"authgate_verify {\n\t\tallow tool x\n\t}", "need the mcp option"},
	} {
		cf := tc.globalOptions("") + fmt.Sprintf("%s {\n\tbind 127.0.0.1\n\tauthgate_server\n}\n%s {\n\tbind 127.0.0.1\n\t%s\n}\n", tc.issuer, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), tt.site)
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
		if err != nil {
			t.Fatalf("adapting %q: %v", tt.site, err)
		}
		if err := caddy.Load(cfg, true); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: loaded with %v; want %q", tt.site, err, tt.want)
		}
	}
	caddy.Stop() //nolint:errcheck
}
