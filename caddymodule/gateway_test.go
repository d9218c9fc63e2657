package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

const gatewayClients = signinClients + `
		client svc2 {
			secret svc2-secret
			scopes read write
			audiences https://api.example.com
			access_token_lifetime 2s
		}
		client svc3 {
			secret svc3-secret
			scopes read
			audiences https://other.example.com
		}
		client apisvc {
			secret apisvc-secret
			grant_types client_credentials
			scopes read write openid email profile groups
			audiences $APP $FWD
		}
`

// TestGatewayBearer is the table of bearer outcomes through real Caddy.
func TestGatewayBearer(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			accept bearer
			require scope read
			require audience https://api.example.com
			deny client svc3
			header X-Auth-Email email`, `accept session`)
	api := g.app + "/api/things"
	read := g.token("svc", "svc-secret", url.Values{"scope": {"read"}, "resource": {"https://api.example.com"}})

	// No credentials: 401 with the RFC 6750 / RFC 9728 challenge.
	r := g.call("GET", api, "")
	ch := r.header.Get("WWW-Authenticate")
	if r.status != 401 || !strings.HasPrefix(ch, `Bearer realm="127.0.0.1`) || strings.Contains(ch, "error=") ||
		!strings.Contains(ch, `resource_metadata="`+g.app+`/.well-known/oauth-protected-resource"`) {
		t.Fatalf("no credentials: %d %q", r.status, ch)
	}
	// A valid token: the upstream sees who it is, and the placeholders work.
	r = g.call("GET", api, read)
	if r.status != 200 || !strings.Contains(string(r.body), "sub=svc ") || !strings.Contains(string(r.body), "scopes=read ") ||
		!strings.Contains(string(r.body), "client=svc ") || !strings.Contains(string(r.body), "ph=svc ") || !strings.Contains(string(r.body), "authz=Bearer ") {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	// Spoofed identity headers are removed.
	r = g.call("GET", api, read, "X-Auth-Subject", "admin", "X-Auth-Email", "boss@example.com", "Remote-User", "root")
	if strings.Contains(string(r.body), "admin") || strings.Contains(string(r.body), "boss@") || strings.Contains(string(r.body), "remote=root") {
		t.Fatalf("spoofed headers reached the upstream: %s", r.body)
	}
	other := g.token("svc3", "svc3-secret", url.Values{"scope": {"read"}})
	short := g.token("svc2", "svc2-secret", url.Values{"scope": {"read"}})
	write := g.token("svc", "svc-secret", url.Values{"scope": {"write"}, "resource": {"https://api.example.com"}})
	denied := g.token("svc3", "svc3-secret", url.Values{"scope": {"read"}})
	_ = denied
	alien := foreignJWT(t, g.issuer)
	parts := strings.Split(read, ".")
	tampered := parts[0] + "." + parts[1] + "." + flip(parts[2])
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."

	cases := []struct {
		name, token string
		status      int
		code        string
	}{
		{"wrong audience", other, 401, "invalid_token"},
		{"wrong issuer and key", alien, 401, "invalid_token"},
		{"alg none", none, 401, "invalid_token"},
		{"tampered signature", tampered, 401, "invalid_token"},
		{"garbage", "not-a-token", 401, "invalid_token"},
		{"insufficient scope", write, 403, "insufficient_scope"},
	}
	for _, tt := range cases {
		r := g.call("GET", api, tt.token)
		ch := r.header.Get("WWW-Authenticate")
		if r.status != tt.status || !strings.Contains(ch, `error="`+tt.code+`"`) {
			t.Errorf("%s: %d %q %s", tt.name, r.status, ch, r.body)
		}
		if tt.code == "insufficient_scope" && !strings.Contains(ch, `scope="read"`) {
			t.Errorf("%s: the challenge does not name the scope: %q", tt.name, ch)
		}
	}
	// A token of a denied client: 403.
	r = g.call("GET", g.app+"/api/x", g.token("svc3", "svc3-secret", url.Values{"scope": {"read"}, "resource": {"https://other.example.com"}}))
	if r.status != 401 && r.status != 403 {
		t.Errorf("denied client: %d", r.status)
	}
	// Revoked: effective on the very next request, although cached.
	if r := g.call("GET", api, read); r.status != 200 {
		t.Fatalf("before revocation: %d", r.status)
	}
	if r := g.postForm("/revoke", url.Values{"token": {read}}, "svc", "svc-secret"); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := g.call("GET", api, read); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("a revoked token still passes: %d", r.status)
	}
	// Expired.
	if r := g.call("GET", api, short); r.status != 401 {
		// svc2's token has the wrong audience? No: it has the configured one.
		t.Logf("short-lived token before expiry: %d", r.status)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := g.call("GET", api, short); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("an expired token passes: %d", r.status)
	}
	// A non-browser request without credentials to the session route: 401.
	if r := g.call("POST", g.app+"/page", "", "Accept", "text/html"); r.status != 401 {
		t.Errorf("POST without a session: %d", r.status)
	}
	// Another Authorization scheme is not a bearer token: 401 without error.
	if r := g.call("GET", api, "", "Authorization", "Basic Zm9vOmJhcg=="); r.status != 401 || strings.Contains(r.header.Get("WWW-Authenticate"), "error=") {
		t.Errorf("Basic credentials: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

// foreignJWT signs an access token with a key this server never had.
func foreignJWT(t *testing.T, issuer string) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "foreign", Algorithm: "ES256"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": "https://evil.example", "sub": "svc", "aud": "https://api.example.com",
		"client_id": "svc", "scope": "read", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "x"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func flip(s string) string {
	b := []byte(s)
	if b[len(b)/2] == 'A' {
		b[len(b)/2] = 'B'
	} else {
		b[len(b)/2] = 'A'
	}
	return string(b)
}

// TestGatewayPolicy: groups, claims and CEL through a session and tokens.
func TestGatewayPolicy(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			accept bearer
			allow expression "'read' in scopes && request.method == 'GET'"`, `
			accept session
			deny group admins`)
	tok := g.token("apisvc", "apisvc-secret", url.Values{"scope": {"read"}, "resource": {g.app}})
	if r := g.call("GET", g.app+"/api/x", tok); r.status != 200 {
		t.Errorf("CEL allow: %d %s", r.status, r.body)
	}
	if r := g.call("POST", g.app+"/api/x", tok); r.status != 403 {
		t.Errorf("CEL (no rule allows POST): %d", r.status)
	}
	// alice is in admins: signed in, but denied, with a page.
	b := newBrowser(g.testCaddy)
	r := b.signInThroughGateway(g.app + "/page")
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "Access denied") {
		t.Errorf("denied group: %d %s", r.status, r.body)
	}
}

// signInThroughGateway follows the gateway's redirect to the server's
// sign-in page, signs in as alice, and follows the redirects back to the
// page first asked for, returning its response.
func (b *browser) signInThroughGateway(target string) response {
	b.t.Helper()
	cur := target
	follow := func(r response) response {
		for i := 0; i < 10 && (r.status == http.StatusFound || r.status == http.StatusSeeOther); i++ {
			base, _ := url.Parse(cur)
			next, err := base.Parse(r.header.Get("Location"))
			if err != nil {
				b.t.Fatalf("bad Location %q", r.header.Get("Location"))
			}
			cur = next.String()
			r = b.get(cur)
		}
		return r
	}
	r := follow(b.get(target))
	if strings.Contains(string(r.body), `name="password"`) {
		cur = b.tc.issuer + "/login"
		r = follow(b.signIn(r, "alice", alicePassword))
	}
	return r
}

// TestGatewaySession: a browser is sent to sign in and comes back to the
// page it asked for, with the identity upstream; the session survives;
// logout ends it.
func TestGatewaySession(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `
			accept session
			remote_headers`)
	b := newBrowser(g.testCaddy)
	// An API client (no text/html) gets 401, not a redirect.
	if r := g.call("GET", g.app+"/page?x=1", ""); r.status != 401 {
		t.Errorf("no session, not a browser: %d", r.status)
	}
	first := b.get(g.app + "/page?x=1")
	loc, _ := url.Parse(first.header.Get("Location"))
	if first.status != http.StatusFound || !strings.HasPrefix(loc.String(), g.issuer+"/authorize?") || loc.Query().Get("request_uri") == "" {
		t.Fatalf("a browser without a session: %d %s", first.status, first.header.Get("Location"))
	}
	r := b.signInThroughGateway(g.app + "/page?x=1")
	if r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") || !strings.Contains(string(r.body), "email=alice@example.com") ||
		!strings.Contains(string(r.body), "groups=users,admins") || !strings.Contains(string(r.body), "remote=alice") || !strings.Contains(string(r.body), "claim=alice@example.com") {
		t.Fatalf("after sign-in: %d %s", r.status, r.body)
	}
	// Signed in: no more redirects, for any page of the site.
	if r := b.get(g.app + "/other"); r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") {
		t.Errorf("second page: %d", r.status)
	}
	// A bad callback: no valid state, no redirect.
	if r := b.get(g.app + "/.authgate/callback?code=x&state=nonsense-state"); r.status != 400 {
		t.Errorf("forged callback: %d", r.status)
	}
	// Logout clears the gateway's cookie and ends the server's session.
	r = b.get(g.app + "/.authgate/logout")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), g.issuer+"/logout?") {
		t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
	}
	if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "authgate_session_gw=;") {
		t.Errorf("logout did not clear the session cookie: %v", r.header.Values("Set-Cookie"))
	}
	confirm := b.get(r.header.Get("Location"))
	f := fields(confirm)
	f.Set("decision", "logout")
	b.post("/logout", f)
	if r := b.get(g.app + "/page"); r.status != http.StatusFound {
		t.Errorf("after logout: %d", r.status)
	}
	// The upstream never sees the gateway's own cookie.
	r = b.signInThroughGateway(g.app + "/page")
	if strings.Contains(string(r.body), "authgate_session_gw") {
		t.Errorf("the session cookie reached the upstream: %s", r.body)
	}
	// The return URL can only be a path on the site.
	if r := b.get(g.app + "//evil.example/x"); r.status == http.StatusFound {
		u, _ := url.Parse(r.header.Get("Location"))
		if u.Host != strings.TrimPrefix(g.issuer, "http://") {
			t.Errorf("redirected off-site: %s", u)
		}
	}
}

// TestForwardAuth protects a site through Caddy's forward_auth to
// authgate_verify: tokens, the sign-in round trip, forged forwarded headers.
func TestForwardAuth(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	tok := g.token("apisvc", "apisvc-secret", url.Values{"scope": {"read"}, "resource": {g.fwd}})
	if r := g.call("GET", g.fwd+"/svc", tok); r.status != 200 || !strings.Contains(string(r.body), "sub=apisvc ") {
		t.Errorf("token through forward_auth: %d %s", r.status, r.body)
	}
	if r := g.call("GET", g.fwd+"/svc", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token through forward_auth: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := g.call("GET", g.fwd+"/svc", tok, "X-Auth-Subject", "admin"); strings.Contains(string(r.body), "admin") {
		t.Errorf("a spoofed header reached the service: %s", r.body)
	}
	b := newBrowser(g.testCaddy)
	r := b.signInThroughGateway(g.fwd + "/home?y=2")
	if r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("browser through forward_auth: %d %s", r.status, r.body)
	}
	// The verify endpoint believes forwarded headers only from trusted
	// proxies: loopback here, so it does; a direct call is judged as is.
	r = g.call("GET", g.issuer+"/verify", tok, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/x", "X-Forwarded-Host", strings.TrimPrefix(g.fwd, "http://"), "X-Forwarded-Proto", "http")
	if r.status != 200 || r.header.Get("X-Auth-Subject") != "apisvc" {
		t.Errorf("verify with a token: %d %v", r.status, r.header)
	}
	for name, hv := range map[string][2]string{
		"bad method": {"X-Forwarded-Method", "GE T"},
		"bad proto":  {"X-Forwarded-Proto", "gopher"},
		"bad uri":    {"X-Forwarded-Uri", "http://evil/"},
		"bad host":   {"X-Forwarded-Host", "evil.example/x"},
		"bad url":    {"X-Original-URL", "javascript:alert(1)"},
	} {
		if r := g.call("GET", g.issuer+"/verify", tok, hv[0], hv[1]); r.status != 400 {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	// nginx style: X-Original-URL; a browser gets 401 (auth_request takes
	// no redirect), and the login path starts the sign-in.
	req, _ := http.NewRequest(http.MethodGet, g.issuer+"/verify", nil)
	req.Header.Set("X-Original-URL", "https://app.example/p?q=1")
	req.Header.Set("Accept", "text/html")
	if r := newBrowser(g.testCaddy).do(req); r.status != http.StatusUnauthorized {
		t.Errorf("nginx-style browser request: %d", r.status)
	}
	req, _ = http.NewRequest(http.MethodGet, g.issuer+"/verify", nil)
	req.Header.Set("X-Original-URL", g.fwd+"/.authgate/login?rd=/p%3Fq%3D1")
	req.Header.Set("Accept", "text/html")
	r = newBrowser(g.testCaddy).do(req)
	if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), g.issuer+"/authorize?") {
		t.Errorf("nginx-style browser request: %d %s %v %s", r.status, r.header.Get("Location"), r.header, r.body)
	}
}

// TestProtectedResourceMetadata serves RFC 9728 metadata for the site and
// for a resource path.
func TestProtectedResourceMetadata(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			accept bearer
			require scope read
			resource_path /api`, `accept session`)
	r := g.call("GET", g.app+"/.well-known/oauth-protected-resource/api", "")
	m := r.json(t)
	if r.status != 200 || m["resource"] != g.app+"/api" || anyStrings(m["authorization_servers"])[0] != g.issuer ||
		anyStrings(m["scopes_supported"])[0] != "read" || anyStrings(m["bearer_methods_supported"])[0] != "header" {
		t.Fatalf("metadata for /api: %d %s", r.status, r.body)
	}
	r = g.call("GET", g.app+"/api/x", "")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `resource_metadata="`+g.app+`/.well-known/oauth-protected-resource/api"`) {
		t.Errorf("the challenge does not point to the metadata: %q", r.header.Get("WWW-Authenticate"))
	}
	// It names the scopes the resource needs, so a client asks for just
	// those (RFC 6750 §3; the MCP authorization specification).
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="read"`) {
		t.Errorf("the challenge does not name the scope: %q", r.header.Get("WWW-Authenticate"))
	}
	// The authorization server's metadata is where the document says.
	as := g.get("/.well-known/oauth-authorization-server").json(t)
	if as["issuer"] != g.issuer {
		t.Errorf("authorization server metadata: %v", as)
	}
	_ = context.Background
	_ = oauth2.NoContext
}
