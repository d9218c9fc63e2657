package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// refreshTokenPrefix marks refresh tokens, so they can be told from JWTs
// and found by secret scanners.
const refreshTokenPrefix = "ag_rt_"

// refreshData is what a refresh token carries from one use to the next.
type refreshData struct {
	Scope    []string `json:"scope"`
	Audience []string `json:"aud"`
	AuthTime int64    `json:"auth_time"`
	AMR      []string `json:"amr,omitempty"`
	SID      string   `json:"sid,omitempty"`
}

// refreshTokenGrant exchanges a refresh token (RFC 6749 §6). A request
// that fails its checks leaves the token usable. Each use
// rotates it; using a rotated token again revokes the whole family (RFC
// 9700 §4.14.2). The scope may narrow, never widen; the family's absolute
// lifetime does not grow.
func (s *Server) refreshTokenGrant(ctx context.Context, f form, c *Client) (*tokenResponse, *Error) {
	raw := f.get("refresh_token")
	if raw == "" {
		return nil, invalidRequest("refresh_token is missing")
	}
	now := s.now()
	id := hashID(raw)
	rec, err := s.cfg.Store.GetToken(ctx, store.RefreshToken, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauthError(codeInvalidGrant, "the refresh token is invalid")
	case err != nil:
		return nil, serverError(err)
	case rec.ClientID != c.ID:
		return nil, oauthError(codeInvalidGrant, "the refresh token was issued to another client")
	case !rec.ConsumedAt.IsZero():
		return nil, s.refreshReused(ctx, rec, now)
	case !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt):
		return nil, oauthError(codeInvalidGrant, "the refresh token has expired or was revoked")
	}
	var d refreshData
	if json.Unmarshal(rec.Data, &d) != nil {
		return nil, serverError(errors.New("damaged refresh token record"))
	}
	scope := d.Scope
	if requested := f.get("scope"); requested != "" {
		want, e := grantScope(requested, d.Scope)
		if e != nil {
			return nil, oauthError(codeInvalidScope, "a refresh cannot widen the scope")
		}
		scope = want
	}
	u, ok, err := s.users.lookup(ctx, rec.Subject)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		if _, err := s.cfg.Store.RevokeFamily(context.WithoutCancel(ctx), rec.FamilyID, now); err != nil {
			return nil, serverError(err)
		}
		s.revoked(ctx)
		return nil, oauthError(codeInvalidGrant, "the user can no longer sign in")
	}
	if !hasMFA(d.AMR) && s.mfaRequired(u, nil, c) {
		// A second factor became required (for the client or the user)
		// since the grant: the user signs in again, with one.
		return nil, oauthError(codeInvalidGrant, "a second factor is required: the user must sign in again")
	}
	// Checks passed: the token is spent in the same write that stores the
	// new ones. Of two concurrent uses one wins; the other is a reuse. A
	// token revoked since it was read (a replay elsewhere, a password
	// change) buys nothing.
	return s.respond(ctx, userGrant{
		client: c, user: u, familyID: rec.FamilyID, scope: scope, grantScope: d.Scope, audience: d.Audience,
		authTime: d.AuthTime, amr: d.AMR, refreshExpiry: rec.ExpiresAt, sid: d.SID,
		spend: &store.Spend{Kind: store.RefreshToken, ID: id, At: now},
		spendFailed: func(rec store.Token, err error) *Error {
			if errors.Is(err, store.ErrConsumed) {
				return s.refreshReused(ctx, rec, now)
			}
			return oauthError(codeInvalidGrant, "the refresh token has expired or was revoked")
		},
	})
}

// refreshReused answers the use of a spent refresh token by revoking its
// whole family (RFC 9700 §4.14.2).
func (s *Server) refreshReused(ctx context.Context, rec store.Token, now time.Time) *Error {
	if _, err := s.cfg.Store.RevokeFamily(context.WithoutCancel(ctx), rec.FamilyID, now); err != nil {
		return serverError(err)
	}
	s.revoked(ctx)
	s.logger.Warn("refresh token reused; revoked its family", zapClient(rec.ClientID))
	s.emitCtx(ctx, Event{Name: EventRefreshReuse, Client: rec.ClientID, Subject: rec.Subject})
	return oauthError(codeInvalidGrant, "the refresh token was already used")
}

func (s *Server) findRefreshToken(ctx context.Context, raw string) (presentedToken, bool, error) {
	if !strings.HasPrefix(raw, refreshTokenPrefix) || len(raw) > 256 {
		return presentedToken{}, false, nil
	}
	rec, err := s.cfg.Store.GetToken(ctx, store.RefreshToken, hashID(raw))
	if errors.Is(err, store.ErrNotFound) {
		return presentedToken{}, false, nil
	}
	if err != nil {
		return presentedToken{}, false, err
	}
	return presentedToken{record: rec}, true, nil
}
