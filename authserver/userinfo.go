package authserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/authgate/authgate/authserver/bearer"
)

// bearerError answers a protected resource request per RFC 6750 §3: the
// error goes in WWW-Authenticate.
func (s *Server) bearerError(w http.ResponseWriter, status int, code, description, scope string) {
	w.Header().Set("WWW-Authenticate", s.challenge(code, description, scope))
	noStore(w)
	body := map[string]string{}
	if code != "" {
		body["error"], body["error_description"] = code, description
	}
	writeJSON(w, status, body)
}

// challenge is the server's Bearer challenge (RFC 6750 §3), its realm the
// issuer.
func (s *Server) challenge(code, description, scope string) string {
	return bearer.Challenge{Realm: s.issuer, Error: code, Description: description, Scope: scope}.String()
}

// handleUserInfo is the OpenID Connect UserInfo endpoint (OIDC Core §5.3):
// the claims the token's scopes release about its user.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	raw, err := bearer.FromHeader(r.Header, s.cfg.UserinfoBareToken)
	switch {
	case err != nil:
		s.bearerError(w, http.StatusBadRequest, codeInvalidRequest, err.Error(), "")
		return
	case raw == "":
		s.bearerError(w, http.StatusUnauthorized, "", "", "")
		return
	}
	info, err := s.VerifyAccessToken(r.Context(), raw)
	if errors.Is(err, ErrInvalidToken) {
		s.bearerError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", "")
		return
	}
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	u := info.User
	if u == nil {
		// Client credentials tokens have no user behind them.
		s.bearerError(w, http.StatusUnauthorized, "invalid_token", "the access token was not issued for a user", "")
		return
	}
	scope := strings.Fields(info.Claims.Scope)
	if !slices.Contains(scope, "openid") {
		s.bearerError(w, http.StatusForbidden, "insufficient_scope", "the access token lacks the openid scope", "openid")
		return
	}
	out := userClaims(u, scope)
	out["sub"] = u.ID
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}
