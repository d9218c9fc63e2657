package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/authgate/authgate/authserver/store"
)

// OAuth error codes (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2): the
// "error" member of a response, unexported since only this package writes
// them. Codes one endpoint alone answers sit beside it.
const (
	codeInvalidRequest       = "invalid_request"
	codeInvalidClient        = "invalid_client"
	codeInvalidGrant         = "invalid_grant"
	codeUnauthorizedClient   = "unauthorized_client"
	codeUnsupportedGrantType = "unsupported_grant_type"
	codeInvalidScope         = "invalid_scope"
	codeInvalidTarget        = "invalid_target"
	codeServerError          = "server_error"
	// codeTemporarilyUnavailable is RFC 6749 §4.1.2.1's code for a server
	// that cannot serve now, which the token endpoint's errors borrow
	// for the same reason.
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// retryAfter is the Retry-After (seconds) sent with every answer that the
// store is unavailable: about as long as a database takes to restart or
// fail over, short enough that clients come back soon after.
const retryAfter = "5"

// storeUnavailable reports whether err says the store cannot serve now
// ([store.ErrUnavailable]), which makes a failure a 503 to try again
// rather than a 500.
func storeUnavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }

// Error is an OAuth error response as a value: handlers return it and one
// function writes it. Description is shown to the client, so it never
// carries internal detail; that goes to the log through cause.
type Error struct {
	Code        string
	Description string
	// Status is the HTTP status; 400 if zero.
	Status int
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

func oauthError(code, description string) *Error {
	return &Error{Code: code, Description: description}
}

func invalidRequest(description string) *Error { return oauthError(codeInvalidRequest, description) }

// serverError hides cause from the client and keeps it for the log. It
// is the one place that turns a store failure into an answer: a cause
// that is [store.ErrUnavailable] gives 503 temporarily_unavailable with
// Retry-After, since the request may succeed once the database is back;
// any other gives 500 server_error.
func serverError(cause error) *Error {
	if storeUnavailable(cause) {
		return &Error{Code: codeTemporarilyUnavailable, Description: "the server is temporarily unable to handle the request; try again later",
			Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {retryAfter}}, cause: cause}
	}
	return &Error{Code: codeServerError, Description: "the server could not complete the request", Status: http.StatusInternalServerError, cause: cause}
}

// noStore marks a response as never to be cached (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away
}

// writeError writes e as an RFC 6749 §5.2 error response and logs what
// the client is not shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if status >= 500 {
		s.logError(r, e)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// RFC 9110 §15.5.2: every 401 carries a challenge.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.issuer))
	}
	noStore(w)
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	writeJSON(w, status, body)
}
