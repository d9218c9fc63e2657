package caddymodule

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/password"
)

// Signing in through identity providers configured in the Caddyfile, at
// a gateway route of a real Caddy: the bundled server sends the browser
// to the provider (or asks a directory), and the upstream app sees who
// signed in, or is never reached.

// follow follows the redirects from r, the answer to a GET of cur, and
// returns the last answer and its URL.
func (b *browser) follow(cur string, r response) (response, string) {
	b.t.Helper()
	for i := 0; i < 15 && (r.status == http.StatusFound || r.status == http.StatusSeeOther); i++ {
		base, _ := url.Parse(cur)
		next, err := base.Parse(r.header.Get("Location"))
		if err != nil {
			b.t.Fatalf("bad Location %q", r.header.Get("Location"))
		}
		cur = next.String()
		r = b.get(cur)
	}
	return r, cur
}

// openSignInPage opens a page of the gateway's app without a session
// and follows the redirects to the bundled server's sign-in page.
func (b *browser) openSignInPage(page string) response {
	b.t.Helper()
	r, at := b.follow(page, b.get(page))
	if r.status != http.StatusOK || !strings.HasPrefix(at, b.tc.issuer+"/authorize") || !strings.Contains(string(r.body), "<h1>Sign in</h1>") {
		b.t.Fatalf("%s did not lead to the sign-in page: %d at %s\n%s", page, r.status, at, r.body)
	}
	return r
}

// providerLink returns the sign-in page's "Continue with" link of a
// provider, checking its text.
func providerLink(t *testing.T, page response, name, displayName string) string {
	t.Helper()
	m := regexp.MustCompile(`<a class="button" href="(/login/` + regexp.QuoteMeta(name) + `\?[^"]*)">Continue with ([^<]*)</a>`).FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("the sign-in page has no link for %s:\n%s", name, page.body)
	}
	if got := html.UnescapeString(string(m[2])); got != displayName {
		t.Errorf("the link of %s says %q; want %q", name, got, displayName)
	}
	return html.UnescapeString(string(m[1]))
}

// corpClientSecret is the bundled server's secret at the upstream
// provider; the Caddyfile reads it from AUTHGATE_TEST_CORP_SECRET.
const corpClientSecret = "corp-client-secret"

// startCorpGateway runs an upstream OpenID provider (another authgate
// server, with the user erin) and a gateway whose bundled server has it
// as three identity providers: corp, which admits erin by her domain and
// group, and corp-domains and corp-groups, whose allow-lists keep her
// out. The upstream's confidential client authgate-corp has the three
// callbacks, <issuer>/login/<name>/callback, as its redirect URIs.
func startCorpGateway(t *testing.T) (*gatewaySetup, *httptest.Server) {
	t.Helper()
	g := newGateway(t)
	upstream := startProvider(t, func(cfg *authserver.Config, h password.Hash) {
		cfg.Users = []*authserver.User{{Username: "erin", Password: h, Name: "Erin Example", Email: "erin@ext.example", Groups: []string{"external", "ops"}}}
		var uris []string
		for _, name := range []string{"corp", "corp-domains", "corp-groups"} {
			uris = append(uris, g.issuer+"/login/"+name+"/callback")
		}
		cfg.Clients = []*authserver.Client{{
			ID: "authgate-corp", Secret: authserver.PlainSecret(corpClientSecret), RedirectURIs: uris,
			GrantTypes: []string{authserver.GrantAuthorizationCode}, Scopes: []string{"openid", "profile", "email", "groups"},
			SkipConsent: true,
		}}
	})
	t.Setenv("AUTHGATE_TEST_CORP_SECRET", corpClientSecret)
	provider := func(name, allow, display string) string {
		return fmt.Sprintf(`
		identity_provider %s oidc {
			issuer %s
			client_id authgate-corp
			client_secret {env.AUTHGATE_TEST_CORP_SECRET}
			scopes openid profile email groups
			%s
			display_name "%s"
		}`, name, upstream.URL, allow, display)
	}
	g.start(provider("corp", "allow_domains ext.example\n\t\t\tallow_groups external", "Corp")+
		provider("corp-domains", "allow_domains other.example", "Corp (other domain)")+
		provider("corp-groups", "allow_groups admins", "Corp (admins)"),
		`accept bearer`, `accept session`)
	return g, upstream
}

