package caddymodule

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"
)

// The attacks of the trust-boundary review, each performed through a real
// Caddy: what they got before, they must not get now.

// catchAllSetup is a Caddy whose protected site answers any Host (a
// catch-all site address), as many deployments behind a proxy have.
type catchAllSetup struct {
	*testCaddy
	port int    // the catch-all site's port
	app  string // its origin under the configured host name
}

func startCatchAll(t *testing.T) *catchAllSetup {
	t.Helper()
	tc := newTestCaddy(t)
	c := &catchAllSetup{testCaddy: tc, port: freePort(t)}
	c.app = "http://127.0.0.1:" + itoa(c.port)
	// The server trusts 127.0.0.1 alone as a proxy, so 127.0.0.2 is a
	// client whose X-Forwarded-Proto means nothing.
	global := strings.Replace(tc.globalOptions(signinClients), "persist_config off", "persist_config off\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}", 1)
	text := global + `
` + tc.issuer + ` {
	bind 127.0.0.1
	authgate_server
	handle /verify* {
		authgate_verify {
			accept session bearer
			hosts app.example *.corp.example
		}
	}
}

http://:` + itoa(c.port) + ` {
	bind 127.0.0.1 127.0.0.2
	route {
		authgate {
			accept session
			hosts 127.0.0.1 localhost
		}
		respond "page" 200
	}
}
`
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, text)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return c
}

