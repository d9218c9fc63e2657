package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// Second factors at sign-in. After the password (or an identity
// provider's sign-in that did not already check a second factor), a user
// who has a second factor, or who must have one, does not get a session
// yet: a short-lived, signed and encrypted cookie remembers that the
// first factor passed, and <issuer>/login/factor asks for a code from the
// user's TOTP app or one of their recovery codes, or, for a user who must
// have a second factor and has none, sets up a TOTP app and shows new
// recovery codes. Then the sign-in goes on as it would have.
//
// A signed-in user whose session lacks a second factor steps up when a
// request needs one (see mfaRequired): the same page asks for it, and the
// session is replaced by one with "mfa" in its amr and a fresh auth_time.
//
// A session's amr (RFC 8176) says how the user signed in: "pwd" for a
// password, "otp" for a TOTP code, and "mfa" once a second factor was
// checked; the acr of its tokens is then "mfa" (none otherwise).
//
// A passkey (see passkeys.go) is a second factor too: the page offers
// "Use your passkey" beside the code, and a passkey adds "hwk" or "swk"
// with "mfa" to the amr. A user who must set up a second factor sets up
// a TOTP app; passkeys are added on the passkeys page.

// Limits and lifetimes of the second-factor step.
const (
	// factorAttempts wrong codes per user within factorWindow block the
	// user's second factor for the rest of the window (a right code
	// too, or guessing would go on); then it works again.
	factorAttempts = 5
	factorWindow   = 15 * time.Minute
	// factorStepLifetime is how long the user has, after the password,
	// to give the second factor.
	factorStepLifetime = 5 * time.Minute
	// factorCookieName names the cookie of a sign-in waiting for its
	// second factor (after __Host- on https).
	factorCookieName = "authgate_factor"
)

// Authentication method references (RFC 8176 §2) and the one
// authentication context class reference this server issues.
const (
	amrMFA = "mfa"
	amrOTP = "otp"
	// acrMFA is the acr of a sign-in with a second factor, and the
	// acr_values value that asks for one.
	acrMFA = "mfa"
	// codeInteractionRequired answers prompt=none when the user must
	// give a second factor (OIDC Core §3.1.2.6).
	codeInteractionRequired = "interaction_required"
)

// What a second factor adds to a sign-in's amr: "otp" and "mfa" for a
// TOTP code; "mfa" alone for a recovery code, which no RFC 8176 value
// describes (it is not a one-time password generator).
var (
	amrTOTP     = []string{amrOTP, amrMFA}
	amrRecovery = []string{amrMFA}
)

// registeredAMR are the RFC 8176 §2 values, the only ones kept of what a
// trusted identity provider says.
var registeredAMR = map[string]bool{
	"face": true, "fpt": true, "geo": true, "hwk": true, "iris": true, "kba": true, "mca": true, "mfa": true,
	"otp": true, "pin": true, "pop": true, "pwd": true, "rba": true, "retina": true, "sc": true, "sms": true,
	"swk": true, "tel": true, "user": true, "vbm": true, "wia": true,
}

// hasMFA reports whether a sign-in with amr had a second factor.
func hasMFA(amr []string) bool { return slices.Contains(amr, amrMFA) }

// acrOf is the acr of a sign-in with amr: "mfa" with a second factor,
// empty (the claim omitted) otherwise.
func acrOf(amr []string) string {
	if hasMFA(amr) {
		return acrMFA
	}
	return ""
}

