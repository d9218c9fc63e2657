package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
)

// TestIdpCodeFlow: a client's authorization request leads to the sign-in
// page, which offers the providers; "Continue with X" sets a cookie for
// the sign-in and sends the browser to X with the server's callback,
// state, nonce and PKCE challenge; X's answer signs the person in as a
// federated user, and the flow goes on to consent, a code and tokens. The
// tokens' sub is the federated user's own ID, neither X's subject nor
// the email; preferred_username is "x:" and X's username (or subject);
// the email is released only if X verified it; the groups are X's.
func TestIdpCodeFlow(t *testing.T) {
	for _, tt := range []struct {
		name     string
		id       connector.Identity
		username string
		email    string
	}{
		{"verified email", idpOctocat, "x:octocat", "octo@example.com"},
		{"unverified email", connector.Identity{Subject: "1002", Username: "kitten", Email: "boss@example.com", Name: "Kit"}, "x:kitten", ""},
		{"no username", connector.Identity{Subject: "1003", Groups: []string{"g"}}, "x:1003", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newIdpEnv(t, nil)
			e.x.as(tt.id)
			b := e.browser()
			verifier := oauth2.GenerateVerifier()
			page := b.get(signinURL(signinParams(verifier), "scope", idpScopes, "nonce", "n-1"))
			links := idpLinks(page)
			if page.status != http.StatusOK || len(links) != 2 || !strings.HasPrefix(links["X"], "/login/x?request=") ||
				!strings.HasPrefix(links["Y"], "/login/y?request=") {
				t.Fatalf("sign-in page: %d links %v", page.status, links)
			}
			start := b.idpClick(page, "X")
			if start.status != http.StatusSeeOther || !strings.HasPrefix(start.header.Get("Location"), e.x.hs.URL+"/authorize?") ||
				start.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("start: %d %v", start.status, start.header)
			}
			set := start.header.Get("Set-Cookie")
			if !strings.HasPrefix(set, "authgate_idp_") || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") ||
				!strings.Contains(set, "Max-Age=600") || !strings.Contains(set, "Path=/") {
				t.Errorf("flow cookie = %q", set)
			}
			at, _ := url.Parse(start.header.Get("Location"))
			if q := at.Query(); q.Get("redirect_uri") != e.issuer+"/login/x/callback" || len(q.Get("state")) < 32 ||
				len(q.Get("nonce")) < 32 || q.Get("code_challenge") == "" {
				t.Errorf("authorization request at X = %v", q)
			}
			_, r := b.idpComplete(start)
			if b.idpFlowCookies() != 0 {
				t.Errorf("the flow cookie outlives the callback: %v", b.idpCookies())
			}
			if !isPage(r, "Allow access?") || !strings.Contains(string(r.body), tt.username) {
				t.Fatalf("after the callback: %d %s", r.status, idpMain(r))
			}
			q := e.callback(b.consent(r, "approve", true), signinRedirect)
			tr := e.signinToken(signinRedeemForm(q.Get("code"), verifier))
			if tr.status != http.StatusOK {
				t.Fatalf("token: %d %s", tr.status, tr.body)
			}
			m := tr.json(t)
			wantID, storedName := e.idpUser("x", tt.id.Subject)
			c := e.idpClaims(m["id_token"].(string))
			if c.Subject != wantID || !strings.HasPrefix(c.Subject, "fed:") || c.Subject == tt.id.Subject || c.Subject == tt.id.Email {
				t.Errorf("sub = %q; want the federated user's ID %q", c.Subject, wantID)
			}
			if storedName != tt.username || c.PreferredUsername != tt.username || c.Email != tt.email || c.Name != tt.id.Name ||
				!slices.Equal(c.Groups, idpPrefixed("x", tt.id.Groups)) || len(c.AMR) != 0 || c.Nonce != "n-1" {
				t.Errorf("ID token claims = %+v", c)
			}
			info := e.signinUserinfo(http.MethodGet, "Bearer "+m["access_token"].(string))
			if info.status != http.StatusOK {
				t.Fatalf("userinfo: %d %s", info.status, info.body)
			}
			ui := info.json(t)
			_, hasEmail := ui["email"]
			if ui["sub"] != wantID || ui["preferred_username"] != tt.username || hasEmail != (tt.email != "") ||
				(tt.email != "" && (ui["email"] != tt.email || ui["email_verified"] != true)) {
				t.Errorf("userinfo = %v", ui)
			}
			if m["refresh_token"] == nil {
				t.Error("no refresh token for offline_access")
			}
			if who := e.idpWho(b); who != wantID {
				t.Errorf("the browser's session is %q; want %q", who, wantID)
			}
		})
	}
}

