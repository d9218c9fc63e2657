package mcpserver

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestListTools lists the five tools, each with a description, an input
// schema and an output schema, in every protocol version served.
func TestMCPListTools(t *testing.T) {
	as, asURL := authServer(t, nil)
	for _, v := range []string{"", "2026-07-28", "2025-11-25", "2025-06-18"} {
		env := bundledEnv(t, as, asURL.URL, v)
		if got := env.session.InitializeResult(); got == nil || got.ServerInfo == nil || got.ServerInfo.Name != "authgate" {
			t.Fatalf("%q: server info %+v", v, got)
		} else if want := v; want != "" && got.ProtocolVersion != want {
			t.Errorf("negotiated %q; want %q", got.ProtocolVersion, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := env.session.ListTools(ctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("%q: listing tools: %v", v, err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
			if len(tool.Description) < 200 || tool.InputSchema == nil || tool.OutputSchema == nil || tool.Annotations == nil {
				t.Errorf("%s: description, schemas or annotations missing", tool.Name)
			}
		}
		slices.Sort(names)
		if want := []string{"oauth2_authorize", "oauth2_exchange_token", "oauth2_register_client", "oauth2_revoke_token", "oauth2_validate_token"}; !slices.Equal(names, want) {
			t.Fatalf("%q: tools %v; want %v", v, names, want)
		}
	}
}

// TestAuthorizeURL builds a PKCE authorization URL for a public client,
// and pushes it when the client must use PAR.
func TestMCPAuthorizeURL(t *testing.T) {
	as, ts := authServer(t, nil)
	env := bundledEnv(t, as, ts.URL, "")
	out := env.ok("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid read"})
	u, err := url.Parse(out["authorization_url"].(string))
	if err != nil || !strings.HasPrefix(u.String(), ts.URL+"/authorize?") {
		t.Fatalf("authorization_url %v", out["authorization_url"])
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != out["code_challenge"] || q.Get("state") != out["state"] ||
		q.Get("nonce") == "" || q.Get("nonce") != out["nonce"] || q.Get("scope") != "openid read" || q.Get("response_type") != "code" {
		t.Fatalf("query %v; output %v", q, out)
	}
	if out["pushed"] == true || out["issuer"] != ts.URL || len(out["code_verifier"].(string)) < 43 {
		t.Fatalf("output %v", out)
	}
	// A client that must push: the URL carries only client_id and request_uri.
	out = env.ok("oauth2_authorize", map[string]any{"client_id": "pushy", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid", "state": "mine"})
	u, _ = url.Parse(out["authorization_url"].(string))
	if out["pushed"] != true || out["state"] != "mine" || len(u.Query()) != 2 || !strings.HasPrefix(u.Query().Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("pushed: %v", out)
	}
	// A confidential client that must push needs its secret.
	env.fails("oauth2_authorize", map[string]any{"client_id": "pushy-conf", "redirect_uri": "https://webapp.example/cb", "scope": "openid"}, "invalid_request")
	env.fails("oauth2_authorize", map[string]any{"client_id": "pushy-conf", "redirect_uri": "https://webapp.example/cb", "scope": "openid", "client_secret": "wrong"}, "invalid_client")
	out = env.ok("oauth2_authorize", map[string]any{"client_id": "pushy-conf", "redirect_uri": "https://webapp.example/cb", "scope": "openid", "client_secret": "pushy-secret"})
	if out["pushed"] != true {
		t.Fatalf("pushed with a secret: %v", out)
	}
	// Failures the browser would only see as an error page.
	env.fails("oauth2_authorize", map[string]any{"client_id": "nobody", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid"}, "invalid_request")
	env.fails("oauth2_authorize", map[string]any{"client_id": "authgate-gateway", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid"}, "invalid_request")
	env.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "http://evil.example/cb", "scope": "openid"}, "invalid_request")
	env.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "admin"}, "invalid_scope")
	env.fails("oauth2_authorize", map[string]any{"client_id": "app", "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid", "prompt": "sometimes"}, "invalid_request")
}

// TestValidateToken introspects as the caller's client and verifies JWTs
// locally; garbage is inactive, not an error.
func TestMCPValidateToken(t *testing.T) {
	var st store.Store
	as, ts := authServer(t, func(c *authserver.Config) { st = c.Store })
	env := bundledEnv(t, as, ts.URL, "")
	tok := clientToken(t, ts.URL, "svc", "svc-secret", url.Values{"resource": {"https://api.example.com"}})

	out := env.ok("oauth2_validate_token", map[string]any{"token": tok, "audience": "https://api.example.com"})
	jwt, _ := out["jwt"].(map[string]any)
	if out["active"] != true || out["checked_with"] != "jwt" || jwt["signature_valid"] != true || jwt["kid"] == "" || jwt["alg"] != "ES256" ||
		jwt["typ"] != "at+jwt" || jwt["audience_valid"] != true || jwt["client_id"] != "svc" || jwt["valid"] != true {
		t.Fatalf("local verification: %v", out)
	}
	out = env.ok("oauth2_validate_token", map[string]any{"token": tok, "audience": "https://elsewhere.example"})
	if out["active"] != false || out["jwt"].(map[string]any)["audience_valid"] != false {
		t.Fatalf("another audience: %v", out)
	}
	// Introspection as the token's own client, as a resource server,
	// and as another client, which sees it inactive (RFC 7662 §2.2).
	for _, c := range []struct {
		id, secret string
		active     bool
	}{{"svc", "svc-secret", true}, {"rs", "rs-secret", true}, {"other", "other-secret", false}, {"poster", "poster-secret", false}} {
		out = env.ok("oauth2_validate_token", map[string]any{"token": tok, "client_id": c.id, "client_secret": c.secret})
		if out["active"] != c.active || out["checked_with"] != "introspection" {
			t.Errorf("introspected as %s: %v", c.id, out)
		}
	}
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "svc", "client_secret": "wrong"}, "invalid_client")
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "nobody", "client_secret": "x"}, "invalid_client")
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "authgate-gateway", "client_secret": gatewayClientSecret(t, st)}, "invalid_client")
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "svc"}, "invalid_request")
	env.fails("oauth2_validate_token", map[string]any{"token": tok, "client_id": "app", "client_secret": "none"}, "invalid_client")

	// Garbage is inactive.
	for _, garbage := range []string{"garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", tok[:len(tok)-4] + "AAAA", strings.Repeat("x", 5000)} {
		out = env.ok("oauth2_validate_token", map[string]any{"token": garbage})
		if out["active"] != false {
			t.Errorf("%.20q: %v", garbage, out)
		}
		out = env.ok("oauth2_validate_token", map[string]any{"token": garbage, "client_id": "rs", "client_secret": "rs-secret"})
		if out["active"] != false || out["checked_with"] != "introspection" {
			t.Errorf("%.20q introspected: %v", garbage, out)
		}
	}
	// Revoked: introspection sees it; local verification cannot.
	env.ok("oauth2_revoke_token", map[string]any{"token": tok, "client_id": "svc", "client_secret": "svc-secret"})
	out = env.ok("oauth2_validate_token", map[string]any{"token": tok, "client_id": "svc", "client_secret": "svc-secret"})
	if out["active"] != false {
		t.Fatalf("revoked token: %v", out)
	}
}

