package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpClients are the users and clients of the MCP tests: the sign-in
// ones, and registration open for what a tool may register.
const mcpClients = signinClients + `
		registration open {
			scopes openid profile email offline_access read
			grant_types authorization_code refresh_token
			audiences https://api.example.com
			per_address_per_hour 50
		}
`

// mcpSetup is a Caddy serving the authorization server and, at /mcp,
// the authgate_mcp handler.
type mcpSetup struct {
	*testCaddy
	endpoint string
}

// startMCP runs Caddy with the authgate app (options inside its global
// block), authgate_server, and authgate_mcp at /mcp with handler (lines
// inside its block). trustProxy makes loopback a trusted proxy, so that
// X-Forwarded-For names the client.
func startMCP(t *testing.T, options, handler string, trustProxy bool) *mcpSetup {
	t.Helper()
	tc := newTestCaddy(t)
	global := tc.globalOptions(options)
	if trustProxy {
		global = strings.Replace(global, "\tpersist_config off\n", "\tpersist_config off\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n", 1)
	}
	caddyfile := global + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	authgate_mcp /mcp {
		%s
	}
	respond "site content" 404
}
`, tc.site, handler)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return &mcpSetup{testCaddy: tc, endpoint: tc.issuer + "/mcp"}
}

// headerTransport adds headers to every request, as a client behind a
// proxy would have them added.
type headerTransport struct {
	header http.Header
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.header {
		req.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(req)
}

// session connects an MCP client speaking version (the SDK's newest if
// empty), with headers added to its requests.
func (m *mcpSetup) session(version string, headers ...string) *mcpSession {
	m.t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	if len(headers) > 0 {
		h := http.Header{}
		for i := 0; i+1 < len(headers); i += 2 {
			h.Set(headers[i], headers[i+1])
		}
		hc.Transport = headerTransport{h}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "authgate-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: m.endpoint, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		m.t.Fatalf("connecting to %s (%q): %v", m.endpoint, version, err)
	}
	m.t.Cleanup(func() { cs.Close() })
	return &mcpSession{t: m.t, cs: cs}
}

// mcpSession is a connected MCP client.
type mcpSession struct {
	t  *testing.T
	cs *mcp.ClientSession
}

// call calls a tool and returns the result and its structured content.
func (s *mcpSession) call(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		s.t.Fatalf("calling %s: %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out) //nolint:errcheck
	}
	return res, out
}

// ok calls a tool that must succeed.
func (s *mcpSession) ok(name string, args map[string]any) map[string]any {
	s.t.Helper()
	res, out := s.call(name, args)
	if res.IsError {
		s.t.Fatalf("%s failed: %s", name, toolText(res))
	}
	return out
}

// fails calls a tool that must fail with the OAuth error code, and
// returns its error_description.
func (s *mcpSession) fails(name string, args map[string]any, code string) string {
	s.t.Helper()
	res, out := s.call(name, args)
	if !res.IsError {
		s.t.Fatalf("%s succeeded; want %s: %v", name, code, out)
	}
	if out["error"] != code {
		s.t.Fatalf("%s: error %v (%s); want %s", name, out["error"], toolText(res), code)
	}
	desc, _ := out["error_description"].(string)
	return desc
}

func toolText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// str is a structured output's string field.
func str(out map[string]any, name string) string {
	s, _ := out[name].(string)
	return s
}

// gatewayClientSecret reads the built-in gateway client's secret from the
// running app's store, as an attacker who read the database would have
// it: the server itself never hands it out.
func gatewayClientSecret(t *testing.T) string {
	t.Helper()
	secret, err := activeApp(t).store.GetOrCreateSecret(context.Background(), "gateway-client-secret", func() ([]byte, error) {
		return nil, errors.New("the server made no gateway client secret")
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(secret)
}
