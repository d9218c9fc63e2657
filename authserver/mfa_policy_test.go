package authserver

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/store"
)

// TestFactorLockout: five wrong codes block the user's second factor,
// a right code too, for the rest of the window, on any browser; then a
// right code works again. Another user is not blocked.
func TestFactorLockout(t *testing.T) {
	e := newMfaEnv(t, nil)
	secret := e.mfaEnrol("alice")
	e.mfaEnrol("carol")
	b, verifier, r := e.mfaPassword("alice")
	page := b.mfaFollow(r)
	for i := range 5 {
		if r := b.mfaSubmit(page, "code", mfaWrong(e.mfaCode(secret, 0))); r.status != http.StatusUnauthorized ||
			!strings.Contains(string(r.body), "That code is not right.") {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, idpMain(r))
		}
	}
	r = b.mfaSubmit(page, "code", e.mfaCode(secret, 0))
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Too many wrong codes. Try again in 1") {
		t.Fatalf("a right code after five wrong ones: %d %s", r.status, idpMain(r))
	}
	if len(e.mfaLogged("second factor blocked after too many wrong codes")) != 1 {
		t.Error("the block is not logged")
	}
	// Carol is not blocked.
	cb, _, cr := e.mfaPassword("carol")
	if cr := cb.mfaSubmit(cb.mfaFollow(cr), "code", mfaWrong("000000")); cr.status != http.StatusUnauthorized {
		t.Errorf("carol's wrong code: %d, want 401 (not blocked)", cr.status)
	}
	// Alice signs in again within the window: still blocked.
	e.clock.Advance(10 * time.Minute)
	b, verifier, r = e.mfaPassword("alice")
	page = b.mfaFollow(r)
	if r := b.mfaSubmit(page, "code", e.mfaCode(secret, 0)); r.status != http.StatusTooManyRequests {
		t.Errorf("within the window: %d", r.status)
	}
	e.clock.Advance(5*time.Minute + time.Second)
	b, verifier, r = e.mfaPassword("alice")
	e.mfaTokens(b, b.mfaSubmit(b.mfaFollow(r), "code", e.mfaCode(secret, 0)), "app", verifier)
}