// withAMR returns amr with the values of more it lacks added, in a new
// slice.
func withAMR(amr []string, more ...string) []string {
	out := slices.Clone(amr)
	for _, v := range more {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// providerAMR is the amr of a sign-in through provider p: what the
// provider said (its RFC 8176 values) when p is trusted with second
// factors and said "mfa"; amr, how this server checked the person,
// otherwise.
func providerAMR(p IdentityProvider, id connector.Identity, amr []string) []string {
	if !p.TrustMFA || !hasMFA(id.AMR) {
		return amr
	}
	var said []string
	for _, v := range id.AMR {
		if registeredAMR[v] {
			said = append(said, v)
		}
	}
	return withAMR(amr, said...)
}

// wantsMFA reports whether the request asks for a second factor:
// acr_values names "mfa".
func (a *authzRequest) wantsMFA() bool { return slices.Contains(a.ACRValues, acrMFA) }

// mfaRequired reports whether u must sign in with a second factor: for
// everyone (RequireMFA), for a group of theirs (RequireMFAGroups), for
// the client (Client.RequireMFA), or for the request (acr_values=mfa).
// req and c may be nil.
func (s *Server) mfaRequired(u *User, req *authzRequest, c *Client) bool {
	switch {
	case s.cfg.RequireMFA:
		return true
	case c != nil && c.RequireMFA:
		return true
	case req != nil && req.wantsMFA():
		return true
	}
	for _, g := range u.Groups {
		if slices.Contains(s.cfg.RequireMFAGroups, g) {
			return true
		}
	}
	return false
}

// needsStepUp reports whether the session sess of u lacks the second
// factor that the request req of client c requires (req may be nil).
func (s *Server) needsStepUp(sess *session, u *User, req *authzRequest, c *Client) bool {
	return !hasMFA(sess.data.AMR) && s.mfaRequired(u, req, c)
}

// factorMethods are the second factors a user can sign in with.
type factorMethods struct {
	// totp is a confirmed TOTP app.
	totp bool
	// recovery is a set of recovery codes with codes left.
	recovery bool
	// passkey is a passkey (a confirmed WebAuthn credential).
	passkey bool
}

// has reports whether the user has a second factor. Recovery codes back
// one up and are none of their own.
func (m factorMethods) has() bool { return m.totp || m.passkey }

// userFactors finds the second factors the user can sign in with.
func (s *Server) userFactors(ctx context.Context, userID string) (factorMethods, error) {
	list, err := s.cfg.Store.ListFactors(ctx, userID)
	if err != nil {
		return factorMethods{}, fmt.Errorf("listing the user's second factors: %w", err)
	}
	var m factorMethods
	for _, f := range list {
		if !f.Confirmed {
			continue
		}
		switch f.Kind {
		case store.FactorTOTP:
			m.totp = true
		case store.FactorWebAuthn:
			// Passkeys work only where the relying party is this
			// issuer's host, as it still is.
			m.passkey = s.webauthn != nil
		case store.FactorRecoveryCodes:
			var d recoveryData
			if json.Unmarshal(f.Data, &d) == nil && d.left() > 0 {
				m.recovery = true
			}
		}
	}
	return m, nil
}

// factorStep is a sign-in waiting for its second factor, kept in a
// cookie of its own (encrypted and signed with the cookie keys) for
// factorStepLifetime.
type factorStep struct {
	// UserID is who passed the first factor.
	UserID string `json:"u"`
	// AMR is how the first factor was checked.
	AMR []string `json:"a,omitempty"`
	// Provider is the identity provider of the first factor, if any,
	// for the log.
	Provider string `json:"p,omitempty"`
	// Request is the pending authorization request's handle, or
	// ReturnTo a local page to go on to.
	Request  string `json:"r,omitempty"`
	ReturnTo string `json:"t,omitempty"`
	// Session, for a step-up, is the record ID of the session that
	// steps up; empty for a sign-in.
	Session string `json:"s,omitempty"`
	// Required says a second factor is required, not only possible: a
	// user without one sets one up.
	Required bool `json:"m,omitempty"`
	// Enrol says the user has no second factor and sets one up now.
	Enrol bool `json:"n,omitempty"`
	// Done is the amr once the second factor was set up, while the new
	// recovery codes are shown: continuing finishes the sign-in.
	Done []string `json:"d,omitempty"`
	// Key fingerprints the TOTP key the setup page showed (see
	// setupKey).
	Key string `json:"k,omitempty"`
	// Password fingerprints the stored password hash the first factor
	// was checked against (empty for a user without one here): a
	// password changed during the step (an operator ending a leaked
	// password's sign-ins) ends it.
	Password string `json:"w,omitempty"`
	// Passed is when the first factor passed; Expires when this step
	// ends (Unix seconds, on the server's clock: the cookie's Max-Age
	// binds only the browser).
	Passed  int64 `json:"at"`
	Expires int64 `json:"e"`
}

// factorCookie names the cookie of the second-factor step.
func (s *Server) factorCookie() string {
	if s.cookies.secure {
		return "__Host-" + factorCookieName
	}
	return factorCookieName
}

// setFactorStep stores st in its cookie.
func (s *Server) setFactorStep(w http.ResponseWriter, st factorStep) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding the second-factor step: %w", err)
	}
	return s.cookies.set(w, s.factorCookie(), string(data), factorStepLifetime+time.Minute)
}