// signInAtCorp goes from the app's page through the sign-in page's link
// of the provider name to the upstream's sign-in, signs in as erin there,
// and follows the redirects back, returning the last answer.
func (b *browser) signInAtCorp(g *gatewaySetup, upstream *httptest.Server, page, name, displayName string) response {
	b.t.Helper()
	link := providerLink(b.t, b.openSignInPage(g.app+page), name, displayName)
	r, at := b.follow(g.issuer+link, b.get(g.issuer+link))
	if !strings.HasPrefix(at, upstream.URL+"/authorize?") || !strings.Contains(string(r.body), `name="password"`) {
		b.t.Fatalf("%s did not lead to the upstream's sign-in page: %d at %s", link, r.status, at)
	}
	q, _ := url.Parse(at)
	if got := q.Query().Get("redirect_uri"); got != g.issuer+"/login/"+name+"/callback" {
		b.t.Errorf("redirect_uri = %q; want the issuer's /login/%s/callback", got, name)
	}
	f := fields(r)
	f.Set("username", "erin")
	f.Set("password", "ext-password")
	req, _ := http.NewRequest(http.MethodPost, upstream.URL+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = b.do(req)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), g.issuer+"/login/"+name+"/callback?") {
		b.t.Fatalf("the upstream's sign-in: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	r, _ = b.follow(upstream.URL+"/login", r)
	return r
}

// TestIdentityProviderOIDC signs a browser in at a gateway route through
// an upstream OpenID provider configured with identity_provider … oidc:
// the upstream app sees the upstream user's email and groups, under a
// username of the provider's; allow_domains and allow_groups that leave
// the user out show the refusal page and never reach the app.
func TestIdentityProviderOIDC(t *testing.T) {
	g, upstream := startCorpGateway(t)

	t.Run("admitted", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r := b.signInAtCorp(g, upstream, "/page?x=1", "corp", "Corp")
		for _, want := range []string{"user=corp:erin ", "email=erin@ext.example ", "groups=corp:external,corp:ops "} {
			if r.status != http.StatusOK || !strings.Contains(string(r.body), want) {
				t.Fatalf("the upstream app should see %q: %d %s", want, r.status, r.body)
			}
		}
		// Signed in: the next page opens at once, as the same user.
		if r := b.get(g.app + "/other"); r.status != http.StatusOK || !strings.Contains(string(r.body), "email=erin@ext.example ") {
			t.Errorf("second page: %d %s", r.status, r.body)
		}
		// A second sign-in with the same provider is the same user.
		b2 := newBrowser(g.testCaddy)
		r2 := b2.signInAtCorp(g, upstream, "/page", "corp", "Corp")
		sub := regexp.MustCompile(`sub=(\S+) `)
		if m1, m2 := sub.FindSubmatch(r.body), sub.FindSubmatch(r2.body); m1 == nil || m2 == nil || string(m1[1]) != string(m2[1]) {
			t.Errorf("two sign-ins of erin gave subjects %q and %q", m1, m2)
		}
	})

	for _, tt := range []struct{ name, display, reason string }{
		{"corp-domains", "Corp (other domain)", "Accounts from ext.example cannot sign in here."},
		{"corp-groups", "Corp (admins)", "This account is not in a group that can sign in here."},
	} {
		t.Run("refused by "+tt.name, func(t *testing.T) {
			b := newBrowser(g.testCaddy)
			r := b.signInAtCorp(g, upstream, "/page", tt.name, tt.display)
			body := string(r.body)
			if r.status != http.StatusForbidden || !strings.Contains(body, "<h1>You cannot sign in here</h1>") || !strings.Contains(body, tt.reason) {
				t.Fatalf("want the refusal page: %d %s", r.status, body)
			}
			if strings.Contains(body, "sub=") || strings.Contains(body, corpClientSecret) {
				t.Errorf("the refusal page shows more than it should: %s", body)
			}
			// The app was not reached and there is no session.
			if r := b.get(g.app + "/page"); r.status != http.StatusFound {
				t.Errorf("after the refusal the app answered %d %s", r.status, r.body)
			}
		})
	}
}

// TestBrowserIdentityProviderOIDC: headless Chromium opens a page of the
// app, clicks "Continue with Corp" on the sign-in page, signs in at the
// upstream provider and comes back to the page, with the upstream
// user's email and groups at the app.
func TestBrowserIdentityProviderOIDC(t *testing.T) {
	ctx := newChrome(t)
	g, upstream := startCorpGateway(t)
	target := g.app + "/page?tab=2"
	err := chromedp.Do(ctx,
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/login/corp?"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/login/corp?"]`)),
		chromedp.WaitVisible(chromedp.CSS("#username")),
	)
	if err != nil {
		t.Fatalf("to the upstream's sign-in page: %v", err)
	}
	if loc, err := waitLocation(ctx, upstream.URL+"/"); err != nil {
		t.Fatalf("not at the upstream provider: %s %v", loc, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "erin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "ext-password"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("the upstream's sign-in: %v", err)
	}
	if loc, err := waitLocation(ctx, target); err != nil {
		t.Fatalf("never came back to %s: %s %v", target, loc, err)
	}
	body, err := waitText(ctx, "email=erin@ext.example ")
	if err != nil || !strings.Contains(body, "groups=corp:external,corp:ops ") || !strings.Contains(body, "user=corp:erin ") {
		t.Fatalf("the upstream app saw %q (%v)", body, err)
	}
}
