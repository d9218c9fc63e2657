package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// verifyEnv is one Caddy serving the authorization server and the verify
// endpoints the README's proxy recipes use, an upstream that echoes what
// it receives, and free ports for the proxies put in front of it.
type verifyEnv struct {
	*testCaddy
	upstream *echoUpstream
	// proxyPort is the port of the proxy under test; the protected origin
	// is http://localhost:proxyPort, on another cookie host than the
	// authorization server's 127.0.0.1.
	proxyPort int
	origin    string
	// proxyPort2 is a second port, for another proxy site.
	proxyPort2 int
}

// verifyClients adds, to the sign-in tests' users and clients, a service
// client whose tokens may name the protected origin (or the issuer's, for
// direct calls to the verify endpoint), and one without the scope the
// bearer-only endpoint requires.
func verifyClients(origin, issuer string) string {
	return signinClients + fmt.Sprintf(`
		client proxysvc {
			secret proxysvc-secret
			grant_types client_credentials
			scopes read write
			audiences %[1]s %[2]s https://api.example.com
		}
		client writer {
			secret writer-secret
			grant_types client_credentials
			scopes write
			audiences %[1]s
		}
`, origin, issuer)
}

// verifySites are the verify endpoints of the README: /verify for pages
// (sessions and tokens) with verifyOptions added, /api-verify for an API
// (tokens with read only), and /untrusted-verify, which trusts no proxy
// the tests run, to show what a request from elsewhere gets. They protect
// the proxies' origins (localhost and their ports) and, for the untrusted
// one, the issuer's own host and port.
const verifySites = `
	handle /verify* {
		authgate_verify {
			hosts localhost:%[2]d localhost:%[3]d
			remote_headers
			%[1]s
		}
	}
	handle /api-verify* {
		authgate_verify {
			accept bearer
			require scope read
			hosts localhost:%[2]d localhost:%[3]d
		}
	}
	handle /untrusted-verify* {
		authgate_verify {
			trusted_proxies 192.0.2.0/24
			hosts localhost:%[2]d localhost:%[3]d %[4]s
			%[1]s
		}
	}
`

