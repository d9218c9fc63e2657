package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestAccountPageThroughCaddy: through a real Caddy, a user's account
// page ends another browser's sign-in session, whose gateway session at
// the app then stops working, and revokes an app, whose access token the
// app's bearer route then refuses. Each effect is awaited within the
// revocation feed's poll, in a bounded loop.
func TestAccountPageThroughCaddy(t *testing.T) {
	g := startGateway(t, gatewayClients+`
		client acctapp {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid profile offline_access read
			audiences $APP
		}
`, `accept bearer`, `accept session`)
	// Browser a is signed in to the app through the gateway.
	a := newBrowser(g.testCaddy)
	if r := a.signInThroughGateway(g.app + "/page"); r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("signing in through the gateway: %d %s", r.status, r.body)
	}
	// Browser b signs in on the account page, and allows app.
	b := newBrowser(g.testCaddy)
	r := b.get(g.issuer + "/account")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount" {
		t.Fatalf("the account page without a session: %d %q", r.status, r.header.Get("Location"))
	}
	r = b.signIn(b.get(g.issuer+r.header.Get("Location")), "alice", alicePassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" {
		t.Fatalf("signing in for the account page: %d %q", r.status, r.header.Get("Location"))
	}
	cfg := g.appConfig("openid", "profile", "offline_access", "read")
	cfg.ClientID = "acctapp"
	code, verifier := b.codeFlow(cfg, oauth2.SetAuthURLParam("resource", g.app))
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if r := g.call("GET", g.app+"/api/things", tok.AccessToken); r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("the app's token at the bearer route: %d %s", r.status, r.body)
	}

	page := b.get(g.issuer + "/account")
	if !isPage(page, "Your account") {
		t.Fatalf("the account page: %d %s", page.status, page.body)
	}
	csrf := fields(page).Get("csrf_token")
	handles := regexp.MustCompile(`name="session" value="([0-9a-f]+)"`).FindAllStringSubmatch(string(page.body), -1)
	if len(handles) != 2 || !strings.Contains(string(page.body), `name="client" value="acctapp"`) {
		t.Fatalf("the account page lists %d sessions, or not the app: %s", len(handles), page.body)
	}
	// a's session is the older one, listed first.
	r = b.post("/account/sessions/end", url.Values{"csrf_token": {csrf}, "session": {handles[0][1]}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?done=session-ended" {
		t.Fatalf("ending a's session: %d %q", r.status, r.header.Get("Location"))
	}
	awaitAccount(t, "a's gateway session ends", func() bool { return a.get(g.app+"/page").status == http.StatusFound })
	if r := b.get(g.issuer + "/account"); !isPage(r, "Your account") {
		t.Fatalf("b's own session ended too: %d", r.status)
	}

	r = b.post("/account/apps/revoke", url.Values{"csrf_token": {csrf}, "client": {"acctapp"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?done=app-revoked" {
		t.Fatalf("revoking app: %d %q", r.status, r.header.Get("Location"))
	}
	awaitAccount(t, "the app's token is refused", func() bool {
		return g.call("GET", g.app+"/api/things", tok.AccessToken).status == http.StatusUnauthorized
	})
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"acctapp"}}
	resp, err := http.PostForm(g.issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // checked below
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
		t.Errorf("the revoked app's refresh token = %d %q; want invalid_grant", resp.StatusCode, body.Error)
	}
}

// awaitAccount waits, at most 10 seconds, for done.
func awaitAccount(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 seconds", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
