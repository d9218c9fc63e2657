package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// bearerError answers a protected resource request per RFC 6750 §3: the
// error goes in WWW-Authenticate.
func (s *Server) bearerError(w http.ResponseWriter, status int, code, description, scope string) {
	challenge := fmt.Sprintf("Bearer realm=%q", s.issuer)
	if code != "" {
		challenge += fmt.Sprintf(", error=%q, error_description=%q", code, description)
	}
	if scope != "" {
		challenge += fmt.Sprintf(", scope=%q", scope)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	noStore(w)
	body := map[string]string{}
	if code != "" {
		body["error"], body["error_description"] = code, description
	}
	writeJSON(w, status, body)
}

// bearerToken returns the access token of an Authorization: Bearer header
// (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, error) { return authorizationToken(r, false) }

// authorizationToken returns the access token of an Authorization header:
// Bearer, or with bare, a token alone ("Authorization: <token>", one word
// with no scheme).
func authorizationToken(r *http.Request, bare bool) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", errors.New("the Authorization header is repeated")
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if bare && !ok && scheme != "" && !strings.ContainsAny(scheme, "\t,") {
		return scheme, nil
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the Authorization header is not a Bearer token")
	}
	return strings.TrimSpace(token), nil
}

// handleUserInfo is the OpenID Connect UserInfo endpoint (OIDC Core §5.3):
// the claims the token's scopes release about its user.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	raw, err := authorizationToken(r, s.cfg.UserinfoBareToken)
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
	out["sub"] = u.Username
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}