// fromAddress is a client whose connections come from a given loopback
// address.
func fromAddress(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// TestSignInOnlyOnConfiguredHosts: a forged Host or forwarded host never
// starts a sign-in whose code would be delivered to the attacker's host.
func TestSignInOnlyOnConfiguredHosts(t *testing.T) {
	c := startCatchAll(t)
	browse := func(client *http.Client, target, host string, headers ...string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Host = host
		req.Header.Set("Accept", "text/html")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return doWith(t, client, req)
	}
	local := fromAddress("127.0.0.1")
	port := itoa(c.port)
	for _, tt := range []struct {
		name, target, host string
		headers            []string
		status             int
	}{
		{"configured host", c.app + "/p", "127.0.0.1:" + port, nil, http.StatusFound},
		{"configured name", c.app + "/p", "localhost:" + port, nil, http.StatusFound},
		{"forged Host", c.app + "/p", "evil.example:" + port, nil, http.StatusBadRequest},
		{"forged Host without port", c.app + "/p", "evil.example", nil, http.StatusBadRequest},
		{"forged Host, login path", c.app + "/.authgate/login?rd=/x", "evil.example", nil, http.StatusBadRequest},
		{"forged Host with a suffix", c.app + "/p", "127.0.0.1.evil.example", nil, http.StatusBadRequest},
		// Through the verify endpoint, the forwarded host must be listed.
		{"verify: forwarded host not listed", c.issuer + "/verify", "", []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/p"}, http.StatusBadRequest},
		{"verify: nginx URL not listed", c.issuer + "/verify", "", []string{"X-Original-URL", "https://evil.example/.authgate/login?rd=/p"}, http.StatusBadRequest},
		{"verify: listed host", c.issuer + "/verify", "", []string{"X-Forwarded-Host", "app.example", "X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/p"}, http.StatusFound},
		{"verify: listed wildcard", c.issuer + "/verify", "", []string{"X-Forwarded-Host", "wiki.corp.example", "X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/p"}, http.StatusFound},
		{"verify: wildcard is one label", c.issuer + "/verify", "", []string{"X-Forwarded-Host", "a.b.corp.example", "X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/p"}, http.StatusBadRequest},
		{"verify: listed host over plain http", c.issuer + "/verify", "", []string{"X-Forwarded-Host", "app.example", "X-Forwarded-Proto", "http", "X-Forwarded-Uri", "/p"}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.host
			if host == "" {
				host = strings.TrimPrefix(c.issuer, "http://")
			}
			r := browse(local, tt.target, host, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("%d, want %d: %s %v", r.status, tt.status, r.body, r.header)
			}
			if tt.status == http.StatusBadRequest {
				if loc := r.header.Get("Location"); loc != "" || len(r.header.Values("Set-Cookie")) > 0 {
					t.Errorf("a refused sign-in redirected or set a cookie: %q %v", loc, r.header.Values("Set-Cookie"))
				}
				if !strings.Contains(string(r.body), "<h1>") {
					t.Errorf("no error page: %s", r.body)
				}
			} else if loc := r.header.Get("Location"); !strings.HasPrefix(loc, c.issuer+"/authorize?") {
				t.Errorf("sign-in went to %q", loc)
			}
		})
	}

	// Resource metadata only for a protected host: a shared cache never
	// keeps a document made from a forged Host.
	if r := browse(local, c.app+"/.well-known/oauth-protected-resource", "evil.example:"+port); r.status != http.StatusNotFound {
		t.Errorf("metadata for a forged Host: %d %s", r.status, r.body)
	}

	// The scheme of the redirect URI is https only if the connection was,
	// or a trusted proxy that terminated TLS says so: the flow cookie is
	// then __Host- and Secure.
	r := browse(local, c.app+"/p", "127.0.0.1:"+port, "X-Forwarded-Proto", "https")
	if set := strings.Join(r.header.Values("Set-Cookie"), "\n"); !strings.Contains(set, "__Host-authgate_flow_") || !strings.Contains(set, "Secure") {
		t.Errorf("behind a trusted TLS proxy, the flow cookie is %q", set)
	}
	untrusted := c.app[:len("http://")] + "127.0.0.2:" + port
	r = browse(fromAddress("127.0.0.2"), untrusted+"/p", "127.0.0.1:"+port, "X-Forwarded-Proto", "https")
	if set := strings.Join(r.header.Values("Set-Cookie"), "\n"); r.status != http.StatusFound || strings.Contains(set, "__Host-") || strings.Contains(set, "Secure") {
		t.Errorf("an untrusted client's X-Forwarded-Proto was believed: %d %q", r.status, set)
	}

	// A session is a session on the host it was signed in on: a copy of
	// its (host-only) cookie does not count on another configured host.
	b := newBrowser(c.testCaddy)
	if r := b.signInThroughGateway(c.app + "/p"); r.status != 200 {
		t.Fatalf("sign-in on the catch-all site: %d %s", r.status, r.body)
	}
	raw, _, _ := sessionCookie(t, b, c.app)
	for host, want := range map[string]int{"127.0.0.1:" + port: http.StatusOK, "localhost:" + port: http.StatusFound} {
		req, _ := http.NewRequest(http.MethodGet, c.app+"/p", nil)
		req.Host = host
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: "authgate_session_gw", Value: raw})
		if r := doWith(t, local, req); r.status != want {
			t.Errorf("the session cookie on %s: %d, want %d", host, r.status, want)
		}
	}

	// A sign-in started on one configured origin cannot finish on another:
	// the code is redeemed only where its redirect URI is.
	start := browse(local, c.app+"/p", "127.0.0.1:"+port)
	var flowCookie *http.Cookie
	for _, sc := range (&http.Response{Header: start.header}).Cookies() {
		if strings.HasPrefix(sc.Name, "authgate_flow_") {
			flowCookie = sc
		}
	}
	if flowCookie == nil {
		t.Fatalf("no flow cookie: %v", start.header)
	}
	var f struct {
		State string `json:"s"`
	}
	gatewayCookies(t).Decode(flowCookie.Name, flowCookie.Value, &f) //nolint:errcheck // checked below
	if f.State == "" {
		t.Fatal("the flow cookie did not decode")
	}
	req, _ := http.NewRequest(http.MethodGet, c.app+"/.authgate/callback?code=stolen&state="+url.QueryEscape(f.State), nil)
	req.Host = "localhost:" + port
	req.AddCookie(flowCookie)
	if r := doWith(t, local, req); r.status != http.StatusBadRequest {
		t.Errorf("a callback on another origin: %d %s", r.status, r.body)
	}
}

