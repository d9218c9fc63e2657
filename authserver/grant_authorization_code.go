package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/authgate/authgate/authserver/store"
)

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
		return nil, oauthError(codeInvalidGrant, "the code is invalid")
	case errors.Is(err, store.ErrConsumed):
		if _, err := s.cfg.Store.RevokeFamily(context.WithoutCancel(ctx), rec.FamilyID, now); err != nil {
			return nil, serverError(err)
		}
		s.revoked(ctx)
		s.logger.Warn("authorization code replayed; revoked its tokens", zapClient(c.ID))
		s.emitCtx(ctx, Event{Name: EventCodeReplay, Client: c.ID, Subject: rec.Subject})
		return nil, oauthError(codeInvalidGrant, "the code was already used")
	case err != nil:
		return nil, serverError(err)
	case !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt):
		return nil, oauthError(codeInvalidGrant, "the code has expired")
	case rec.ClientID != c.ID:
		return nil, oauthError(codeInvalidGrant, "the code was issued to another client")
	}
	var d codeData
	if json.Unmarshal(rec.Data, &d) != nil {
		return nil, serverError(errors.New("damaged authorization code record"))
	}
	req := d.Request
	if redirect := f.get("redirect_uri"); redirect != req.RedirectURI && (req.RedirectGiven || redirect != "") {
		return nil, oauthError(codeInvalidGrant, "redirect_uri differs from the authorization request")
	}
	if e := checkVerifier(req, verifier); e != nil {
		return nil, e
	}
	u, ok, err := s.users.lookup(ctx, rec.Subject)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, oauthError(codeInvalidGrant, "the user can no longer sign in")
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

// checkVerifier checks the PKCE code_verifier against the challenge the
// code is bound to (RFC 7636 §4.6). A verifier sent for a code without a
// challenge is refused too (RFC 9700 §4.8.2).
func checkVerifier(req authzRequest, verifier string) *Error {
	switch {
	case req.CodeChallenge == "" && verifier == "":
		return nil
	case req.CodeChallenge == "":
		return oauthError(codeInvalidGrant, "code_verifier sent for a request without code_challenge")
	case verifier == "":
		return invalidRequest("code_verifier is missing")
	}
	computed := verifier
	if req.CodeChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		computed = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(computed), []byte(req.CodeChallenge)) != 1 {
		return oauthError(codeInvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}
