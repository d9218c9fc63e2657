package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// consentData is what a remembered consent holds.
type consentData struct {
	Scope []string `json:"scope"`
}

func consentID(clientID, subject string) string { return hashID(clientID + "\x00" + subject) }

// needsConsent reports whether the user must approve the request:
// first-party clients never ask, prompt=consent always asks, otherwise a
// remembered consent must cover every requested scope.
func (s *Server) needsConsent(ctx context.Context, req *authzRequest, c *Client, u *User) bool {
	if req.prompts("consent") {
		return true
	}
	if c.SkipConsent {
		return false
	}
	rec, err := s.cfg.Store.GetToken(ctx, store.Consent, consentID(c.ID, u.Username))
	if err != nil || !rec.Active(s.now()) {
		return true
	}
	var d consentData
	if json.Unmarshal(rec.Data, &d) != nil {
		return true
	}
	for _, sc := range req.Scope {
		if !slices.Contains(d.Scope, sc) {
			return true
		}
	}
	return false
}

// rememberConsent stores (or widens) a user's consent for a client.
func (s *Server) rememberConsent(ctx context.Context, c *Client, u *User, scope []string) error {
	now := s.now()
	id := consentID(c.ID, u.Username)
	merge := func(t store.Token) (store.Token, error) {
		var d consentData
		json.Unmarshal(t.Data, &d) //nolint:errcheck // a damaged record is replaced
		if !t.Active(now) {
			d.Scope = nil
		}
		for _, sc := range scope {
			if !slices.Contains(d.Scope, sc) {
				d.Scope = append(d.Scope, sc)
			}
		}
		t.Data, _ = json.Marshal(d)
		t.IssuedAt, t.ExpiresAt, t.RevokedAt = now, now.Add(s.cfg.ConsentLifetime), time.Time{}
		return t, nil
	}
	_, err := s.cfg.Store.UpdateToken(ctx, store.Consent, id, merge)
	if errors.Is(err, store.ErrNotFound) {
		t, _ := merge(store.Token{Kind: store.Consent, ID: id, ClientID: c.ID, Subject: u.Username})
		err = s.cfg.Store.CreateToken(ctx, t)
		if errors.Is(err, store.ErrAlreadyExists) {
			_, err = s.cfg.Store.UpdateToken(ctx, store.Consent, id, merge)
		}
	}
	return err
}

// readPageForm reads a page's POST form and checks its CSRF token. On
// failure it answers and reports false.
func (s *Server) readPageForm(w http.ResponseWriter, r *http.Request) (form, bool) {
	f, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
	if e != nil {
		status := e.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.errorPage(w, r, status, "The form could not be read: "+e.Description+".")
		return nil, false
	}
	if !s.checkCSRF(r, f) {
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{
			Title: "Something went wrong", Error: "This form has expired or did not come from this site.",
			Message: "Go back, reload the page and try again.",
		})
		return nil, false
	}
	return f, true
}

// handleLogin serves the sign-in page. A POST signs the user in and
// continues the pending authorization request, or returns to a local
// page (return_to), or says the user is signed in.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		returnTo := r.URL.Query().Get("return_to")
		if !s.localPath(returnTo) {
			returnTo = ""
		}
		s.renderLogin(w, r, http.StatusOK, nil, nil, "", "", returnTo, "")
		return
	}
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	handle, returnTo := f.get("request"), f.get("return_to")
	var req *authzRequest
	var c *Client
	if handle != "" {
		if req, c, ok = s.loadPending(r.Context(), handle); !ok {
			s.errorPage(w, r, http.StatusBadRequest, "This sign-in request has expired or was already completed.")
			return
		}
	} else if returnTo != "" && !s.localPath(returnTo) {
		returnTo = ""
	}
	username, pw := f.get("username"), f.get("password")
	now := s.now()
	ip := s.cfg.ClientIP(r)
	known := ""
	if _, exists := s.users.byName[username]; exists {
		known = username
	}
	if wait, ok := s.loginLimits.attempt(known, ip, now); !ok {
		s.renderLogin(w, r, http.StatusTooManyRequests, c, req, handle, username, returnTo,
			fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
		return
	}
	u, ok := s.users.authenticate(username, pw)
	if !ok {
		// The typed name is logged only if it is a user's: a mistyped
		// password in the username field must not reach the log.
		s.logger.Info("sign-in failed", zapUser(known), zapIP(ip))
		s.renderLogin(w, r, http.StatusUnauthorized, c, req, handle, username, returnTo, "Wrong username or password.")
		return
	}
	s.loginLimits.succeed(u.Username, ip, now)
	sess, err := s.startSession(w, r, u)
	if err != nil {
		s.logger.Error("starting session", zapErr(err))
		s.errorPage(w, r, http.StatusInternalServerError, "You could not be signed in.")
		return
	}
	s.logger.Info("signed in", zapUser(u.Username), zapIP(ip))
	switch {
	case req != nil:
		// The new session satisfies prompt=login and max_age.
		s.continueAuthorization(w, r, handle, req, c, sess, u)
	case returnTo != "":
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
	default:
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Signed in", Message: "You are signed in as " + u.Username + "."})
	}
}

// renderLogin shows the sign-in page again, for the pending request req
// of client c if there is one.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, c *Client, req *authzRequest, handle, username, returnTo, msg string) {
	p := ui.Page{Title: "Sign in", Action: s.prefix + pathLogin, CSRFToken: s.csrfToken(w, r), Error: msg, Username: username, Hidden: map[string]string{}}
	if c != nil && req != nil {
		p.Client = clientInfo(c, req.RedirectURI)
	}
	if handle != "" {
		p.Hidden["request"] = handle
	}
	if returnTo != "" {
		p.Hidden["return_to"] = returnTo
	}
	s.templates.Render(w, "login", status, p)
}

// localPath reports whether p is a path on this server under the
// issuer's path, safe to redirect to after signing in.
func (s *Server) localPath(p string) bool {
	if p == "" || !strings.HasPrefix(p, s.prefix+"/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// handleConsent records the user's decision on the consent page.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	handle := f.get("request")
	req, c, ok := s.loadPending(r.Context(), handle)
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "This request has expired or was already completed.")
		return
	}
	sess, user := s.currentSession(r)
	if sess == nil || s.needsLogin(req, sess) {
		s.continueAuthorization(w, r, handle, req, c, sess, user)
		return
	}
	switch f.get("decision") {
	case "approve":
		if f.get("remember") == "yes" {
			if err := s.rememberConsent(r.Context(), c, user, req.Scope); err != nil {
				s.logger.Error("remembering consent", zapErr(err))
			}
		}
		s.issueCode(w, r, handle, req, c, sess)
	case "deny":
		s.failPending(w, r, handle, req, ErrAccessDenied, "the user denied the request")
	default:
		s.errorPage(w, r, http.StatusBadRequest, "The form did not say whether to allow or deny.")
	}
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes())+1)
}
