package caddymodule

import (
	"fmt"
	"net/http"
	"testing"
)

// TestVerifyRemoteIP: through the verify endpoint, request.remote_ip is
// the client's address as the trusted proxy reports it (the rightmost
// X-Forwarded-For address that is not a trusted proxy, or X-Real-IP), not
// the proxy's; from any other peer those headers count for nothing. The
// addresses are only header values: nothing connects to them.
func TestVerifyRemoteIP(t *testing.T) {
	// A rule that refuses a network: seen from the proxy's address, it
	// refused nobody.
	e := startVerify(t, `deny expression "request.remote_ip.startsWith('203.0.113.')"`, forwardAuthSite(t, "http://localhost:{PROXY}"))
	tok := e.serviceToken("proxysvc", "proxysvc-secret", "read")
	direct := e.directToken()
	host := fmt.Sprintf("localhost:%d", e.proxyPort)
	base := []string{"Authorization", "Bearer " + tok, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", host, "X-Forwarded-Uri", "/x"}
	nginx := []string{"Authorization", "Bearer " + tok, "X-Original-URL", e.origin + "/x", "X-Original-Method", "GET"}
	for _, tt := range []struct {
		name     string
		endpoint string
		headers  []string
		want     int
	}{
		{"X-Forwarded-For", "/verify", []string{"X-Forwarded-For", "203.0.113.7"}, http.StatusForbidden},
		{"X-Forwarded-For, nginx style", "nginx", []string{"X-Forwarded-For", "203.0.113.7"}, http.StatusForbidden},
		{"X-Real-IP, nginx style", "nginx", []string{"X-Real-IP", "203.0.113.7"}, http.StatusForbidden},
		{"rightmost is the client", "/verify", []string{"X-Forwarded-For", "198.51.100.1, 203.0.113.7"}, http.StatusForbidden},
		{"a forged entry left of the client", "/verify", []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}, http.StatusOK},
		{"trusted proxies are skipped", "/verify", []string{"X-Forwarded-For", "203.0.113.7, 127.0.0.1, ::1"}, http.StatusForbidden},
		{"over two header lines", "/verify", []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "127.0.0.2"}, http.StatusForbidden},
		{"with a port", "/verify", []string{"X-Forwarded-For", "203.0.113.7:4711"}, http.StatusForbidden},
		{"IPv4-mapped IPv6", "/verify", []string{"X-Forwarded-For", "::ffff:203.0.113.7"}, http.StatusForbidden},
		{"a malformed entry ends what is believed", "/verify", []string{"X-Forwarded-For", "203.0.113.7, not-an-address"}, http.StatusOK},
		{"X-Real-IP", "/verify", []string{"X-Real-IP", "203.0.113.7"}, http.StatusForbidden},
		{"X-Forwarded-For before X-Real-IP", "/verify", []string{"X-Forwarded-For", "198.51.100.1", "X-Real-IP", "203.0.113.7"}, http.StatusOK},
		{"no header: the proxy's own address", "/verify", nil, http.StatusOK},
		{"an untrusted peer's X-Forwarded-For", "/untrusted-verify", []string{"X-Forwarded-For", "203.0.113.7"}, http.StatusOK},
		{"an untrusted peer's X-Real-IP", "/untrusted-verify", []string{"X-Real-IP", "203.0.113.7"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			headers := append(append([]string(nil), base...), tt.headers...)
			switch tt.endpoint {
			case "nginx":
				tt.endpoint, headers = "/verify", append(append([]string(nil), nginx...), tt.headers...)
			case "/untrusted-verify":
				// Judged as it is: for the issuer's own origin.
				headers = append([]string{"Authorization", "Bearer " + direct}, tt.headers...)
			}
			r := e.request("GET", e.issuer+tt.endpoint, headers...)
			if r.status != tt.want {
				t.Errorf("got %d %s; want %d", r.status, r.body, tt.want)
			}
			if r.status == http.StatusOK && r.header.Get("X-Auth-Subject") != "proxysvc" {
				t.Errorf("a 200 without the identity: %v", r.header)
			}
		})
	}
	// Through Caddy's forward_auth, the client's own X-Forwarded-For is
	// replaced by the address it connected from (loopback here).
	if r := e.request("GET", e.origin+"/x", "Authorization", "Bearer "+tok, "X-Forwarded-For", "203.0.113.7", "X-Real-IP", "203.0.113.7"); r.status != http.StatusOK {
		t.Errorf("through forward_auth: %d %s", r.status, r.body)
	}
}
