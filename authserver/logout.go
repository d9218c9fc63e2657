package authserver

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/loopback"
	"github.com/authgate/authgate/authserver/ui"
)

// handleLogout is OpenID Connect RP-initiated logout: the end session
// endpoint. With an id_token_hint of the signed-in user, the user is
// signed out at once; otherwise a page asks. A post_logout_redirect_uri
// must be registered for the client the hint or client_id names, and
// gets state back. The pages name the application and, when it is
// known, link back to it.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var f form
	if r.Method == http.MethodPost {
		posted, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
		if e != nil {
			s.logger.Info("sign-out request refused", zap.String("reason", e.Description))
			s.errorPage(w, r, http.StatusBadRequest, "The sign-out request could not be read.")
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
			s.formExpired(w)
			return
		}
		f = posted
	} else {
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "The sign-out link is damaged.")
			return
		}
		for _, vs := range values {
			if len(vs) > 1 {
				s.errorPage(w, r, http.StatusBadRequest, "The sign-out link is damaged.")
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
			s.logger.Info("sign-out request refused: the id_token_hint is not a valid ID token of this server", zapErr(err))
			s.errorPage(w, r, http.StatusBadRequest, "The application's sign-out request could not be checked: it does not come from a sign-in here.")
			return
		}
		if clientID != "" && clientID != hint.ClientID() {
			s.logger.Info("sign-out request refused: client_id does not match the id_token_hint", zapClient(clientID))
			s.errorPage(w, r, http.StatusBadRequest, "The sign-out request names another application than the one you signed in to.")
			return
		}
		clientID = hint.ClientID()
	}
	var c *Client
	if clientID != "" {
		var err error
		if c, err = s.lookupClient(r.Context(), clientID); err != nil || c == nil {
			s.logger.Info("sign-out request refused: unknown client_id", zapClient(clientID), zapErr(err))
			s.errorPage(w, r, http.StatusBadRequest, "This sign-in service does not know the application that sent you here.")
			return
		}
	}
	redirect := f.get("post_logout_redirect_uri")
	if redirect != "" && (c == nil || !redirectURIMatches(c.PostLogoutRedirectURIs, redirect)) {
		s.logger.Info("sign-out request refused: the post_logout_redirect_uri is not registered", zapClient(clientID))
		s.errorPage(w, r, http.StatusBadRequest, "The application asked to send you on to an address it has not registered, so the sign-out stopped to keep you safe.")
		return
	}
	// The gateway names the site being signed out of by its redirect
	// URI there, which must be one it could push.
	site := ""
	if c != nil && c.ID == GatewayClientID && s.trustedPushedRedirect(f.get(GatewaySiteParam)) {
		site = f.get(GatewaySiteParam)
	}
	info := s.logoutAppInfo(c, site, redirect)
	state := f.get("state")
	done := func() {
		if redirect != "" {
			s.redirectWithParams(w, r, redirect, url.Values{"state": {state}})
			return
		}
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Signed out", Message: "You are signed out.", Back: backLink(c, info, "", site)})
	}
	// A sign-out the store cannot record says so: telling the user they
	// are signed out while their session stays valid would leave it to
	// the next person at the browser.
	sess, user, err := s.loadSession(r)
	if err != nil {
		s.failurePage(w, r, "signing out", err, msgStillSignedIn)
		return
	}
	switch {
	case sess == nil:
		done()
	case r.Method == http.MethodPost && f.get("decision") == "logout",
		r.Method == http.MethodGet && hint != nil && hint.Subject == user.ID:
		if err := s.endSession(w, r); err != nil {
			s.failurePage(w, r, "signing out", err, msgStillSignedIn)
			return
		}
		s.emitFrom(r, Event{Name: EventSignOut, Method: "logout_endpoint", Username: user.Username, Subject: user.ID, Client: clientOf(c)})
		done()
	case r.Method == http.MethodPost:
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Still signed in", Message: "You are still signed in as " + user.Username + ".",
			Back: backLink(c, info, redirect, site)})
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
		if site != "" {
			hidden[GatewaySiteParam] = site
		}
		s.templates.Render(w, "logout", http.StatusOK, ui.Page{Title: "Sign out?", Action: s.prefix + pathLogout,
			CSRFToken: s.csrfToken(w, r), SignedInAs: user.Username, Hidden: hidden, Client: info})
	}
}

// msgStillSignedIn is the page of a sign-out the store could not record.
const msgStillSignedIn = "You are still signed in: the sign-out could not be completed."

// logoutAppInfo describes the application being signed out of, if any:
// a client, or the gateway's site when the gateway named one. A client
// that registered itself is shown with the host the sign-out sends the
// browser on to (postLogout), or else the one its redirect URIs share:
// its name is its own claim ("Your Bank"), and the host says who it is.
func (s *Server) logoutAppInfo(c *Client, site, postLogout string) *ui.Client {
	switch {
	case c == nil:
		return nil
	case c.ID == GatewayClientID && site == "":
		return nil
	case c.ID == GatewayClientID:
		return siteInfo("", redirectHost(site))
	}
	info := clientInfo(c, postLogout)
	if info.Unverified && info.Host == "" {
		info.Host = sharedHost(c.RedirectURIs)
	}
	return info
}

// sharedHost is the host (or private-use scheme) all the redirect URIs
// have, or "" if they have several.
func sharedHost(uris []string) string {
	host := ""
	for _, raw := range uris {
		h := redirectHost(raw)
		if h == "" || host != "" && h != host {
			return ""
		}
		host = h
	}
	return host
}

// backLink is the link of a sign-out page back to the application the
// user came from, when it is known: the origin of the
// post_logout_redirect_uri the application sent (for a page that does
// not go there itself), the gateway's site, or where the client lives.
func backLink(c *Client, info *ui.Client, postLogout, site string) *ui.Link {
	if c == nil || info == nil {
		return nil
	}
	target := postLogout
	switch {
	case target != "":
	case site != "":
		target = site
	case c.Host != "":
		target = "https://" + c.Host + "/"
	default:
		target = clientHome(c)
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil
	}
	name := info.Name
	if info.Unverified {
		// A name the client chose itself: say where the link goes.
		name = u.Host
	}
	return &ui.Link{URL: u.Scheme + "://" + u.Host + "/", Text: "Back to " + name}
}

// clientHome is the one web origin a configured client's redirect URIs
// share, as a URL, or "" if they have none (a native app's loopback or
// private-use scheme redirects) or several.
func clientHome(c *Client) string {
	home := ""
	for _, raw := range append(append([]string(nil), c.RedirectURIs...), c.PostLogoutRedirectURIs...) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || loopback.IsHost(u.Hostname()) {
			continue
		}
		origin := u.Scheme + "://" + u.Host + "/"
		if home != "" && home != origin {
			return ""
		}
		home = origin
	}
	return home
}
