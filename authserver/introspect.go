package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/authgate/authgate/authserver/store"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// presentedToken is a token found in the store from its presented form.
type presentedToken struct {
	record store.Token
	// claims are set for JWT access tokens.
	claims *AccessTokenClaims
	// user is the access token's user, for a user's token.
	user *User
}

// findToken resolves a presented token to its record, trying the hinted
// kind first but never trusting the hint (RFC 7662 §2.1). ok is false for
// a token this server does not know.
func (s *Server) findToken(ctx context.Context, raw, hint string) (presentedToken, bool, error) {
	finders := []func(context.Context, string) (presentedToken, bool, error){s.findAccessToken, s.findRefreshToken}
	if hint == hintRefreshToken {
		slices.Reverse(finders)
	}
	for _, find := range finders {
		pt, ok, err := find(ctx, raw)
		if err != nil || ok {
			return pt, ok, err
		}
	}
	return presentedToken{}, false, nil
}

// findAccessToken resolves a JWT access token of this server to its
// record. A token of a user who can no longer sign in is returned revoked.
func (s *Server) findAccessToken(ctx context.Context, raw string) (presentedToken, bool, error) {
	claims, err := s.verifyAccessTokenSignature(ctx, raw)
	if err != nil {
		return presentedToken{}, false, nil
	}
	rec, err := s.cfg.Store.GetToken(ctx, store.AccessToken, claims.ID)
	if errors.Is(err, store.ErrNotFound) {
		return presentedToken{}, false, nil
	}
	if err != nil {
		return presentedToken{}, false, err
	}
	pt := presentedToken{record: rec, claims: claims}
	if rec.FamilyID != "" {
		u, ok, err := s.users.lookup(ctx, rec.Subject)
		if err != nil {
			return presentedToken{}, false, err
		}
		if ok {
			pt.user = u
		} else if rec.RevokedAt.IsZero() {
			pt.record.RevokedAt = s.now()
		}
	}
	return pt, true, nil
}

// introspection is an RFC 7662 §2.2 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  any    `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	ID        string `json:"jti,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	// AuthTime, ACR and AMR say when and how the user signed in, for a
	// user's token.
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// handleIntrospect is the introspection endpoint (RFC 7662). Only
// confidential clients may call it. A caller sees a token's details if
// the token was issued to it, names it in its audience, or the caller may
// introspect any token; to other callers every token is inactive.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	f, caller, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	if caller.Public {
		s.writeError(w, r, &Error{Code: codeInvalidClient, Description: "a public client cannot introspect tokens", Status: http.StatusUnauthorized})
		return
	}
	raw := f.get("token")
	if raw == "" {
		s.writeError(w, r, invalidRequest("token is missing"))
		return
	}
	pt, ok, err := s.findToken(r.Context(), raw, f.get("token_type_hint"))
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	noStore(w)
	if !ok || !pt.record.Active(s.now()) {
		s.emitFrom(r, Event{Name: EventIntrospection, Outcome: "inactive", Client: caller.ID})
		writeJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	// A caller not entitled to the token learns only active:false (RFC
	// 7662 §2.2).
	resp := introspection{Active: false}
	if caller.IntrospectAny || pt.record.ClientID == caller.ID || (pt.claims != nil && slices.Contains(pt.claims.Audience, caller.ID)) {
		resp = introspection{
			Active:   true,
			ClientID: pt.record.ClientID,
			Subject:  pt.record.Subject,
			Issuer:   s.issuer,
			Expiry:   pt.record.ExpiresAt.Unix(),
			IssuedAt: pt.record.IssuedAt.Unix(),
		}
		if pt.record.Kind == store.RefreshToken {
			var d refreshData
			if json.Unmarshal(pt.record.Data, &d) == nil {
				resp.Scope = strings.Join(d.Scope, " ")
				resp.AuthTime, resp.ACR, resp.AMR = d.AuthTime, acrOf(d.AMR), d.AMR
			}
		}
		if c := pt.claims; c != nil {
			resp.Scope, resp.ID, resp.TokenType = c.Scope, c.ID, "Bearer"
			resp.AuthTime, resp.ACR, resp.AMR = c.AuthTime, c.ACR, c.AMR
			resp.Audience = []string(c.Audience)
			if len(c.Audience) == 1 {
				resp.Audience = c.Audience[0]
			}
		}
	}
	e := Event{Name: EventIntrospection, Outcome: "inactive", Client: caller.ID}
	if resp.Active {
		e.Outcome, e.JTI = "active", resp.ID
	}
	s.emitFrom(r, e)
	writeJSON(w, http.StatusOK, resp)
}
