package authserver

import (
	"context"
	"net/http"
	"strings"
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
		s.writeError(w, r, oauthError(ErrUnsupportedGrantType, "this server does not support that grant type"))
		return
	}
	if !c.AllowsGrant(gt) {
		s.writeError(w, r, oauthError(ErrUnauthorizedClient, "the client may not use the "+gt+" grant"))
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

// clientCredentialsGrant issues an access token to the client itself
// (RFC 6749 §4.4). No refresh token is issued (§4.4.3).
func (s *Server) clientCredentialsGrant(ctx context.Context, f form, c *Client) (*tokenResponse, *Error) {
	if c.Public {
		return nil, oauthError(ErrUnauthorizedClient, "a public client cannot use client credentials")
	}
	scope, e := grantScope(f.get("scope"), c.Scopes)
	if e != nil {
		return nil, e
	}
	aud, e := s.grantAudience(f.all("resource"), c)
	if e != nil {
		return nil, e
	}
	raw, lifetime, err := s.issueAccessToken(ctx, issuedToken{client: c, subject: c.ID, scope: scope, audience: aud})
	if err != nil {
		return nil, serverError(err)
	}
	return &tokenResponse{
		AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(lifetime.Seconds()),
		Scope: strings.Join(scope, " "),
	}, nil
}
