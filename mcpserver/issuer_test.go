package mcpserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/authgate/authgate/authserver"
)

// TestIssuerWithPath discovers an issuer with a path (RFC 8414 §3.1: the
// well-known segment goes before the path) and acts on it over HTTP; the
// bundled mode serves the same issuer in-process.
func TestMCPIssuerWithPath(t *testing.T) {
	var issuer string
	as, ts := authServer(t, func(c *authserver.Config) {
		issuer = c.Issuer + "/oauth"
		c.Issuer = issuer
	})
	tok := clientToken(t, issuer, "svc", "svc-secret", url.Values{})
	for name, cfg := range map[string]Config{"discovered": {Issuer: issuer}, "bundled": {Bundled: as}} {
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := serve(t, srv, as, ts.URL, "")
		out := env.ok("oauth2_validate_token", map[string]any{"token": tok, "client_id": "svc", "client_secret": "svc-secret"})
		if out["active"] != true || out["jwt"].(map[string]any)["valid"] != true || out["jwt"].(map[string]any)["iss"] != issuer {
			t.Fatalf("%s: %v", name, out)
		}
		az := env.ok("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid"})
		if !strings.HasPrefix(az["authorization_url"].(string), issuer+"/authorize?") {
			t.Fatalf("%s: %v", name, az)
		}
	}
}

// TestAuthMethods: a client restricted to client_secret_post is sent its
// secret in the form by default; client_secret_basic can be asked for
// (and is refused by the server for that client).
func TestMCPAuthMethods(t *testing.T) {
	as, ts := authServer(t, nil)
	env := bundledEnv(t, as, ts.URL, "")
	tok := clientToken(t, ts.URL, "post:poster", "poster-secret", url.Values{})
	env.ok("oauth2_validate_token", map[string]any{"token": tok, "client_id": "poster", "client_secret": "poster-secret"})
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "poster", "client_secret": "poster-secret", "auth_method": "client_secret_basic"}, "invalid_client")
	env.ok("oauth2_validate_token", map[string]any{"token": tok, "client_id": "poster", "client_secret": "poster-secret", "auth_method": "client_secret_post"})
	env.fails("oauth2_revoke_token", map[string]any{"token": tok, "client_id": "poster", "auth_method": "client_secret_post"}, "invalid_request")
}

// TestToolPanics: a tool that panics gives a server_error result, and the
// server goes on serving.
func TestMCPToolPanics(t *testing.T) {
	srv, err := New(Config{Issuer: "https://issuer.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := handler(srv, "boom", func(context.Context, ValidateInput) (ValidateOutput, *toolError) { panic("boom") })
	res, out, err := h(context.Background(), &mcp.CallToolRequest{}, ValidateInput{Token: "x"})
	if err != nil || res == nil || !res.IsError || out.Error != errServer || strings.Contains(text(res), "boom") {
		t.Fatalf("%v %+v %v", res, out, err)
	}
}

// TestInProcessTransport: the transport serves only the bundled server's
// origin, from the caller's address, and never with the values of the
// MCP request's context.
func TestMCPInProcessTransport(t *testing.T) {
	type key struct{}
	var seen *http.Request
	tr := inProcess{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r; w.WriteHeader(204) }), origin: "https://as.example"}
	ctx := context.WithValue(WithClientAddress(context.Background(), "203.0.113.9"), key{}, "mark")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://as.example/token", strings.NewReader("a=b"))
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 204 || seen.RemoteAddr != "203.0.113.9:0" || seen.Context().Value(key{}) != nil || seen.Host != "as.example" {
		t.Fatalf("%v %v %+v", resp, err, seen)
	}
	for _, u := range []string{"https://other.example/token", "http://as.example/token", "https://as.example:8443/token"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Errorf("%s: served", u)
		}
	}
}

// TestErrorWriter: the SDK's plain-text refusals become JSON-RPC errors
// with their status kept; everything else passes untouched.
func TestMCPErrorWriter(t *testing.T) {
	for _, c := range []struct {
		status int
		ctype  string
		body   string
		want   string
	}{
		{400, "text/plain; charset=utf-8", "malformed payload: unmarshaling jsonrpc message: x\n", `"code":-32700`},
		{400, "text/plain; charset=utf-8", "JSON RPC not handled: \"x\" unsupported\n", `"code":-32601`},
		{405, "text/plain; charset=utf-8", "Method Not Allowed\n", `"code":-32600`},
		{400, "application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"m"}}`, `"id":1`},
		{200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{}}`, `"result":{}`},
	} {
		rec := httptest.NewRecorder()
		w := &errorWriter{ResponseWriter: rec}
		w.Header().Set("Content-Type", c.ctype)
		w.WriteHeader(c.status)
		w.Write([]byte(c.body)) //nolint:errcheck
		w.finish()
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%d %q: %d %s %s", c.status, c.body, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

// TestLocalhostProtection: on loopback, a request naming another Host is
// refused (DNS rebinding), unless the protection is skipped for a proxy
// on the same machine.
func TestMCPLocalhostProtection(t *testing.T) {
	as, _ := authServer(t, nil)
	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, skip := range []bool{false, true} {
		srv, err := New(Config{Bundled: as, SkipLocalhostProtection: skip})
		if err != nil {
			t.Fatal(err)
		}
		mcpURL := httptest.NewServer(srv)
		t.Cleanup(mcpURL.Close)
		req, _ := http.NewRequest(http.MethodPost, mcpURL.URL, strings.NewReader(body))
		req.Host = "mcp.example.com"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 403, true: 200}[skip]; resp.StatusCode != want {
			t.Errorf("skip %v: %d; want %d", skip, resp.StatusCode, want)
		}
	}
}

// TestConcurrentCalls: calls in parallel on cold caches (metadata, keys)
// all succeed; run with -race.
func TestMCPConcurrentCalls(t *testing.T) {
	as, ts := authServer(t, nil)
	tok := clientToken(t, ts.URL, "svc", "svc-secret", url.Values{})
	for name, cfg := range map[string]Config{"discovered": {Issuer: ts.URL}, "bundled": {Bundled: as}} {
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := serve(t, srv, as, ts.URL, "2025-06-18")
		errs := make(chan string, 16)
		for range 16 {
			go func() {
				res, err := env.session.CallTool(context.Background(), &mcp.CallToolParams{Name: "oauth2_validate_token", Arguments: map[string]any{"token": tok}})
				switch {
				case err != nil:
					errs <- err.Error()
				case res.IsError || !strings.Contains(text(res), `"active":true`):
					errs <- text(res)
				default:
					errs <- ""
				}
			}()
		}
		for range 16 {
			if e := <-errs; e != "" {
				t.Errorf("%s: %s", name, e)
			}
		}
	}
}
