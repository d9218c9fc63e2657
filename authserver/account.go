package authserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// The account page, <issuer>/account: what a signed-in user can see and
// change of their own account. Its sections are the profile (read-only),
// the password (local users kept in the store), two-step verification
// (an authenticator app, recovery codes), passkeys (a link to their own
// page), sign-in sessions and the apps the user allowed. Every change is
// a form of its own, posted with the page's CSRF token to a path of its
// own, which answers with a redirect back to the page (or, for new
// recovery codes, a page that shows them once).
//
// Changing the password, removing the authenticator app and making new
// recovery codes need a recent sign-in: within accountRecentAuth of the
// session's auth_time. An older session is sent to the sign-in page with
// return_to pointing back here, as prompt=login would be: signing in
// again replaces the session with a new one (see startSession).

// Paths of the account pages, relative to the issuer's path.
const (
	pathAccount              = "/account"
	pathAccountPassword      = "/account/password"
	pathAccountTOTP          = "/account/totp"
	pathAccountTOTPRemove    = "/account/totp/remove"
	pathAccountRecoveryCodes = "/account/recovery-codes"
	pathAccountEndSession    = "/account/sessions/end"
	pathAccountEndOthers     = "/account/sessions/end-others"
	pathAccountRevokeApp     = "/account/apps/revoke"
)

// accountRecentAuth is how long after signing in a session may change
// the password or the second factors without signing in again.
const accountRecentAuth = 10 * time.Minute

// accountNotices are what the account page says after a change, by the
// done parameter its redirect carries.
var accountNotices = map[string]string{
	"password":       "Your password was changed. You were signed out everywhere else, and the apps you had allowed must ask again; this browser stays signed in.",
	"totp-on":        "Your authenticator app is set up. You will be asked for a code from it when you sign in.",
	"totp-off":       "Your authenticator app was removed, with your recovery codes.",
	"session-ended":  "That session was ended. It is signed out, and so are the sites it signed in to.",
	"others-ended":   "Your other sessions were ended.",
	"no-others":      "There were no other sessions to end.",
	"app-revoked":    "The app's access was revoked. It must ask again to use your account.",
	"session-absent": "That session has already ended.",
}

// accountRoutes are the account pages' routes, for the route table.
func (s *Server) accountRoutes(get, post []string) map[string]endpoint {
	both := append(slices.Clone(get), post...)
	return map[string]endpoint{
		pathAccount:              {get, s.handleAccount},
		pathAccountPassword:      {post, s.handleAccountPassword},
		pathAccountTOTP:          {both, s.handleAccountTOTP},
		pathAccountTOTPRemove:    {post, s.handleAccountTOTPRemove},
		pathAccountRecoveryCodes: {post, s.handleAccountRecoveryCodes},
		pathAccountEndSession:    {post, s.handleAccountEndSession},
		pathAccountEndOthers:     {post, s.handleAccountEndOthers},
		pathAccountRevokeApp:     {post, s.handleAccountRevokeApp},
	}
}

// accountSignIn sends a browser without a session (or, with fresh, with
// one older than accountRecentAuth) to the sign-in page, to come back to
// the account page.
func (s *Server) accountSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.prefix+pathLogin+"?"+url.Values{"return_to": {s.prefix + pathAccount}}.Encode(), http.StatusSeeOther)
}

// accountSession returns the browser's session and user, or sends the
// browser to sign in and returns nil.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (*session, *User) {
	sess, u := s.currentSession(r)
	if sess == nil {
		s.accountSignIn(w, r)
		return nil, nil
	}
	return sess, u
}

// accountForm reads a POSTed account form (checking its CSRF token) and
// the browser's session. recent asks for a recent sign-in too. On
// failure it answers and returns nil.
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request, recent bool) (form, *session, *User) {
	f, ok := s.readPageForm(w, r)
	if !ok {
		return nil, nil, nil
	}
	sess, u := s.accountSession(w, r)
	if sess == nil {
		return nil, nil, nil
	}
	if recent && s.now().Sub(time.Unix(sess.data.AuthTime, 0)) > accountRecentAuth {
		s.logger.Info("account change needs a recent sign-in", zapUser(u.Username))
		s.accountSignIn(w, r)
		return nil, nil, nil
	}
	return f, sess, u
}

// accountDone redirects back to the account page, which says what
// happened (a key of accountNotices).
func (s *Server) accountDone(w http.ResponseWriter, r *http.Request, done string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.prefix+pathAccount+"?done="+done, http.StatusSeeOther)
}

// handleAccount shows the account page.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	sess, u := s.accountSession(w, r)
	if sess == nil {
		return
	}
	s.renderAccount(w, r, http.StatusOK, sess, u, accountNotices[r.URL.Query().Get("done")], "")
}

