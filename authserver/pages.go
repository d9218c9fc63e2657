package authserver

import (
	"net/http"

	"go.uber.org/zap"

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
		s.logger.Info("a page's form could not be read", zap.String("path", r.URL.Path), zap.String("reason", e.Description))
		s.templates.Render(w, "message", status, ui.Page{Title: "Something went wrong", Error: "The form could not be read.",
			Message: "Go back, reload the page and try again."})
		return nil, false
	}
	if !s.checkCSRF(r, f) {
		s.formExpired(w)
		return nil, false
	}
	return f, true
}

// formExpired answers a form whose CSRF token is missing or wrong.
func (s *Server) formExpired(w http.ResponseWriter) {
	s.templates.Render(w, "message", http.StatusForbidden, ui.Page{
		Title: "Something went wrong", Error: "This form has expired or did not come from this site.",
		Message: "Go back, reload the page and try again.",
	})
}
