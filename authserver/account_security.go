package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// The account page's password and two-step verification forms.

// handleAccountPassword changes a local user's password: the current one
// and the new one twice. SetUserPassword ends everything the user is
// signed in with, this browser's session included; this browser is then
// signed in again at once with a new session (a new cookie, sid and
// gateway sessions) that keeps the old one's sign-in time, methods and
// end: the user just proved the password, and gains nothing by changing
// it. Every other browser, every gateway session and every token the user
// had stop working, and apps must ask for consent again.
func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, true)
	if f == nil {
		return
	}
	ctx := s.eventContext(r)
	refuse := func(status int, msg string) { s.renderAccount(w, r, status, sess, u, "", msg) }
	switch {
	case u.Provider != "":
		refuse(http.StatusForbidden, "You sign in through another service, so you have no password here to change.")
		return
	case s.users.config[u.Username] != nil:
		refuse(http.StatusForbidden, "Your password is set in this server's configuration. Ask the people who run this site to change it.")
		return
	case u.Password.IsZero():
		refuse(http.StatusForbidden, "Your account has no password here to change.")
		return
	}
	current, next := f.get("current_password"), f.get("new_password")
	if current == "" || next == "" {
		refuse(http.StatusBadRequest, "Enter your current password and a new one.")
		return
	}
	if next != f.get("new_password_again") {
		refuse(http.StatusBadRequest, "The two new passwords are not the same. Type the new password twice.")
		return
	}
	now, ip := s.now(), s.cfg.ClientIP(r)
	if wait, ok := s.loginLimits.attempt(u.Username, ip, now); !ok {
		refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong passwords. Try again in %s.", roundUp(wait)))
		return
	}
	checked, ok, err := s.users.authenticate(ctx, u.Username, current)
	if err != nil {
		s.logFailure("checking a password", err)
		refuse(http.StatusServiceUnavailable, "Your password could not be checked. Try again later.")
		return
	}
	if !ok || checked.ID != u.ID {
		s.logger.Info("password change refused: wrong current password", zapUser(u.Username), zapIP(ip))
		s.emitFrom(r, Event{Name: EventUserChanged, Outcome: OutcomeFailure, Method: UserChangePassword, Username: u.Username, Subject: u.ID, Error: "wrong_credentials"})
		refuse(http.StatusUnauthorized, "Your current password is not right.")
		return
	}
	s.loginLimits.succeed(u.Username, ip, now)
	err = s.SetUserPassword(ctx, u.Username, next)
	switch {
	case errors.Is(err, ErrWeakPassword):
		refuse(http.StatusBadRequest, fmt.Sprintf("Choose another new password: it needs at least %d characters, and no control characters.", MinPasswordLength))
		return
	case errors.Is(err, ErrUserReadOnly), errors.Is(err, ErrUserFederated):
		refuse(http.StatusForbidden, "Your password cannot be changed here.")
		return
	case err != nil:
		s.logFailure("changing a password", err, zapUser(u.Username))
		refuse(http.StatusServiceUnavailable, "Your password could not be changed. Try again later.")
		return
	}
	if err := s.resumeSession(w, r, sess, u); err != nil {
		s.logger.Error("signing in again after a password change", zapUser(u.Username), zapErr(err))
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Password changed",
			Message: "Your password was changed, and you were signed out everywhere. Sign in again with your new password.",
			Back:    &ui.Link{URL: s.prefix + pathLogin + "?return_to=" + s.prefix + pathAccount, Text: "Sign in"}})
		return
	}
	s.accountDone(w, r, "password")
}

// resumeSession signs this browser in again after everything of u was
// revoked (a password change): a new session record and cookie with the
// sign-in time, methods and absolute end of old, which is gone.
func (s *Server) resumeSession(w http.ResponseWriter, r *http.Request, old *session, u *User) error {
	secret := randomID(32)
	now := s.now()
	d := sessionData{UserID: u.ID, AuthTime: old.data.AuthTime, LastSeen: now.Unix(), AMR: old.data.AMR}
	data, _ := json.Marshal(d)
	rec := store.Token{Kind: store.Session, ID: hashID(secret), Subject: u.ID, Data: data, IssuedAt: now, ExpiresAt: old.expires}
	if !now.Before(old.expires) {
		return errors.New("the session has ended")
	}
	if err := s.cfg.Store.CreateToken(r.Context(), rec); err != nil {
		return fmt.Errorf("storing the session: %w", err)
	}
	return s.cookies.set(w, s.cookies.session, secret, old.expires.Sub(now))
}

