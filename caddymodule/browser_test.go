package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// chromiumPath finds Debian's chromium. Without it, browser tests skip,
// except in CI, where .ci/run installs it and they must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("AUTHGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run should have installed it")
	}
	t.Skip("chromium not found (apt-get install chromium): skipping browser tests")
	return ""
}

// newChrome starts a headless Chromium that leaves nothing behind.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	dir := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(dir), chromedp.Headless,
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Env("XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "TMPDIR="+dir),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// waitText waits until the page's text contains want.
func waitText(ctx context.Context, want string) (string, error) {
	for {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if strings.Contains(body, want) {
			return body, nil
		}
		select {
		case <-ctx.Done():
			return body, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLocation waits until the browser's URL starts with prefix. Asking
// while the page navigates may fail ("Inspected target navigated or
// closed"): it asks again.
func waitLocation(ctx context.Context, prefix string) (string, error) {
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && strings.HasPrefix(loc, prefix) {
			return loc, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return loc, fmt.Errorf("%v: %w", err, ctx.Err())
			}
			return loc, fmt.Errorf("still at %s: %w", loc, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBrowserSignIn drives headless Chromium through the sign-in and
// consent pages to the client's callback, exchanges the code with
// golang.org/x/oauth2 and PKCE, verifies the ID token with go-oidc, and
// signs out through the end session endpoint.
func TestBrowserSignIn(t *testing.T) {
	ctx := newChrome(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<h1>client page %s</h1>", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	tc := startCaddy(t, signinClients+fmt.Sprintf(`
		client browserapp {
			public
			name "Browser App"
			redirect_uris %s/callback
			post_logout_redirect_uris %s/bye
			scopes openid profile email offline_access
		}`, app.URL, app.URL))
	cfg := &oauth2.Config{
		ClientID: "browserapp", RedirectURL: app.URL + "/callback",
		Scopes:   []string{"openid", "profile", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier), oidcNonce("browser-nonce"))

	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)),
	)
	if err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	consent, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(consent, "Browser App") || !strings.Contains(consent, "See your email address") {
		t.Fatalf("consent page text = %q, %v", consent, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`))); err != nil {
		t.Fatal(err)
	}
	loc, err := waitLocation(ctx, app.URL+"/callback")
	if err != nil {
		t.Fatalf("never reached the callback: %v", err)
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	if q.Get("state") != "browser-state" || q.Get("iss") != tc.issuer || q.Get("code") == "" {
		t.Fatalf("callback query = %v", q)
	}
	tok, err := exchange(t, cfg, q.Get("code"), verifier)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	id := tc.verifyIDToken(rawID, "browserapp")
	var claims struct {
		Nonce string `json:"nonce"`
		Email string `json:"email"`
	}
	id.Claims(&claims) //nolint:errcheck
	if id.Subject != "alice" || claims.Nonce != "browser-nonce" || claims.Email != "alice@example.com" || tok.RefreshToken == "" {
		t.Errorf("tokens: sub %s, claims %+v, refresh %q", id.Subject, claims, tok.RefreshToken)
	}

	// Sign out from the browser: the confirmation page, then back to the app.
	logout := tc.issuer + "/logout?" + url.Values{"client_id": {"browserapp"}, "post_logout_redirect_uri": {app.URL + "/bye"}, "state": {"out"}}.Encode()
	err = chromedp.Do(ctx,
		chromedp.Navigate(logout),
		chromedp.WaitVisible(chromedp.CSS(`button[value=logout]`)),
		chromedp.Click(chromedp.CSS(`button[value=logout]`)),
	)
	if err != nil {
		t.Fatalf("logout page: %v", err)
	}
	if loc, err = waitLocation(ctx, app.URL+"/bye"); err != nil || !strings.Contains(loc, "state=out") {
		t.Fatalf("after logout: %s %v", loc, err)
	}
	// Signed out: the next authorization asks for the password again.
	err = chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#password")))
	if err != nil {
		t.Fatalf("after logout the sign-in page did not come back: %v", err)
	}
}

// TestBrowserGateway: headless Chromium opens a protected page, is sent to
// sign in, comes back to that page with the identity upstream, signs out,
// and does the same through forward_auth to authgate_verify.
func TestBrowserGateway(t *testing.T) {
	ctx := newChrome(t)
	g := startGateway(t, gatewayClients, `accept bearer`, `accept session`)
	signIn := func(target string) string {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(target),
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
		)
		if err != nil {
			t.Fatalf("sign-in for %s: %v", target, err)
		}
		if _, err := waitLocation(ctx, target); err != nil {
			t.Fatalf("never came back to %s: %v", target, err)
		}
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	if body := signIn(g.app + "/page?tab=1"); !strings.Contains(body, "sub=alice ") || !strings.Contains(body, "email=alice@example.com") {
		t.Fatalf("the upstream saw %q", body)
	}
	// Signed in: another page opens at once.
	if err := chromedp.Do(ctx, chromedp.Navigate(g.app+"/second")); err != nil {
		t.Fatal(err)
	}
	if body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); !strings.Contains(body, "sub=alice ") {
		t.Errorf("second page: %q", body)
	}
	// Sign out through the gateway: it clears its cookie and sends the
	// browser to the server, which asks, then ends its session too.
	err := chromedp.Do(ctx,
		chromedp.Navigate(g.app+"/.authgate/logout"),
		chromedp.WaitVisible(chromedp.CSS(`button[value=logout]`)),
		chromedp.Click(chromedp.CSS(`button[value=logout]`)),
	)
	if err != nil {
		t.Fatalf("logout: %v", err)
	}
	if body, err := waitText(ctx, "You are signed out"); err != nil {
		t.Errorf("after logout: %q %v", body, err)
	}
	// Through forward_auth: signed out, so the sign-in page comes again.
	if body := signIn(g.fwd + "/home"); !strings.Contains(body, "sub=alice ") {
		t.Fatalf("through forward_auth the upstream saw %q", body)
	}
}
