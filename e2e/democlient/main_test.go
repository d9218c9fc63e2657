package main

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	_ "github.com/authgate/authgate" // the plugin, as xcaddy builds it in
)

// TestReadmeWalkthrough follows the README: Caddy runs Caddyfile.example,
// this client runs, and a person in a browser signs in as demo, sees the
// userinfo, refreshes and signs out. Ports are free ones instead of 9000
// and 9999 (the loopback redirect URI may use any port, RFC 8252 §7.3).
func TestReadmeWalkthrough(t *testing.T) {
	chromium := "/usr/bin/chromium"
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run should have installed it")
		}
		t.Skip("chromium not found (apt-get install chromium): skipping the browser walkthrough")
	}
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	caddy.ConfigAutosavePath = filepath.Join(dir, "autosave.json")

	text, err := os.ReadFile("../../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	// Free ports instead of the demo's 9000, 9001, 9002 and 9100.
	local := string(text)
	var issuer string
	// The authorization server is on localhost, the other sites on
	// 127.0.0.1; each keeps its host.
	for _, p := range []string{"9000", "9001", "9002", "9100"} {
		port := freePort(t)
		for _, host := range []string{"localhost", "127.0.0.1"} {
			addr := fmt.Sprintf("%s:%d", host, port)
			if p == "9000" && host == "localhost" {
				issuer = "http://" + addr
			}
			local = strings.ReplaceAll(local, host+":"+p, addr)
		}
	}
	if !strings.Contains(local, "issuer "+issuer+"\n") {
		t.Fatalf("Caddyfile.example's issuer is not http://localhost:9000:\n%s", local)
	}
	local = strings.Replace(local, "{\n", fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tstorage file_system %s\n", freePort(t), filepath.Join(dir, "caddy")), 1)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(local), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("running Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = l
	base := "http://" + l.Addr().String()
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = newApp(provider, "demo-app", base)
	srv.Start()
	t.Cleanup(srv.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.UserDataDir(filepath.Join(dir, "chrome")), chromedp.Headless,
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Env("XDG_CONFIG_HOME="+dir, "TMPDIR="+dir),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "demo"),
		chromedp.SendKeys(chromedp.CSS("#password"), "demo-password"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("button[value=approve]")),
		chromedp.Click(chromedp.CSS("button[value=approve]")),
		chromedp.WaitVisible(chromedp.CSS("#userinfo")),
	)
	if err != nil {
		t.Fatalf("signing in through the demo client: %v", err)
	}
	info, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#userinfo")))
	claims, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#claims")))
	before, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#refresh")))
	if !strings.Contains(info, `"email": "demo@example.com"`) || !strings.Contains(claims, `"sub": "demo"`) || !strings.HasPrefix(before, "ag_rt_") {
		t.Fatalf("after sign-in the client shows userinfo %q, claims %q, refresh token %q", info, claims, before)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form button"))); err != nil {
		t.Fatal(err)
	}
	after := before
	for deadline := time.Now().Add(20 * time.Second); after == before && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		after, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#refresh")))
	}
	if after == before || !strings.HasPrefix(after, "ag_rt_") {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("refresh did not rotate the refresh token: %q then %q; page: %s", before, after, body)
	}
	// Sign out: the id_token_hint lets the server sign out at once and
	// return to the client, which offers to sign in again.
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/logout"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	if err != nil {
		t.Fatalf("signing out: %v", err)
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#password")))
	if err != nil {
		t.Fatalf("after signing out, the server did not ask for the password again: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
