package authserver

import (
	"context"
	"net/http"
)

// tokenResponse is a successful token endpoint response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`

	// subject and jti are the access token's, for the audit event.
	subject, jti string
}

// grantHandler handles one grant type for an authenticated client that
// may use it.
type grantHandler func(ctx context.Context, f form, c *Client) (*tokenResponse, *Error)

// handleToken is the token endpoint (RFC 6749 §3.2): the phases every
// grant shares, then the grant's own handler. Every answer is an event:
// token.issued, or token.error with the OAuth error code.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	f, c, e := s.authenticatedRequest(w, r)
	gt := f.get("grant_type")
	grant, supported := s.grants[gt]
	ev := Event{Name: EventTokenError, Client: clientOf(c)}
	if supported {
		// Only a grant type this server has names the event: what a
		// client sends is not a metric label.
		ev.Method = gt
	}
	switch {
	case e != nil:
	case gt == "":
		e = invalidRequest("grant_type is missing")
	case !supported:
		e = oauthError(codeUnsupportedGrantType, "this server does not support that grant type")
	case !c.AllowsGrant(gt):
		e = oauthError(codeUnauthorizedClient, "the client may not use the "+gt+" grant")
	}
	var resp *tokenResponse
	if e == nil {
		resp, e = grant(s.eventContext(r), f, c)
	}
	if e != nil {
		ev.Error = e.Code
		s.emitFrom(r, ev)
		s.writeError(w, r, e)
		return
	}
	ev.Name, ev.Subject, ev.JTI = EventTokenIssued, resp.subject, resp.jti
	s.emitFrom(r, ev)
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}
