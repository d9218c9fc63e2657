package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// loginForm is where a sign-in stands: what it continues (a pending
// authorization request of a client, or a local page) and what the user
// chose and typed.
type loginForm struct {
	handle   string
	req      *authzRequest
	c        *Client
	returnTo string
	username string
	// idp is the password source chosen: "" for this server's own
	// accounts, or a directory's provider name.
	idp string
}

// handleLogin serves the sign-in page. A POST signs the user in, with a
// local account or a directory's, and continues the pending authorization
// request, or returns to a local page (return_to), or says the user is
// signed in.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		lf := loginForm{returnTo: r.URL.Query().Get("return_to")}
		if !s.localPath(lf.returnTo) {
			lf.returnTo = ""
		}
		s.renderLogin(w, r, http.StatusOK, lf, "")
		return
	}
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	lf := loginForm{handle: f.get("request"), returnTo: f.get("return_to"), username: f.get("username"), idp: f.get("idp")}
	if lf.handle != "" {
		var err error
		if lf.req, lf.c, ok, err = s.loadPending(r.Context(), lf.handle); !ok {
			s.pendingGone(w, r, err, "This sign-in request has expired or was already completed.")
			return
		}
	} else if lf.returnTo != "" && !s.localPath(lf.returnTo) {
		lf.returnTo = ""
	}
	pw := f.get("password")
	if lf.idp != "" {
		s.directoryLogin(w, r, lf, pw)
		return
	}
	now := s.now()
	ip := s.cfg.ClientIP(r)
	known := ""
	if s.users.isLocal(r.Context(), lf.username) {
		known = lf.username
	}
	if wait, ok := s.loginLimits.attempt(known, ip, now); !ok {
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPassword, Username: known,
			Client: clientOf(lf.c), Error: "rate_limited"})
		s.renderLogin(w, r, http.StatusTooManyRequests, lf, fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
		return
	}
	u, ok, err := s.users.authenticate(r.Context(), lf.username, pw)
	if err != nil {
		// No password was checked (the store could not say whose it
		// is): the attempt does not count against the limits.
		s.loginLimits.forgive(known, ip, now)
		s.logFailure("checking a password", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	if !ok {
		// The typed name is logged only if it is a user's: a mistyped
		// password in the username field must not reach the log.
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPassword, Username: known,
			Client: clientOf(lf.c), Error: "wrong_credentials"})
		s.renderLogin(w, r, http.StatusUnauthorized, lf, "Wrong username or password.")
		return
	}
	s.loginLimits.succeed(u.Username, ip, now)
	s.completeLogin(w, r, lf, u, amrPassword, "")
}

// directoryLogin checks a password with a directory (a password
// connector), and signs the person in as the directory's user.
func (s *Server) directoryLogin(w http.ResponseWriter, r *http.Request, lf loginForm, pw string) {
	p, ok := s.provider(lf.idp)
	if !ok || p.Password == nil {
		s.errorPage(w, r, http.StatusBadRequest, "There is no such way to sign in here.")
		return
	}
	now := s.now()
	ip := s.cfg.ClientIP(r)
	// The name is limited as a local user's is, whether or not the
	// directory has it (which only the directory knows), so that
	// guesses spread over many addresses or over spellings the
	// directory takes as one name stop here: before the directory's own
	// lockout, if it has one, locks the account out for everyone.
	name := directoryLimitKey(p.Name, lf.username)
	if wait, ok := s.loginLimits.attempt(name, ip, now); !ok {
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Client: clientOf(lf.c), Error: "rate_limited"})
		s.renderLogin(w, r, http.StatusTooManyRequests, lf, fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
		return
	}
	id, ok, err := p.Password.Login(r.Context(), lf.username, pw)
	if refused, isRefused := connector.IsRefused(err); isRefused {
		s.logger.Info("sign-in refused by the provider's allow-list", zap.String("provider", p.Name), zap.String("reason", refused.Reason))
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Client: clientOf(lf.c), Error: "not_allowed"})
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here", Error: refused.Reason,
			Message: "Ask the people who run this site for access, or sign in with another account."})
		return
	}
	if err != nil {
		s.logFailure("checking a password with a directory", err, zap.String("provider", p.Name))
		s.renderLogin(w, r, http.StatusServiceUnavailable, lf, p.DisplayName+" cannot be reached right now. Try again later.")
		return
	}
	if !ok {
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Client: clientOf(lf.c), Error: "wrong_credentials"})
		s.renderLogin(w, r, http.StatusUnauthorized, lf, "Wrong username or password.")
		return
	}
	s.loginLimits.succeed(name, ip, now)
	s.finishProviderLogin(w, r, p, id, amrPassword, lf)
}

// directoryLimitKey is the failure limiter's key of a username typed for
// the directory provider: the spellings a directory takes as one name
// (LDAP compares uids without regard to case, surrounding spaces and
// repeated inner ones) are one key, and no key is a local username
// (which has no colon).
func directoryLimitKey(provider, username string) string {
	return "idp:" + provider + ":" + strings.ToLower(strings.Join(strings.Fields(username), " "))
}

// finishLogin signs u in with amr (through provider, if not empty) and
// continues where the sign-in began: the pending request (the new session
// satisfies prompt=login and max_age), a local page, or a page saying so.
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, lf loginForm, u *User, amr []string, provider string) {
	sess, err := s.startSession(w, r, u, amr)
	if err != nil {
		s.failurePage(w, r, "starting session", err, "You could not be signed in.")
		return
	}
	if !s.passwordUnchanged(w, r, u, sess) {
		return
	}
	s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeSuccess, Method: signInMethod(provider, amr), Username: u.Username,
		Subject: u.ID, Client: clientOf(lf.c)})
	if lf.req != nil {
		if err := s.signedInFor(r.Context(), lf.handle, lf.req, sess); err != nil {
			s.failurePage(w, r, "recording the sign-in on the request", err, "You could not be signed in.")
			return
		}
	}
	s.continueSignedIn(w, r, lf, sess, u)
}