// TestAudienceAtTheGateway: a token counts only at the resource it names.
func TestAudienceAtTheGateway(t *testing.T) {
	clients := gatewayClients + `
		client webapi {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid profile email groups read
			audiences $APP
		}`
	g := startGateway(t, clients, `accept bearer`, `accept session`)
	for _, tt := range []struct {
		name   string
		token  string
		status int
	}{
		{"for this resource", g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}}), 200},
		{"for this resource with a trailing slash", g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}}), 200},
		{"for another resource", g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.fwd}}), 401},
		{"for no resource (aud = issuer)", g.token("other", "other-secret", nil), 401},
		{"for a third party", g.token("svc", "svc-secret", url.Values{"resource": {"https://api.example.com"}}), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := g.call("GET", g.app+"/api/x", tt.token)
			if r.status != tt.status {
				t.Fatalf("%d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("challenge %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// The same token passes at the site it names and not through the
	// forward_auth site: no token passthrough.
	fwdTok := g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.fwd}})
	if r := g.call("GET", g.fwd+"/x", fwdTok); r.status != 200 {
		t.Errorf("a token for the forward_auth site there: %d %s", r.status, r.body)
	}
	if r := g.call("GET", g.fwd+"/x", g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}})); r.status != 401 {
		t.Errorf("a token for the app at the forward_auth site: %d", r.status)
	}

	// A user's token releases email, name and groups only with the scopes
	// that cover them.
	userToken := func(scopes ...string) string {
		b := newBrowser(g.testCaddy)
		cfg := &oauth2.Config{ClientID: "webapi", RedirectURL: "http://127.0.0.1:9999/cb", Scopes: scopes,
			Endpoint: oauth2.Endpoint{AuthURL: g.issuer + "/authorize", TokenURL: g.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
		code, verifier := b.codeFlow(cfg, oauth2.SetAuthURLParam("resource", g.app))
		tok, err := exchange(t, cfg, code, verifier)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	r := g.call("GET", g.app+"/api/x", userToken("openid", "read"))
	if r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") || strings.Contains(string(r.body), "alice@example.com") || strings.Contains(string(r.body), "admins") {
		t.Errorf("a token without email/groups scopes released them: %d %s", r.status, r.body)
	}
	r = g.call("GET", g.app+"/api/x", userToken("openid", "read", "email", "groups"))
	if r.status != 200 || !strings.Contains(string(r.body), "email=alice@example.com") || !strings.Contains(string(r.body), "groups=users,admins") {
		t.Errorf("a token with the email and groups scopes: %d %s", r.status, r.body)
	}
}

// altSpelling returns another base64url spelling of a JWT with the same
// bytes: the last character of the signature carries unused low bits.
func altSpelling(t *testing.T, jwt string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, jwt[len(jwt)-1])
	if i < 0 || len(strings.Split(jwt, ".")[2])%4 == 0 {
		t.Fatalf("the signature has no spare bits: %q", jwt)
	}
	return jwt[:len(jwt)-1] + string(alphabet[i^1])
}

// TestRevokedUnderEverySpelling: a revoked token is refused under every
// spelling, whichever was cached first.
func TestRevokedUnderEverySpelling(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	tok := g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}})
	alt := altSpelling(t, tok)
	// Cache the other spelling first, then the original.
	for _, s := range []string{alt, tok} {
		if r := g.call("GET", g.app+"/api/x", s); r.status != 200 {
			t.Fatalf("before revocation: %d %s", r.status, r.body)
		}
	}
	if r := g.postForm("/revoke", url.Values{"token": {tok}}, "apisvc", "apisvc-secret"); r.status != 200 {
		t.Fatal(r.status)
	}
	for name, s := range map[string]string{"original": tok, "other spelling": alt, "third spelling": altSpelling(t, alt[:len(alt)-1]+string(tok[len(tok)-1]^2))} {
		if r := g.call("GET", g.app+"/api/x", s); r.status != 401 {
			t.Errorf("%s after revocation: %d", name, r.status)
		}
	}
}

