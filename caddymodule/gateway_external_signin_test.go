package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// TestGatewayExternalSignIn signs a browser in at an external provider
// whose ID tokens carry only sub, as many put the profile claims only in
// userinfo when an access token is issued too (OIDC Core §5.4): the
// session gets email, name and groups from the userinfo endpoint, and
// only if userinfo answers for the ID token's subject (§5.3.2). The
// callback refuses a response without iss from a provider that
// advertises authorization_response_iss_parameter_supported (RFC 9207
// §2.4), and a wrong iss from any provider.
func TestGatewayExternalSignIn(t *testing.T) {
	p := newFakeProvider(t, true)      // advertises RFC 9207
	quiet := newFakeProvider(t, false) // does not
	session := func(iss, cookie, callback string) string {
		s := "accept session\nissuer " + iss + "\nclient_id " + fakeClientID + "\nclient_secret " + fakeClientSecret + "\ncookie_name " + cookie
		if callback != "" {
			s += "\ncallback_path " + callback
		}
		return s
	}
	tc, app := startExternalGateway(t, [][2]string{
		{"/quiet/*", session(quiet.URL(), "gw_quiet", "/quiet/.authgate/callback")},
		{"", session(p.URL(), "gw_main", "")},
	})
	// signIn runs a sign-in from page through the provider to the
	// callback and returns the callback's answer.
	signIn := func(b *browser, page, provider string) response {
		t.Helper()
		r := b.get(page)
		loc := r.header.Get("Location")
		if r.status != http.StatusFound || !strings.HasPrefix(loc, provider+"/authorize?") {
			t.Fatalf("to the provider: %d %q", r.status, loc)
		}
		r = b.get(loc)
		back := r.header.Get("Location")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(back, app+"/") {
			t.Fatalf("provider's answer: %d %q %s", r.status, back, r.body)
		}
		return b.get(back)
	}
	set := func(p *fakeProvider, f func()) {
		p.mu.Lock()
		defer p.mu.Unlock()
		f()
	}

	t.Run("profile from userinfo", func(t *testing.T) {
		b := newBrowser(tc)
		r := signIn(b, app+"/page?x=1", p.URL())
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/page?x=1" {
			t.Fatalf("callback: %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
		r = b.get(app + "/page")
		for _, want := range []string{"sub=erin ", "email=erin@fake.example ", "name=Erin Example ", "groups=staff,ops "} {
			if r.status != 200 || !strings.Contains(string(r.body), want) {
				t.Fatalf("want %q upstream: %d %s", want, r.status, r.body)
			}
		}
	})

	t.Run("the ID token's claims win", func(t *testing.T) {
		set(p, func() {
			p.idClaims = map[string]any{"email": "erin@id-token.example", "name": "Erin From ID", "preferred_username": "erin", "groups": []string{"id-group"}}
			p.userinfoCalls = 0
		})
		defer set(p, func() { p.idClaims = nil })
		b := newBrowser(tc)
		if r := signIn(b, app+"/page", p.URL()); r.status != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", r.status, r.body)
		}
		r := b.get(app + "/page")
		if !strings.Contains(string(r.body), "email=erin@id-token.example ") || !strings.Contains(string(r.body), "groups=id-group ") {
			t.Fatalf("upstream: %s", r.body)
		}
		if p.userinfoCalls != 0 {
			t.Errorf("userinfo asked %d times though the ID token had every claim", p.userinfoCalls)
		}
	})

	t.Run("userinfo about someone else", func(t *testing.T) {
		// An access token of another user (a substituted token, OIDC Core
		// §16.11) would give another user's email and groups to erin.
		set(p, func() {
			p.userinfo = map[string]any{"sub": "mallory", "email": "admin@fake.example", "groups": []string{"admins"}}
		})
		defer set(p, func() {
			p.userinfo = map[string]any{"sub": "erin", "email": "erin@fake.example", "name": "Erin Example", "preferred_username": "erin", "groups": []string{"staff", "ops"}}
		})
		b := newBrowser(tc)
		r := signIn(b, app+"/page", p.URL())
		if r.status != http.StatusBadGateway {
			t.Fatalf("callback: %d %s", r.status, r.body)
		}
		if r := b.get(app + "/page"); r.status != http.StatusFound {
			t.Fatalf("signed in after all: %d %s", r.status, r.body)
		}
	})

	t.Run("userinfo down", func(t *testing.T) {
		// Without its groups the identity could dodge a deny group rule:
		// no session rather than a partial one.
		set(p, func() { p.userinfo = nil }) // 503
		defer set(p, func() {
			p.userinfo = map[string]any{"sub": "erin", "email": "erin@fake.example", "name": "Erin Example", "preferred_username": "erin", "groups": []string{"staff", "ops"}}
		})
		if r := signIn(newBrowser(tc), app+"/page", p.URL()); r.status != http.StatusBadGateway {
			t.Fatalf("callback: %d %s", r.status, r.body)
		}
	})

	for _, c := range []struct {
		name     string
		provider *fakeProvider
		page     string
		iss      string
		want     int
	}{
		{"iss missing, advertised", p, app + "/page", "-", http.StatusBadRequest},
		{"iss wrong, advertised", p, app + "/page", "https://evil.example", http.StatusBadRequest},
		{"iss right, advertised", p, app + "/page", "", http.StatusSeeOther},
		{"iss missing, not advertised", quiet, app + "/quiet/page", "-", http.StatusSeeOther},
		{"iss wrong, not advertised", quiet, app + "/quiet/page", "https://evil.example", http.StatusBadRequest},
		{"iss of the other provider", quiet, app + "/quiet/page", p.URL(), http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			set(c.provider, func() { c.provider.respIss = c.iss })
			defer set(c.provider, func() { c.provider.respIss = "" })
			b := newBrowser(tc)
			r := signIn(b, c.page, c.provider.URL())
			if r.status != c.want {
				t.Fatalf("callback: %d, want %d: %s", r.status, c.want, r.body)
			}
			got := b.get(c.page)
			if signedIn := got.status == 200; signedIn != (c.want == http.StatusSeeOther) {
				t.Fatalf("after the callback: %d %s", got.status, got.body)
			}
			if c.want == http.StatusSeeOther && !strings.Contains(string(got.body), "email=erin@fake.example") {
				t.Fatalf("upstream: %s", got.body)
			}
		})
	}
}