// startVerify runs Caddy with the verify endpoints (verifyOptions added to
// /verify's block) and the extra sites, which may use the placeholders
// {PROXY} and {PROXY2} (the proxies' ports), {ISSUER} (the authorization
// server's host:port) and {UPSTREAM} (the echo upstream's host:port).
func startVerify(t *testing.T, verifyOptions, extraSites string) *verifyEnv {
	t.Helper()
	tc := newTestCaddy(t)
	e := &verifyEnv{testCaddy: tc, upstream: newEchoUpstream(t), proxyPort: freePort(t), proxyPort2: freePort(t)}
	e.origin = fmt.Sprintf("http://localhost:%d", e.proxyPort)
	caddyfile := tc.globalOptions(verifyClients(e.origin, tc.issuer)) + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
%s
	respond "issuer site" 404
}
`, tc.issuer, fmt.Sprintf(verifySites, verifyOptions, e.proxyPort, e.proxyPort2, strings.TrimPrefix(tc.issuer, "http://"))) + e.expand(extraSites)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			t.Logf("adapt warning: %s", w)
		}
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return e
}

// expand fills in a config template's placeholders.
func (e *verifyEnv) expand(s string) string {
	return strings.NewReplacer(
		"{PROXY}", fmt.Sprint(e.proxyPort),
		"{PROXY2}", fmt.Sprint(e.proxyPort2),
		"{ISSUER}", strings.TrimPrefix(e.issuer, "http://"),
		"{UPSTREAM}", strings.TrimPrefix(e.upstream.URL, "http://"),
	).Replace(s)
}

// serviceToken is a client credentials token for the protected origin.
func (e *verifyEnv) serviceToken(client, secret, scope string) string {
	e.t.Helper()
	return e.token(client, secret, url.Values{"scope": {scope}, "resource": {e.origin}})
}

// directToken is a token for the issuer's origin, which a request sent
// straight to the verify endpoint (not through a trusted proxy) is
// decided for.
func (e *verifyEnv) directToken() string {
	e.t.Helper()
	return e.token("proxysvc", "proxysvc-secret", url.Values{"scope": {"read"}, "resource": {e.issuer}})
}

// request sends a request with header pairs through a plain client (no
// cookies, no redirects followed).
func (e *verifyEnv) request(method, u string, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	return doWith(e.t, noRedirects, req)
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// echoed is what the upstream received.
type echoed struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

// echoUpstream is the protected service: it answers every request with a
// JSON account of it and remembers each.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []echoed
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()}
		u.mu.Lock()
		u.seen = append(u.seen, e)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		json.NewEncoder(w).Encode(e) //nolint:errcheck
	}))
	t.Cleanup(u.Close)
	return u
}

// hits is how many requests reached the upstream so far.
func (u *echoUpstream) hits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// upstreamSaw decodes an upstream answer; ok is false if r is not one.
func upstreamSaw(r response) (echoed, bool) {
	var e echoed
	if r.header.Get("X-Upstream") != "yes" || json.Unmarshal(r.body, &e) != nil {
		return e, false
	}
	return e, true
}

// identityHeaders are every header the gateway sets or strips for the
// identity; a client's copy of any of them must never reach a service.
var identityHeaders = []string{
	"X-Auth-Subject", "X-Auth-Username", "X-Auth-Email", "X-Auth-Name", "X-Auth-Groups", "X-Auth-Scopes",
	"X-Auth-Client-Id", "Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name",
}

// spoofed are header pairs that forge every identity header.
func spoofed() []string {
	var out []string
	for _, h := range identityHeaders {
		out = append(out, h, "spoofed-admin")
	}
	return out
}

// checkNoSpoof fails if a forged identity header reached the upstream.
func checkNoSpoof(t *testing.T, what string, e echoed) {
	t.Helper()
	for _, h := range identityHeaders {
		for _, v := range e.Header.Values(h) {
			if strings.Contains(v, "spoofed") {
				t.Errorf("%s: the client's %s reached the upstream: %q", what, h, v)
			}
		}
	}
}

// gatewayCookie matches the gateway's own cookies (session and sign-in
// flows) in a Cookie header.
var gatewayCookie = regexp.MustCompile(`(^|;\s*)(__Host-)?authgate_(session_gw|flow_[A-Za-z0-9_-]+)=`)

// visit opens u in the browser and follows every redirect (307 too, as a
// browser does), signing in as alice on the sign-in page. It returns the
// last response and the URLs it opened.
func (b *browser) visit(u string) (response, []string) {
	b.t.Helper()
	var trail []string
	cur := u
	r := b.get(cur)
	trail = append(trail, cur)
	for i := 0; i < 15; i++ {
		switch {
		case r.status >= 300 && r.status < 400 && r.header.Get("Location") != "":
			base, _ := url.Parse(cur)
			next, err := base.Parse(r.header.Get("Location"))
			if err != nil {
				b.t.Fatalf("bad Location %q", r.header.Get("Location"))
			}
			cur = next.String()
			r = b.get(cur)
		case strings.Contains(string(r.body), `name="password"`):
			cur = b.tc.issuer + "/login"
			r = b.signIn(r, "alice", alicePassword)
		default:
			return r, trail
		}
		trail = append(trail, cur)
	}
	b.t.Fatalf("too many redirects: %v", trail)
	return r, trail
}

// cookieValue is the browser's cookie of that name for u, if any.
func (b *browser) cookieValue(u, name string) string {
	pu, _ := url.Parse(u)
	for _, c := range b.client.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// readmeBlock returns the fenced code block of the README, of that
// language, that contains marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	for _, m := range blocks {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("the README has no %s block with %q", lang, marker)
	return ""
}
