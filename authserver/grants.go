package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// userGrant is a grant made to a user's client, from which the token
// response is built.
type userGrant struct {
	client   *Client
	user     *User
	familyID string
	// scope is the access and ID tokens' scope.
	scope []string
	// grantScope is the whole grant's scope, which a refresh token keeps
	// even when a refresh narrows the access token (RFC 6749 §6); nil
	// means scope.
	grantScope []string
	audience   []string
	authTime   int64
	amr        []string
	nonce      string
	// sid is the login session the grant was made in, if any.
	sid string
	// refreshExpiry is the family's absolute end; zero to start a family.
	refreshExpiry time.Time
	// spend, if set, names the single-use record the grant spends in the
	// same write that stores the new tokens; spendFailed answers if it
	// could not be spent (store.ErrConsumed, ErrInactive or ErrNotFound,
	// with the record).
	spend       *store.Spend
	spendFailed func(rec store.Token, err error) *Error
}

// respond issues the access token, a refresh token when the client may
// have one, and an ID token for openid. The new tokens' records are stored
// in one write, together with the spending of g.spend's record if the
// grant names one (see store.TokenStore.IssueTokens); if the record could
// not be spent, nothing is stored and g.spendFailed answers.
func (s *Server) respond(ctx context.Context, g userGrant) (*tokenResponse, *Error) {
	at, err := s.mintAccessToken(ctx, issuedToken{
		client: g.client, subject: g.user.ID, scope: g.scope, audience: g.audience, familyID: g.familyID,
		authTime: g.authTime, amr: g.amr,
	})
	if err != nil {
		return nil, serverError(err)
	}
	records := []store.Token{at.record}
	resp := &tokenResponse{AccessToken: at.raw, TokenType: "Bearer", ExpiresIn: int64(at.lifetime.Seconds()), Scope: strings.Join(g.scope, " "),
		subject: g.user.ID, jti: at.jti}
	if g.grantScope == nil {
		g.grantScope = g.scope
	}
	if g.client.AllowsGrant(GrantRefreshToken) && (g.client.IssueRefreshTokens || slices.Contains(g.grantScope, "offline_access")) {
		now := s.now()
		expiry := g.refreshExpiry
		if expiry.IsZero() {
			expiry = now.Add(s.cfg.RefreshTokenLifetime)
		}
		rt := refreshTokenPrefix + randomID(32)
		data, _ := json.Marshal(refreshData{Scope: g.grantScope, Audience: g.audience, AuthTime: g.authTime, AMR: g.amr, SID: g.sid})
		records = append(records, store.Token{
			Kind: store.RefreshToken, ID: hashID(rt), FamilyID: g.familyID, ClientID: g.client.ID,
			Subject: g.user.ID, Data: data, IssuedAt: now, ExpiresAt: expiry,
		})
		resp.RefreshToken = rt
	}
	if slices.Contains(g.scope, "openid") {
		id, err := s.issueIDToken(ctx, idTokenInput{
			client: g.client, user: g.user, scope: g.scope, nonce: g.nonce,
			authTime: g.authTime, amr: g.amr, accessToken: at.raw, sid: g.sid,
		})
		if err != nil {
			return nil, serverError(err)
		}
		resp.IDToken = id
	}
	spent, err := s.cfg.Store.IssueTokens(ctx, g.spend, records)
	switch {
	case g.spend != nil && (errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrInactive) || errors.Is(err, store.ErrNotFound)):
		return nil, g.spendFailed(spent, err)
	case err != nil:
		return nil, serverError(fmt.Errorf("recording tokens: %w", err))
	}
	return resp, nil
}

// unlessReplayed closes the window between spending a code or refresh
// token and storing what it bought: if a replay revoked the record in the
// meantime, the new tokens, stored after that revocation, are revoked too.
func (s *Server) unlessReplayed(ctx context.Context, kind store.TokenKind, spent store.Token, resp *tokenResponse) (*tokenResponse, *Error) {
	now, err := s.cfg.Store.GetToken(ctx, kind, spent.ID)
	if err != nil {
		return nil, serverError(err)
	}
	if now.RevokedAt.IsZero() {
		return resp, nil
	}
	if _, err := s.cfg.Store.RevokeFamily(context.WithoutCancel(ctx), spent.FamilyID, s.now()); err != nil {
		return nil, serverError(err)
	}
	s.revoked(ctx)
	return nil, oauthError(codeInvalidGrant, "the grant was revoked while it was being redeemed")
}
