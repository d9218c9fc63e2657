package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/authgate/authgate/authserver/store"
)

// RevokeBy names what [Server.RevokeTokens] revokes by.
type RevokeBy string

// The ways to pick the records [Server.RevokeTokens] revokes.
const (
	// RevokeByClient revokes every record issued to the client ID:
	// access and refresh tokens, codes, consents.
	RevokeByClient RevokeBy = "client"
	// RevokeBySubject revokes every record of the subject (a user's sub or
	// a client's ID): sessions, gateway sessions, tokens, codes, consents.
	RevokeBySubject RevokeBy = "subject"
	// RevokeByJTI revokes the one access token with the jti.
	RevokeByJTI RevokeBy = "jti"
)

// ErrTokenNotFound means no access token has the jti given to
// [Server.RevokeTokens].
var ErrTokenNotFound = errors.New("no access token has that jti")

// RevokeTokens revokes the records that by and value pick, for an
// operator, and returns how many were not revoked before. The revocations
// are announced at once to this instance's gateways and caches, and reach
// other instances sharing the store at their next poll of the revocation
// feed. An empty value is refused; RevokeByJTI of an unknown jti is
// [ErrTokenNotFound], and of a token already revoked counts 0.
func (s *Server) RevokeTokens(ctx context.Context, by RevokeBy, value string) (int64, error) {
	if value == "" {
		return 0, fmt.Errorf("revoking by %s: no value given", by)
	}
	now := s.now()
	var (
		n   int64
		err error
	)
	switch by {
	case RevokeByClient:
		n, err = s.cfg.Store.RevokeClientTokens(ctx, value, now)
	case RevokeBySubject:
		n, err = s.cfg.Store.RevokeSubjectTokens(ctx, value, now)
	case RevokeByJTI:
		var rec store.Token
		rec, err = s.cfg.Store.GetToken(ctx, store.AccessToken, value)
		if errors.Is(err, store.ErrNotFound) {
			return 0, ErrTokenNotFound
		}
		if err == nil && rec.RevokedAt.IsZero() {
			err = s.cfg.Store.RevokeToken(ctx, store.AccessToken, value, now)
			n = 1
		}
	default:
		return 0, fmt.Errorf("revoking by %q: want client, subject or jti", by)
	}
	if err != nil {
		return 0, fmt.Errorf("revoking by %s: %w", by, err)
	}
	if n > 0 {
		s.revoked(ctx)
	}
	e := Event{Name: EventTokenRevoked, Outcome: OutcomeSuccess, Method: "admin", Count: int(n)}
	switch by {
	case RevokeByClient:
		e.Client = value
	case RevokeBySubject:
		e.Subject = value
	case RevokeByJTI:
		e.JTI = value
	}
	s.emitCtx(ctx, e)
	return n, nil
}