// TestIdpReturningUser: a person is known by the provider's subject
// alone. Signing in again with a changed email, name and groups keeps the
// sub and refreshes the rest (an email no longer verified is dropped); the
// username, once given, stays. Another subject with the same email is
// another user, never linked by email, and neither is a local user with
// the provider's username; the same subject at another provider is
// another user. A username another subject holds falls back to the
// subject, and a squatted subject still leaves the person a way in.
func TestIdpReturningUser(t *testing.T) {
	e := newIdpEnv(t, nil)
	signIn := func(p *idpRedirect, display string, id connector.Identity) IDTokenClaims {
		t.Helper()
		p.as(id)
		m := e.idpCodeFlow(e.browser(), display, "openid profile email groups")
		return e.idpClaims(m["id_token"].(string))
	}
	first := signIn(e.x, "X", idpOctocat)

	changed := connector.Identity{Subject: "1001", Username: "octo2", Email: "new@example.com", EmailVerified: true,
		Name: "Renamed", Groups: []string{"dogs"}}
	again := signIn(e.x, "X", changed)
	if again.Subject != first.Subject || again.Email != "new@example.com" || again.Name != "Renamed" ||
		!slices.Equal(again.Groups, []string{"x:dogs"}) || again.PreferredUsername != "x:octocat" {
		t.Errorf("second sign-in = %+v; want sub %s refreshed, username kept", again, first.Subject)
	}
	changed.EmailVerified = false
	if c := signIn(e.x, "X", changed); c.Subject != first.Subject || c.Email != "" {
		t.Errorf("with the email no longer verified: %+v", c)
	}

	for _, tt := range []struct {
		name     string
		p        *idpRedirect
		display  string
		id       connector.Identity
		username string
	}{
		{"another subject with the same verified email", e.x, "X",
			connector.Identity{Subject: "2002", Username: "impostor", Email: "new@example.com", EmailVerified: true}, "x:impostor"},
		{"a username another subject holds", e.x, "X", connector.Identity{Subject: "3003", Username: "octocat"}, "x:3003"},
		{"a local user's username and email", e.x, "X",
			connector.Identity{Subject: "4004", Username: "alice", Email: "alice@example.com", EmailVerified: true}, "x:alice"},
		{"the same subject at another provider", e.y, "Y", idpOctocat, "y:octocat"},
	} {
		c := signIn(tt.p, tt.display, tt.id)
		if c.Subject == first.Subject || c.Subject == "alice" || !strings.HasPrefix(c.Subject, "fed:") || c.PreferredUsername != tt.username {
			t.Errorf("%s: signed in as %s (%s); want a new user %s", tt.name, c.Subject, c.PreferredUsername, tt.username)
		}
	}

	// Someone takes "x:5005", the username the person with subject 5005
	// falls back to when their own username is taken too: that person
	// must still get in, under a name of their own.
	squatter := signIn(e.x, "X", connector.Identity{Subject: "6006", Username: "5005"})
	e.x.as(connector.Identity{Subject: "5005", Username: "octocat"})
	b := e.browser()
	r := b.idpSignIn(b.get("/login"), "X")
	if !isPage(r, "Signed in") {
		t.Fatalf("the person whose fallback username was squatted: %d %s", r.status, idpMain(r))
	}
	id, name := e.idpUser("x", "5005")
	if id == squatter.Subject || name == "x:5005" || name == "x:octocat" || !strings.HasPrefix(name, "x:") {
		t.Errorf("user of subject 5005 = %s %q", id, name)
	}
}

// TestIdpState: the callback belongs to the browser that started the
// sign-in, for that provider, once, within the flow's lifetime. An answer
// carried to another browser (login CSRF: an attacker's own sign-in
// completed by the victim), a wrong or missing state, another provider's
// callback, a replay, an expired flow and repeated or malformed
// parameters all get 400 and sign no one in, before the connector is
// asked to redeem anything.
func TestIdpState(t *testing.T) {
	e := newIdpEnv(t, nil)
	started := func(b *browser) string { // a sign-in with X started by b, up to X's answer
		t.Helper()
		return b.idpAtProvider(b.idpClick(b.get("/login"), "X"))
	}
	withState := func(cb, state string) string {
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
		return u.String()
	}
	stateOf := func(cb string) string {
		u, _ := url.Parse(cb)
		return u.Query().Get("state")
	}
	for _, tt := range []struct {
		name string
		// attack returns the browser under attack and the callback URL it
		// is made to open.
		attack func() (*browser, string)
	}{
		{"another browser's answer (login CSRF)", func() (*browser, string) {
			victim := e.browser()
			started(victim) // the victim has a sign-in of their own going
			return victim, started(e.browser())
		}},
		{"no cookie at all", func() (*browser, string) { return e.browser(), started(e.browser()) }},
		{"a wrong state", func() (*browser, string) {
			b := e.browser()
			return b, withState(started(b), randomID(24))
		}},
		{"a state with the right prefix", func() (*browser, string) {
			b := e.browser()
			cb := started(b)
			return b, withState(cb, stateOf(cb)[:8]+randomID(20))
		}},
		{"no state", func() (*browser, string) {
			b := e.browser()
			u, _ := url.Parse(started(b))
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return b, u.String()
		}},
		{"a short state", func() (*browser, string) {
			b := e.browser()
			return b, withState(started(b), "abc")
		}},
		{"another provider's callback", func() (*browser, string) {
			b := e.browser()
			return b, strings.Replace(started(b), "/login/x/callback", "/login/y/callback", 1)
		}},
		{"a replay", func() (*browser, string) {
			b := e.browser()
			cb := started(b)
			if r := b.get(cb); !isPage(r, "Signed in") {
				t.Fatalf("the genuine callback: %d %s", r.status, idpMain(r))
			}
			e.idpEndSession(b) // so that a session the replay made would show
			return b, cb
		}},
		{"an expired sign-in", func() (*browser, string) {
			b := e.browser()
			cb := started(b)
			e.clock.Advance(providerLoginLifetime + time.Minute)
			return b, cb
		}},
		{"a repeated code", func() (*browser, string) {
			b := e.browser()
			return b, started(b) + "&code=other"
		}},
		{"a repeated state", func() (*browser, string) {
			b := e.browser()
			cb := started(b)
			return b, cb + "&state=" + url.QueryEscape(stateOf(cb))
		}},
		{"a malformed query", func() (*browser, string) {
			b := e.browser()
			return b, started(b) + "&%zz"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, cb := tt.attack()
			before := e.x.calls() + e.y.calls()
			r := b.get(cb)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "Something went wrong") {
				t.Errorf("callback: %d %v %s; want the 400 page", r.status, r.header.Get("Location"), idpMain(r))
			}
			if n := e.x.calls() + e.y.calls() - before; n != 0 {
				t.Errorf("the connector was asked %d times", n)
			}
			if who := e.idpWho(b); who != "" {
				t.Errorf("signed in as %s", who)
			}
		})
	}

	// The attacker's own answer still works in the attacker's browser:
	// only the cookie, not the answer, was missing.
	attacker := e.browser()
	cb := started(attacker)
	if r := e.browser().get(cb); r.status != http.StatusBadRequest {
		t.Fatalf("the answer in another browser: %d", r.status)
	}
	if r := attacker.get(cb); !isPage(r, "Signed in") {
		t.Errorf("the answer in the browser that started: %d %s", r.status, idpMain(r))
	}

	// A stolen copy of the flow cookie replayed with the answer is up to
	// the provider, whose codes are single use: the connector fails, and
	// no one is signed in.
	b := e.browser()
	cb = started(b)
	thief := e.signinCopyBrowser(b)
	if r := b.get(cb); !isPage(r, "Signed in") {
		t.Fatalf("the genuine callback: %d %s", r.status, idpMain(r))
	}
	if r := thief.get(cb); r.status != http.StatusBadGateway || e.idpWho(thief) != "" {
		t.Errorf("replayed with a copied cookie: %d %s", r.status, idpMain(r))
	}
}

