package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// deviceClients add device clients to the sign-in setup; polls may come
// every second so the tests are quick.
const deviceClients = signinClients + `
		device_poll_interval 1s
		client tv {
			public
			name "Living room TV"
			grant_types device_code refresh_token
			scopes openid profile offline_access
		}
		client cli {
			secret cli-secret
			grant_types device_code
			scopes openid
		}
`

func (tc *testCaddy) tvConfig() *oauth2.Config {
	return &oauth2.Config{ClientID: "tv", Scopes: []string{"openid", "profile", "offline_access"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: tc.issuer + "/device/code", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams,
	}}
}

// TestDeviceFlowInBrowser polls with golang.org/x/oauth2's device support
// while headless Chromium signs in and approves on the verification page.
func TestDeviceFlowInBrowser(t *testing.T) {
	ctx := newChrome(t)
	tc := startCaddy(t, deviceClients)
	cfg := tc.tvConfig()
	da, err := cfg.DeviceAuth(context.Background())
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if len(da.UserCode) != 9 || da.UserCode[4] != '-' || strings.ContainsAny(da.UserCode, "AEIOUY0123456789") ||
		da.VerificationURI != tc.issuer+"/device" || !strings.HasPrefix(da.VerificationURIComplete, tc.issuer+"/device?user_code=") || da.Interval != 1 {
		t.Fatalf("device authorization = %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		pctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		tok, err := cfg.DeviceAccessToken(pctx, da)
		done <- result{tok, err}
	}()

	// The person opens verification_uri_complete, signs in, confirms the
	// prefilled code, sees the client, and approves.
	err = chromedp.Do(ctx,
		chromedp.Navigate(da.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.Click(chromedp.CSS("button[value=lookup]")),
		chromedp.WaitVisible(chromedp.CSS("button[value=approve]")),
	)
	if err != nil {
		t.Fatalf("verification page: %v", err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "Living room TV") || !strings.Contains(text, "Stay connected") {
		t.Errorf("approval page = %q", text)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("button[value=approve]")), chromedp.WaitVisible(chromedp.CSS("main p"))); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("DeviceAccessToken: %v", res.err)
	}
	if res.tok.RefreshToken == "" || res.tok.Extra("id_token") == nil {
		t.Errorf("token = %+v; want refresh and ID tokens", res.tok)
	}
	tc.verifyIDToken(res.tok.Extra("id_token").(string), "tv")
	// The device code is single use.
	r := tc.postForm("/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}, "client_id": {"tv"}}, "", "")
	if r.json(t)["error"] != "invalid_grant" {
		t.Errorf("reusing a redeemed device code: %s", r.body)
	}
}

// pollOnce makes one device token request.
func pollOnce(t *testing.T, tc *testCaddy, deviceCode, client, secret string) map[string]any {
	t.Helper()
	f := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}
	if secret == "" {
		f.Set("client_id", client)
		return tc.postForm("/token", f, "", "").json(t)
	}
	return tc.postForm("/token", f, client, secret).json(t)
}

// approveAs signs in with a browser and decides on a user code.
func approveAs(t *testing.T, tc *testCaddy, b *browser, userCode, decision string) response {
	t.Helper()
	r := b.get("/device")
	if r.status == http.StatusSeeOther {
		r = b.get(r.header.Get("Location"))
		r = b.signIn(r, "alice", alicePassword)
		if r.status != http.StatusSeeOther {
			t.Fatalf("sign-in for the device page: %d", r.status)
		}
		r = b.get(r.header.Get("Location"))
	}
	f := fields(r)
	f.Set("user_code", userCode)
	f.Set("decision", "lookup")
	r = b.post("/device", f)
	if decision == "" {
		return r
	}
	f = fields(r)
	f.Set("decision", decision)
	return b.post("/device", f)
}

// TestDeviceErrors covers RFC 8628 §3.5: pending, slow_down, access_denied,
// expired_token, the wrong client, and the brute-force limit.
func TestDeviceErrors(t *testing.T) {
	tc := startCaddy(t, deviceClients)
	start := func() map[string]any {
		t.Helper()
		r := tc.postForm("/device/code", url.Values{"client_id": {"tv"}, "scope": {"openid profile"}}, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("/device/code: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	da := start()
	code, user := da["device_code"].(string), da["user_code"].(string)
	if got := pollOnce(t, tc, code, "tv", ""); got["error"] != "authorization_pending" {
		t.Errorf("first poll: %v", got)
	}
	if got := pollOnce(t, tc, code, "tv", ""); got["error"] != "slow_down" {
		t.Errorf("an immediate second poll: %v; want slow_down", got)
	}
	// The interval grew by 5 s: a poll 1.1 s later is still too fast.
	time.Sleep(1100 * time.Millisecond)
	if got := pollOnce(t, tc, code, "tv", ""); got["error"] != "slow_down" {
		t.Errorf("a poll within the raised interval: %v; want slow_down", got)
	}
	if got := pollOnce(t, tc, code, "cli", "cli-secret"); got["error"] != "invalid_grant" {
		t.Errorf("another client polling: %v", got)
	}

	// Deny (typed in lower case with a space: still found).
	b := newBrowser(tc)
	da2 := start()
	typed := strings.ToLower(strings.Replace(da2["user_code"].(string), "-", " ", 1))
	if r := approveAs(t, tc, b, typed, "deny"); r.status != http.StatusOK || !strings.Contains(string(r.body), "denied") {
		t.Fatalf("deny: %d %s", r.status, r.body)
	}
	if got := pollOnce(t, tc, da2["device_code"].(string), "tv", ""); got["error"] != "access_denied" {
		t.Errorf("after deny: %v", got)
	}

	// Expiry.
	expire(t, store.DeviceCode, code)
	time.Sleep(10 * time.Millisecond)
	if got := pollOnce(t, tc, code, "tv", ""); got["error"] != "expired_token" {
		t.Errorf("after expiry: %v", got)
	}
	if r := approveAs(t, tc, b, user, ""); r.status != http.StatusBadRequest {
		t.Errorf("approving an expired code: %d", r.status)
	}

	// Bad requests.
	if got := pollOnce(t, tc, "ag_dc_nothing", "tv", ""); got["error"] != "invalid_grant" {
		t.Errorf("unknown device code: %v", got)
	}
	if r := tc.postForm("/device/code", url.Values{"client_id": {"app"}}, "", ""); r.json(t)["error"] != "unauthorized_client" {
		t.Errorf("a client without the device grant: %s", r.body)
	}
	if r := tc.postForm("/device/code", url.Values{"client_id": {"tv"}, "scope": {"admin"}}, "", ""); r.json(t)["error"] != "invalid_scope" {
		t.Errorf("a scope not allowed: %s", r.body)
	}
	if r := tc.postForm("/device/code", url.Values{"client_id": {"cli"}}, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("a confidential client without its secret: %d", r.status)
	}
	if got := tc.postForm("/device/code", url.Values{}, "cli", "cli-secret"); got.status != http.StatusOK {
		t.Errorf("a confidential device client: %d %s", got.status, got.body)
	}

	// Brute force: wrong codes from one session are limited.
	attacker := newBrowser(tc)
	var last response
	for range 11 {
		last = approveAs(t, tc, attacker, "BCDF-GHJK", "")
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(string(last.body), "Too many wrong codes") {
		t.Errorf("after 11 wrong codes: %d", last.status)
	}
	// CSRF on the verification page.
	f := url.Values{"user_code": {user}, "decision": {"approve"}, "csrf_token": {"forged"}}
	if r := b.post("/device", f); r.status != http.StatusForbidden {
		t.Errorf("forged CSRF token: %d", r.status)
	}
}