// sessionCookie decodes the gateway session cookie of a browser, with the
// keys from the store, as only the gateway can.
func sessionCookie(t *testing.T, b *browser, origin string) (raw, refresh, id string) {
	t.Helper()
	u, _ := url.Parse(origin)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "authgate_session_gw" {
			raw = c.Value
		}
	}
	if raw == "" {
		t.Fatal("no gateway session cookie")
	}
	sc := gatewayCookies(t)
	var s struct {
		Refresh string `json:"r"`
		ID      string `json:"i"`
	}
	if err := sc.Decode("authgate_session_gw", raw, &s); err != nil {
		t.Fatal(err)
	}
	return raw, s.Refresh, s.ID
}

// gatewayCookies decodes the gateway's cookies with its keys from the
// store, as only the gateway can.
func gatewayCookies(t *testing.T) *securecookie.SecureCookie {
	t.Helper()
	hash, block, err := activeApp(t).gatewayCookieKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := securecookie.New(hash, block)
	sc.SetSerializer(securecookie.JSONEncoder{})
	sc.MaxAge(0)
	return sc
}

// TestSignOutSignsOut: a copy of the cookie taken before sign-out is
// refused, the session's refresh token is revoked, and signing out at the
// authorization server ends the gateway session too.
func TestSignOutSignsOut(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `
			accept session
			session_lifetime 1s`)
	b := newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); r.status != 200 {
		t.Fatalf("sign-in: %d", r.status)
	}
	stolen, refresh, _ := sessionCookie(t, b, g.app)
	if refresh == "" || !g.active(refresh) {
		t.Fatal("the session has no active refresh token")
	}
	replay := func() int {
		req, _ := http.NewRequest(http.MethodGet, g.app+"/page", nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: "authgate_session_gw", Value: stolen})
		return doWith(t, newBrowser(g.testCaddy).client, req).status
	}
	if s := replay(); s != 200 {
		t.Fatalf("the copied cookie before sign-out: %d", s)
	}
	// Another site cannot sign the user out: a cross-site GET is asked to
	// confirm, a cross-site POST refused, and the session lives on.
	for _, tt := range []struct {
		method, header, value string
		status                int
	}{
		{"GET", "Sec-Fetch-Site", "cross-site", http.StatusOK},
		{"POST", "Sec-Fetch-Site", "cross-site", http.StatusForbidden},
		{"POST", "Origin", "https://evil.example", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(tt.method, g.app+"/.authgate/logout", nil)
		req.Header.Set(tt.header, tt.value)
		if r := b.do(req); r.status != tt.status || r.header.Get("Location") != "" {
			t.Errorf("cross-site sign-out (%s %s): %d %s", tt.method, tt.value, r.status, r.header.Get("Location"))
		}
	}
	if s := replay(); s != 200 {
		t.Fatalf("a cross-site request signed the user out: %d", s)
	}
	req, _ := http.NewRequest(http.MethodPost, g.app+"/.authgate/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", g.app)
	if r := b.do(req); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if s := replay(); s != http.StatusFound {
		t.Errorf("the copied cookie after sign-out: %d, want a redirect to sign in", s)
	}
	if g.active(refresh) {
		t.Error("the signed-out session's refresh token is still active")
	}
	time.Sleep(1100 * time.Millisecond) // past the session lifetime: a refresh is refused too
	if s := replay(); s != http.StatusFound {
		t.Errorf("the copied cookie, once due for a refresh: %d", s)
	}

	// Signing out at the authorization server ends the gateway session
	// that came from it.
	b = newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); r.status != 200 {
		t.Fatalf("second sign-in: %d", r.status)
	}
	confirm := b.get(g.issuer + "/logout")
	f := fields(confirm)
	f.Set("decision", "logout")
	if r := b.post("/logout", f); r.status != 200 {
		t.Fatalf("sign-out at the server: %d %s", r.status, r.body)
	}
	if r := b.get(g.app + "/page"); r.status != http.StatusFound {
		t.Errorf("the gateway session outlived the server's sign-out: %d", r.status)
	}

	// An operator ends a session through the admin API.
	b = newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); r.status != 200 {
		t.Fatalf("third sign-in: %d", r.status)
	}
	_, _, id := sessionCookie(t, b, g.app)
	end := func() int {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+g.admin+"/authgate/gateway-sessions/"+id, nil)
		return do(t, req).status
	}
	if s := end(); s != http.StatusNoContent {
		t.Fatalf("ending the session through the admin API: %d", s)
	}
	if r := b.get(g.app + "/page"); r.status != http.StatusFound {
		t.Errorf("a session the operator ended: %d", r.status)
	}
	if s := end(); s != http.StatusNotFound {
		t.Errorf("ending it again: %d", s)
	}
}

