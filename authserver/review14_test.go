package authserver

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// Review of the second factors (issue 14), as an attacker: each test is
// an attack, through the pages.

// TestReview14PasswordChangeDuringFactorStep: someone who has a leaked
// password reaches the second-factor step; the operator changes the
// password (to end the leak's sign-ins) before they give the second
// factor. The step, which remembers only that the old password passed,
// must not go on to a session.
func TestReview14PasswordChangeDuringFactorStep(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "dave", Password: "dave-password-long"}); err != nil {
		t.Fatal(err)
	}
	secret := e.mfaEnrol("dave")
	b := e.browser()
	page := b.mfaFollow(b.signIn(b.get(signinAuthorizeURL()), "dave", "dave-password-long"))
	if err := e.srv.SetUserPassword(ctx, "dave", "a brand new pass phrase"); err != nil {
		t.Fatal(err)
	}
	r := b.mfaSubmit(page, "code", e.mfaCode(secret, 0))
	if r.status != http.StatusConflict || r.header.Get("Location") != "" {
		t.Errorf("the second factor after the password changed: %d %s %s; want 409", r.status, r.header.Get("Location"), idpMain(r))
	}
	if sess := e.acctSessionOf(b); sess != nil {
		t.Errorf("a session after the password changed during the step: %+v", sess.data)
	}
}

// TestReview14FactorStepCannotBeSkipped: the "password passed" state
// alone reaches no code, account page or consent; it ends after its five
// minutes; a TOTP code of two steps away is refused; the sixth guess is
// refused even when right, whichever address it comes from.
func TestReview14FactorStepCannotBeSkipped(t *testing.T) {
	e := newMfaEnv(t, nil)
	secret := e.mfaEnrol("alice")
	b, _, r := e.mfaPassword("alice")
	page := b.mfaFollow(r)
	// Back to /authorize, the account page, the passkeys page: no
	// session yet.
	if r := b.get(signinAuthorizeURL()); r.status == http.StatusFound || strings.Contains(r.header.Get("Location"), "code=") {
		t.Errorf("/authorize with the factor cookie only: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("/account with the factor cookie only: %d %s", r.status, r.header.Get("Location"))
	}
	if sess := e.acctSessionOf(b); sess != nil {
		t.Fatalf("a session before the second factor: %+v", sess.data)
	}
	// ±2 steps.
	for _, off := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		if r := b.mfaSubmit(page, "code", e.mfaCode(secret, off)); r.status != http.StatusUnauthorized {
			t.Errorf("a code %v away: %d", off, r.status)
		}
	}
	// Brute force: 3 more wrong (5 in all), then the right code is
	// refused too, from a second browser (another address is no
	// different: the count is the user's).
	for range 3 {
		b.mfaSubmit(page, "code", mfaWrong(e.mfaCode(secret, 0)))
	}
	b2, _, r2 := e.mfaPassword("alice")
	page2 := b2.mfaFollow(r2)
	if r := b2.mfaSubmit(page2, "code", e.mfaCode(secret, 0)); r.status != http.StatusTooManyRequests {
		t.Errorf("the right code after 5 wrong ones: %d", r.status)
	}
	// After its five minutes the step is over, even with the cookie.
	e.clock.Advance(16 * time.Minute)
	if r := b.mfaSubmit(page, "code", e.mfaCode(secret, 0)); r.status != http.StatusBadRequest {
		t.Errorf("the step after its lifetime: %d %s", r.status, idpMain(r))
	}
}

// TestReview14RecoveryCodeRace: one recovery code spent by many requests
// at once signs in once.
func TestReview14RecoveryCodeRace(t *testing.T) {
	e := newMfaEnv(t, nil)
	e.mfaEnrol("alice")
	codes, err := e.srv.NewRecoveryCodes(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	u := e.acctUser("alice")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.srv.useRecoveryCode(context.Background(), u, codes[0]); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("one recovery code worked %d times", ok)
	}
}

// TestReview14TOTPSetupNeedsRecentSignIn: an old session (a stolen
// cookie, a shared computer) cannot set up an authenticator app, which
// would then be the user's second factor (and lock them out); the
// passkeys page already asks for a recent sign-in.
func TestReview14TOTPSetupNeedsRecentSignIn(t *testing.T) {
	e := &mfaEnv{testEnv: signinEnv(t, nil)}
	b := e.acctSession("carol", "pwd")
	setup := b.get("/account/totp")
	secret := mfaSetupSecretOf(t, setup)
	e.clock.Advance(accountRecentAuth + time.Minute)
	if r := b.get("/account/totp"); r.status != http.StatusSeeOther || mfaSecret.Match(r.body) {
		t.Errorf("the setup page of an old session: %d %s", r.status, idpMain(r))
	}
	f := fields(setup)
	f.Set("code", e.mfaCode(secret, 0))
	if r := b.post("/account/totp", f); r.status != http.StatusSeeOther || r.header.Get("Location") == "/account?done=totp-on" {
		t.Errorf("confirming from an old session: %d %s", r.status, r.header.Get("Location"))
	}
	if m, _ := e.srv.userFactors(context.Background(), "carol"); m.totp {
		t.Error("an old session set up an authenticator app")
	}
}

