package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// testClients are the clients of the authorization server the tests run.
func testClients() []*authserver.Client {
	return []*authserver.Client{
		{ID: "svc", Secret: authserver.PlainSecret("svc-secret"), GrantTypes: []string{authserver.GrantClientCredentials},
			Scopes: []string{"read"}, Audiences: []string{"https://api.example.com"}},
		{ID: "rs", Secret: authserver.PlainSecret("rs-secret"), GrantTypes: []string{authserver.GrantClientCredentials}, IntrospectAny: true},
		{ID: "other", Secret: authserver.PlainSecret("other-secret"), GrantTypes: []string{authserver.GrantClientCredentials}, Scopes: []string{"read"}},
		{ID: "poster", Secret: authserver.PlainSecret("poster-secret"), AuthMethod: authserver.AuthMethodPost,
			GrantTypes: []string{authserver.GrantClientCredentials}, Scopes: []string{"read"}},
		{ID: "app", Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb"},
			GrantTypes: []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken},
			Scopes:     []string{"openid", "profile", "offline_access", "read"}},
		{ID: "webapp", Secret: authserver.PlainSecret("webapp-secret"), RedirectURIs: []string{"https://webapp.example/cb"},
			GrantTypes: []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken}, Scopes: []string{"openid", "read"}},
		{ID: "pushy", Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, RequirePAR: true,
			GrantTypes: []string{authserver.GrantAuthorizationCode}, Scopes: []string{"openid"}},
		{ID: "pushy-conf", Secret: authserver.PlainSecret("pushy-secret"), RedirectURIs: []string{"https://webapp.example/cb"}, RequirePAR: true,
			GrantTypes: []string{authserver.GrantAuthorizationCode}, Scopes: []string{"openid"}},
	}
}

// authServer runs an authorization server on an httptest server (its
// issuer) and returns both.
func authServer(t *testing.T, modify func(*authserver.Config)) (*authserver.Server, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	h, _ := password.Parse(string(hash))
	var as *authserver.Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { as.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	cfg := authserver.Config{
		Issuer: ts.URL, Store: st, Keys: km, Clients: testClients(),
		Users:        []*authserver.User{{Username: "alice", Password: h, Email: "alice@example.com"}},
		Registration: authserver.RegistrationPolicy{Mode: authserver.RegistrationOpen, Scopes: []string{"openid", "profile", "offline_access", "read"}},
	}
	if modify != nil {
		modify(&cfg)
	}
	as, err = authserver.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return as, ts
}

// mcpEnv is an MCP server on an httptest server and a client session
// with it.
type mcpEnv struct {
	t       *testing.T
	as      *authserver.Server
	asURL   string
	mcpURL  string
	session *mcp.ClientSession
}

// bundledEnv serves the tools on the bundled server as, with a client
// session speaking version (the SDK's newest if empty).
func bundledEnv(t *testing.T, as *authserver.Server, asURL, version string) *mcpEnv {
	t.Helper()
	srv, err := New(Config{Bundled: as})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, srv, as, asURL, version)
}

func serve(t *testing.T, srv *Server, as *authserver.Server, asURL, version string) *mcpEnv {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	env := &mcpEnv{t: t, as: as, asURL: asURL, mcpURL: ts.URL}
	env.session = env.connect(version)
	return env
}

func (e *mcpEnv) connect(version string) *mcp.ClientSession {
	e.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.mcpURL, MaxRetries: -1, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		e.t.Fatalf("connecting (%q): %v", version, err)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool and returns the result and its structured content.
func (e *mcpEnv) call(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		e.t.Fatalf("calling %s: %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out) //nolint:errcheck
	}
	return res, out
}

// ok calls a tool that must succeed.
func (e *mcpEnv) ok(name string, args map[string]any) map[string]any {
	e.t.Helper()
	res, out := e.call(name, args)
	if res.IsError {
		e.t.Fatalf("%s failed: %s", name, text(res))
	}
	return out
}

// fails calls a tool that must fail with OAuth error code.
func (e *mcpEnv) fails(name string, args map[string]any, code string) map[string]any {
	e.t.Helper()
	res, out := e.call(name, args)
	if !res.IsError {
		e.t.Fatalf("%s succeeded; want %s: %v", name, code, out)
	}
	if out["error"] != code {
		e.t.Fatalf("%s: error %v (%s); want %s", name, out["error"], text(res), code)
	}
	return out
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// clientToken gets a client credentials token directly from the server.
func clientToken(t *testing.T, asURL, id, secret string, form url.Values) string {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	req, _ := http.NewRequest(http.MethodPost, asURL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if strings.HasPrefix(id, "post:") {
		form.Set("client_id", strings.TrimPrefix(id, "post:"))
		form.Set("client_secret", secret)
		req, _ = http.NewRequest(http.MethodPost, asURL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("no token for %s: %d %v", id, resp.StatusCode, body)
	}
	return tok
}

// gatewayClientSecret reads the built-in gateway client's secret from the
// store, as an attacker who read the database would have it: the server
// itself never hands it out.
func gatewayClientSecret(t *testing.T, st store.Store) string {
	t.Helper()
	secret, err := st.GetOrCreateSecret(context.Background(), "gateway-client-secret", func() ([]byte, error) {
		return nil, errors.New("the server made no gateway client secret")
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(secret)
}
