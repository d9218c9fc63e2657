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
}

// grantHandler handles one grant type for an authenticated client that
// may use it.
type grantHandler func(ctx context.Context, f form, c *Client) (*tokenResponse, *Error)

// handleToken is the token endpoint (RFC 6749 §3.2): the phases every
// grant shares, then the grant's own handler.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	f, c, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	gt := f.get("grant_type")
	if gt == "" {
		s.writeError(w, r, invalidRequest("grant_type is missing"))
		return
	}
	grant, ok := s.grants[gt]
	if !ok {
		s.writeError(w, r, oauthError(codeUnsupportedGrantType, "this server does not support that grant type"))
		return
	}
	if !c.AllowsGrant(gt) {
		s.writeError(w, r, oauthError(codeUnauthorizedClient, "the client may not use the "+gt+" grant"))
		return
	}
	resp, e := grant(r.Context(), f, c)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}
