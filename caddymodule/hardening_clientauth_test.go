package caddymodule

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
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

// TestClientAuthLimitByCaddyAddress: the server's failure limits see the
// client's address as Caddy determines it: wrong secrets from one
// loopback address, past the per-client-and-address limit, are answered
// 429 there, while the client from another address still gets tokens.
// (The limits and the gateway client's refusal are tested in authserver.)
func TestClientAuthLimitByCaddyAddress(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	const attacker, victim = "127.0.0.2", "127.0.0.1"
	cc := url.Values{"grant_type": {"client_credentials"}}
	var last response
	for range 21 { // past the per-client-and-address limit (20)
		last = tc.postFormFrom(attacker, "/token", cc, "svc", "wrong-guess")
	}
	if last.status != http.StatusTooManyRequests || last.json(t)["error"] != "invalid_client" {
		t.Fatalf("the attacker's 21st guess: %d %s; want 429 invalid_client", last.status, last.body)
	}
	if r := tc.postFormFrom(attacker, "/token", cc, "svc", "svc-secret"); r.status != http.StatusTooManyRequests {
		t.Errorf("the right secret from the attacker's address: %d", r.status)
	}
	if r := tc.postFormFrom(victim, "/token", cc, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Errorf("the right secret from the victim's address: %d %s", r.status, r.body)
	}
}