// factorState returns the browser's sign-in waiting for a second
// factor, if it has one that has not expired.
func (s *Server) factorState(r *http.Request) (factorStep, bool) {
	var st factorStep
	raw, ok := s.cookies.get(r, s.factorCookie())
	if !ok || json.Unmarshal([]byte(raw), &st) != nil || st.UserID == "" || s.now().Unix() >= st.Expires {
		return factorStep{}, false
	}
	return st, true
}

// passwordStamp fingerprints the stored password hash u was loaded
// with, for factorStep.Password; empty for a user without one.
func passwordStamp(u *User) string {
	if u.storedHash == "" {
		return ""
	}
	return hashID("factor step\x00" + u.storedHash)[:32]
}

// startFactorStep remembers that the first factor passed and sends the
// browser to the second-factor page.
func (s *Server) startFactorStep(w http.ResponseWriter, r *http.Request, st factorStep) {
	now := s.now()
	st.Passed, st.Expires = now.Unix(), now.Add(factorStepLifetime).Unix()
	s.goToFactorStep(w, r, st)
}

// goToFactorStep stores the step st in its cookie and sends the browser
// to the second-factor page.
func (s *Server) goToFactorStep(w http.ResponseWriter, r *http.Request, st factorStep) {
	if err := s.setFactorStep(w, st); err != nil {
		s.failurePage(w, r, "setting the second-factor cookie", err, "You could not be signed in.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.prefix+pathLoginFactor, http.StatusSeeOther)
}

// completeLogin goes on from a first factor that passed: u signed in
// with amr (through provider, if not empty). A user who has a second
// factor, or must have one, is asked for it (or sets one up) first;
// anyone else is signed in.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, lf loginForm, u *User, amr []string, provider string) {
	if !hasMFA(amr) {
		m, err := s.userFactors(r.Context(), u.ID)
		if err != nil {
			s.logFailure("looking up second factors", err, zapUser(u.Username))
			s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
			return
		}
		required := s.mfaRequired(u, lf.req, lf.c)
		if m.has() || required {
			s.logger.Info("first factor passed; asking for the second", s.signInFields(r, u, provider, amr)...)
			s.startFactorStep(w, r, factorStep{
				UserID: u.ID, AMR: amr, Provider: provider, Request: lf.handle, ReturnTo: lf.returnTo,
				Required: required, Enrol: !m.has(), Password: passwordStamp(u),
			})
			return
		}
	}
	s.finishLogin(w, r, lf, u, amr, provider)
}

// signInFields are the log fields of a sign-in.
func (s *Server) signInFields(r *http.Request, u *User, provider string, amr []string) []zap.Field {
	fields := []zap.Field{zapUser(u.Username)}
	if provider != "" {
		fields = append(fields, zap.String("provider", provider))
	}
	return append(fields, zap.Strings("amr", amr), zapIP(s.cfg.ClientIP(r)))
}

// stepUp asks the user signed in with sess, which lacks a second factor,
// for one (or to set one up), to go on with the pending request handle
// or the local page returnTo.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, sess *session, u *User, handle, returnTo string) {
	m, err := s.userFactors(r.Context(), u.ID)
	if err != nil {
		s.logFailure("looking up second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	s.logger.Info("a second factor is required; stepping up", zapUser(u.Username))
	s.startFactorStep(w, r, factorStep{
		UserID: u.ID, AMR: sess.data.AMR, Request: handle, ReturnTo: returnTo, Session: sess.id,
		Required: true, Enrol: !m.has(), Password: passwordStamp(u),
	})
}

// handleFactor is the second-factor page, <issuer>/login/factor: it asks
// for a code, or sets up a TOTP app and shows recovery codes, for the
// sign-in the browser's factor cookie holds.
func (s *Server) handleFactor(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	st, ok := s.factorState(r)
	if !ok {
		s.templates.Render(w, "message", http.StatusBadRequest, ui.Page{Title: "Sign in again",
			Error: "This sign-in took too long, or was not started in this browser.", Message: "Go back to the application and sign in again."})
		return
	}
	ctx := r.Context()
	u, ok, err := s.users.lookup(ctx, st.UserID)
	if err != nil {
		s.logFailure("looking up the user of a second-factor step", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	if !ok {
		s.cookies.clear(w, s.factorCookie())
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here",
			Error: "This account is disabled.", Message: "Ask the people who run this site for access."})
		return
	}
	if st.Password != passwordStamp(u) {
		// The password changed since it was checked: the change ends
		// what was signed in with the old one, this step too.
		s.cookies.clear(w, s.factorCookie())
		s.logger.Info("second-factor step ended: the password changed meanwhile", zapUser(u.Username))
		s.errorPage(w, r, http.StatusConflict, "Your password was changed while you were signing in. Sign in again with the new one.")
		return
	}
	var sess *session
	if st.Session != "" {
		if sess, _ = s.currentSession(r); sess == nil || sess.id != st.Session {
			s.cookies.clear(w, s.factorCookie())
			s.errorPage(w, r, http.StatusBadRequest, "You were signed out in the meantime. Sign in again.")
			return
		}
	}
	var f form
	if r.Method == http.MethodPost {
		if f, ok = s.readPageForm(w, r); !ok {
			return
		}
	}
	switch {
	case st.Done != nil:
		if f != nil {
			s.finishFactor(w, r, st, u, sess, st.Done)
			return
		}
		s.renderFactorPage(w, r, "recovery_codes", http.StatusOK, st, u, "Second factor set up", "", &ui.Factor{})
	case st.Enrol:
		s.factorSetup(w, r, st, u, sess, f)
	default:
		s.factorVerify(w, r, st, u, sess, f)
	}
}

// renderFactorPage shows one of the second-factor pages for st.
func (s *Server) renderFactorPage(w http.ResponseWriter, r *http.Request, name string, status int, st factorStep, u *User, title, msg string, factor *ui.Factor) {
	s.renderFactorPageWith(w, r, name, status, st, u, title, msg, factor, nil)
}

// renderFactorPageWith shows one of the second-factor pages for st,
// offering the passkey ceremony wa if not nil.
func (s *Server) renderFactorPageWith(w http.ResponseWriter, r *http.Request, name string, status int, st factorStep, u *User, title, msg string, factor *ui.Factor, wa *ui.WebAuthn) {
	p := ui.Page{Title: title, Action: s.prefix + pathLoginFactor, CSRFToken: s.csrfToken(w, r), Error: msg,
		SignedInAs: u.Username, Factor: factor, WebAuthn: wa}
	if wa != nil {
		p.Script = s.scriptURL()
	}
	if st.Request != "" {
		if req, c, ok, _ := s.loadPending(r.Context(), st.Request); ok {
			p.Client = appInfo(c, req)
		}
	}
	s.templates.Render(w, name, status, p)
}

// factorVerify asks for the user's second factor and checks it.
func (s *Server) factorVerify(w http.ResponseWriter, r *http.Request, st factorStep, u *User, sess *session, f form) {
	ctx := r.Context()
	m, err := s.userFactors(ctx, u.ID)
	if err != nil {
		s.logFailure("looking up second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	if !m.has() {
		// The factor went (removed elsewhere) since the first step.
		if !st.Required {
			s.finishFactor(w, r, st, u, sess, st.AMR)
			return
		}
		st.Enrol = true
		s.goToFactorStep(w, r, st)
		return
	}
	page := func(status int, msg string) {
		factor := &ui.Factor{TOTP: m.totp, Recovery: m.recovery}
		var wa *ui.WebAuthn
		if m.passkey {
			var err error
			if wa, err = s.beginPasskeyFactor(w, r, u); err != nil {
				s.logger.Error("starting a passkey second factor", zapUser(u.Username), zapErr(err))
			}
			factor.Passkey = wa != nil
		}
		s.renderFactorPageWith(w, r, "factor", status, st, u, "Confirm it is you", msg, factor, wa)
	}
	if f == nil {
		page(http.StatusOK, "")
		return
	}
	code, recovery, credential := f.get("code"), f.get("recovery_code"), f.get("credential")
	if code == "" && recovery == "" && credential == "" {
		page(http.StatusBadRequest, "Enter a code.")
		return
	}
	now := s.now()
	if wait, ok := s.factorLimits.attempt(u.ID, now); !ok {
		s.logger.Warn("second factor blocked after too many wrong codes", zapUser(u.Username), zapIP(s.cfg.ClientIP(r)))
		s.emitFrom(r, Event{Name: EventSecondFactor, Outcome: OutcomeFailure, Username: u.Username, Subject: u.ID, Error: "rate_limited"})
		page(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Try again in %s.", roundUp(wait)))
		return
	}
	method, amr := SignInTOTP, withAMR(st.AMR, amrTOTP...)
	switch {
	case credential != "":
		method = SignInPasskey
		var added []string
		if added, err = s.checkPasskeyFactor(w, r, u, credential); err == nil {
			amr = withAMR(st.AMR, added...)
		}
	case code != "":
		err = s.useTOTP(ctx, u.ID, code)
	default:
		method, amr = SignInRecoveryCode, withAMR(st.AMR, amrRecovery...)
		_, err = s.useRecoveryCode(ctx, u, recovery)
	}
	failed := func(reason string) {
		s.emitFrom(r, Event{Name: EventSecondFactor, Outcome: OutcomeFailure, Method: method, Username: u.Username, Subject: u.ID, Error: reason})
	}
	switch {
	case method == SignInPasskey && errors.Is(err, errCloned):
		s.logger.Warn("second factor refused: the passkey may have been cloned", zapUser(u.Username), zapIP(s.cfg.ClientIP(r)), zapErr(err))
		failed("passkey_cloned")
		page(http.StatusUnauthorized, "This passkey cannot be used: it may have been copied. Use another second factor.")
		return
	case method == SignInPasskey && (errors.Is(err, ErrWrongCode) || errors.Is(err, ErrNoFactor)):
		s.logger.Info("second factor failed", zapUser(u.Username), zap.String("method", method), zapIP(s.cfg.ClientIP(r)), zapErr(err))
		failed("wrong_credentials")
		page(http.StatusUnauthorized, "Your passkey could not be checked. Try again.")
		return
	case errors.Is(err, errCodeUsed):
		failed("code_used")
		if method == SignInTOTP {
			page(http.StatusUnauthorized, "That code was used already. Wait for your app to show a new one, and enter that.")
		} else {
			page(http.StatusUnauthorized, "That recovery code was used already. Each code works only once: use another one.")
		}
		return
	case errors.Is(err, ErrWrongCode), errors.Is(err, ErrNoFactor):
		failed("wrong_code")
		if method == SignInTOTP {
			page(http.StatusUnauthorized, "That code is not right. Check the code your app shows now and try again.")
		} else {
			page(http.StatusUnauthorized, "That is not one of your recovery codes. Check it and try again.")
		}
		return
	case err != nil:
		s.logFailure("checking a second factor", err, zapUser(u.Username), zap.String("method", method))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your code could not be checked. Try again later.")
		return
	}
	s.factorLimits.reset(u.ID)
	s.emitFrom(r, Event{Name: EventSecondFactor, Outcome: OutcomeSuccess, Method: method, Username: u.Username, Subject: u.ID})
	s.finishFactor(w, r, st, u, sess, amr)
}

// factorSetup sets up a TOTP app for a user who must have a second
// factor and has none: the page shows the key as a QR code and as text
// and asks for the app's first code; then the new recovery codes.
func (s *Server) factorSetup(w http.ResponseWriter, r *http.Request, st factorStep, u *User, sess *session, f form) {
	ctx := s.eventContext(r)
	m, err := s.userFactors(ctx, u.ID)
	if err != nil {
		s.logFailure("looking up second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	if m.has() {
		// Set up in the meantime (in another tab, say): ask for it.
		st.Enrol = false
		s.goToFactorStep(w, r, st)
		return
	}
	if f == nil {
		s.renderSetup(w, r, http.StatusOK, st, u, "")
		return
	}
	err = s.ConfirmTOTP(ctx, u.ID, f.get("code"))
	switch {
	case errors.Is(err, ErrWrongCode):
		s.renderSetup(w, r, http.StatusUnauthorized, st, u,
			"That code is not right. Check that your app shows the account you just added, and enter the code it shows now.")
		return
	case errors.Is(err, ErrNoFactor), errors.Is(err, ErrFactorExists):
		// Removed or confirmed in the meantime: start over.
		http.Redirect(w, r, s.prefix+pathLoginFactor, http.StatusSeeOther)
		return
	case err != nil:
		s.logFailure("confirming a TOTP app", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your code could not be checked. Try again later.")
		return
	}
	codes, err := s.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		s.logger.Error("making recovery codes", zapUser(u.Username), zapErr(err))
	}
	st.Done = withAMR(st.AMR, amrTOTP...)
	st.Expires = s.now().Add(factorStepLifetime).Unix()
	if err := s.setFactorStep(w, st); err != nil {
		s.failurePage(w, r, "setting the second-factor cookie", err, "You could not be signed in.")
		return
	}
	title := "Save your recovery codes"
	if len(codes) == 0 {
		title = "Second factor set up"
	}
	s.renderFactorPage(w, r, "recovery_codes", http.StatusOK, st, u, title, "", &ui.Factor{RecoveryCodes: codes})
}

// renderSetup shows the TOTP setup page with the user's key waiting to
// be confirmed, made now if there is none.
func (s *Server) renderSetup(w http.ResponseWriter, r *http.Request, status int, st factorStep, u *User, msg string) {
	ctx := r.Context()
	secret, otpauth, err := s.setupKey(ctx, u, st.Key)
	if err == nil && keyStamp(secret) != st.Key {
		st.Key = keyStamp(secret)
		err = s.setFactorStep(w, st)
	}
	var qr string
	if err == nil {
		qr, err = qrDataURL(otpauth)
	}
	if err != nil {
		s.logFailure("setting up a TOTP app", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your second factor could not be set up. Try again later.")
		return
	}
	s.renderFactorPage(w, r, "factor_setup", status, st, u, "Set up a second factor", msg,
		&ui.Factor{QRCode: template.URL(qr), Secret: groupsOfFour(secret)}) //nolint:gosec // a data: URL of a PNG drawn here
}

// setupKey returns the TOTP key waiting to be confirmed for a setup page
// that showed the key whose keyStamp is shown, if it is still the one
// waiting; otherwise a new key (replacing any waiting one). A page never
// shows a key that another page made: the one the account page is
// setting up is not shown to a sign-in that has the password alone, nor
// the other way round.
func (s *Server) setupKey(ctx context.Context, u *User, shown string) (secret, otpauthURL string, err error) {
	secret, otpauthURL, ok, err := s.pendingTOTP(ctx, u)
	if err != nil {
		return "", "", err
	}
	if ok && shown != "" && keyStamp(secret) == shown {
		return secret, otpauthURL, nil
	}
	return s.BeginTOTP(ctx, u.ID)
}

// keyStamp fingerprints a TOTP key (base32) for a setup page to name the
// key it showed.
func keyStamp(secret string) string { return hashID("totp key\x00" + secret)[:32] }

// groupsOfFour spaces a key every four characters, for typing.
func groupsOfFour(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// finishFactor ends the second-factor step: the sign-in goes on with a
// session with amr (a new one, or for a step-up the upgraded one).
func (s *Server) finishFactor(w http.ResponseWriter, r *http.Request, st factorStep, u *User, sess *session, amr []string) {
	s.cookies.clear(w, s.factorCookie())
	ctx := r.Context()
	lf := loginForm{handle: st.Request, returnTo: st.ReturnTo}
	if lf.handle != "" {
		var ok bool
		var err error
		if lf.req, lf.c, ok, err = s.loadPending(ctx, lf.handle); !ok {
			s.pendingGone(w, r, err, "This sign-in request has expired or was already completed. Start again from the application.")
			return
		}
	}
	if sess == nil {
		s.finishLogin(w, r, lf, u, amr, st.Provider)
		return
	}
	upgraded, err := s.upgradeSession(w, r, sess, u, amr)
	if err != nil {
		s.failurePage(w, r, "stepping up a session", err, "You could not be signed in.")
		return
	}
	s.logger.Info("stepped up", s.signInFields(r, u, "", amr)...)
	if lf.req != nil && lf.req.LoginSession == sess.id {
		if err := s.signedInFor(ctx, lf.handle, lf.req, upgraded); err != nil {
			s.failurePage(w, r, "recording the sign-in on the request", err, "You could not be signed in.")
			return
		}
	}
	s.continueSignedIn(w, r, lf, upgraded, u)
}
