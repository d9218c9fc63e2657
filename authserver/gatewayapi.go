package authserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
)

// This file is what the gateway uses in-process besides its sign-in client
// (gatewayclient.go): verifying access tokens with the identity behind
// them, verifying signatures, and the gateway's sessions.

// TokenInfo is a verified access token and, for a user's token, the user.
type TokenInfo struct {
	Claims AccessTokenClaims
	// User is set when the token was issued for a local user.
	User *User
}

// ErrInvalidToken means a bearer token is not a valid, active access
// token of this server.
var ErrInvalidToken = errors.New("authserver: invalid access token")

// VerifyAccessToken checks a bearer token: a JWT this server signed, not
// expired, and (one store lookup) neither revoked nor of a user who can no
// longer sign in.
func (s *Server) VerifyAccessToken(ctx context.Context, raw string) (*TokenInfo, error) {
	pt, ok, err := s.findAccessToken(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("looking up access token: %w", err)
	}
	if !ok || !pt.record.Active(s.now()) || s.now().Unix() >= pt.claims.Expiry {
		return nil, ErrInvalidToken
	}
	return &TokenInfo{Claims: *pt.claims, User: pt.user}, nil
}

// VerifySignature verifies a compact JWS with the published keys and
// returns its payload; with it the Server is a go-oidc KeySet, so an
// OpenID Connect client in the same process needs no JWKS fetch.
func (s *Server) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	if len(jwt) > maxTokenLength {
		return nil, errNotOurToken
	}
	jws, err := jose.ParseSigned(jwt, keys.SignatureAlgorithms())
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errNotOurToken
	}
	h := jws.Signatures[0].Header
	key, ok := s.cfg.Keys.VerificationKey(ctx, h.KeyID)
	if !ok || key.Algorithm != h.Algorithm {
		return nil, errNotOurToken
	}
	return jws.Verify(key)
}

// gatewaySessionFamily is the family of the gateway sessions signed in
// through one login session.
func gatewaySessionFamily(sid string) string { return "sid:" + sid }

// StartGatewaySession records a gateway sign-in session of subject that
// ends at until, and returns its ID. loginSID is the sid claim of the ID
// token the session began with, when it came from this server: signing
// out of that login session ends the gateway session too.
func (s *Server) StartGatewaySession(ctx context.Context, subject, loginSID string, until time.Time) (string, error) {
	now := s.now()
	rec := store.Token{Kind: store.GatewaySession, ID: randomID(24), ClientID: GatewayClientID, Subject: subject, IssuedAt: now, ExpiresAt: until}
	if loginSID != "" {
		rec.FamilyID = gatewaySessionFamily(loginSID)
	}
	if err := s.cfg.Store.CreateToken(ctx, rec); err != nil {
		return "", fmt.Errorf("storing a gateway session: %w", err)
	}
	return rec.ID, nil
}

// GatewaySessionActive reports whether a gateway session is neither ended
// nor expired, and, for one signed in at this server, whether its user can
// still sign in.
func (s *Server) GatewaySessionActive(ctx context.Context, id string) (bool, error) {
	rec, err := s.cfg.Store.GetToken(ctx, store.GatewaySession, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up a gateway session: %w", err)
	}
	if strings.HasPrefix(rec.FamilyID, gatewaySessionFamily("")) {
		if _, ok, err := s.users.lookup(ctx, rec.Subject); !ok {
			return false, err
		}
	}
	return rec.Active(s.now()), nil
}

// EndGatewaySession ends a gateway session on every instance: this one at
// once, the others through the revocation feed. The session leaves the
// family of its login session as it ends: a family with a revoked member
// has every record stored into it afterwards revoked (which ends the
// gateway sessions a gateway starts after the login session ended), and
// signing out of one site is not ending the sign-in, through which the
// person may sign in to that site again, or another.
func (s *Server) EndGatewaySession(ctx context.Context, id string) error {
	now := s.now()
	ended := false
	rec, err := s.cfg.Store.UpdateToken(ctx, store.GatewaySession, id, func(t store.Token) (store.Token, error) {
		ended = t.RevokedAt.IsZero()
		if ended {
			t.RevokedAt = now
		}
		t.FamilyID = ""
		return t, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ending a gateway session: %w", err)
	}
	s.revoked(ctx)
	if ended {
		s.emitCtx(ctx, Event{Name: EventSessionEnded, Method: "gateway", Subject: rec.Subject})
	}
	return nil
}
