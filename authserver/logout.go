package authserver

import (
	"net/http"
	"net/url"

	"github.com/authgate/authgate/authserver/ui"
)

// handleLogout is OpenID Connect RP-initiated logout: the end session
// endpoint. With an id_token_hint of the signed-in user, the user is
// signed out at once; otherwise a page asks. A post_logout_redirect_uri
// must be registered for the client the hint or client_id names, and
// gets state back.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var f form
	if r.Method == http.MethodPost {
		posted, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
		if e != nil {
			s.errorPage(w, r, http.StatusBadRequest, "The sign-out request is malformed.")
			return
		}
		if _, confirming := posted["decision"]; !confirming {
			// An application's POST (RP-Initiated Logout §2 allows it).
			// The session cookie is SameSite=Lax, so a cross-site POST
			// does not carry it: continue as the same request by GET,
			// which does.
			http.Redirect(w, r, s.prefix+pathLogout+"?"+url.Values(posted).Encode(), http.StatusSeeOther)
			return
		}
		if !s.checkCSRF(r, posted) {
			s.templates.Render(w, "message", http.StatusForbidden, ui.Page{
				Title: "Something went wrong", Error: "This form has expired or did not come from this site.",
				Message: "Go back, reload the page and try again.",
			})
			return
		}
		f = posted
	} else {
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "The sign-out request is malformed.")
			return
		}
		for _, vs := range values {
			if len(vs) > 1 {
				s.errorPage(w, r, http.StatusBadRequest, "The sign-out request repeats a parameter.")
				return
			}
		}
		f = form(values)
	}
	clientID := f.get("client_id")
	var hint *IDTokenClaims
	if raw := f.get("id_token_hint"); raw != "" {
		var err error
		if hint, err = s.verifyIDTokenHint(r.Context(), raw); err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "The id_token_hint is not a valid ID token from this server.")
			return
		}
		if clientID != "" && clientID != hint.ClientID() {
			s.errorPage(w, r, http.StatusBadRequest, "client_id does not match the id_token_hint.")
			return
		}
		clientID = hint.ClientID()
	}
	var c *Client
	if clientID != "" {
		var err error
		if c, err = s.lookupClient(r.Context(), clientID); err != nil || c == nil {
			s.errorPage(w, r, http.StatusBadRequest, "The application is not registered here.")
			return
		}
	}
	redirect := f.get("post_logout_redirect_uri")
	if redirect != "" && (c == nil || !redirectURIMatches(c.PostLogoutRedirectURIs, redirect)) {
		s.errorPage(w, r, http.StatusBadRequest, "The post_logout_redirect_uri is not registered for this application.")
		return
	}
	state := f.get("state")
	done := func() {
		if redirect != "" {
			s.redirectWithParams(w, r, redirect, url.Values{"state": {state}})
			return
		}
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Signed out", Message: "You are signed out."})
	}
	sess, user := s.currentSession(r)
	switch {
	case sess == nil:
		done()
	case r.Method == http.MethodPost && f.get("decision") == "logout",
		r.Method == http.MethodGet && hint != nil && hint.Subject == user.ID:
		s.endSession(w, r)
		s.logger.Info("signed out", zapUser(user.Username))
		done()
	case r.Method == http.MethodPost:
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Still signed in", Message: "You are still signed in as " + user.Username + "."})
	default:
		hidden := map[string]string{}
		for _, k := range []string{"post_logout_redirect_uri", "state"} {
			if v := f.get(k); v != "" {
				hidden[k] = v
			}
		}
		if clientID != "" {
			hidden["client_id"] = clientID
		}
		p := ui.Page{Title: "Sign out?", Action: s.prefix + pathLogout, CSRFToken: s.csrfToken(w, r), SignedInAs: user.Username, Hidden: hidden}
		if c != nil {
			p.Client = clientInfo(c, "")
		}
		s.templates.Render(w, "logout", http.StatusOK, p)
	}
}
