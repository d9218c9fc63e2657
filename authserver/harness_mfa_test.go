package authserver

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/oauth2"
)

// Helpers of the second-factor tests (mfa_test.go), on top of
// harness_test.go and harness_signin_test.go. Each is prefixed mfa.
// TOTP codes are computed with pquerna/otp at the test clock's time.

// mfaEnv is signinEnv with a client that requires a second factor,
// "secure" (app's twin, skipping consent), and its log observed.
type mfaEnv struct {
	*testEnv
	logs   *observer.ObservedLogs
	events *eventLog
}

// newMfaEnv starts the server; configure, if not nil, changes the
// configuration after the clients and users are set.
func newMfaEnv(t *testing.T, configure func(*Config)) *mfaEnv {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	events := new(eventLog)
	e := signinEnv(t, func(c *Config) {
		c.Logger = zap.New(core)
		c.Events = events.record
		c.Clients = append(c.Clients, &Client{ID: "secure", Public: true, RedirectURIs: []string{signinRedirect},
			Scopes: []string{"openid", "profile", "offline_access"}, SkipConsent: true, RequireMFA: true})
		if configure != nil {
			configure(c)
		}
	})
	return &mfaEnv{testEnv: e, logs: logs, events: events}
}

// mfaCode is the TOTP code of secret at the test clock's time moved by
// offset.
func (e *mfaEnv) mfaCode(secret string, offset time.Duration) string {
	e.t.Helper()
	code, err := totp.GenerateCodeCustom(secret, e.clock.Now().Add(offset), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// mfaWrong is a 6-digit code that is not code.
func mfaWrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// mfaEnrol sets up a TOTP app for the user through the API and returns
// its secret; the clock then moves on a step, so that the code that
// confirmed the app is not the one a test signs in with.
func (e *mfaEnv) mfaEnrol(userID string) string {
	e.t.Helper()
	ctx := context.Background()
	secret, _, err := e.srv.BeginTOTP(ctx, userID)
	if err != nil {
		e.t.Fatalf("BeginTOTP(%s): %v", userID, err)
	}
	if err := e.srv.ConfirmTOTP(ctx, userID, e.mfaCode(secret, 0)); err != nil {
		e.t.Fatalf("ConfirmTOTP(%s): %v", userID, err)
	}
	e.clock.Advance(30 * time.Second)
	return secret
}

// isFactorPage reports whether r is the page that asks for a code.
func isFactorPage(r response) bool { return isPage(r, "Confirm it is you") }

// mfaPassword signs user in from a fresh browser for app's request
// changed by changes (as signinURL does) and returns the browser, the
// PKCE verifier, and the answer to the password.
func (e *mfaEnv) mfaPassword(user string, changes ...string) (*browser, string, response) {
	e.t.Helper()
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	r := b.get(signinURL(signinParams(verifier), changes...))
	return b, verifier, b.signIn(r, user, alicePassword)
}

// mfaFollow follows a redirect to the second-factor page and returns
// the page.
func (b *browser) mfaFollow(r response) response {
	b.e.t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "/login/factor") {
		b.e.t.Fatalf("want a redirect to the second-factor page, got %d %s %s", r.status, r.header.Get("Location"), idpMain(r))
	}
	return b.get(r.header.Get("Location"))
}

// mfaSubmit posts field=value with the page's hidden fields to the
// second-factor page.
func (b *browser) mfaSubmit(page response, field, value string) response {
	b.e.t.Helper()
	f := fields(page)
	if f.Get("csrf_token") == "" {
		b.e.t.Fatalf("no form on the page: %d %s", page.status, idpMain(page))
	}
	f.Set(field, value)
	return b.post("/login/factor", f)
}

// mfaTokens approves app's consent if r asks for it, redeems the code
// the answer leads to for client with verifier, and returns the token
// response.
func (e *mfaEnv) mfaTokens(b *browser, r response, client, verifier string) map[string]any {
	e.t.Helper()
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := e.callback(r, signinRedirect)
	if q.Get("code") == "" {
		e.t.Fatalf("no code: %v", q)
	}
	tr := e.signinToken(signinRedeemForm(q.Get("code"), verifier), "client_id", client)
	if tr.status != http.StatusOK {
		e.t.Fatalf("redeeming the code of %s: %d %s", client, tr.status, tr.body)
	}
	return tr.json(e.t)
}

// mfaClaims verifies an ID token of client and returns its claims.
func (e *mfaEnv) mfaClaims(raw, client string) IDTokenClaims {
	e.t.Helper()
	var c IDTokenClaims
	if err := e.verifyIDToken(raw, client).Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// mfaLogged returns the log entries with the message.
func (e *mfaEnv) mfaLogged(message string) []observer.LoggedEntry {
	return e.logs.FilterMessage(message).All()
}

var mfaImg = regexp.MustCompile(`<img class="qr" src="data:image/png;base64,([A-Za-z0-9+/=&#;]+)"`)
var mfaSecret = regexp.MustCompile(`<span class="secret" id="totp-secret">([A-Z2-7 ]+)</span>`)
var mfaRecoveryCode = regexp.MustCompile(`<li>([a-z0-9]{5}-[a-z0-9]{5})</li>`)

// mfaSetupSecret reads the TOTP key from the setup page r.
func mfaSetupSecret(t *testing.T, r response) string {
	t.Helper()
	m := mfaSecret.FindStringSubmatch(string(r.body))
	if !isPage(r, "Set up a second factor") && r.status == http.StatusOK || m == nil {
		t.Fatalf("not the setup page with a key: %d %s", r.status, idpMain(r))
	}
	return strings.ReplaceAll(m[1], " ", "")
}
