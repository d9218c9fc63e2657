package authserver

import (
	"context"
	"strings"
)

// clientCredentialsGrant issues an access token to the client itself
// (RFC 6749 §4.4). No refresh token is issued (§4.4.3).
func (s *Server) clientCredentialsGrant(ctx context.Context, f form, c *Client) (*tokenResponse, *Error) {
	if c.Public {
		return nil, oauthError(codeUnauthorizedClient, "a public client cannot use client credentials")
	}
	scope, e := grantScope(f.get("scope"), c.Scopes)
	if e != nil {
		return nil, e
	}
	aud, e := s.grantAudience(f.all("resource"), c)
	if e != nil {
		return nil, e
	}
	at, err := s.issueAccessToken(ctx, issuedToken{client: c, subject: c.ID, scope: scope, audience: aud})
	if err != nil {
		return nil, serverError(err)
	}
	return &tokenResponse{
		AccessToken: at.raw, TokenType: "Bearer", ExpiresIn: int64(at.lifetime.Seconds()),
		Scope: strings.Join(scope, " "), subject: c.ID, jti: at.jti,
	}, nil
}