// TestRecoveryCodes: ten codes xxxxx-xxxxx, kept as salted hashes; one
// signs in once (amr pwd, mfa; acr mfa), however typed, and its use is
// logged without it; a spent code is refused; the page offers them
// beside the app.
func TestRecoveryCodes(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	e.mfaEnrol("alice")
	codes, err := e.srv.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !format.MatchString(c) || seen[c] {
			t.Errorf("code %q: not xxxxx-xxxxx of the alphabet, or repeated", c)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes; want 10", len(codes))
	}
	f, err := e.store.GetFactor(ctx, "alice", store.FactorRecoveryCodes, "recovery")
	if err != nil || !f.Confirmed {
		t.Fatalf("stored set: %+v, %v", f, err)
	}
	for _, c := range codes {
		plain := strings.ReplaceAll(c, "-", "")
		if strings.Contains(string(f.Data), plain) || strings.Contains(string(f.Data), c) {
			t.Fatalf("the store holds code %s in clear", c)
		}
	}

	b, verifier, r := e.mfaPassword("alice")
	page := b.mfaFollow(r)
	if !strings.Contains(string(page.body), `name="recovery_code"`) || !strings.Contains(string(page.body), `name="code"`) {
		t.Fatalf("the page does not offer both the app and a recovery code: %s", idpMain(page))
	}
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	tokens := e.mfaTokens(b, b.mfaSubmit(page, "recovery_code", typed), "app", verifier)
	c := e.mfaClaims(tokens["id_token"].(string), "app")
	if !slices.Equal(c.AMR, []string{"pwd", "mfa"}) || c.ACR != "mfa" {
		t.Errorf("amr %v acr %q; want [pwd mfa] and mfa", c.AMR, c.ACR)
	}
	used := e.mfaLogged("recovery code used")
	if len(used) != 1 || used[0].ContextMap()["user"] != "alice" || used[0].ContextMap()["recovery_codes_left"] != int64(9) {
		t.Errorf("recovery code use logged as %v", used)
	}
	for _, entry := range e.logs.All() {
		for _, fld := range entry.Context {
			if strings.Contains(strings.ToLower(fld.String), strings.ReplaceAll(codes[3], "-", "")) || strings.Contains(fld.String, codes[3]) {
				t.Errorf("the log holds the code: %v", entry)
			}
		}
	}
	if n, err := e.srv.RecoveryCodesLeft(ctx, "alice"); n != 9 || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 9", n, err)
	}

	// Spent, it is refused; a made-up one too.
	b, _, r = e.mfaPassword("alice")
	page = b.mfaFollow(r)
	if r := b.mfaSubmit(page, "recovery_code", codes[3]); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "used already") {
		t.Errorf("a spent recovery code: %d %s", r.status, idpMain(r))
	}
	if r := b.mfaSubmit(page, "recovery_code", "abcde-fghjk"); r.status != http.StatusUnauthorized ||
		!strings.Contains(string(r.body), "not one of your recovery codes") {
		t.Errorf("a made-up recovery code: %d %s", r.status, idpMain(r))
	}
	if r := b.mfaSubmit(page, "recovery_code", codes[4]); r.status != http.StatusSeeOther {
		t.Errorf("another code: %d %s", r.status, idpMain(r))
	}
	// A new set replaces the old one.
	fresh, err := e.srv.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	b, _, r = e.mfaPassword("alice")
	page = b.mfaFollow(r)
	if r := b.mfaSubmit(page, "recovery_code", codes[5]); r.status != http.StatusUnauthorized {
		t.Errorf("a code of the replaced set: %d", r.status)
	}
	if r := b.mfaSubmit(page, "recovery_code", fresh[0]); r.status != http.StatusSeeOther {
		t.Errorf("a code of the new set: %d %s", r.status, idpMain(r))
	}
}

// TestRequiredMFASetup: with RequireMFA, a user without a second factor
// sets up a TOTP app right after the password: a page with the key as a
// QR code (a data: image the CSP allows) and as text, and the app's
// first code; then ten recovery codes shown once; then the sign-in goes
// on with amr otp and mfa. The app and the codes work next time.
func TestRequiredMFASetup(t *testing.T) {
	e := newMfaEnv(t, func(c *Config) { c.RequireMFA = true })
	b, verifier, r := e.mfaPassword("alice")
	setup := b.mfaFollow(r)
	if !isPage(setup, "Set up a second factor") {
		t.Fatalf("not the setup page: %d %s", setup.status, idpMain(setup))
	}
	secret := mfaSetupSecret(t, setup)
	m := mfaImg.FindSubmatch(setup.body)
	if m == nil {
		t.Fatalf("no QR code image: %s", idpMain(setup))
	}
	img, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
	if err != nil || !strings.HasPrefix(string(img), "\x89PNG") {
		t.Errorf("the QR code is not a PNG: %v", err)
	}
	if csp := setup.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("CSP %q does not allow the data: image", csp)
	}
	if strings.Contains(string(setup.body), "<script") {
		t.Error("the setup page has a script")
	}
	// Reloading shows the same key.
	if again := b.get("/login/factor"); mfaSetupSecret(t, again) != secret {
		t.Error("reloading the setup page changed the key")
	}
	r = b.mfaSubmit(setup, "code", mfaWrong(e.mfaCode(secret, 0)))
	if r.status != http.StatusUnauthorized || mfaSetupSecret(t, r) != secret {
		t.Fatalf("a wrong first code: %d %s", r.status, idpMain(r))
	}
	codesPage := b.mfaSubmit(setup, "code", e.mfaCode(secret, 0))
	if !isPage(codesPage, "Save your recovery codes") {
		t.Fatalf("not the recovery codes page: %d %s", codesPage.status, idpMain(codesPage))
	}
	var codes []string
	for _, m := range mfaRecoveryCode.FindAllStringSubmatch(string(codesPage.body), -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown; want 10", len(codes))
	}
	// Shown once: reloading does not show them again.
	if again := b.get("/login/factor"); mfaRecoveryCode.Match(again.body) || again.status != http.StatusOK {
		t.Errorf("the codes show again on reload: %d %s", again.status, idpMain(again))
	}
	tokens := e.mfaTokens(b, b.mfaSubmit(codesPage, "x", ""), "app", verifier)
	if c := e.mfaClaims(tokens["id_token"].(string), "app"); !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" {
		t.Errorf("amr %v acr %q", c.AMR, c.ACR)
	}
	if len(e.events.matching(EventUserChanged, UserChangeTOTPAdded, OutcomeSuccess)) != 1 ||
		len(e.events.matching(EventUserChanged, UserChangeRecoveryCodes, OutcomeSuccess)) != 1 {
		t.Error("the setup is not logged")
	}

	// Next time: the code page, which takes the app's codes and the
	// recovery codes.
	e.clock.Advance(30 * time.Second)
	b, verifier, r = e.mfaPassword("alice")
	page := b.mfaFollow(r)
	if !isFactorPage(page) {
		t.Fatalf("next sign-in: %s", idpMain(page))
	}
	e.mfaTokens(b, b.mfaSubmit(page, "code", e.mfaCode(secret, 0)), "app", verifier)
	b, verifier, r = e.mfaPassword("alice")
	e.mfaTokens(b, b.mfaSubmit(b.mfaFollow(r), "recovery_code", codes[0]), "app", verifier)

	// An expired step starts over.
	b, _, r = e.mfaPassword("alice")
	page = b.mfaFollow(r)
	e.clock.Advance(5 * time.Minute)
	if r := b.mfaSubmit(page, "code", "123456"); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "took too long") {
		t.Errorf("after five minutes: %d %s", r.status, idpMain(r))
	}
}