// continueSignedIn goes on, with the session sess of u, where the sign-in
// began: the pending request, a local page, or a page saying so.
func (s *Server) continueSignedIn(w http.ResponseWriter, r *http.Request, lf loginForm, sess *session, u *User) {
	switch {
	case lf.req != nil:
		s.continueAuthorization(w, r, lf.handle, lf.req, lf.c, sess, u)
	case lf.returnTo != "":
		http.Redirect(w, r, lf.returnTo, http.StatusSeeOther)
	default:
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Signed in", Message: "You are signed in as " + u.Username + "."})
	}
}

// passwordUnchanged reports whether the stored password u signed in with
// is still the user's now that the session is stored. A change in
// between (an operator ending a leaked password's sign-ins) revoked the
// user's sessions before this one existed: it is ended here, and the
// page says so. The change stores the new hash before it revokes, so
// either this check sees it or the revocation sees this session.
func (s *Server) passwordUnchanged(w http.ResponseWriter, r *http.Request, u *User, sess *session) bool {
	if u.storedHash == "" {
		return true // a configured user, or one without a password here
	}
	rec, err := s.cfg.Store.GetUser(r.Context(), u.ID)
	if err == nil && rec.PasswordHash == u.storedHash && !rec.Disabled {
		return true
	}
	if err := s.cfg.Store.RevokeToken(r.Context(), store.Session, sess.id, s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.logger.Error("ending a session whose user changed", zapErr(err))
	}
	s.cookies.clear(w, s.cookies.session)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.logFailure("checking the user after signing in", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
	case err == nil && rec.PasswordHash != u.storedHash:
		s.logger.Info("sign-in ended: the password changed meanwhile", zapUser(u.Username))
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Username: u.Username, Subject: u.ID, Error: "password_changed"})
		s.errorPage(w, r, http.StatusConflict, "Your password was changed while you were signing in. Sign in again with the new one.")
	default: // disabled or deleted meanwhile
		s.logger.Info("sign-in ended: the user was disabled or deleted meanwhile", zapUser(u.Username))
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Username: u.Username, Subject: u.ID, Error: "user_disabled"})
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here",
			Error: "This account is disabled.", Message: "Ask the people who run this site for access."})
	}
	return false
}

// renderLogin shows the sign-in page, for the pending request of lf if
// there is one: the identity providers to continue with, and the password
// form for the password sources there are.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, lf loginForm, msg string) {
	p := ui.Page{Title: "Sign in", Action: s.prefix + pathLogin, CSRFToken: s.csrfToken(w, r), Error: msg, Username: lf.username, Hidden: map[string]string{}}
	if lf.c != nil && lf.req != nil {
		p.Client = appInfo(lf.c, lf.req)
	} else {
		// Signing in to this server itself (its device page, say).
		p.Client = &ui.Client{Name: s.cfg.ProductName, Host: redirectHost(s.issuer)}
	}
	if lf.handle != "" {
		p.Hidden["request"] = lf.handle
	}
	if lf.returnTo != "" {
		p.Hidden["return_to"] = lf.returnTo
	}
	var directories []ui.Option
	for _, idp := range s.cfg.IdentityProviders {
		if idp.Redirect != nil {
			p.Providers = append(p.Providers, ui.Provider{Name: idp.Name, DisplayName: idp.DisplayName, URL: s.startURL(idp.Name, lf.handle, lf.returnTo)})
		} else {
			directories = append(directories, ui.Option{Value: idp.Name, Label: idp.DisplayName, Selected: idp.Name == lf.idp})
		}
	}
	// This server's own accounts are offered when someone has one, or
	// when there is no other way to sign in at all.
	if s.localAccounts.exist(r, s) || len(p.Providers) == 0 && len(directories) == 0 {
		p.PasswordSources = append(p.PasswordSources, ui.Option{Value: "", Label: s.cfg.ProductName + " account", Selected: lf.idp == ""})
	}
	p.PasswordSources = append(p.PasswordSources, directories...)
	p.NoPasswordForm = len(p.PasswordSources) == 0
	if p.WebAuthn = s.beginPasskeySignIn(w); p.WebAuthn != nil {
		p.Script = s.scriptURL()
	}
	s.templates.Render(w, "login", status, p)
}

// localAccountCheck remembers for a minute whether anyone can sign in
// with a local account, which decides whether the sign-in page shows the
// password form when identity providers are offered.
type localAccountCheck struct {
	mu     sync.Mutex
	until  time.Time
	exists bool
}

func (l *localAccountCheck) exist(r *http.Request, s *Server) bool {
	if len(s.users.config) > 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := s.now()
	if now.Before(l.until) {
		return l.exists
	}
	users, err := s.cfg.Store.ListUsers(r.Context())
	if err != nil {
		s.logger.Error("listing users", zapErr(err))
		return true // show the form rather than hide a way in
	}
	l.exists = false
	for _, u := range users {
		if u.Provider == "" && u.PasswordHash != "" && !u.Disabled {
			l.exists = true
			break
		}
	}
	l.until = now.Add(time.Minute)
	return l.exists
}

// maxReturnTo bounds return_to, which a sign-in at a provider keeps in a
// cookie.
const maxReturnTo = 1024

// localPath reports whether p is a path on this server under the
// issuer's path, safe to redirect to after signing in, and not too long.
func (s *Server) localPath(p string) bool {
	if p == "" || len(p) > maxReturnTo || !strings.HasPrefix(p, s.prefix+"/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
