package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/authserver/store"
)

// This file is what the gateway uses in-process: verifying access tokens
// with the identity behind them, learning of revocations, verifying
// signatures for an OpenID Connect client, and pushing the gateway's own
// authorization requests.

// GatewayClientID is the built-in first-party client the gateway signs
// users in with. Its secret is generated once and kept in the store; it
// may use redirect URIs it pushed itself (RFC 9126 §2.4), since only the
// gateway, in the same process, can push them.
const GatewayClientID = "authgate-gateway"

const secretGatewayClient = "gateway-client-secret"

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
	jws, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
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

// GatewayClientSecret returns the built-in gateway client's secret.
func (s *Server) GatewayClientSecret() string { return s.gatewaySecret }

// PushGatewayRequest stores an authorization request of the built-in
// gateway client, as its authenticated PAR request would (RFC 9126), and
// returns the URL to send the browser to.
func (s *Server) PushGatewayRequest(ctx context.Context, params url.Values) (string, error) {
	params = cloneValues(params)
	params.Set("client_id", GatewayClientID)
	if _, _, e := s.validateAuthorize(ctx, form(params), true); e != nil {
		return "", fmt.Errorf("gateway authorization request: %s", e.Description)
	}
	uri, err := s.storePushedRequest(ctx, GatewayClientID, params)
	if err != nil {
		return "", err
	}
	return s.endpointURL(pathAuthorize) + "?" + url.Values{"client_id": {GatewayClientID}, "request_uri": {uri}}.Encode(), nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// newGatewayClient makes the built-in gateway client.
func newGatewayClient(secret string) *Client {
	return &Client{
		ID: GatewayClientID, Name: "this site", Secret: PlainSecret(secret),
		GrantTypes:  []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes:      []string{"openid", "profile", "email", "groups", "offline_access"},
		SkipConsent: true, IssueRefreshTokens: true, RequirePKCE: true, RequirePAR: true,
		TrustPushedRedirects: true,
	}
}

// SetGatewayRedirects sets what decides which redirect URIs the gateway
// client may push: those on the hosts the configuration's gateways
// protect. Until it is set, none.
func (s *Server) SetGatewayRedirects(allowed func(*url.URL) bool) {
	s.gatewayRedirect.Store(&allowed)
}

// trustedPushedRedirect reports whether a redirect URI the gateway client
// pushed itself is acceptable: absolute http(s), no fragment, query or
// credentials, and on a host of the configuration (never one a request
// named: RFC 9700 §4.1).
func (s *Server) trustedPushedRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Fragment != "" || u.RawQuery != "" || strings.ContainsAny(raw, "#?") {
		return false
	}
	allowed := s.gatewayRedirect.Load()
	return allowed != nil && (*allowed)(u)
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
		if _, ok := s.users.lookup(rec.Subject); !ok {
			return false, nil
		}
	}
	return rec.Active(s.now()), nil
}

// EndGatewaySession ends a gateway session on every instance: this one at
// once, the others through the revocation feed.
func (s *Server) EndGatewaySession(ctx context.Context, id string) error {
	err := s.cfg.Store.RevokeToken(ctx, store.GatewaySession, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ending a gateway session: %w", err)
	}
	s.revoked(ctx)
	return nil
}
