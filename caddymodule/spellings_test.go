package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSpecificationSpellings: "Authorization: TOKEN" without "Bearer",
// as the product's first specification spelled it, works at the demo API,
// which opts in; a route that does not opt in refuses it, and challenges
// stay Bearer. The device authorization request at /device-authorization/
// works against the demo as the README's curl sends it (authserver tests
// the alias in detail).
func TestSpecificationSpellings(t *testing.T) {
	tc, ports := startExample(t)
	dev := tc.postForm("/device-authorization/", url.Values{"client_id": {"demo-tv"}, "scope": {"openid profile"}}, "", "")
	if dev.status != http.StatusOK || dev.json(t)["device_code"] == nil {
		t.Errorf("POST /device-authorization/ on the demo: %d %s", dev.status, dev.body)
	}
	api := "http://" + ports["9001"] + "/api/hello"
	token := tc.token("demo-service", "demo-service-secret", url.Values{"scope": {"read"}})
	for _, tt := range []struct {
		name, header string
		status       int
	}{
		{"bare token", token, http.StatusOK},
		{"Bearer", "Bearer " + token, http.StatusOK},
		{"bare garbage", "not-a-token", http.StatusUnauthorized},
		{"another scheme", "Basic ZGVtbzpkZW1v", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, api, nil)
		req.Header.Set("Authorization", tt.header)
		r := do(t, req)
		if r.status != tt.status {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
		if r.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: challenge %q", tt.name, r.header.Get("WWW-Authenticate"))
		}
	}
}

// TestUserinfoBareToken: /userinfo takes "Authorization: TOKEN" only when
// userinfo_bare_token is set.
func TestUserinfoBareToken(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		options := signinClients
		if optIn {
			options += "\n\t\tuserinfo_bare_token"
		}
		tc := startCaddy(t, options)
		b := newBrowser(tc)
		cfg := tc.appConfig("openid", "profile")
		code, verifier := b.codeFlow(cfg)
		tok, err := exchange(t, cfg, code, verifier)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", tok.AccessToken)
		r := do(t, req)
		switch {
		case optIn && (r.status != http.StatusOK || r.json(t)["sub"] != "alice"):
			t.Errorf("a bare token with userinfo_bare_token: %d %s", r.status, r.body)
		case !optIn && r.status != http.StatusBadRequest: // RFC 6750 §3.1 invalid_request
			t.Errorf("a bare token without userinfo_bare_token: %d %s", r.status, r.body)
		}
	}
}