// TestRequireMFAGroups: a user in a listed group sets up a second
// factor; a user in none signs in with the password alone.
func TestRequireMFAGroups(t *testing.T) {
	e := newMfaEnv(t, func(c *Config) { c.RequireMFAGroups = []string{"admins", "ops"} })
	b, _, r := e.mfaPassword("alice") // in admins
	if p := b.mfaFollow(r); !isPage(p, "Set up a second factor") {
		t.Errorf("alice (admins): %s", idpMain(p))
	}
	b, verifier, r := e.mfaPassword("carol") // in no group
	tokens := e.mfaTokens(b, r, "app", verifier)
	if c := e.mfaClaims(tokens["id_token"].(string), "app"); c.ACR != "" {
		t.Errorf("carol's acr %q", c.ACR)
	}
}

// TestClientRequireMFAStepUp: a session signed in with the password
// alone, going to a client that requires a second factor, is asked for
// the code and not the password; the stepped-up session keeps its sid
// and the user signed in, and its tokens have mfa and a fresh
// auth_time. A user without a factor sets one up instead.
func TestClientRequireMFAStepUp(t *testing.T) {
	e := newMfaEnv(t, nil)
	// Carol signs in with her password before she has a second factor.
	b, verifier, r := e.mfaPassword("carol", "scope", "openid")
	first := e.mfaClaims(e.mfaTokens(b, r, "app", verifier)["id_token"].(string), "app")
	if first.ACR != "" || !slices.Equal(first.AMR, []string{"pwd"}) {
		t.Fatalf("password-only sign-in: amr %v acr %q", first.AMR, first.ACR)
	}
	secret := e.mfaEnrol("carol")
	e.clock.Advance(10 * time.Minute)

	// prompt=none cannot step up.
	if q := e.signinSilent(b, "client_id", "secure"); q.Get("error") != codeInteractionRequired {
		t.Errorf("prompt=none to secure: %v; want interaction_required", q)
	}
	verifier2 := oauth2.GenerateVerifier()
	r = b.get(signinURL(signinParams(verifier2), "client_id", "secure"))
	page := b.mfaFollow(r)
	if !isFactorPage(page) {
		t.Fatalf("step-up: not the code page: %s", idpMain(page))
	}
	tokens := e.mfaTokens(b, b.mfaSubmit(page, "code", e.mfaCode(secret, 0)), "secure", verifier2)
	c := e.mfaClaims(tokens["id_token"].(string), "secure")
	if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" || c.AuthTime <= first.AuthTime || c.SessionID != first.SessionID {
		t.Errorf("stepped up: amr %v acr %q auth_time %d (first %d) sid %q (first %q)", c.AMR, c.ACR, c.AuthTime, first.AuthTime, c.SessionID, first.SessionID)
	}
	if len(e.mfaLogged("stepped up")) != 1 {
		t.Error("the step-up is not logged")
	}
	// Still signed in, with the second factor now: no question.
	if q := e.signinSilent(b, "client_id", "secure"); q.Get("code") == "" {
		t.Errorf("after the step-up, prompt=none to secure: %v", q)
	}
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("after the step-up, prompt=none to app: %v", q)
	}

	// Alice, with no factor, sets one up to step up.
	ab := e.browser()
	ab.codeFlow(e.appConfig("openid"))
	r = ab.get(signinURL(signinParams(oauth2.GenerateVerifier()), "client_id", "secure"))
	if p := ab.mfaFollow(r); !isPage(p, "Set up a second factor") {
		t.Errorf("alice stepping up: %s", idpMain(p))
	}
}