func mfaSetupSecretOf(t *testing.T, r response) string {
	t.Helper()
	m := mfaSecret.FindStringSubmatch(string(r.body))
	if m == nil {
		t.Fatalf("no key on the page: %d %s", r.status, idpMain(r))
	}
	return strings.ReplaceAll(m[1], " ", "")
}

// TestReview14PendingKeyNotShownElsewhere: a key being set up in one
// place (the account page) is not shown by another setup page (the
// sign-in's enrolment, reached with the password alone), and the other
// way round: whoever sees it would know the second factor the user is
// about to confirm.
func TestReview14PendingKeyNotShownElsewhere(t *testing.T) {
	e := &mfaEnv{testEnv: signinEnv(t, func(c *Config) { c.RequireMFAGroups = []string{"staff"} })}
	ctx := context.Background()
	e.acctAddUser("dave", "dave-password-long") // in staff: must set up a factor
	// The user, signed in before the rule (a session made directly),
	// starts on the account page.
	victim := e.acctSession("dave", "pwd")
	key := mfaSetupSecretOf(t, victim.get("/account/totp"))
	// The attacker, with the password only, is sent to set one up.
	a := e.browser()
	r := a.signIn(a.get("/login"), "dave", "dave-password-long")
	setup := a.mfaFollow(r)
	if got := mfaSetupSecretOf(t, setup); got == key {
		t.Fatal("the sign-in's setup page shows the key the account page is setting up")
	}
	// A wrong code there shows no one else's key either.
	f := fields(setup)
	f.Set("code", "000000")
	if r := a.post("/login/factor", f); mfaSecret.Match(r.body) && mfaSetupSecretOf(t, r) == key {
		t.Fatal("a wrong code shows the account page's key")
	}
	// The other way round: the key the attacker's page shows is not
	// what the user's account page shows next.
	attackerKey := mfaSetupSecretOf(t, a.get("/login/factor"))
	vpage := victim.get("/account/totp")
	if mfaSetupSecretOf(t, vpage) == attackerKey {
		t.Fatal("the account page shows the key the attacker's setup page made")
	}
	vf := fields(vpage)
	vf.Set("code", "000000")
	if r := victim.post("/account/totp", vf); mfaSecret.Match(r.body) && mfaSetupSecretOf(t, r) == attackerKey {
		t.Fatal("a wrong code on the account page shows the attacker's key")
	}
	_ = ctx
}

// TestReview14PasskeyLastFactor: a user who must have a second factor
// cannot remove their last passkey (the authenticator app's removal
// already refuses), and removing the last factor of anyone takes the
// recovery codes with it, as removing the app does: left behind, they
// would let a sign-in with the password alone set up a new factor
// without them, or count for nothing.
func TestReview14PasskeyLastFactor(t *testing.T) {
	for _, required := range []bool{true, false} {
		e := newMfaEnv(t, func(c *Config) {
			c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
			c.RequireMFA = required
		})
		ctx := context.Background()
		// A session with a second factor, recent.
		b := e.acctSession("alice", "hwk", "mfa")
		k := newSoftKey(t, e.issuer)
		if r := e.addPasskey(b, k, "Laptop"); r.status != http.StatusOK {
			t.Fatalf("adding: %d %s", r.status, idpMain(r))
		}
		if _, err := e.srv.NewRecoveryCodes(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		page := b.get("/account/passkeys")
		f := fields(page)
		f.Set("action", "remove")
		f.Set("id", b64.EncodeToString(k.id))
		r := b.post("/account/passkeys", f)
		m, _ := e.srv.userFactors(ctx, "alice")
		if required {
			if r.status != http.StatusConflict || !m.passkey {
				t.Errorf("required: removing the last passkey = %d, passkey left %v", r.status, m.passkey)
			}
			continue
		}
		if r.status != http.StatusOK || m.passkey {
			t.Fatalf("removing the passkey = %d %s", r.status, idpMain(r))
		}
		if _, err := e.store.GetFactor(ctx, "alice", store.FactorRecoveryCodes, recoveryFactorID); err == nil {
			t.Error("the recovery codes outlived the last second factor")
		}
	}
}
