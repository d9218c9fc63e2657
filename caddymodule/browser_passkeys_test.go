package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserPasskeys drives headless Chromium with a virtual
// authenticator (the DevTools WebAuthn domain: CTAP2, internal, resident
// keys, user verification) through the passkey pages: it adds a passkey
// on /account/passkeys, signs out, signs in with the passkey alone (amr
// hwk and mfa in the ID token), signs out, signs in with the password and
// uses the passkey as the second factor (amr pwd, hwk, mfa), and removes
// the passkey. The issuer is http://localhost:<port>: an IP address
// cannot be a WebAuthn RP ID, and localhost is a secure context.
func TestBrowserPasskeys(t *testing.T) {
	ctx := newChrome(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<h1>client page %s</h1>", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	tc := newTestCaddy(t)
	tc.issuer = fmt.Sprintf("http://localhost:%d", tc.port)
	tc.site = tc.issuer
	tc.config = tc.adapt(signinClients + fmt.Sprintf(`
		client passkeyapp {
			public
			name "Passkey App"
			redirect_uris %s/callback
			scopes openid profile
		}`, app.URL))
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	cfg := &oauth2.Config{
		ClientID: "passkeyapp", RedirectURL: app.URL + "/callback", Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	// finish approves the consent page if it comes, and returns the ID
	// token's amr and acr.
	finish := func(verifier string) ([]string, string) {
		t.Helper()
		deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for {
			loc, _ := chromedp.Run(deadline, chromedp.Location())
			if strings.HasPrefix(loc, app.URL+"/callback") {
				break
			}
			if found, _ := chromedp.Run(deadline, chromedp.Evaluate[bool](`!!document.querySelector("button[value=approve]")`)); found {
				chromedp.Do(deadline, chromedp.Click(chromedp.CSS(`button[value=approve]`))) //nolint:errcheck // checked by the loop
			}
			select {
			case <-deadline.Done():
				body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
				t.Fatalf("never reached the callback; at %s: %q", loc, body)
			case <-time.After(100 * time.Millisecond):
			}
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		u, _ := url.Parse(loc)
		tok, err := exchange(t, cfg, u.Query().Get("code"), verifier)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		var claims struct {
			AMR []string `json:"amr"`
			ACR string   `json:"acr"`
		}
		id := tc.verifyIDToken(rawID, "passkeyapp")
		if err := id.Claims(&claims); err != nil || id.Subject != "alice" {
			t.Fatalf("ID token of %s: %v", id.Subject, err)
		}
		return claims.AMR, claims.ACR
	}
	signOut := func() {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(tc.issuer+"/logout"), chromedp.WaitVisible(chromedp.CSS(`button[value=logout]`)),
			chromedp.Click(chromedp.CSS(`button[value=logout]`)))
		if err != nil {
			t.Fatalf("sign out: %v", err)
		}
		if body, err := waitText(ctx, "signed out"); err != nil {
			t.Fatalf("after sign-out: %q %v", body, err)
		}
	}
	password := func() chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
			chromedp.Click(chromedp.CSS(`form:not(.passkey) button[type=submit]`)),
		)
	}

	// Add a passkey: the page sends the signed-out browser to sign in
	// first, then back.
	err = chromedp.Do(ctx,
		chromedp.Navigate(tc.issuer+"/account/passkeys"),
		password(),
		chromedp.WaitVisible(chromedp.CSS("#passkey-name")),
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Laptop key"),
		chromedp.Click(chromedp.CSS("#passkey-add")),
	)
	if err != nil {
		t.Fatalf("adding a passkey: %v", err)
	}
	if body, err := waitText(ctx, "was added"); err != nil || !strings.Contains(body, "Laptop key") || !strings.Contains(body, "never used") {
		t.Fatalf("after adding a passkey: %q %v", body, err)
	}
	signOut()

	// Sign in with the passkey alone.
	verifier := oauth2.GenerateVerifier()
	err = chromedp.Do(ctx,
		chromedp.Navigate(cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(chromedp.CSS("#passkey-signin")),
		chromedp.Click(chromedp.CSS("#passkey-signin")),
	)
	if err != nil {
		t.Fatalf("passkey sign-in: %v", err)
	}
	amr, acr := finish(verifier)
	if !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") || slices.Contains(amr, "pwd") || acr != "mfa" {
		t.Errorf("passwordless sign-in: amr %v, acr %q", amr, acr)
	}
	signOut()

	// Sign in with the password: the passkey is the second factor.
	verifier = oauth2.GenerateVerifier()
	err = chromedp.Do(ctx,
		chromedp.Navigate(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier))),
		password(),
		chromedp.WaitVisible(chromedp.CSS("#passkey-factor")),
		chromedp.Click(chromedp.CSS("#passkey-factor")),
	)
	if err != nil {
		t.Fatalf("passkey as second factor: %v", err)
	}
	amr, acr = finish(verifier)
	if !slices.Contains(amr, "pwd") || !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") || acr != "mfa" {
		t.Errorf("password and passkey: amr %v, acr %q", amr, acr)
	}

	// Remove it (the sign-in is recent and had the second factor).
	err = chromedp.Do(ctx,
		chromedp.Navigate(tc.issuer+"/account/passkeys"),
		chromedp.WaitVisible(chromedp.CSS(`button[value=remove]`)),
		chromedp.Click(chromedp.CSS(`button[value=remove]`)),
	)
	if err != nil {
		t.Fatalf("removing the passkey: %v", err)
	}
	if body, err := waitText(ctx, "was removed"); err != nil || !strings.Contains(body, "You have no passkeys yet") {
		t.Fatalf("after removing the passkey: %q %v", body, err)
	}
}