// handleAccountTOTP sets up an authenticator app: GET shows its key (as
// a QR code and as text), POST checks the app's first code. A user who
// has no recovery codes left gets new ones, shown once.
func (s *Server) handleAccountTOTP(w http.ResponseWriter, r *http.Request) {
	var f form
	var sess *session
	var u *User
	// Setting up an app needs a recent sign-in, as the passkeys do: the
	// app becomes the user's second factor, which an old session (a
	// stolen cookie, a shared computer) must not choose.
	if r.Method == http.MethodPost {
		if f, sess, u = s.accountForm(w, r, true); f == nil {
			return
		}
	} else if sess, u = s.accountSession(w, r); sess == nil {
		return
	} else if s.now().Sub(time.Unix(sess.data.AuthTime, 0)) > accountRecentAuth {
		s.logger.Info("account change needs a recent sign-in", zapUser(u.Username))
		s.accountSignIn(w, r)
		return
	}
	ctx := s.eventContext(r)
	info, err := s.accountFactors(r, u)
	if err != nil {
		s.logFailure("account page: listing second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your authenticator app could not be set up. Try again later.")
		return
	}
	if info.totp {
		s.accountDone(w, r, "totp-on")
		return
	}
	if f == nil {
		s.renderAccountTOTP(w, r, http.StatusOK, u, "", "")
		return
	}
	err = s.ConfirmTOTP(ctx, u.ID, f.get("code"))
	switch {
	case errors.Is(err, ErrWrongCode):
		s.renderAccountTOTP(w, r, http.StatusUnauthorized, u,
			"That code is not right. Check that your app shows the account you just added, and enter the code it shows now.", f.get("key"))
		return
	case errors.Is(err, ErrFactorExists):
		s.accountDone(w, r, "totp-on")
		return
	case errors.Is(err, ErrNoFactor):
		s.renderAccountTOTP(w, r, http.StatusConflict, u, "The key changed in the meantime. Add this one to your app and try again.", "")
		return
	case err != nil:
		s.logFailure("confirming a TOTP app", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your code could not be checked. Try again later.")
		return
	}
	if info.recoveryLeft > 0 {
		s.accountDone(w, r, "totp-on")
		return
	}
	codes, err := s.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		s.logger.Error("making recovery codes", zapUser(u.Username), zapErr(err))
		s.accountDone(w, r, "totp-on")
		return
	}
	s.renderAccountCodes(w, r, u, codes, "Your authenticator app is set up.")
}