// TestACRValuesStepUp: acr_values=mfa asks a password-only session for
// the second factor (step-up), and a fresh sign-in for it after the
// password; other acr values change nothing.
func TestACRValuesStepUp(t *testing.T) {
	e := newMfaEnv(t, nil)
	b, verifier, r := e.mfaPassword("carol", "scope", "openid")
	e.mfaTokens(b, r, "app", verifier)
	secret := e.mfaEnrol("carol")
	if q := e.signinSilent(b, "acr_values", "urn:example:silver"); q.Get("code") == "" {
		t.Errorf("an unknown acr value: %v", q)
	}
	if q := e.signinSilent(b, "acr_values", "mfa"); q.Get("error") != codeInteractionRequired {
		t.Errorf("prompt=none with acr_values=mfa: %v", q)
	}
	v := oauth2.GenerateVerifier()
	page := b.mfaFollow(b.get(signinURL(signinParams(v), "acr_values", "urn:example:silver mfa")))
	tokens := e.mfaTokens(b, b.mfaSubmit(page, "code", e.mfaCode(secret, 0)), "app", v)
	if c := e.mfaClaims(tokens["id_token"].(string), "app"); c.ACR != "mfa" {
		t.Errorf("acr %q after acr_values=mfa", c.ACR)
	}

	// A fresh sign-in with acr_values=mfa, for a user without a factor:
	// setup.
	ab, _, r := e.mfaPassword("alice", "acr_values", "mfa")
	if p := ab.mfaFollow(r); !isPage(p, "Set up a second factor") {
		t.Errorf("alice with acr_values=mfa: %s", idpMain(p))
	}
}