// TestIdpTwoTabs: two sign-ins going at once in one browser (two tabs)
// each finish with their own cookie, in any order.
func TestIdpTwoTabs(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	first := b.idpAtProvider(b.idpClick(b.get("/login"), "X"))
	second := b.idpAtProvider(b.idpClick(b.get("/login"), "Y"))
	if n := b.idpFlowCookies(); n != 2 {
		t.Errorf("%d flow cookies; want 2", n)
	}
	if r := b.get(second); !isPage(r, "Signed in") || !strings.Contains(string(r.body), "y:why") {
		t.Errorf("second tab: %d %s", r.status, idpMain(r))
	}
	if r := b.get(first); !isPage(r, "Signed in") || !strings.Contains(string(r.body), "x:octocat") {
		t.Errorf("first tab: %d %s", r.status, idpMain(r))
	}
}

// TestIdpFlowCookiesBounded: sign-ins started over and over in one
// browser (abandoned, or forced on it by another site's links) do not
// pile up cookies until the browser's requests are too large to serve.
func TestIdpFlowCookiesBounded(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	for range 20 {
		if r := b.get("/login/x"); r.status != http.StatusSeeOther {
			t.Fatalf("start: %d %s", r.status, idpMain(r))
		}
	}
	if n := b.idpFlowCookies(); n > maxProviderLogins {
		t.Errorf("%d flow cookies after 20 sign-ins started; want at most %d", n, maxProviderLogins)
	}
	// The latest sign-in still finishes.
	if _, r := b.idpComplete(b.get("/login/x")); !isPage(r, "Signed in") {
		t.Errorf("the latest sign-in: %d %s", r.status, idpMain(r))
	}
}

// TestIdpConnectorErrors: what goes wrong at the provider is told in
// plain words and signs no one in: a refusal by the connector's
// allow-lists is 403 with its reason; a person who declined at the
// provider (access_denied) is 403 "cancelled"; another error the
// provider sent back is 502; any other failure is 502 with nothing of the
// error on the page. A provider that cannot be reached when starting is
// 502 before any cookie is set.
func TestIdpConnectorErrors(t *testing.T) {
	const internal = "dial tcp 10.1.2.3:443: token endpoint said SECRET-DETAIL"
	for _, tt := range []struct {
		name   string
		set    func(p *idpRedirect)
		status int
		want   string
	}{
		{"refused", func(p *idpRedirect) { p.callbackErr = connector.Refused("Only members of the cats club may sign in.") },
			http.StatusForbidden, "Only members of the cats club may sign in."},
		{"refused, wrapped", func(p *idpRedirect) { p.callbackErr = fmt.Errorf("x: %w", connector.Refused("Wrong domain.")) },
			http.StatusForbidden, "Wrong domain."},
		{"declined at the provider", func(p *idpRedirect) { p.deny = "access_denied" }, http.StatusForbidden, "Sign-in cancelled"},
		{"another provider error", func(p *idpRedirect) { p.deny = "temporarily_unavailable" }, http.StatusBadGateway, "X could not sign you in."},
		{"a provider error from the connector", func(p *idpRedirect) {
			p.callbackErr = &connector.ProviderError{Code: "invalid_grant", Description: internal}
		}, http.StatusBadGateway, "X could not sign you in."},
		{"any other error", func(p *idpRedirect) { p.callbackErr = errors.New(internal) }, http.StatusBadGateway, "could not be completed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newIdpEnv(t, nil)
			e.x.set(tt.set)
			b := e.browser()
			r := b.idpSignIn(b.get(signinAuthorizeURL()), "X")
			if !idpIsMessage(r, tt.status, tt.want) {
				t.Errorf("%d %s; want %d with %q", r.status, r.body, tt.status, tt.want)
			}
			for _, leak := range []string{"10.1.2.3", "SECRET-DETAIL", "dial tcp", "the person said no", "invalid_grant"} {
				if strings.Contains(string(r.body), leak) {
					t.Errorf("the page shows %q: %s", leak, idpMain(r))
				}
			}
			if b.idpFlowCookies() != 0 || e.idpWho(b) != "" {
				t.Errorf("after the failure: cookies %v, signed in as %q", b.idpCookies(), e.idpWho(b))
			}
			if _, err := e.store.GetUserByProvider(context.Background(), "x", idpOctocat.Subject); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a user was recorded: %v", err)
			}
		})
	}
	t.Run("unreachable when starting", func(t *testing.T) {
		e := newIdpEnv(t, nil)
		e.x.set(func(p *idpRedirect) { p.authErr = errors.New(internal) })
		b := e.browser()
		r := b.idpClick(b.get(signinAuthorizeURL()), "X")
		if !idpIsMessage(r, http.StatusBadGateway, "X cannot be reached right now") || strings.Contains(string(r.body), "SECRET") {
			t.Errorf("%d %s", r.status, idpMain(r))
		}
		if b.idpFlowCookies() != 0 {
			t.Errorf("a flow cookie was set: %v", b.idpCookies())
		}
	})
}

