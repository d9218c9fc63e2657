package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// checkForwardAuthRecipe checks what a forward_auth-style recipe (Caddy's
// forward_auth, Traefik's ForwardAuth) in front of e's upstream at
// e.origin must do; /verify there has a 2 s session lifetime.
func checkForwardAuthRecipe(t *testing.T, e *verifyEnv) {
	tok := e.serviceToken("proxysvc", "proxysvc-secret", "read")
	metadata := e.origin + "/.well-known/oauth-protected-resource"

	// An API client without a token: the challenge, not a redirect.
	before := e.upstream.hits()
	r := e.request("GET", e.origin+"/page")
	if r.status != http.StatusUnauthorized || len(r.header.Values("WWW-Authenticate")) != 1 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `resource_metadata="`+metadata+`"`) || e.upstream.hits() != before {
		t.Errorf("no token: %d %q %s", r.status, r.header.Values("WWW-Authenticate"), r.body)
	}
	// A token: the identity from the verify endpoint only; forged copies
	// of every identity header and a forged Cookie never get through.
	r = e.request("GET", e.origin+"/page?q=1", append(spoofed(), "Authorization", "Bearer "+tok,
		"Cookie", "authgate_session_gw=forged; theme=dark")...)
	got, ok := upstreamSaw(r)
	if !ok || got.Header.Get("X-Auth-Subject") != "proxysvc" || got.Header.Get("X-Auth-Client-Id") != "proxysvc" || got.URI != "/page?q=1" {
		t.Fatalf("a token: %d %s", r.status, r.body)
	}
	checkNoSpoof(t, "a token", got)
	if c := strings.Join(got.Header.Values("Cookie"), "; "); c != "theme=dark" {
		t.Errorf("a token: the upstream got Cookie %q; want theme=dark", c)
	}
	// The metadata of the protected host.
	before = e.upstream.hits()
	if r := e.request("GET", metadata); r.status != http.StatusOK || r.json(t)["resource"] != e.origin || e.upstream.hits() != before {
		t.Errorf("metadata: %d %s", r.status, r.body)
	}

	// A browser signs in and comes back to the URL it asked for; every
	// redirect on the protected host is absolute and on that host.
	b := newBrowser(e.testCaddy)
	origin, _ := url.Parse(e.origin)
	b.client.Jar.SetCookies(origin, []*http.Cookie{{Name: "theme", Value: "dark"}})
	target := e.origin + "/page?x=1&y=a%20b&z=%2F"
	r, trail := b.visit(target)
	got, ok = upstreamSaw(r)
	if !ok || got.URI != "/page?x=1&y=a%20b&z=%2F" || trail[len(trail)-1] != target {
		t.Fatalf("sign-in: %d %s\n%v", r.status, r.body, trail)
	}
	if !strings.HasPrefix(trail[1], e.issuer+"/authorize?") {
		t.Errorf("the sign-in went %v", trail)
	}
	if got.Header.Get("X-Auth-Subject") != "alice" || got.Header.Get("X-Auth-Email") != "alice@example.com" ||
		got.Header.Get("X-Auth-Groups") != "users,admins" || got.Header.Get("Remote-User") != "alice" || got.Header.Get("Remote-Name") != "Alice Liddell" {
		t.Errorf("the identity upstream: %v", got.Header)
	}
	checkCookies := func(what string, got echoed) {
		t.Helper()
		cookie := strings.Join(got.Header.Values("Cookie"), "; ")
		if gatewayCookie.MatchString(cookie) || !strings.Contains(cookie, "theme=dark") {
			t.Errorf("%s: the upstream got Cookie %q; want theme=dark without the gateway's cookies", what, cookie)
		}
	}
	checkCookies("after sign-in", got)
	req, _ := http.NewRequest("GET", e.origin+"/other", nil)
	for i, sp := 0, spoofed(); i < len(sp); i += 2 {
		req.Header.Set(sp[i], sp[i+1])
	}
	req.Header.Set("Accept", "text/html")
	got, ok = upstreamSaw(b.do(req))
	if !ok || got.Header.Get("X-Auth-Subject") != "alice" {
		t.Fatalf("signed in, another page: %v", got)
	}
	checkNoSpoof(t, "signed in", got)

	// The session outlives its lifetime: the verify endpoint renews it
	// with a 307 to the same (absolute) URL carrying the new cookie, twice
	// in a row (the second renewal needs the first's rotated refresh
	// token).
	for round := 1; round <= 2; round++ {
		old := b.cookieValue(e.origin, "authgate_session_gw")
		time.Sleep(2100 * time.Millisecond)
		page := fmt.Sprintf("%s/page?round=%d", e.origin, round)
		first := b.get(page)
		if first.status != http.StatusTemporaryRedirect || first.header.Get("Location") != page {
			t.Fatalf("renewal %d: %d Location %q; want 307 to %s", round, first.status, first.header.Get("Location"), page)
		}
		if fresh := b.cookieValue(e.origin, "authgate_session_gw"); fresh == "" || fresh == old {
			t.Fatalf("renewal %d: no new session cookie (Set-Cookie %q)", round, first.header.Values("Set-Cookie"))
		}
		got, ok := upstreamSaw(b.get(page))
		if !ok || got.Header.Get("X-Auth-Subject") != "alice" {
			t.Fatalf("renewal %d: after the redirect: %v", round, got)
		}
		checkCookies(fmt.Sprintf("renewal %d", round), got)
	}

	// Sign-out.
	r = b.get(e.origin + "/.authgate/logout")
	if r.status != http.StatusSeeOther || b.cookieValue(e.origin, "authgate_session_gw") != "" {
		t.Errorf("sign-out: %d %v", r.status, r.header.Values("Set-Cookie"))
	}
	if r := b.get(e.origin + "/page"); r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), e.issuer+"/authorize?") {
		t.Errorf("after sign-out: %d %s", r.status, r.header.Get("Location"))
	}
}

// TestForwardAuthRecipe runs the README's forward_auth recipe in a real
// Caddy, on a site with a host name and on one that accepts any Host.
func TestForwardAuthRecipe(t *testing.T) {
	for _, site := range []string{"http://localhost:{PROXY}", "http://:{PROXY}"} {
		t.Run(site, func(t *testing.T) {
			e := startVerify(t, "session_lifetime 2s", forwardAuthSite(t, site))
			checkForwardAuthRecipe(t, e)
		})
	}
}
