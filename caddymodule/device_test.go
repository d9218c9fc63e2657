package caddymodule

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
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
