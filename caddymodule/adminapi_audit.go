package caddymodule

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// adminAction names the action an admin request asks for, the Method of
// its admin event (as the CLI's commands are named): "" for a request
// that only reads, or that names no action.
func adminAction(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/authgate/tokens/revoke":
		return "tokens.revoke"
	case r.Method == http.MethodPost && p == sessionsRevokePath:
		return "sessions.revoke"
	case r.Method == http.MethodPost && p == "/authgate/keys/rotate":
		return "keys.rotate"
	case r.Method == http.MethodPost && p == "/authgate/registration-tokens":
		return "registration_tokens.issue"
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/authgate/gateway-sessions/"):
		return "gateway_sessions.end"
	case r.Method == http.MethodPost && r.URL.EscapedPath() == usersPath:
		return "users.add"
	case r.Method == http.MethodPatch && strings.HasPrefix(p, usersPath+"/"):
		return "users.update"
	case r.Method == http.MethodDelete && strings.HasPrefix(p, usersPath+"/"):
		return "users.delete"
	}
	return ""
}

// action names what a user change does, as the CLI's commands do: a
// password alone is "users.passwd", disabling or enabling alone
// "users.disable" or "users.enable", anything else "users.update".
func (p userPatch) action() string {
	switch {
	case p == userPatch{Password: p.Password}:
		return "users.passwd"
	case p == userPatch{Disabled: p.Disabled} && *p.Disabled:
		return "users.disable"
	case p == userPatch{Disabled: p.Disabled}:
		return "users.enable"
	}
	return "users.update"
}

// adminRemoteIP is the address an admin request came from: the host of
// its remote address, or the address as it is (a Unix socket's).
func adminRemoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// adminErrorCode is a refused admin request's error in a word, from its
// HTTP status: "not_found", "conflict", "internal_server_error".
func adminErrorCode(err error) string {
	status := http.StatusInternalServerError
	var apiErr caddy.APIError
	if errors.As(err, &apiErr) && apiErr.HTTPStatus != 0 {
		status = apiErr.HTTPStatus
	}
	if text := http.StatusText(status); text != "" {
		return strings.ReplaceAll(strings.ToLower(text), " ", "_")
	}
	return "error"
}

// auditedWriter writes an admin action's event as the answer starts, so
// that it is in the audit log before the caller has the answer, or when
// the handler returns without one (an error, which Caddy writes).
type auditedWriter struct {
	http.ResponseWriter
	audit   func(error)
	audited bool
}

// done writes the event if the answer has not started: err is the
// handler's error.
func (w *auditedWriter) done(err error) {
	if !w.audited {
		w.audited = true
		w.audit(err)
	}
}

// WriteHeader writes the event, refused for an error status, then the
// header.
func (w *auditedWriter) WriteHeader(status int) {
	var err error
	if status >= http.StatusBadRequest {
		err = caddy.APIError{HTTPStatus: status}
	}
	w.done(err)
	w.ResponseWriter.WriteHeader(status)
}

// Write writes the event, done, then b.
func (w *auditedWriter) Write(b []byte) (int, error) {
	w.done(nil)
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *auditedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
