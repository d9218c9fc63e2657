package authserver

import (
	"net/http"

	"github.com/authgate/authgate/authserver/ui"
)

// handleLanding is the page at the issuer's own path: what this server
// is, and links to signing in (or out), the device page and the
// discovery document, rather than a blank page or a 404 for someone who
// types the address in.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) {
	p := ui.Page{
		Title:   "Sign-in service",
		Message: s.cfg.ProductName + " signs you in to the applications and sites that use it. You usually arrive here from one of them.",
	}
	if sess, user := s.currentSession(r); sess != nil {
		p.SignedInAs = user.Username
		p.Links = append(p.Links, ui.Link{URL: s.prefix + pathAccount, Text: "Your account", Note: "Your password, two-step verification, where you are signed in and the apps you allowed."})
		p.Links = append(p.Links, ui.Link{URL: s.prefix + pathLogout, Text: "Sign out", Note: "Sign out of every application you signed in to here."})
	} else {
		p.Links = append(p.Links, ui.Link{URL: s.prefix + pathLogin, Text: "Sign in", Note: "Sign in here without going through an application."})
	}
	p.Links = append(p.Links,
		ui.Link{URL: s.prefix + pathDevice, Text: "Connect a device", Note: "Enter the code a TV, a command-line tool or another device shows you."},
		ui.Link{URL: s.prefix + pathOIDCConfig, Text: "Server metadata", Note: "For developers: the OpenID Connect discovery document."},
	)
	s.templates.Render(w, "landing", http.StatusOK, p)
}