// TestPolicySeesTheCleanPath: a path rule cannot be dodged with another
// spelling of the path.
func TestPolicySeesTheCleanPath(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			accept bearer
			deny expression "request.path.startsWith('/api/admin')"`, `accept session`)
	tok := g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}})
	if r := g.call("GET", g.app+"/api/other", tok); r.status != 200 {
		t.Fatalf("an allowed path: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/api/admin", "/api//admin", "//api/admin", "/api/./admin", "/api/x/../admin", "/api/%61dmin", "/api/admin/", "/api/x/%2e%2e/admin", "/api/x/..%5Cadmin", "/api/x/..\\admin"} {
		req, _ := http.NewRequest(http.MethodGet, g.app, nil)
		req.URL.Opaque = "//127.0.0.1" + strings.TrimPrefix(g.app, "http://127.0.0.1") + p
		req.Header.Set("Authorization", "Bearer "+tok)
		if r := do(t, req); r.status != http.StatusForbidden {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

// TestGatewayCORS: a route with cors lets browser clients read its 401
// challenge and answers their preflights; without it, neither.
func TestGatewayCORS(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			accept bearer
			cors`, `accept session`)
	req, _ := http.NewRequest(http.MethodOptions, g.app+"/api/x", nil)
	req.Header.Set("Origin", "https://spa.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	r := do(t, req)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	req, _ = http.NewRequest(http.MethodGet, g.app+"/api/x", nil)
	req.Header.Set("Origin", "https://spa.example")
	r = do(t, req)
	if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
		t.Errorf("401 for a browser client: %d %v", r.status, r.header)
	}
	req, _ = http.NewRequest(http.MethodGet, g.app+"/page", nil)
	req.Header.Set("Origin", "https://spa.example")
	if r := do(t, req); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a route without cors sent CORS headers: %v", r.header)
	}
	// A path-suffixed metadata URL of no resource is 404 (RFC 9728 §3).
	if r := g.call("GET", g.app+"/.well-known/oauth-protected-resource/nosuch", ""); r.status != http.StatusNotFound {
		t.Errorf("metadata of no resource: %d %s", r.status, r.body)
	}
}

// TestSessionBoundToIssuer: on one host, a session signed in at an
// external provider does not count on a route whose sessions come from
// the bundled server (the same subject there may be someone else).
func TestSessionBoundToIssuer(t *testing.T) {
	ext := externalProvider(t)
	g := startGateway(t, gatewayClients, `
			accept session
			callback_path /api/.authgate/callback`, `
			accept session
			issuer `+ext.URL+`
			client_id gw
			client_secret gw-secret`)
	b := newBrowser(g.testCaddy)
	r := b.get(g.app + "/page")
	login := b.get(r.header.Get("Location"))
	f := fields(login)
	f.Set("username", "erin")
	f.Set("password", "ext-password")
	req, _ := http.NewRequest(http.MethodPost, ext.URL+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = b.do(req)
	r = b.get(r.header.Get("Location")) // the gateway's callback
	if r = b.get(g.app + "/page"); r.status != 200 || !strings.Contains(string(r.body), "sub=erin ") {
		t.Fatalf("external sign-in: %d %s", r.status, r.body)
	}
	// The browser holds the bundled server's cookies too (same host name,
	// another port): none of authgate's cookies reach the upstream.
	b.get(g.issuer + "/login")
	if r = b.get(g.app + "/page"); strings.Contains(string(r.body), "authgate_") {
		t.Errorf("authgate's cookies reached the upstream: %s", r.body)
	}
	if r := b.get(g.app + "/api/x"); r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), g.issuer+"/authorize?") {
		t.Errorf("the external session counted on the bundled server's route: %d %s", r.status, r.body)
	}
}
