package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// forwardAuthSite is the README's forward_auth recipe for the site
// address site.
func forwardAuthSite(t *testing.T, site string) string {
	t.Helper()
	recipe := readmeBlock(t, "caddyfile", "forward_auth")
	recipe = strings.Replace(recipe, "service.example.com {", site+" {\n\tbind 127.0.0.1", 1)
	recipe = strings.ReplaceAll(recipe, "https://auth.example.com", "http://{ISSUER}")
	return strings.ReplaceAll(recipe, "127.0.0.1:8082", "{UPSTREAM}")
}

// oldForwardAuthSite is the forward_auth recipe the README had before,
// with no route for the metadata. (As it was, it also passed the client's
// Host on, which the authorization server's site did not match: Caddy
// answered every auth request with an empty 200.)
const oldForwardAuthSite = `
http://localhost:{PROXY2} {
	bind 127.0.0.1
	forward_auth {ISSUER} {
		uri /verify
		header_up Host {upstream_hostport}
		copy_headers X-Auth-Subject X-Auth-Email X-Auth-Groups
	}
	reverse_proxy {UPSTREAM}
}
`

// failOpenPolicy denies what the attacks below try to pass off as
// something else, and enables the gateway's CORS answers.
const failOpenPolicy = `deny expression "request.method == 'DELETE' || request.path.startsWith('/admin')"
			cors https://spa.example`

// TestVerifyNeverFailsOpen: nothing a client sends makes the verify
// endpoint answer 2xx for a request it did not authenticate and allow,
// which every proxy takes as "allowed"; the README's forward_auth recipe
// holds on a site that accepts any Host.
func TestVerifyNeverFailsOpen(t *testing.T) {
	e := startVerify(t, failOpenPolicy, forwardAuthSite(t, "http://:{PROXY}")+oldForwardAuthSite)
	tok := e.serviceToken("proxysvc", "proxysvc-secret", "read")
	host := fmt.Sprintf("localhost:%d", e.proxyPort)
	old := fmt.Sprintf("http://localhost:%d", e.proxyPort2)
	const wellKnown = "/.well-known/oauth-protected-resource"
	fwd := func(method, uri string) []string {
		return []string{"X-Forwarded-Method", method, "X-Forwarded-Proto", "http", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}
	}
	bearer := []string{"Authorization", "Bearer " + tok}
	for _, tt := range []struct {
		name    string
		method  string
		url     string
		headers []string
		want    int // 0: anything but 2xx
	}{
		// The metadata of a protected host, asked through an auth request,
		// used to be a 200: allowed.
		{"metadata through the old forward_auth recipe", "GET", old + wellKnown, nil, http.StatusNotFound},
		{"metadata as X-Forwarded-Uri", "GET", e.issuer + "/verify", fwd("GET", wellKnown), http.StatusNotFound},
		{"path-suffixed metadata as X-Forwarded-Uri", "GET", e.issuer + "/verify", fwd("GET", wellKnown+"/x"), 0},
		{"metadata as X-Forwarded-Uri, HEAD", "GET", e.issuer + "/verify", fwd("HEAD", wellKnown), http.StatusNotFound},
		{"metadata as X-Original-URL", "GET", e.issuer + "/verify", []string{"X-Original-URL", e.origin + wellKnown, "X-Original-Method", "GET"}, http.StatusNotFound},
		{"metadata as X-Original-URL, with a token", "GET", e.issuer + "/verify", append([]string{"X-Original-URL", e.origin + wellKnown}, bearer...), http.StatusNotFound},
		// A client's X-Original-* next to the proxy's X-Forwarded-*, and the
		// other way round, used to override what the proxy said.
		{"DELETE passed off as GET through forward_auth", "DELETE", e.origin + "/x", append([]string{"X-Original-Method", "GET"}, bearer...), http.StatusBadRequest},
		{"/admin passed off as /public through forward_auth", "GET", e.origin + "/admin", append([]string{"X-Original-URL", e.origin + "/public"}, bearer...), http.StatusBadRequest},
		{"/admin passed off as /public through nginx", "GET", e.issuer + "/verify", append([]string{"X-Original-URL", e.origin + "/admin", "X-Forwarded-Uri", "/public"}, bearer...), http.StatusBadRequest},
		{"DELETE passed off as GET through nginx", "GET", e.issuer + "/verify", append([]string{"X-Original-URL", e.origin + "/x", "X-Original-Method", "DELETE", "X-Forwarded-Method", "GET"}, bearer...), http.StatusBadRequest},
		{"another host passed off through nginx", "GET", e.issuer + "/verify", append([]string{"X-Original-URL", e.origin + "/x", "X-Forwarded-Host", "other.example"}, bearer...), http.StatusBadRequest},
		{"a second X-Forwarded-Uri", "GET", e.issuer + "/verify", append(fwd("GET", "/admin"), append([]string{"X-Forwarded-Uri", "/public"}, bearer...)...), http.StatusBadRequest},
		// The gateway answers a CORS preflight itself, with a 204 that is
		// no authentication: through a proxy, an OPTIONS allowed upstream.
		{"a CORS preflight through forward_auth", "OPTIONS", e.origin + "/x", []string{"Origin", "https://spa.example", "Access-Control-Request-Method", "DELETE"}, http.StatusUnauthorized},
		{"a CORS preflight as X-Forwarded-Method", "GET", e.issuer + "/verify", append(fwd("OPTIONS", "/x"), "Origin", "https://spa.example", "Access-Control-Request-Method", "DELETE"), http.StatusUnauthorized},
		// The catch-all site: whatever Host a client sends, the auth request
		// reaches the verify endpoint.
		{"a forged Host on a catch-all site", "GET", e.origin + "/page", []string{"Host", "evil.example"}, http.StatusUnauthorized},
		{"a forged Host on a catch-all site, browser", "GET", e.origin + "/page", []string{"Host", "evil.example", "Accept", "text/html"}, http.StatusBadRequest},
		// What must still work.
		{"a token through forward_auth", "GET", e.origin + "/x", bearer, http.StatusOK},
		{"a token for DELETE /admin", "DELETE", e.origin + "/admin", bearer, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.upstream.hits()
			r := e.request(tt.method, tt.url, tt.headers...)
			reached := e.upstream.hits() > before
			if tt.want == http.StatusOK {
				if r.status != 200 || !reached {
					t.Errorf("got %d (upstream reached: %v) %s; want the upstream", r.status, reached, r.body)
				}
				return
			}
			if reached {
				t.Errorf("the request reached the upstream: %d %s", r.status, r.body)
			}
			if tt.want != 0 && r.status != tt.want || r.status >= 200 && r.status < 300 {
				t.Errorf("got %d %s; want %d", r.status, r.body, tt.want)
			}
		})
	}

	// The README's recipe serves the protected host's metadata from the
	// verify endpoint, naming the host as the resource.
	before := e.upstream.hits()
	r := e.request("GET", e.origin+wellKnown)
	if r.status != http.StatusOK || e.upstream.hits() != before {
		t.Fatalf("metadata through the README's recipe: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["resource"] != e.origin || anyStrings(m["authorization_servers"])[0] != e.issuer {
		t.Errorf("metadata through the README's recipe: %s", r.body)
	}
	// And nothing else under the verify endpoint's path.
	if r := e.request("GET", e.origin+wellKnown+"/nothing"); r.status != http.StatusNotFound {
		t.Errorf("metadata of a resource path that does not exist: %d %s", r.status, r.body)
	}
}

