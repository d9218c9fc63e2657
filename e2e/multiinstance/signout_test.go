package multiinstance

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testGatewaySignOut: a browser signs in through A's gateway; B honours
// the session (the cookie keys are shared); after signing out on A, a copy
// of the cookie taken before is refused by B within the revocation feed's
// delay, although B had the session cached.
func testGatewaySignOut(t *testing.T, lb *balancer, a, b *instance) {
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// A client with the copied cookie and nothing else, which does not
	// follow redirects either.
	thief := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, cookie string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		if cookie != "" {
			req.Header.Set("Cookie", "authgate_session_gw="+cookie)
			return do(t, thief, req)
		}
		return do(t, br, req)
	}
	follow := func(cur string, r response) (string, response) {
		t.Helper()
		for i := 0; i < 10 && (r.status == http.StatusFound || r.status == http.StatusSeeOther); i++ {
			base, _ := url.Parse(cur)
			next, err := base.Parse(r.header.Get("Location"))
			if err != nil {
				t.Fatalf("bad Location %q", r.header.Get("Location"))
			}
			cur = next.String()
			r = get(cur, "")
		}
		return cur, r
	}
	lb.to(a)
	cur, r := follow(a.site+"/web/page", get(a.site+"/web/page", ""))
	if !isLoginPage(r) {
		t.Fatalf("A's gateway did not lead to the sign-in page: %s %d %s", cur, r.status, r.body)
	}
	f := fields(r)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	r = do(t, br, formRequest(t, lb.url+"/login", f, "", ""))
	if _, r = follow(lb.url+"/login", r); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "alice" {
		t.Fatalf("after signing in through A's gateway: %d %s", r.status, r.body)
	}
	siteURL, _ := url.Parse(a.site)
	var stolen string
	for _, c := range jar.Cookies(siteURL) {
		if c.Name == "authgate_session_gw" {
			stolen = c.Value
		}
	}
	if stolen == "" {
		t.Fatal("no gateway session cookie")
	}
	// B honours it, and caches it.
	for range 3 {
		if r := get(b.site+"/web/page", stolen); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "alice" {
			t.Fatalf("B with A's session: %d %s", r.status, r.body)
		}
	}
	if r := get(a.site+"/web/.authgate/logout", ""); r.status != http.StatusSeeOther {
		t.Fatalf("signing out on A: %d", r.status)
	}
	if r := get(a.site+"/web/page", stolen); r.status != http.StatusFound {
		t.Errorf("A honours the copied cookie after sign-out: %d", r.status)
	}
	start := time.Now()
	for {
		r := get(b.site+"/web/page", stolen)
		if r.status == http.StatusFound {
			t.Logf("B refused the signed-out session after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("B: %d %s", r.status, r.body)
		}
		if time.Since(start) > revocationBound {
			t.Fatalf("B still honours the signed-out session after %v", revocationBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
