package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
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
}

// respond issues the access token, a refresh token when the client may
// have one, and an ID token for openid.
func (s *Server) respond(ctx context.Context, g userGrant) (*tokenResponse, *Error) {
	raw, lifetime, err := s.issueAccessToken(ctx, issuedToken{
		client: g.client, subject: g.user.Username, scope: g.scope, audience: g.audience, familyID: g.familyID,
	})
	if err != nil {
		return nil, serverError(err)
	}
	resp := &tokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(lifetime.Seconds()), Scope: strings.Join(g.scope, " ")}
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
		err := s.cfg.Store.CreateToken(ctx, store.Token{
			Kind: store.RefreshToken, ID: hashID(rt), FamilyID: g.familyID, ClientID: g.client.ID,
			Subject: g.user.Username, Data: data, IssuedAt: now, ExpiresAt: expiry,
		})
		if err != nil {
			return nil, serverError(err)
		}
		resp.RefreshToken = rt
	}
	if slices.Contains(g.scope, "openid") {
		id, err := s.issueIDToken(ctx, idTokenInput{
			client: g.client, user: g.user, scope: g.scope, nonce: g.nonce,
			authTime: g.authTime, amr: g.amr, accessToken: raw, sid: g.sid,
		})
		if err != nil {
			return nil, serverError(err)
		}
		resp.IDToken = id
	}
	return resp, nil
}

// authorizationCodeGrant redeems a code (RFC 6749 §4.1.3, RFC 7636 §4.6).
// A code is single use: redeeming it again revokes everything issued
// from it (RFC 6749 §4.1.2).
func (s *Server) authorizationCodeGrant(ctx context.Context, f form, c *Client) (*tokenResponse, *Error) {
	code := f.get("code")
	if code == "" {
		return nil, invalidRequest("code is missing")
	}
	verifier := f.get("code_verifier")
	if verifier != "" && !validVerifierSyntax(verifier) {
		return nil, invalidRequest("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	now := s.now()
	rec, err := s.cfg.Store.ConsumeToken(ctx, store.AuthorizationCode, hashID(code), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauthError(ErrInvalidGrant, "the code is invalid")
	case errors.Is(err, store.ErrConsumed):
		if _, err := s.cfg.Store.RevokeFamily(ctx, rec.FamilyID, now); err != nil {
			return nil, serverError(err)
		}
		s.revoked(ctx)
		s.logger.Warn("authorization code replayed; revoked its tokens", zapClient(c.ID))
		return nil, oauthError(ErrInvalidGrant, "the code was already used")
	case err != nil:
		return nil, serverError(err)
	case !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt):
		return nil, oauthError(ErrInvalidGrant, "the code has expired")
	case rec.ClientID != c.ID:
		return nil, oauthError(ErrInvalidGrant, "the code was issued to another client")
	}
	var d codeData
	if json.Unmarshal(rec.Data, &d) != nil {
		return nil, serverError(errors.New("damaged authorization code record"))
	}
	req := d.Request
	if redirect := f.get("redirect_uri"); redirect != req.RedirectURI && (req.RedirectGiven || redirect != "") {
		return nil, oauthError(ErrInvalidGrant, "redirect_uri differs from the authorization request")
	}
	if e := checkVerifier(req, verifier); e != nil {
		return nil, e
	}
	u, ok := s.users.lookup(rec.Subject)
	if !ok {
		return nil, oauthError(ErrInvalidGrant, "the user can no longer sign in")
	}
	resp, e := s.respond(ctx, userGrant{
		client: c, user: u, familyID: rec.FamilyID, scope: req.Scope, audience: req.Audience,
		authTime: d.AuthTime, amr: d.AMR, nonce: req.Nonce, sid: d.SID,
	})
	if e != nil {
		return nil, e
	}
	return s.unlessReplayed(ctx, store.AuthorizationCode, rec, resp)
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
	if _, err := s.cfg.Store.RevokeFamily(ctx, spent.FamilyID, s.now()); err != nil {
		return nil, serverError(err)
	}
	s.revoked(ctx)
	return nil, oauthError(ErrInvalidGrant, "the grant was revoked while it was being redeemed")
}

// checkVerifier checks the PKCE code_verifier against the challenge the
// code is bound to (RFC 7636 §4.6). A verifier sent for a code without a
// challenge is refused too (RFC 9700 §4.8.2).
func checkVerifier(req authzRequest, verifier string) *Error {
	switch {
	case req.CodeChallenge == "" && verifier == "":
		return nil
	case req.CodeChallenge == "":
		return oauthError(ErrInvalidGrant, "code_verifier sent for a request without code_challenge")
	case verifier == "":
		return invalidRequest("code_verifier is missing")
	}
	computed := verifier
	if req.CodeChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		computed = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(computed), []byte(req.CodeChallenge)) != 1 {
		return oauthError(ErrInvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
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
		return nil, oauthError(ErrInvalidGrant, "the refresh token is invalid")
	case err != nil:
		return nil, serverError(err)
	case rec.ClientID != c.ID:
		return nil, oauthError(ErrInvalidGrant, "the refresh token was issued to another client")
	case !rec.ConsumedAt.IsZero():
		return nil, s.refreshReused(ctx, rec, now)
	case !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt):
		return nil, oauthError(ErrInvalidGrant, "the refresh token has expired or was revoked")
	}
	var d refreshData
	if json.Unmarshal(rec.Data, &d) != nil {
		return nil, serverError(errors.New("damaged refresh token record"))
	}
	scope := d.Scope
	if requested := f.get("scope"); requested != "" {
		want, e := grantScope(requested, d.Scope)
		if e != nil {
			return nil, oauthError(ErrInvalidScope, "a refresh cannot widen the scope")
		}
		scope = want
	}
	u, ok := s.users.lookup(rec.Subject)
	if !ok {
		if _, err := s.cfg.Store.RevokeFamily(ctx, rec.FamilyID, now); err != nil {
			return nil, serverError(err)
		}
		s.revoked(ctx)
		return nil, oauthError(ErrInvalidGrant, "the user can no longer sign in")
	}
	// Checks passed: spend the token. Of two concurrent uses one wins; the
	// other is a reuse.
	if rec, err = s.cfg.Store.ConsumeToken(ctx, store.RefreshToken, id, now); errors.Is(err, store.ErrConsumed) {
		return nil, s.refreshReused(ctx, rec, now)
	} else if err != nil {
		return nil, serverError(err)
	}
	resp, e := s.respond(ctx, userGrant{
		client: c, user: u, familyID: rec.FamilyID, scope: scope, grantScope: d.Scope, audience: d.Audience,
		authTime: d.AuthTime, amr: d.AMR, refreshExpiry: rec.ExpiresAt, sid: d.SID,
	})
	if e != nil {
		return nil, e
	}
	return s.unlessReplayed(ctx, store.RefreshToken, rec, resp)
}

// refreshReused answers the use of a spent refresh token by revoking its
// whole family (RFC 9700 §4.14.2).
func (s *Server) refreshReused(ctx context.Context, rec store.Token, now time.Time) *Error {
	if _, err := s.cfg.Store.RevokeFamily(ctx, rec.FamilyID, now); err != nil {
		return serverError(err)
	}
	s.revoked(ctx)
	s.logger.Warn("refresh token reused; revoked its family", zapClient(rec.ClientID))
	return oauthError(ErrInvalidGrant, "the refresh token was already used")
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
