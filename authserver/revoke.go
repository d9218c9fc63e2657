package authserver

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/authserver/store"
)

// handleRevoke is the revocation endpoint (RFC 7009). An unknown or
// invalid token is answered 200 (§2.2); a token of another client is
// refused without revoking it (§2.1). Revoking a token of a grant family,
// such as a refresh token, revokes the whole family.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, caller, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	raw := f.get("token")
	if raw == "" {
		s.writeError(w, r, invalidRequest("token is missing"))
		return
	}
	ctx := r.Context()
	pt, ok, err := s.findToken(ctx, raw, f.get("token_type_hint"))
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	if ok {
		if pt.record.ClientID != caller.ID {
			s.emitFrom(r, Event{Name: EventTokenRevoked, Outcome: OutcomeFailure, Method: "revocation_endpoint", Client: caller.ID, Error: codeUnauthorizedClient})
			s.writeError(w, r, oauthError(codeUnauthorizedClient, "the token was not issued to this client"))
			return
		}
		now := s.now()
		if pt.record.FamilyID != "" {
			_, err = s.cfg.Store.RevokeFamily(ctx, pt.record.FamilyID, now)
		} else {
			err = s.cfg.Store.RevokeToken(ctx, pt.record.Kind, pt.record.ID, now)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, serverError(err))
			return
		}
		e := Event{Name: EventTokenRevoked, Outcome: OutcomeSuccess, Method: "revocation_endpoint", Client: caller.ID, Subject: pt.record.Subject}
		if pt.claims != nil {
			// An access token's record ID is its jti; a refresh
			// token's is a hash of the token, which is not logged.
			e.JTI = pt.claims.ID
		}
		s.emitFrom(r, e)
		if pt.record.Kind == store.AccessToken && pt.record.FamilyID == "" {
			// It revoked this one token: no need to read what.
			s.announceRevoked([]string{pt.record.ID}, nil)
		} else {
			s.revoked(ctx)
		}
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}
