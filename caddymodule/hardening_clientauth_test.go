package caddymodule

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address src, so that one test can play several addresses.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// postFormFrom posts a form to an endpoint from the loopback address src,
// with Basic authentication.
func (tc *testCaddy) postFormFrom(src, path string, form url.Values, user, pass string) response {
	tc.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tc.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		tc.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	return doWith(tc.t, clientFrom(src), req)
}

// strongSecret is a client secret as `openssl rand -base64 32` prints it.
const strongSecret = "q3Zr8JYc1mWkP0tVfXo9LsE2bNdHu4ag7iCyTRe6KxM="

// TestClientAuthNoLockout: an attacker who guesses a client's secret wrong
// from one address, past every limit, locks out only that address: the
// client from its own address still gets tokens; a client with a
// high-entropy secret gets them even from the attacker's address (a NAT
// or an untrusted proxy shared with the attacker).
func TestClientAuthNoLockout(t *testing.T) {
	tc := startCaddy(t, defaultClients+`
		client strong {
			secret `+strongSecret+`
			grant_types client_credentials
			scopes read
		}`)
	const attacker, victim = "127.0.0.2", "127.0.0.1"
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, client := range []string{"svc", "strong"} {
		var last response
		for range 60 { // past the per-client (20) and per-address (50) limits
			last = tc.postFormFrom(attacker, "/token", cc, client, "wrong-guess")
		}
		if last.status != http.StatusTooManyRequests || last.json(t)["error"] != "invalid_client" {
			t.Fatalf("%s: the attacker's 60th guess: %d %s; want 429 invalid_client", client, last.status, last.body)
		}
	}
	for _, tt := range []struct {
		name, src, client, secret string
		want                      int
	}{
		{"right secret, victim's address", victim, "svc", "svc-secret", http.StatusOK},
		{"high-entropy secret, victim's address", victim, "strong", strongSecret, http.StatusOK},
		{"high-entropy secret, attacker's address", attacker, "strong", strongSecret, http.StatusOK},
		// A low-entropy secret stays limited at the guessing address.
		{"low-entropy secret, attacker's address", attacker, "svc", "svc-secret", http.StatusTooManyRequests},
		{"wrong secret, attacker's address", attacker, "strong", "another-guess", http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tc.postFormFrom(tt.src, "/token", cc, tt.client, tt.secret)
			if r.status != tt.want {
				t.Fatalf("%d %s; want %d", r.status, r.body, tt.want)
			}
		})
	}
}

// TestGatewayClientNotOverNetwork: the built-in gateway client, even with
// its right secret, cannot authenticate over the network at any endpoint
// that authenticates clients, not even from loopback; the gateway's own
// in-process sign-in still works.
func TestGatewayClientNotOverNetwork(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	secret := gatewayClientSecret(t)
	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}},
		{"/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {g.app + "/.authgate/callback"}, "code_verifier": {strings.Repeat("v", 43)}}},
		{"/par", url.Values{"response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}},
		{"/introspect", url.Values{"token": {"x"}}},
		{"/revoke", url.Values{"token": {"x"}}},
		{"/device/code", url.Values{"scope": {"openid"}}},
	} {
		for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
			t.Run(tt.path+" from "+src, func(t *testing.T) {
				r := g.postFormFrom(src, tt.path, tt.form, authserver.GatewayClientID, secret)
				if r.status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_client" {
					t.Fatalf("%d %s; want 401 invalid_client", r.status, r.body)
				}
			})
		}
	}
	// In the body too (client_secret_post).
	form := url.Values{"token": {"x"}, "client_id": {authserver.GatewayClientID}, "client_secret": {secret}}
	if r := g.postForm("/revoke", form, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("client_secret_post as the gateway: %d %s", r.status, r.body)
	}
	// The in-process transport's mark cannot come from the network: the
	// bundled sign-in (a code redeemed at /token in-process) still works.
	b := newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); r.status != http.StatusOK || !strings.Contains(string(r.body), "sub=alice") {
		t.Fatalf("gateway sign-in: %d %s", r.status, r.body)
	}
}
