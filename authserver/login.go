package authserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/authserver/ui"
)

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
	if s.users.isLocal(r.Context(), username) {
		known = username
	}
	if wait, ok := s.loginLimits.attempt(known, ip, now); !ok {
		s.renderLogin(w, r, http.StatusTooManyRequests, c, req, handle, username, returnTo,
			fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
		return
	}
	u, ok, err := s.users.authenticate(r.Context(), username, pw)
	if err != nil {
		s.logger.Error("checking a password", zapErr(err))
		s.errorPage(w, r, http.StatusServiceUnavailable, "You could not be signed in. Try again later.")
		return
	}
	if !ok {
		// The typed name is logged only if it is a user's: a mistyped
		// password in the username field must not reach the log.
		s.logger.Info("sign-in failed", zapUser(known), zapIP(ip))
		s.renderLogin(w, r, http.StatusUnauthorized, c, req, handle, username, returnTo, "Wrong username or password.")
		return
	}
	s.loginLimits.succeed(u.Username, ip, now)
	sess, err := s.startSession(w, r, u, amrPassword)
	if err != nil {
		s.logger.Error("starting session", zapErr(err))
		s.errorPage(w, r, http.StatusInternalServerError, "You could not be signed in.")
		return
	}
	s.logger.Info("signed in", zapUser(u.Username), zapIP(ip))
	switch {
	case req != nil:
		// The new session satisfies prompt=login and max_age.
		if err := s.signedInFor(r.Context(), handle, req, sess); err != nil {
			s.logger.Error("recording the sign-in on the request", zapErr(err))
			s.errorPage(w, r, http.StatusInternalServerError, "You could not be signed in.")
			return
		}
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