// renderAccountTOTP shows the setup page with the user's key waiting to
// be confirmed, made now if there is none.
// shown is the keyStamp of the key the page showed before (empty on
// GET): that key is shown again only if it is still the one waiting.
func (s *Server) renderAccountTOTP(w http.ResponseWriter, r *http.Request, status int, u *User, msg, shown string) {
	ctx := s.eventContext(r)
	secret, otpauth, err := s.setupKey(ctx, u, shown)
	if err == nil && shown != "" && keyStamp(secret) != shown {
		status, msg = http.StatusConflict, "The key changed in the meantime. Add this one to your app and try again."
	}
	var qr string
	if err == nil {
		qr, err = qrDataURL(otpauth)
	}
	if err != nil {
		s.logFailure("setting up a TOTP app", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your authenticator app could not be set up. Try again later.")
		return
	}
	s.templates.Render(w, "account_totp", status, ui.Page{
		Title: "Set up an authenticator app", Action: s.prefix + pathAccountTOTP, CSRFToken: s.csrfToken(w, r), Error: msg,
		SignedInAs: u.Username, Account: &ui.Account{URLs: s.accountURLs()},
		Factor: &ui.Factor{QRCode: template.URL(qr), Secret: groupsOfFour(secret)}, //nolint:gosec // a data: URL of a PNG drawn here
		Back:   &ui.Link{URL: s.prefix + pathAccount, Text: "Cancel and go back to your account"},
		Hidden: map[string]string{"key": keyStamp(secret)},
	})
}

// renderAccountCodes shows new recovery codes, this once.
func (s *Server) renderAccountCodes(w http.ResponseWriter, r *http.Request, u *User, codes []string, intro string) {
	s.templates.Render(w, "account_codes", http.StatusOK, ui.Page{
		Title: "Save your recovery codes", Message: intro, SignedInAs: u.Username,
		Account: &ui.Account{URLs: s.accountURLs()}, Factor: &ui.Factor{RecoveryCodes: codes},
	})
}

// handleAccountTOTPRemove removes the authenticator app, once the user
// confirmed with a code from it or with their password. It refuses to
// remove the last second factor of a user who must have one.
func (s *Server) handleAccountTOTPRemove(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, true)
	if f == nil {
		return
	}
	ctx := s.eventContext(r)
	refuse := func(status int, msg string) { s.renderAccount(w, r, status, sess, u, "", msg) }
	info, err := s.accountFactors(r, u)
	if err != nil {
		s.logFailure("account page: listing second factors", err, zapUser(u.Username))
		refuse(http.StatusServiceUnavailable, "Your authenticator app could not be removed. Try again later.")
		return
	}
	if !info.totp {
		s.accountDone(w, r, "totp-off")
		return
	}
	if why := s.mfaRequiredWhy(u); why != "" && info.passkeys == 0 {
		s.logger.Info("refused to remove the last second factor of a user who must have one", zapUser(u.Username))
		refuse(http.StatusConflict, why+" Your authenticator app is your only second factor, so it cannot be removed. Add a passkey first if you want to stop using the app.")
		return
	}
	now, ip := s.now(), s.cfg.ClientIP(r)
	code, pw := f.get("code"), f.get("password")
	switch {
	case code != "":
		if wait, ok := s.factorLimits.attempt(u.ID, now); !ok {
			refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Try again in %s.", roundUp(wait)))
			return
		}
		err = s.useTOTP(ctx, u.ID, code)
		switch {
		case errors.Is(err, errCodeUsed):
			refuse(http.StatusUnauthorized, "That code was used already. Wait for your app to show a new one, and enter that.")
			return
		case errors.Is(err, ErrWrongCode), errors.Is(err, ErrNoFactor):
			s.logger.Info("authenticator app removal refused: wrong code", zapUser(u.Username), zapIP(ip))
			s.emitFrom(r, Event{Name: EventUserChanged, Outcome: OutcomeFailure, Method: UserChangeTOTPRemoved, Username: u.Username, Subject: u.ID, Error: "wrong_code"})
			refuse(http.StatusUnauthorized, "That code is not right. Check the code your app shows now and try again.")
			return
		case err != nil:
			s.logFailure("checking a TOTP code", err, zapUser(u.Username))
			refuse(http.StatusServiceUnavailable, "Your code could not be checked. Try again later.")
			return
		}
		s.factorLimits.reset(u.ID)
	case pw != "" && !u.Password.IsZero():
		if wait, ok := s.loginLimits.attempt(u.Username, ip, now); !ok {
			refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong passwords. Try again in %s.", roundUp(wait)))
			return
		}
		checked, ok, err := s.users.authenticate(ctx, u.Username, pw)
		if err != nil {
			s.logFailure("checking a password", err)
			refuse(http.StatusServiceUnavailable, "Your password could not be checked. Try again later.")
			return
		}
		if !ok || checked.ID != u.ID {
			s.logger.Info("authenticator app removal refused: wrong password", zapUser(u.Username), zapIP(ip))
			s.emitFrom(r, Event{Name: EventUserChanged, Outcome: OutcomeFailure, Method: UserChangeTOTPRemoved, Username: u.Username, Subject: u.ID, Error: "wrong_credentials"})
			refuse(http.StatusUnauthorized, "Your password is not right.")
			return
		}
		s.loginLimits.succeed(u.Username, ip, now)
	default:
		if u.Password.IsZero() {
			refuse(http.StatusBadRequest, "Enter a code from your authenticator app to remove it.")
		} else {
			refuse(http.StatusBadRequest, "Enter a code from your authenticator app, or your password, to remove it.")
		}
		return
	}
	if err := s.RemoveTOTP(ctx, u.ID); err != nil && !errors.Is(err, ErrNoFactor) {
		s.logFailure("removing a TOTP app", err, zapUser(u.Username))
		refuse(http.StatusServiceUnavailable, "Your authenticator app could not be removed. Try again later.")
		return
	}
	s.logger.Info("authenticator app removed on the account page", zapUser(u.Username), zapIP(ip))
	s.accountDone(w, r, "totp-off")
}

// handleAccountRecoveryCodes replaces the user's recovery codes with new
// ones, shown once.
func (s *Server) handleAccountRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, true)
	if f == nil {
		return
	}
	info, err := s.accountFactors(r, u)
	if err != nil {
		s.logFailure("account page: listing second factors", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "New recovery codes could not be made. Try again later.")
		return
	}
	if !info.totp && info.passkeys == 0 {
		s.renderAccount(w, r, http.StatusConflict, sess, u, "", "Recovery codes back up a second factor. Set up an authenticator app first.")
		return
	}
	codes, err := s.NewRecoveryCodes(s.eventContext(r), u.ID)
	if err != nil {
		s.logFailure("making recovery codes", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "New recovery codes could not be made. Try again later.")
		return
	}
	s.renderAccountCodes(w, r, u, codes, "Your new recovery codes replace the old ones, which no longer work.")
}
