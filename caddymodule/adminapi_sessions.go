package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver"
)

// The admin API's sign-in sessions: GET /authgate/sessions[?subject=S]
// and POST /authgate/sessions/revoke (see AdminAPI).

const (
	sessionsPath       = "/authgate/sessions"
	sessionsRevokePath = "/authgate/sessions/revoke"
)

// sessionsRevokeRequest is the body of POST /authgate/sessions/revoke:
// exactly one member.
type sessionsRevokeRequest struct {
	// Session is a session's ID as GET /authgate/sessions shows it.
	Session string `json:"session,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// listSessions answers GET /authgate/sessions.
func (a *AdminAPI) listSessions(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, http.MethodGet)
	}
	sessions, err := a.app.server.ListSessions(r.Context(), r.URL.Query().Get("subject"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, http.StatusOK, sessions)
}

// revokeSessions answers POST /authgate/sessions/revoke with {"ended": n};
// 404 for an unknown session ID.
func (a *AdminAPI) revokeSessions(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, http.MethodPost)
	}
	var req sessionsRevokeRequest
	if err := decodeUserBody(w, r, &req); err != nil {
		return err
	}
	if (req.Session == "") == (req.Subject == "") {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`give exactly one of "session" and "subject"`)}
	}
	n, err := a.app.server.EndSessions(r.Context(), req.Session, req.Subject)
	if errors.Is(err, authserver.ErrSessionNotFound) {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	a.app.logger.Info("sign-in sessions ended by the operator", a.via(), zap.Bool("by_subject", req.Subject != ""), zap.Int("ended", n))
	return writeJSON(w, http.StatusOK, map[string]int{"ended": n})
}