// accountURLs are the account pages' paths under the issuer.
func (s *Server) accountURLs() ui.AccountURLs {
	p := s.prefix
	return ui.AccountURLs{
		Account: p + pathAccount, Password: p + pathAccountPassword, TOTP: p + pathAccountTOTP,
		TOTPRemove: p + pathAccountTOTPRemove, RecoveryCodes: p + pathAccountRecoveryCodes, Passkeys: p + pathPasskeys,
		EndSession: p + pathAccountEndSession, EndOthers: p + pathAccountEndOthers, RevokeApp: p + pathAccountRevokeApp,
		SignOut: p + pathLogout,
	}
}

// renderAccount shows the account page of u, signed in with sess, with a
// notice of what just changed or an error.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, sess *session, u *User, notice, msg string) {
	a := &ui.Account{
		Notice: notice, Username: u.Username, Name: u.Name, Email: u.Email, Groups: u.Groups,
		SignedInWith: s.describeSignIn(u, sess.data.AMR), URLs: s.accountURLs(),
	}
	switch {
	case u.Provider != "":
		a.Password, a.ProviderName = "provider", u.Provider
		if p, ok := s.provider(u.Provider); ok && p.DisplayName != "" {
			a.ProviderName = p.DisplayName
		}
	case s.users.config[u.Username] != nil:
		a.Password = "config"
	default:
		a.Password = "local"
	}
	a.HasPassword = !u.Password.IsZero()
	factors, err := s.accountFactors(r, u)
	if err != nil {
		s.logFailure("account page: listing second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your account could not be shown. Try again later.")
		return
	}
	a.TOTP, a.RecoveryLeft, a.Passkeys = factors.totp, factors.recoveryLeft, factors.passkeys
	a.Required = s.mfaRequiredWhy(u)
	a.CanRemoveTOTP = a.Required == "" || factors.passkeys > 0
	if a.Sessions, err = s.accountSessions(r, sess, u); err == nil {
		a.Apps, err = s.accountApps(r, u)
	}
	if err != nil {
		s.logFailure("account page: listing sessions and apps", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your account could not be shown. Try again later.")
		return
	}
	s.templates.Render(w, "account", status, ui.Page{
		Title: "Your account", CSRFToken: s.csrfToken(w, r), Error: msg, SignedInAs: u.Username, Account: a,
	})
}

// accountFactorInfo is what the account page shows of the second
// factors.
type accountFactorInfo struct {
	totp         bool
	recoveryLeft int
	// passkeys counts confirmed WebAuthn credentials.
	passkeys int
}

func (s *Server) accountFactors(r *http.Request, u *User) (accountFactorInfo, error) {
	list, err := s.cfg.Store.ListFactors(r.Context(), u.ID)
	if err != nil {
		return accountFactorInfo{}, fmt.Errorf("listing the user's factors: %w", err)
	}
	var info accountFactorInfo
	for _, f := range list {
		if !f.Confirmed {
			continue
		}
		switch f.Kind {
		case store.FactorTOTP:
			info.totp = true
		case store.FactorWebAuthn:
			info.passkeys++
		case store.FactorRecoveryCodes:
			var d recoveryData
			if json.Unmarshal(f.Data, &d) == nil {
				info.recoveryLeft = d.left()
			}
		}
	}
	return info, nil
}

// mfaRequiredWhy says, in words, why u must sign in with a second factor
// whatever the application; empty if nothing requires one of u.
func (s *Server) mfaRequiredWhy(u *User) string {
	if s.cfg.RequireMFA {
		return "Everyone who signs in here must use two-step verification."
	}
	for _, g := range u.Groups {
		if slices.Contains(s.cfg.RequireMFAGroups, g) {
			return fmt.Sprintf("Members of the group %q must use two-step verification.", g)
		}
	}
	return ""
}

// describeSignIn says how a session of u signed in, from its amr.
func (s *Server) describeSignIn(u *User, amr []string) string {
	first := "With your password"
	if u.Provider != "" {
		name := u.Provider
		if p, ok := s.provider(u.Provider); ok && p.DisplayName != "" {
			name = p.DisplayName
		}
		first = "Through " + name
	}
	switch {
	case slices.Contains(amr, amrOTP):
		return first + ", and a code from your authenticator app"
	case slices.Contains(amr, "hwk") || slices.Contains(amr, "swk"):
		return first + ", and a passkey"
	case hasMFA(amr) && u.Provider != "" && !slices.Contains(amr, "pwd"):
		return first + ", with two-step verification there"
	case hasMFA(amr):
		return first + ", and a recovery code"
	}
	return first
}

// accountTime writes a time for the account page.
func accountTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}