// TestVerifyMalformedForwardedHost: a forwarded host that is not a host
// gets 400, never a sign-in that fails with 503, whatever the mode.
func TestVerifyMalformedForwardedHost(t *testing.T) {
	e := startVerify(t, "", "")
	for _, host := range []string{
		"localhost:99999", "localhost:0", "localhost:abc", "localhost:", "[::1", "[::1]x", "::1", "a..b", "-a.example",
		"a.example-", "exa%20mple", "a\"b", "a<b>", "localhost:80:80", "[zz::1]", strings.Repeat("a", 64) + ".example",
	} {
		t.Run(host, func(t *testing.T) {
			for _, headers := range [][]string{
				{"X-Forwarded-Host", host, "X-Forwarded-Uri", "/p", "X-Forwarded-Proto", "http"},
				{"X-Original-URL", "http://" + host + "/p"},
			} {
				r := e.request("GET", e.issuer+"/verify", append(headers, "Accept", "text/html")...)
				if r.status != http.StatusBadRequest {
					t.Errorf("%v: %d %s", headers, r.status, r.body)
				}
			}
		})
	}
	// Well-formed hosts are decided as usual (a sign-in for a configured
	// host and port, a clear 400 page for another host, or another port of
	// a configured host, which may be someone else's).
	for host, want := range map[string]int{
		fmt.Sprintf("localhost:%d", e.proxyPort): http.StatusFound, "LOCALHOST": http.StatusFound,
		"localhost:8443": http.StatusBadRequest, "other.example": http.StatusBadRequest, "[::1]:8080": http.StatusBadRequest,
	} {
		r := e.request("GET", e.issuer+"/verify", "X-Forwarded-Host", host, "X-Forwarded-Uri", "/p", "X-Forwarded-Proto", "http", "Accept", "text/html")
		if r.status != want {
			t.Errorf("%s: %d %s", host, r.status, r.body)
		}
	}
}