// TestIdpDisabledUser: a federated user disabled in the store cannot sign
// in again (403), and what they hold stops working: the browser's
// session, the refresh token, the access token.
func TestIdpDisabledUser(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	m := e.idpCodeFlow(b, "X", "openid offline_access")
	sub := e.idpClaims(m["id_token"].(string)).Subject
	if e.idpWho(b) != sub || !e.signinActive(m["access_token"].(string)) {
		t.Fatal("not signed in")
	}
	_, err := e.store.UpdateUser(context.Background(), sub, func(u store.UserRecord) (store.UserRecord, error) {
		u.Disabled = true
		return u, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if who := e.idpWho(b); who != "" {
		t.Errorf("the session of a disabled user still signs in %s", who)
	}
	if r := e.signinRefresh("app", m["refresh_token"].(string), ""); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_grant" {
		t.Errorf("refresh of a disabled user: %d %s", r.status, idpMain(r))
	}
	if e.signinActive(m["access_token"].(string)) {
		t.Error("the access token of a disabled user introspects active")
	}
	c := e.browser()
	r := c.idpSignIn(c.get(signinAuthorizeURL()), "X")
	if !idpIsMessage(r, http.StatusForbidden, "This account is disabled.") || e.idpWho(c) != "" {
		t.Errorf("signing in again: %d %s", r.status, idpMain(r))
	}
	if id, _ := e.idpUser("x", idpOctocat.Subject); id != sub {
		t.Errorf("signing in again made another user %s", id)
	}
}

// TestIdpAuthorizeParameter: idp on the authorization request names the
// provider to sign in with: a redirect provider is gone to at once (once
// the browser has no session), a directory is preselected, anything else
// is ignored; prompt=none still answers login_required. login_hint fills
// in the username, escaped.
func TestIdpAuthorizeParameter(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	r := b.get(signinAuthorizeURL("idp", "x"))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login/x?request=") {
		t.Fatalf("idp=x: %d %v", r.status, r.header.Get("Location"))
	}
	start := b.get(r.header.Get("Location"))
	if _, r := b.idpComplete(start); !isPage(r, "Allow access?") || !strings.Contains(string(r.body), "x:octocat") {
		t.Errorf("after X: %d %s", r.status, idpMain(r))
	}
	// With a session, idp does not send the browser away again.
	if r := b.get(signinAuthorizeURL("idp", "y")); !isPage(r, "Allow access?") {
		t.Errorf("idp=y with a session: %d %v %s", r.status, r.header.Get("Location"), idpMain(r))
	}
	for _, idp := range []string{"nosuch", "X", "../x", "x/callback", "corp"} {
		r := e.browser().get(signinAuthorizeURL("idp", idp))
		if r.status != http.StatusOK || !isSignInPage(r) || len(idpLinks(r)) != 2 {
			t.Errorf("idp=%s: %d %v", idp, r.status, r.header.Get("Location"))
		}
		if selected := strings.Contains(string(r.body), `<option value="corp" selected>`); selected != (idp == "corp") {
			t.Errorf("idp=%s: corp selected = %v", idp, selected)
		}
	}
	r = e.browser().get(signinAuthorizeURL("idp", "corp", "login_hint", `dana"><script>`))
	if !strings.Contains(string(r.body), `value="dana&#34;&gt;&lt;script&gt;"`) || strings.Contains(string(r.body), "<script>") {
		t.Errorf("login_hint not filled in, escaped: %s", idpMain(r))
	}
	q := e.callback(e.browser().get(signinAuthorizeURL("idp", "x", "prompt", "none")), signinRedirect)
	if q.Get("error") != codeLoginRequired {
		t.Errorf("idp=x prompt=none: %v", q)
	}
}