// TestFederatedTrustMFA: with RequireMFA, a provider trusted with second
// factors that says amr mfa signs the person in at once, its amr kept
// (registered values only) and acr mfa; the same provider not saying
// mfa, or a provider not trusted, leads to setting one up here.
func TestFederatedTrustMFA(t *testing.T) {
	e := newIdpEnv(t, func(c *Config) {
		c.RequireMFA = true
		c.IdentityProviders[0].TrustMFA = true // x
	})
	me := &mfaEnv{testEnv: e.testEnv}
	withMFA := idpOctocat
	withMFA.AMR = []string{"pwd", "hwk", "mfa", "urn:made-up"}
	e.x.as(withMFA)
	tokens := e.idpCodeFlow(e.browser(), "X", "openid")
	c := e.idpClaims(tokens["id_token"].(string))
	if !slices.Equal(c.AMR, []string{"pwd", "hwk", "mfa"}) || c.ACR != "mfa" {
		t.Errorf("trusted provider with mfa: amr %v acr %q", c.AMR, c.ACR)
	}

	e.x.as(idpOctocat) // no amr
	b := e.browser()
	r := b.idpSignIn(b.get(signinAuthorizeURL()), "X")
	if p := b.mfaFollow(r); !isPage(p, "Set up a second factor") {
		t.Errorf("trusted provider without mfa: %s", idpMain(p))
	}

	why := connector.Identity{Subject: "y-1", Username: "why", AMR: []string{"mfa"}}
	e.y.as(why) // y is not trusted
	b = e.browser()
	r = b.idpSignIn(b.get(signinAuthorizeURL()), "Y")
	setup := b.mfaFollow(r)
	if !isPage(setup, "Set up a second factor") {
		t.Fatalf("untrusted provider: %s", idpMain(setup))
	}
	// The federated user sets up an app here, and signs in with it.
	secret := mfaSetupSecret(t, setup)
	codesPage := b.mfaSubmit(setup, "code", me.mfaCode(secret, 0))
	r = b.mfaSubmit(codesPage, "x", "")
	if r.status != http.StatusSeeOther && !isPage(r, "Allow access?") {
		t.Errorf("after setting up: %d %s", r.status, idpMain(r))
	}
}

// TestStepUpSession: stepping up replaces the session: the cookie from
// before no longer works (a copy of it gains nothing), the gateway
// sessions of the sid go on, and signing out with the new session ends
// them.
func TestStepUpSession(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	b, verifier, r := e.mfaPassword("carol", "scope", "openid")
	first := e.mfaClaims(e.mfaTokens(b, r, "app", verifier)["id_token"].(string), "app")
	gw, err := e.srv.StartGatewaySession(ctx, "carol", first.SessionID, e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	secret := e.mfaEnrol("carol")
	stale := e.signinCopyBrowser(b)
	page := b.mfaFollow(b.get(signinURL(signinParams(oauth2.GenerateVerifier()), "acr_values", "mfa")))
	if r := b.mfaSubmit(page, "code", e.mfaCode(secret, 0)); r.status != http.StatusSeeOther {
		t.Fatalf("step-up: %d %s", r.status, idpMain(r))
	}
	if q := e.signinSilent(stale); q.Get("error") != codeLoginRequired {
		t.Errorf("the cookie from before the step-up still signs in: %v", q)
	}
	if ok, _ := e.srv.GatewaySessionActive(ctx, gw); !ok {
		t.Error("the step-up ended the gateway session")
	}
	out := fields(b.get("/logout"))
	out.Set("decision", "logout")
	b.post("/logout", out)
	if ok, _ := e.srv.GatewaySessionActive(ctx, gw); ok {
		t.Error("signing out after the step-up left the gateway session")
	}
}

// TestDeviceStepUp: approving a device whose client requires a second
// factor steps a password-only session up first, and comes back to the
// device page with the code; the device's tokens then have mfa.
func TestDeviceStepUp(t *testing.T) {
	e := newMfaEnv(t, func(c *Config) {
		for _, cl := range c.Clients {
			if cl.ID == "tv" {
				cl.RequireMFA = true
			}
		}
	})
	b, verifier, r := e.mfaPassword("alice")
	e.mfaTokens(b, r, "app", verifier)
	secret := e.mfaEnrol("alice")
	start := e.svcDeviceStart("openid")
	userCode := start["user_code"].(string)
	r = b.svcDeviceDecide(userCode, "")
	page := b.mfaFollow(r)
	r = b.mfaSubmit(page, "code", e.mfaCode(secret, 0))
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/device?user_code=") {
		t.Fatalf("after the step-up: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.svcDeviceDecide(userCode, "approve"); !isPage(r, "Done") {
		t.Fatalf("approving: %d %s", r.status, idpMain(r))
	}
	e.clock.Advance(10 * time.Second)
	poll := e.svcPoll(start["device_code"].(string), "tv", "")
	if poll.status != http.StatusOK {
		t.Fatalf("poll: %d %s", poll.status, poll.body)
	}
	if c := e.mfaClaims(poll.json(t)["id_token"].(string), "tv"); c.ACR != "mfa" {
		t.Errorf("the device's ID token: amr %v acr %q", c.AMR, c.ACR)
	}
}

// TestFactorStepEdges: a user disabled during the second-factor step is
// not signed in; a deleted user's factors go with them; "factor" is no
// provider name; the page without a step says to start again.
func TestFactorStepEdges(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	if r := e.browser().get("/login/factor"); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "sign in again") {
		t.Errorf("no step: %d %s", r.status, idpMain(r))
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "dave", Password: "dave-password-long"}); err != nil {
		t.Fatal(err)
	}
	secret := e.mfaEnrol("dave")
	b := e.browser()
	r := b.signIn(b.get(signinAuthorizeURL()), "dave", "dave-password-long")
	page := b.mfaFollow(r)
	if err := e.srv.SetUserDisabled(ctx, "dave", true); err != nil {
		t.Fatal(err)
	}
	if r := b.mfaSubmit(page, "code", e.mfaCode(secret, 0)); r.status != http.StatusForbidden {
		t.Errorf("disabled during the step: %d %s", r.status, idpMain(r))
	}
	if err := e.srv.DeleteUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if list, err := e.store.ListFactors(ctx, "dave"); err != nil || len(list) != 0 {
		t.Errorf("a deleted user's factors: %v, %v", list, err)
	}
	err := idpNew(t, func(c *Config) {
		c.IdentityProviders = []IdentityProvider{{Name: "factor", Redirect: newIdpRedirect(t, idpOctocat)}}
	})
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("a provider named factor: %v", err)
	}
}