// TestProtocolErrors: an unknown tool is a JSON-RPC error; wrong
// argument types and missing required arguments are tool errors.
func TestMCPProtocolErrors(t *testing.T) {
	as, ts := authServer(t, nil)
	env := bundledEnv(t, as, ts.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := env.session.CallTool(ctx, &mcp.CallToolParams{Name: "oauth2_nothing", Arguments: map[string]any{}}); err == nil {
		t.Fatal("an unknown tool: no error")
	}
	for _, args := range []map[string]any{
		{},
		{"token": 42},
		{"token": "x", "client_id": []string{"a"}},
		{"token": "x", "unknown": "y"},
		{"token": strings.Repeat("x", maxTokenLength+1)},
	} {
		res, _ := env.call("oauth2_validate_token", args)
		if !res.IsError || !strings.Contains(text(res), "argument") {
			t.Errorf("%v: %v %s", args, res.IsError, text(res))
		}
	}
	res, _ := env.call("oauth2_exchange_token", map[string]any{"grant_type": "password", "client_id": "app"})
	if !res.IsError {
		t.Errorf("grant_type password: %s", text(res))
	}
}

// TestMCPProtocolVersions: the server speaks the newest version the SDK
// supports, and every version it names is one the SDK knows.
func TestMCPProtocolVersions(t *testing.T) {
	sdk := mcp.SupportedProtocolVersions()
	if ProtocolVersions()[0] != sdk[0] {
		t.Errorf("newest served %s; the SDK's newest is %s", ProtocolVersions()[0], sdk[0])
	}
	for _, v := range ProtocolVersions() {
		if !slices.Contains(sdk, v) {
			t.Errorf("%s is not a version the SDK supports", v)
		}
	}
}
