package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// viewport is a window size the pages must fit.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

// pageViewports are a desktop window and a phone's.
var pageViewports = []viewport{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// shownElement is what the browser reports of an element, and whether
// the page scrolls sideways.
type shownElement struct {
	Found                      bool
	Text                       string
	Left, Right, Width, Height float64
	Hidden                     bool
	ViewportWidth, ScrollWidth float64
}

// showElement measures the first element selector matches, as laid out.
func showElement(selector string) chromedp.Action[shownElement] {
	sel, _ := json.Marshal(selector)
	return chromedp.Evaluate[shownElement](fmt.Sprintf(`(() => {
		const doc = document.documentElement;
		const out = {ViewportWidth: doc.clientWidth, ScrollWidth: doc.scrollWidth};
		const el = document.querySelector(%s);
		if (!el) return out;
		const r = el.getBoundingClientRect(), s = getComputedStyle(el);
		return Object.assign(out, {Found: true, Text: el.innerText.trim(), Left: r.left, Right: r.right, Width: r.width, Height: r.height,
			Hidden: s.display === "none" || s.visibility === "hidden" || s.opacity === "0"});
	})()`, sel))
}

// TestBrowserPagesScreenshots: headless Chromium opens the sign-in page
// of a gateway's site, the consent page, the device approval page and the
// landing page at a desktop's and a phone's width, checks that what they
// must show is there, visible and within the width (no sideways
// scrolling): the site's or application's name, the user code, the
// product's name; and keeps a screenshot of each in the test's temporary
// directory (or in AUTHGATE_SCREENSHOTS, if set, to look at them).
func TestBrowserPagesScreenshots(t *testing.T) {
	ctx := newChrome(t)
	g := startGateway(t, pagesOptions, `accept bearer`, `
			accept session
			name "Grafana"`)
	dir := t.TempDir()
	if keep := os.Getenv("AUTHGATE_SCREENSHOTS"); keep != "" {
		dir = keep
	}
	host := strings.TrimPrefix(g.app, "http://")

	// shoot checks the page at every viewport: each selector's element
	// shows its text (or, for "", exists) within the width; then it keeps
	// a screenshot.
	shoot := func(page string, want map[string]string) {
		t.Helper()
		for _, vp := range pageViewports {
			var opts []chromedp.EmulateViewportOption
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
				t.Fatalf("%s at %s: %v", page, vp.name, err)
			}
			for sel, text := range want {
				el, err := chromedp.Run(ctx, showElement(sel))
				switch {
				case err != nil:
					t.Fatalf("%s at %s: measuring %s: %v", page, vp.name, sel, err)
				case !el.Found:
					t.Errorf("%s at %s: no %s", page, vp.name, sel)
				case text != "" && el.Text != text:
					t.Errorf("%s at %s: %s says %q; want %q", page, vp.name, sel, el.Text, text)
				case el.Hidden || el.Width <= 0 || el.Height <= 0:
					t.Errorf("%s at %s: %s is not visible: %+v", page, vp.name, sel, el)
				case el.Left < 0 || el.Right > el.ViewportWidth+0.5:
					t.Errorf("%s at %s: %s is outside the width %.0f: %+v", page, vp.name, sel, el.ViewportWidth, el)
				case el.ScrollWidth > el.ViewportWidth+0.5:
					t.Errorf("%s at %s: the page scrolls sideways (%.0f wide in %.0f)", page, vp.name, el.ScrollWidth, el.ViewportWidth)
				}
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("%s at %s: screenshot: %v", page, vp.name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, page+"-"+vp.name+".png"), png, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The gateway's sign-in page names the site.
	err := chromedp.Do(ctx, chromedp.Navigate(g.app+"/page"), chromedp.WaitVisible(chromedp.CSS("#username")))
	if err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title != "Sign in · Example Corp" {
		t.Errorf("title %q", title)
	}
	shoot("signin", map[string]string{"main .client": "Grafana", "main .host": host, "header .product": "Example Corp",
		"#username": "", "#password": "", "button[type=submit]": ""})
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitLocation(ctx, g.app+"/page"); err != nil {
		t.Fatalf("never came back to the site: %v", err)
	}

	// An application's consent page names it.
	cfg := &oauth2.Config{ClientID: "app", RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: g.issuer + "/authorize"}}
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	if err := chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("button[value=approve]"))); err != nil {
		t.Fatalf("consent page: %v", err)
	}
	shoot("consent", map[string]string{"main .client": "app", "button[value=approve]": "Allow", "button[value=deny]": "Deny"})

	// The device page shows the user code to compare with the device's.
	da := g.postForm("/device/code", url.Values{"client_id": {"tv"}}, "", "").json(t)
	code, _ := da["user_code"].(string)
	if code == "" {
		t.Fatalf("device authorization: %v", da)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(g.issuer+"/device?"+url.Values{"user_code": {code}}.Encode()),
		chromedp.WaitVisible(chromedp.CSS("button[value=lookup]")),
		chromedp.Click(chromedp.CSS("button[value=lookup]")),
		chromedp.WaitVisible(chromedp.CSS("#user-code")),
	)
	if err != nil {
		t.Fatalf("device page: %v", err)
	}
	shoot("device", map[string]string{"#user-code": code, "main .client": "Living room TV", "button[value=approve]": "Allow"})

	// The landing page at the issuer says what the server is.
	if err := chromedp.Do(ctx, chromedp.Navigate(g.issuer+"/"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatalf("landing page: %v", err)
	}
	shoot("landing", map[string]string{"h1": "Sign-in service", "header .product": "Example Corp", `a[href="/device"]`: "Connect a device"})

	for _, page := range []string{"signin", "consent", "device", "landing"} {
		for _, vp := range pageViewports {
			if _, err := os.Stat(filepath.Join(dir, page+"-"+vp.name+".png")); err != nil {
				t.Error(err)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}