// TestConsentNeedsStepUp: the consent form's answer for a request that
// requires a second factor, posted from a session without one (with
// the request's handle taken from its sign-in page), leads to the
// second factor, never to a code.
func TestConsentNeedsStepUp(t *testing.T) {
	e := newMfaEnv(t, nil)
	b := e.browser()
	login := b.get(signinURL(signinParams(oauth2.GenerateVerifier()), "client_id", "secure"))
	handle := fields(login).Get("request")
	if !isSignInPage(login) || handle == "" {
		t.Fatalf("no sign-in page with a request: %s", idpMain(login))
	}
	// Signed in with the password, for app, which requires nothing.
	r := b.signIn(b.get(signinAuthorizeURL()), "carol", alicePassword)
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	if q := e.callback(r, signinRedirect); q.Get("code") == "" {
		t.Fatalf("carol's password sign-in: %v", q)
	}
	f := fields(b.get(signinAuthorizeURL("prompt", "consent")))
	f.Set("request", handle)
	f.Set("decision", "approve")
	r = b.post("/consent", f)
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "/login/factor") {
		t.Fatalf("consent for secure without a second factor: %d %s", r.status, r.header.Get("Location"))
	}
}

// TestRefreshAfterMFARequired: a refresh token of a sign-in without a
// second factor stops working once one is required for its user; one of
// a sign-in with a second factor goes on.
func TestRefreshAfterMFARequired(t *testing.T) {
	e := newMfaEnv(t, nil)
	b, verifier, r := e.mfaPassword("carol", "scope", "openid offline_access")
	plain := e.mfaTokens(b, r, "app", verifier)["refresh_token"].(string)
	secret := e.mfaEnrol("alice")
	b, verifier, r = e.mfaPassword("alice", "scope", "openid offline_access")
	strong := e.mfaTokens(b, b.mfaSubmit(b.mfaFollow(r), "code", e.mfaCode(secret, 0)), "app", verifier)["refresh_token"].(string)

	rs := e.signinRestart(func(c *Config) { c.RequireMFA = true })
	refresh := func(rt string) response {
		return rs.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}, "client_id": {"app"}}, "", "")
	}
	if r := refresh(plain); r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
		t.Errorf("a password-only refresh token under require_mfa: %d %s", r.status, r.body)
	}
	if r := refresh(strong); r.status != http.StatusOK {
		t.Errorf("a refresh token with mfa: %d %s", r.status, r.body)
	}
}
