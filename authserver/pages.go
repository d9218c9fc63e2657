package authserver

import (
	"net/http"

	"github.com/authgate/authgate/authserver/ui"
)

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
