package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// startExample runs Caddyfile.example on free ports; it returns the
// issuer, and the demo's ports (9000, 9001, …) mapped to the free ones
// (host:port).
func startExample(t *testing.T) (*testCaddy, map[string]string) {
	t.Helper()
	text, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	local, ports := localExample(t, string(text))
	cfgJSON, err := adaptCaddyfile(t, local)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("running Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return &testCaddy{t: t, issuer: "http://" + ports["9000"]}, ports
}

// chromeCodeFetcher opens the authorization URL in headless Chromium,
// signs the user in, approves, and reads the code from the redirect to the
// callback server.
func chromeCodeFetcher(ctx context.Context, callback, user, password string, authorizations *int) auth.AuthorizationCodeFetcher {
	return func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		*authorizations++
		if err := chromedp.Do(ctx, chromedp.Navigate(args.URL)); err != nil {
			return nil, err
		}
		body, err := waitAnyText(ctx, "Sign in", "Allow access?")
		if err != nil {
			return nil, fmt.Errorf("authorization page: %w (%q)", err, body)
		}
		if strings.Contains(body, "Sign in") && !strings.Contains(body, "Allow access?") {
			err := chromedp.Do(ctx,
				chromedp.WaitVisible(chromedp.CSS("#username")),
				chromedp.SendKeys(chromedp.CSS("#username"), user),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			)
			if err != nil {
				return nil, err
			}
		}
		if _, err := waitAnyText(ctx, "Allow access?"); err != nil {
			return nil, fmt.Errorf("consent page: %w", err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`))); err != nil {
			return nil, err
		}
		loc, err := waitLocation(ctx, callback)
		if err != nil {
			return nil, fmt.Errorf("never reached the callback: %w", err)
		}
		u, _ := url.Parse(loc)
		q := u.Query()
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

// waitAnyText waits until the page's text contains one of wants.
func waitAnyText(ctx context.Context, wants ...string) (string, error) {
	for {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		for _, w := range wants {
			if strings.Contains(body, w) {
				return body, nil
			}
		}
		select {
		case <-ctx.Done():
			return body, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// jwtClaims reads a JWT's payload without verifying it (the test only
// looks; the gateway verified it).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m) //nolint:errcheck
	return m
}

// TestMCPEndToEnd: on Caddyfile.example, an MCP client (the official Go
// SDK's) that knows only the MCP server's URL gets 401 with
// resource_metadata, reads the RFC 9728 and RFC 8414 metadata, registers
// itself (RFC 7591, application_type native), signs the demo user in with
// PKCE and resource in headless Chromium, gets a token whose aud is the
// MCP resource, and calls the five tools. A token for another resource is
// refused.
func TestMCPEndToEnd(t *testing.T) {
	browser := newChrome(t)
	tc, _ := startExample(t)
	var mu sync.Mutex
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, "<h1>callback received</h1>")
	}))
	t.Cleanup(cb.Close)
	callback := cb.URL + "/callback"

	// What the client starts from: a 401 naming the resource metadata and
	// the scope, and metadata naming the authorization server.
	req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	req.Header.Set("Content-Type", "application/json")
	r := do(t, req)
	if ch := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized ||
		!strings.Contains(ch, `resource_metadata="`+tc.issuer+`/.well-known/oauth-protected-resource/mcp"`) || !strings.Contains(ch, `scope="mcp:tools"`) {
		t.Fatalf("unauthenticated: %d %q", r.status, ch)
	}
	prm := tc.get("/.well-known/oauth-protected-resource/mcp").json(t)
	if prm["resource"] != tc.issuer+"/mcp" || fmt.Sprint(prm["authorization_servers"]) != "["+tc.issuer+"]" {
		t.Fatalf("resource metadata: %v", prm)
	}
	authorizations := 0
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{callback}, ClientName: "Test agent", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
		RedirectURL:              callback,
		AuthorizationCodeFetcher: chromeCodeFetcher(browser, callback, "demo", "demo-password", &authorizations),
		RequestRefreshToken:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "authgate-test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: tc.issuer + "/mcp", OAuthHandler: handler}, nil)
	if err != nil {
		t.Fatalf("connecting through discovery, registration and sign-in: %v", err)
	}
	defer session.Close()
	if authorizations != 1 {
		t.Errorf("%d authorizations; want 1", authorizations)
	}
	ts, err := handler.TokenSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	// The SDK asks for offline_access because the server lists it (the
	// OIDC refresh-token guidance of the MCP specification), and gets a
	// refresh token.
	if tok.RefreshToken == "" {
		t.Error("no refresh token for a client that asked for offline_access")
	}
	claims := jwtClaims(t, tok.AccessToken)
	if aud := fmt.Sprint(claims["aud"]); !strings.Contains(aud, tc.issuer+"/mcp") {
		t.Errorf("the token's aud is %v; want the MCP resource %s/mcp", claims["aud"], tc.issuer)
	}
	if !slices.Contains(strings.Fields(fmt.Sprint(claims["scope"])), "mcp:tools") {
		t.Errorf("the token's scope is %v", claims["scope"])
	}

	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	for _, want := range []string{"oauth2_authorize", "oauth2_exchange_token", "oauth2_validate_token", "oauth2_revoke_token", "oauth2_register_client"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}
	call := func(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
		t.Helper()
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := res.StructuredContent.(map[string]any)
		if out == nil {
			b, _ := json.Marshal(res.StructuredContent)
			json.Unmarshal(b, &out) //nolint:errcheck
		}
		return res, out
	}
	// Each tool through the protected server: register a client, start
	// its authorization, validate and revoke the session's own token.
	res, reg := call("oauth2_register_client", map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none", "client_name": "Registered by a tool"})
	if res.IsError || reg["client_id"] == nil {
		t.Fatalf("oauth2_register_client: %+v %v", res.Content, reg)
	}
	res, az := call("oauth2_authorize", map[string]any{"client_id": reg["client_id"], "redirect_uri": "http://127.0.0.1:9999/cb", "scope": "openid"})
	if res.IsError || !strings.HasPrefix(fmt.Sprint(az["authorization_url"]), tc.issuer+"/authorize?") {
		t.Errorf("oauth2_authorize: %+v %v", res.Content, az)
	}
	res, _ = call("oauth2_exchange_token", map[string]any{"client_id": reg["client_id"], "grant_type": "authorization_code", "code": "not-a-code", "redirect_uri": "http://127.0.0.1:9999/cb", "code_verifier": strings.Repeat("v", 43)})
	if !res.IsError {
		t.Error("oauth2_exchange_token with a bad code is not an error")
	}
	res, v := call("oauth2_validate_token", map[string]any{"token": "garbage"})
	if res.IsError || v["active"] != false {
		t.Errorf("oauth2_validate_token of garbage: %+v %v", res.Content, v)
	}
	res, _ = call("oauth2_revoke_token", map[string]any{"token": "unknown-token", "client_id": reg["client_id"]})
	if res.IsError {
		t.Errorf("oauth2_revoke_token of an unknown token: %+v", res.Content)
	}

	// A token for another resource is refused at the MCP server.
	other := tc.token("demo-service", "demo-service-secret", url.Values{"scope": {"read"}})
	req, _ = http.NewRequest(http.MethodPost, tc.issuer+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+other)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if r := do(t, req); r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("a token for another resource at the MCP server: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