// TestIdpSignInPage: the page offers each redirect provider as a link
// and the password form for the password sources there are: this
// server's accounts when anyone has one (or when there is no other way
// in), and each directory; one source is a hidden idp field, several a
// select.
func TestIdpSignInPage(t *testing.T) {
	storeUser := func(disabled bool) func(c *Config) {
		return func(c *Config) {
			h, err := password.HashArgon2id("sam-pw")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Store.CreateUser(context.Background(), store.UserRecord{ID: "sam", Username: "sam", PasswordHash: h, Disabled: disabled})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	only := func(names ...string) func(c *Config) {
		return func(c *Config) {
			var keep []IdentityProvider
			for _, p := range c.IdentityProviders {
				if slices.Contains(names, p.Name) {
					keep = append(keep, p)
				}
			}
			c.IdentityProviders = keep
		}
	}
	for _, tt := range []struct {
		name       string
		localUsers bool
		configure  []func(c *Config)
		links      []string
		form       bool
		sources    []string // the select's options, or the one hidden idp
	}{
		{"redirect providers, no local accounts", false, []func(*Config){only("x", "y")}, []string{"X", "Y"}, false, nil},
		{"redirect providers and local accounts", true, []func(*Config){only("x", "y")}, []string{"X", "Y"}, true, []string{""}},
		{"redirect providers, a directory, no local accounts", false, []func(*Config){only("x", "corp")}, []string{"X"}, true, []string{"corp"}},
		{"a directory only", false, []func(*Config){only("corp")}, nil, true, []string{"corp"}},
		{"everything", true, nil, []string{"X", "Y"}, true, []string{"", "corp"}},
		{"no providers, no users", false, []func(*Config){only()}, nil, true, []string{""}},
		{"a stored local user", false, []func(*Config){only("x"), storeUser(false)}, []string{"X"}, true, []string{""}},
		{"a disabled stored local user", false, []func(*Config){only("x"), storeUser(true)}, []string{"X"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newIdpEnv(t, func(c *Config) {
				if !tt.localUsers {
					c.Users = nil
				}
				for _, f := range tt.configure {
					f(c)
				}
			})
			for _, path := range []string{"/login", signinAuthorizeURL()} {
				r := e.browser().get(path)
				links := idpLinks(r)
				var names []string
				for n := range links {
					names = append(names, n)
				}
				slices.Sort(names)
				if r.status != http.StatusOK || !slices.Equal(names, tt.links) || isSignInPage(r) != tt.form {
					t.Errorf("%s: %d links %v form %v; want %v form %v", path, r.status, names, isSignInPage(r), tt.links, tt.form)
				}
				if !tt.form {
					continue
				}
				body := string(r.body)
				if len(tt.sources) == 1 {
					if strings.Contains(body, "<select") || fields(r).Get("idp") != tt.sources[0] || !fields(r).Has("idp") {
						t.Errorf("%s: want one hidden idp %q: %s", path, tt.sources[0], idpMain(r))
					}
					continue
				}
				for _, s := range tt.sources {
					if !strings.Contains(body, `<option value="`+s+`"`) {
						t.Errorf("%s: no option %q: %s", path, s, idpMain(r))
					}
				}
			}
		})
	}
}

// TestIdpDirectory: a directory's person signs in with the form (amr
// pwd) as a federated user of the directory; a wrong password or an
// unknown name is 401 "Wrong username or password." (the form again, the
// name kept, no session); a directory that cannot answer is 503; one
// whose allow-list refuses the person is 403 with the reason; an idp the
// form cannot name (unknown, a redirect provider) is 400 and the
// directory is not asked; a local password is no directory password nor
// the other way round; and failures from one address are limited.
func TestIdpDirectory(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	page := b.get(signinURL(signinParams(verifier), "scope", "openid profile groups"))
	r := b.idpDirectoryForm(page, "corp", "dana", "dana-pw")
	if !isPage(r, "Allow access?") || !strings.Contains(string(r.body), "corp:dana") {
		t.Fatalf("dana: %d %s", r.status, idpMain(r))
	}
	q := e.callback(b.consent(r, "approve", false), signinRedirect)
	m := e.signinToken(signinRedeemForm(q.Get("code"), verifier)).json(t)
	c := e.idpClaims(m["id_token"].(string))
	id, _ := e.idpUser("corp", "uid=dana,ou=people")
	if c.Subject != id || c.PreferredUsername != "corp:dana" || !slices.Equal(c.AMR, []string{"pwd"}) || !slices.Equal(c.Groups, []string{"corp:staff"}) {
		t.Errorf("dana's ID token = %+v", c)
	}

	for _, tt := range []struct {
		name, idp, user, pass string
		dirErr                error
		status                int
		want                  string
		asked                 bool
	}{
		{"wrong password", "corp", "dana", "nope", nil, http.StatusUnauthorized, "Wrong username or password.", true},
		{"unknown name", "corp", "zed", "dana-pw", nil, http.StatusUnauthorized, "Wrong username or password.", true},
		{"a local user at the directory", "corp", "alice", alicePassword, nil, http.StatusUnauthorized, "Wrong username or password.", true},
		{"a directory user as a local one", "", "dana", "dana-pw", nil, http.StatusUnauthorized, "Wrong username or password.", false},
		{"unreachable", "corp", "dana", "dana-pw", errors.New("ldap: connection refused 10.0.0.9"), http.StatusServiceUnavailable,
			"Corp Directory cannot be reached right now", true},
		{"refused", "corp", "eve", "eve-pw", nil, http.StatusForbidden, "You are not in a group allowed to sign in here.", true},
		{"an unknown source", "nosuch", "dana", "dana-pw", nil, http.StatusBadRequest, "There is no such way to sign in here.", false},
		{"a redirect provider", "x", "dana", "dana-pw", nil, http.StatusBadRequest, "There is no such way to sign in here.", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.dir.set(func(d *idpDirectory) { d.err = tt.dirErr; d.calls = 0 })
			defer e.dir.set(func(d *idpDirectory) { d.err = nil })
			b := e.browser()
			r := b.idpDirectoryForm(b.get(signinAuthorizeURL()), tt.idp, tt.user, tt.pass)
			if !idpIsMessage(r, tt.status, tt.want) || strings.Contains(string(r.body), "10.0.0.9") {
				t.Errorf("%d %s; want %d %q", r.status, r.body, tt.status, tt.want)
			}
			if tt.status == http.StatusUnauthorized && (!isSignInPage(r) || !strings.Contains(string(r.body), `value="`+tt.user+`"`)) {
				t.Errorf("not the sign-in form again with the name: %s", idpMain(r))
			}
			if asked := e.dir.callCount() > 0; asked != tt.asked {
				t.Errorf("the directory asked: %v; want %v", asked, tt.asked)
			}
			if e.idpWho(b) != "" {
				t.Error("signed in")
			}
		})
	}

	// Failures from one address are limited, whatever the names.
	l := newIdpEnv(t, nil)
	lb := l.browser()
	page = lb.get("/login")
	for i := range 20 {
		if r := lb.idpDirectoryForm(page, "corp", fmt.Sprintf("user%d", i), "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	if r := lb.idpDirectoryForm(page, "corp", "dana", "dana-pw"); r.status != http.StatusTooManyRequests {
		t.Errorf("after 20 failures: %d; want 429", r.status)
	}
}

// TestIdpReturnTo: without a pending request, a sign-in with a provider
// or a directory goes back to the local page return_to names; anything
// that is not a path on this server (an open redirect) is dropped and the
// person lands on the "Signed in" page.
func TestIdpReturnTo(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	page := b.get("/login?return_to=" + url.QueryEscape("/somewhere?a=1&b=2"))
	if link := idpLinks(page)["X"]; !strings.Contains(link, "return_to=%2Fsomewhere%3Fa%3D1%26b%3D2") {
		t.Errorf("X's link = %q", link)
	}
	if r := b.idpSignIn(page, "X"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/somewhere?a=1&b=2" {
		t.Errorf("after X: %d %v", r.status, r.header.Get("Location"))
	}
	d := e.browser()
	if r := d.idpDirectoryForm(d.get("/login?return_to=%2Fhere"), "corp", "dana", "dana-pw"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/here" {
		t.Errorf("after the directory: %d %v", r.status, r.header.Get("Location"))
	}
	for _, bad := range []string{
		"https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
		"/\r\nLocation: https://evil.example", "http:/evil.example", "javascript:alert(1)", "evil.example",
		"https:evil.example", "/" + strings.Repeat("a", 3000),
	} {
		b := e.browser()
		page := b.get("/login?return_to=" + url.QueryEscape(bad))
		if fields(page).Has("return_to") || strings.Contains(idpLinks(page)["X"], "return_to") {
			t.Errorf("return_to %.40q kept on the page", bad)
		}
		direct := b.get("/login/x?return_to=" + url.QueryEscape(bad))
		if direct.status != http.StatusSeeOther {
			t.Errorf("return_to %.40q: starting: %d %s", bad, direct.status, idpMain(direct))
			continue
		}
		if _, r := b.idpComplete(direct); !isPage(r, "Signed in") {
			t.Errorf("return_to %.40q: %d %v", bad, r.status, r.header.Get("Location"))
		}
		f := fields(page)
		f.Set("return_to", bad)
		f.Set("idp", "corp")
		f.Set("username", "dana")
		f.Set("password", "dana-pw")
		if r := b.post("/login", f); !isPage(r, "Signed in") {
			t.Errorf("return_to %.40q with the directory: %d %v", bad, r.status, r.header.Get("Location"))
		}
	}
}

// TestIdpRoutes: /login/{name} and its callback exist only for redirect
// providers, answer GET and HEAD, and 405 anything else.
func TestIdpRoutes(t *testing.T) {
	e := newIdpEnv(t, nil)
	for _, path := range []string{"/login/nosuch", "/login/nosuch/callback", "/login/corp", "/login/corp/callback", "/login/X",
		"/login/x/other", "/login/x/callback/callback", "/login//callback"} {
		if r := e.get(path, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	for _, path := range []string{"/login/x", "/login/x/callback"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			if r := e.svcRequest(method, path, "", "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q", method, path, r.status, r.header.Get("Allow"))
			}
		}
	}
	if r := e.svcRequest(http.MethodHead, "/login/x", "", "", nil); r.status != http.StatusSeeOther {
		t.Errorf("HEAD /login/x: %d", r.status)
	}
	if r := e.get("/login/x/", nil); r.status != http.StatusSeeOther {
		t.Errorf("GET /login/x/: %d", r.status)
	}
	// A pending request that is not open is refused at the start.
	if r := e.get("/login/x?request=nosuch", nil); r.status != http.StatusBadRequest {
		t.Errorf("an unknown request: %d", r.status)
	}
}

// TestIdpConfig: New checks the identity providers: a name of lowercase
// letters, digits, '-' and '_' (not first), used once, and exactly one
// connector each; the display name defaults to the name.
func TestIdpConfig(t *testing.T) {
	redirect := newIdpRedirect(t, idpOctocat)
	dir := &idpDirectory{}
	for _, tt := range []struct {
		name      string
		providers []IdentityProvider
		ok        bool
	}{
		{"good", []IdentityProvider{{Name: "git-hub_2", Redirect: redirect}, {Name: "0ldap", Password: dir}}, true},
		{"empty name", []IdentityProvider{{Name: "", Redirect: redirect}}, false},
		{"uppercase", []IdentityProvider{{Name: "GitHub", Redirect: redirect}}, false},
		{"space", []IdentityProvider{{Name: "git hub", Redirect: redirect}}, false},
		{"colon", []IdentityProvider{{Name: "git:hub", Redirect: redirect}}, false},
		{"slash", []IdentityProvider{{Name: "git/hub", Redirect: redirect}}, false},
		{"leading dash", []IdentityProvider{{Name: "-github", Redirect: redirect}}, false},
		{"not ASCII", []IdentityProvider{{Name: "gïthub", Redirect: redirect}}, false},
		{"too long", []IdentityProvider{{Name: strings.Repeat("a", 64), Redirect: redirect}}, false},
		{"longest", []IdentityProvider{{Name: strings.Repeat("a", 63), Redirect: redirect}}, true},
		{"duplicate", []IdentityProvider{{Name: "a", Redirect: redirect}, {Name: "a", Password: dir}}, false},
		{"no connector", []IdentityProvider{{Name: "a"}}, false},
		{"two connectors", []IdentityProvider{{Name: "a", Redirect: redirect, Password: dir}}, false},
	} {
		err := idpNew(t, func(c *Config) { c.IdentityProviders = tt.providers })
		if (err == nil) != tt.ok {
			t.Errorf("%s: New = %v", tt.name, err)
		}
	}
	e := newEnv(t, func(c *Config) { c.IdentityProviders = []IdentityProvider{{Name: "plain", Redirect: redirect}} })
	if links := idpLinks(e.browser().get("/login")); links["plain"] != "/login/plain" {
		t.Errorf("links = %v; want the name as the display name", links)
	}
}

// TestStoreUserPassword: a local user kept in the store signs in with the
// form like a configured one (amr pwd, sub its ID); a disabled one does
// not. A configured user and a stored one with the same username, or
// whose ID is the configured user's, make New fail: they would be one
// subject.
func TestStoreUserPassword(t *testing.T) {
	hash, err := password.HashArgon2id("sam-pw")
	if err != nil {
		t.Fatal(err)
	}
	create := func(c *Config, rec store.UserRecord) {
		if err := c.Store.CreateUser(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	e := newIdpEnv(t, func(c *Config) {
		create(c, store.UserRecord{ID: "sam", Username: "sam", PasswordHash: hash, Email: "sam@example.com", Groups: []string{"ops"}})
		create(c, store.UserRecord{ID: "sid", Username: "sid", PasswordHash: hash, Disabled: true})
	})
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	r := b.idpDirectoryForm(b.get(signinURL(signinParams(verifier), "scope", "openid groups")), "", "sam", "sam-pw")
	q := e.callback(b.consent(r, "approve", false), signinRedirect)
	m := e.signinToken(signinRedeemForm(q.Get("code"), verifier)).json(t)
	if c := e.idpClaims(m["id_token"].(string)); c.Subject != "sam" || !slices.Equal(c.AMR, []string{"pwd"}) || !slices.Equal(c.Groups, []string{"ops"}) {
		t.Errorf("sam's ID token = %+v", c)
	}
	for _, tt := range []struct{ user, pass string }{{"sam", "wrong"}, {"sid", "sam-pw"}, {"x:octocat", ""}, {"nobody", "sam-pw"}} {
		b := e.browser()
		if r := b.idpDirectoryForm(b.get("/login"), "", tt.user, tt.pass); r.status != http.StatusUnauthorized || e.idpWho(b) != "" {
			t.Errorf("%s: %d", tt.user, r.status)
		}
	}

	for _, tt := range []struct {
		name string
		rec  store.UserRecord
	}{
		{"the same username", store.UserRecord{ID: "alice", Username: "alice", PasswordHash: hash}},
		{"the same username, another ID", store.UserRecord{ID: "u-1", Username: "alice", PasswordHash: hash}},
		{"the configured user's ID", store.UserRecord{ID: "alice", Username: "mallory", PasswordHash: hash}},
	} {
		err := idpNew(t, func(c *Config) { create(c, tt.rec) })
		if err == nil {
			t.Errorf("%s: New accepted a stored user that clashes with the configured alice", tt.name)
		}
	}
}

// TestIdpSessionFixation: signing in through a provider ends the
// browser's previous session and starts a new one under a new cookie, so
// a session known before the sign-in (planted, or another user's) is not
// the signed-in one.
func TestIdpSessionFixation(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	b.codeFlow(e.appConfig("openid"))
	if e.idpWho(b) != "alice" {
		t.Fatal("alice is not signed in")
	}
	before := e.signinCopyBrowser(b)
	if r := b.idpSignIn(b.get("/login"), "X"); !isPage(r, "Signed in") {
		t.Fatalf("%d %s", r.status, idpMain(r))
	}
	fed, _ := e.idpUser("x", idpOctocat.Subject)
	if who := e.idpWho(b); who != fed {
		t.Errorf("after X the browser is %q; want %s", who, fed)
	}
	if who := e.idpWho(before); who != "" {
		t.Errorf("the session from before the sign-in still works, as %q", who)
	}
	// And a directory sign-in ends the federated session likewise.
	before = e.signinCopyBrowser(b)
	if r := b.idpDirectoryForm(b.get("/login"), "corp", "dana", "dana-pw"); !isPage(r, "Signed in") {
		t.Fatalf("%d %s", r.status, idpMain(r))
	}
	if who := e.idpWho(before); who != "" {
		t.Errorf("the federated session still works, as %q", who)
	}
}

// TestIdpMaliciousIdentity: what a provider says of a person is bounded
// and cleaned before it becomes a user, a page, a token or (through the
// gateway) a header: a subject must be short printable text, else no one
// is signed in; a username that is long, has spaces, control or format
// characters (bidi overrides that disguise it) falls back to the
// subject; markup is escaped; control characters leave names, groups and
// email; a huge name is cut; invalid groups are dropped, and an absurd
// number of them refuses the sign-in.
func TestIdpMaliciousIdentity(t *testing.T) {
	manyGroups := make([]string, 5000)
	for i := range manyGroups {
		manyGroups[i] = fmt.Sprintf("group-%d", i)
	}
	for _, tt := range []struct {
		name string
		id   connector.Identity
		// ok says the person is signed in; check then looks at the
		// stored user.
		ok    bool
		check func(t *testing.T, rec store.UserRecord)
	}{
		{"markup", connector.Identity{Subject: "m1", Username: "<script>alert(1)</script>", Name: "<b>bold</b>"}, true,
			func(t *testing.T, rec store.UserRecord) {
				if rec.Username != "x:<script>alert(1)</script>" {
					t.Errorf("username = %q", rec.Username)
				}
			}},
		{"a control character in the username", connector.Identity{Subject: "m2", Username: "oct\x00o"}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m2") }},
		{"a newline in the username", connector.Identity{Subject: "m3", Username: "a\r\nX-Admin: 1"}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m3") }},
		{"a bidi override in the username", connector.Identity{Subject: "m4", Username: "admin\u202egnp.exe"}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m4") }},
		{"a zero-width space in the username", connector.Identity{Subject: "m5", Username: "ad\u200bmin"}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m5") }},
		{"invalid UTF-8 in the username", connector.Identity{Subject: "m6", Username: "oct\xffo"}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m6") }},
		{"a long username", connector.Identity{Subject: "m7", Username: strings.Repeat("o", 200)}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "username", rec.Username, "x:m7") }},
		{"control characters in name, email and groups", connector.Identity{Subject: "m8", Username: "m8",
			Name: "Evil\r\nX-Admin: yes\x00", Email: "m8@example.com\r\nBcc: all@example.com", EmailVerified: true,
			Groups: []string{"ok", "bad\ngroup", "", "nul\x00", "ok"}}, true,
			func(t *testing.T, rec store.UserRecord) {
				idpWant(t, "name", rec.Name, "EvilX-Admin: yes")
				idpWant(t, "email", rec.Email, "")
				if !slices.Equal(rec.Groups, []string{"x:ok"}) {
					t.Errorf("groups = %q", rec.Groups)
				}
			}},
		{"a huge name", connector.Identity{Subject: "m9", Username: "m9", Name: strings.Repeat("é", 1<<19)}, true,
			func(t *testing.T, rec store.UserRecord) {
				if len(rec.Name) > 512 || !strings.HasPrefix(rec.Name, "éé") || strings.ToValidUTF8(rec.Name, "") != rec.Name {
					t.Errorf("name of %d bytes", len(rec.Name))
				}
			}},
		{"huge groups", connector.Identity{Subject: "m10", Username: "m10", Groups: []string{"ok", strings.Repeat("g", 10000)}}, true,
			func(t *testing.T, rec store.UserRecord) {
				if !slices.Equal(rec.Groups, []string{"x:ok"}) {
					t.Errorf("%d groups", len(rec.Groups))
				}
			}},
		{"a huge email", connector.Identity{Subject: "m11", Username: "m11", Email: strings.Repeat("a", 5000) + "@example.com", EmailVerified: true}, true,
			func(t *testing.T, rec store.UserRecord) { idpWant(t, "email", rec.Email, "") }},
		{"too many groups", connector.Identity{Subject: "m12", Username: "m12", Groups: manyGroups}, false, nil},
		{"a control character in the subject", connector.Identity{Subject: "m\n13"}, false, nil},
		{"a huge subject", connector.Identity{Subject: strings.Repeat("s", 10000)}, false, nil},
		{"invalid UTF-8 in the subject", connector.Identity{Subject: "m\xff14"}, false, nil},
		{"no subject", connector.Identity{Username: "nobody"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newIdpEnv(t, nil)
			e.x.as(tt.id)
			b := e.browser()
			r := b.idpSignIn(b.get("/login"), "X")
			if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), "<b>") {
				t.Errorf("markup on the page: %s", idpMain(r))
			}
			if !tt.ok {
				if r.status < 500 || e.idpWho(b) != "" {
					t.Errorf("%d %s; want a server-side failure and no session", r.status, idpMain(r))
				}
				if _, err := e.store.GetUserByProvider(context.Background(), "x", tt.id.Subject); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a user was recorded: %v", err)
				}
				return
			}
			if !isPage(r, "Signed in") {
				t.Fatalf("%d %s", r.status, idpMain(r))
			}
			rec, err := e.store.GetUserByProvider(context.Background(), "x", tt.id.Subject)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rec)
		})
	}
}

func idpWant(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q; want %q", what, got, want)
	}
}

// TestIdpPendingRequestGone: a sign-in at a provider for an authorization
// request that was completed meanwhile (in another tab) ends on a 400
// page without a session, rather than continuing someone else's request.
func TestIdpPendingRequestGone(t *testing.T) {
	e := newIdpEnv(t, nil)
	b := e.browser()
	page := b.get(signinAuthorizeURL())
	cb := b.idpAtProvider(b.idpClick(page, "X"))
	// The other tab signs in locally and is refused consent: the request
	// is closed.
	r := b.idpDirectoryForm(page, "", "alice", alicePassword)
	e.callback(b.consent(r, "deny", false), signinRedirect)
	e.idpEndSession(b)
	if r := b.get(cb); !idpIsMessage(r, http.StatusBadRequest, "expired or was already completed") || e.idpWho(b) != "" {
		t.Errorf("callback for a closed request: %d %s", r.status, idpMain(r))
	}
}

// TestIdpDirectoryCSRF: the directory's sign-in form is the sign-in
// page's, with its CSRF check: a form posted from another site (login
// CSRF, signing the victim in as the attacker) is refused before the
// directory is asked.
func TestIdpDirectoryCSRF(t *testing.T) {
	e := newIdpEnv(t, nil)
	attacker := e.browser()
	f := fields(attacker.get("/login"))
	f.Set("idp", "corp")
	f.Set("username", "dana")
	f.Set("password", "dana-pw")
	victim := e.browser()
	victim.get("/login") // the victim has a CSRF cookie of their own
	if r := victim.post("/login", f); r.status != http.StatusForbidden || e.idpWho(victim) != "" || e.dir.callCount() != 0 {
		t.Errorf("a cross-site directory sign-in: %d %s (directory asked %d times)", r.status, idpMain(r), e.dir.callCount())
	}
}

// TestIdpGroupsNamespace: groups come from several sources (configured
// users, each directory, each provider) into one groups claim and the
// gateway's policy and headers. A provider's group must not pass for the
// operator's group of the same name: a GitHub user allowed in through one
// organisation can create an organisation named after a group the
// policy trusts ("admins"), and the GitHub connector reports all of a
// person's organisations.
func TestIdpGroupsNamespace(t *testing.T) {
	e := newIdpEnv(t, nil)
	e.x.as(connector.Identity{Subject: "g1", Username: "mallory", Groups: []string{"admins"}})
	c := e.idpClaims(e.idpCodeFlow(e.browser(), "X", "openid groups")["id_token"].(string))
	if slices.Contains(c.Groups, "admins") || !slices.Contains(c.Groups, "x:admins") {
		t.Errorf("groups = %q: want the provider's admins as x:admins, never the operator's admins", c.Groups)
	}
}

// idpPrefixed is a provider's groups as the server keeps them: each with
// the provider's name and a colon before it.
func idpPrefixed(provider string, groups []string) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = provider + ":" + g
	}
	return out
}
