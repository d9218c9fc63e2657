package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// IDTokenClaims are the claims of an ID token (OIDC Core §2).
type IDTokenClaims struct {
	Issuer          string       `json:"iss"`
	Subject         string       `json:"sub"`
	Audience        jwt.Audience `json:"aud"`
	Expiry          int64        `json:"exp"`
	IssuedAt        int64        `json:"iat"`
	AuthTime        int64        `json:"auth_time,omitempty"`
	Nonce           string       `json:"nonce,omitempty"`
	AccessTokenHash string       `json:"at_hash,omitempty"`
	AuthorizedParty string       `json:"azp,omitempty"`
	// ACR is "mfa" when the user signed in with a second factor, absent
	// otherwise; AMR names the methods (RFC 8176).
	ACR               string   `json:"acr,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	// SessionID (sid) names the login session the token was issued in, so
	// that relying parties in this process can end their sessions with it.
	SessionID string `json:"sid,omitempty"`
}

// ClientID is the client the ID token was issued to.
func (c *IDTokenClaims) ClientID() string {
	if c.AuthorizedParty != "" {
		return c.AuthorizedParty
	}
	if len(c.Audience) > 0 {
		return c.Audience[0]
	}
	return ""
}

// userClaims fills the claims the granted scopes release (OIDC Core §5.4).
func userClaims(u *User, scope []string) map[string]any {
	out := map[string]any{}
	for _, sc := range scope {
		switch sc {
		case "profile":
			out["preferred_username"] = u.Username
			if u.Name != "" {
				out["name"] = u.Name
			}
		case "email":
			if u.Email != "" {
				out["email"] = u.Email
				out["email_verified"] = true
			}
		case "groups":
			out["groups"] = append([]string{}, u.Groups...)
		}
	}
	return out
}

// idTokenInput is what an ID token is made from.
type idTokenInput struct {
	client      *Client
	user        *User
	scope       []string
	nonce       string
	authTime    int64
	amr         []string
	accessToken string
	sid         string
}

// issueIDToken signs an ID token for the user and client.
func (s *Server) issueIDToken(ctx context.Context, in idTokenInput) (string, error) {
	now := s.now()
	c := IDTokenClaims{
		Issuer: s.issuer, Subject: in.user.ID, Audience: jwt.Audience{in.client.ID},
		Expiry: now.Add(s.cfg.IDTokenLifetime).Unix(), IssuedAt: now.Unix(), AuthTime: in.authTime,
		Nonce: in.nonce, AuthorizedParty: in.client.ID, ACR: acrOf(in.amr), AMR: in.amr, SessionID: in.sid,
	}
	if in.accessToken != "" {
		h, err := atHash(s.cfg.Keys.Algorithm(), in.accessToken)
		if err != nil {
			return "", err
		}
		c.AccessTokenHash = h
	}
	claims := userClaims(in.user, in.scope)
	if v, ok := claims["name"].(string); ok {
		c.Name = v
	}
	if v, ok := claims["preferred_username"].(string); ok {
		c.PreferredUsername = v
	}
	if v, ok := claims["email"].(string); ok {
		c.Email = v
	}
	if v, ok := claims["groups"].([]string); ok {
		c.Groups = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding ID token: %w", err)
	}
	return s.cfg.Keys.Sign(ctx, payload, "JWT")
}

// atHash is the left half of the access token's hash, with the hash of
// the signing algorithm (OIDC Core §3.1.3.6): SHA-256 for ES256 and RS256,
// SHA-512 for EdDSA with Ed25519.
func atHash(alg, accessToken string) (string, error) {
	var h hash.Hash
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256, jose.RS256:
		h = sha256.New()
	case jose.EdDSA:
		h = sha512.New()
	default:
		return "", fmt.Errorf("no at_hash for algorithm %s", alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

var errNotOurToken = errors.New("not a token of this server")

// verifyJWT checks that raw is a JWT this server signed, with one of the
// accepted typ headers, and decodes its claims into dst. Expiry is the
// caller's business.
func (s *Server) verifyJWT(ctx context.Context, raw string, typs []string, dst any) error {
	_, err := s.verifyJWTKey(ctx, raw, typs, dst)
	return err
}

// verifyJWTKey is verifyJWT that also returns the ID of the key that
// signed raw.
func (s *Server) verifyJWTKey(ctx context.Context, raw string, typs []string, dst any) (string, error) {
	if len(raw) > maxTokenLength || strings.Count(raw, ".") != 2 {
		return "", errNotOurToken
	}
	tok, err := jwt.ParseSigned(raw, keys.SignatureAlgorithms())
	if err != nil || len(tok.Headers) != 1 {
		return "", errNotOurToken
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	okTyp := false
	for _, t := range typs {
		okTyp = okTyp || strings.EqualFold(typ, t) || strings.EqualFold(typ, "application/"+t)
	}
	if !okTyp {
		return "", errNotOurToken
	}
	key, ok := s.cfg.Keys.VerificationKey(ctx, h.KeyID)
	if !ok || key.Algorithm != h.Algorithm {
		return "", errNotOurToken
	}
	if err := tok.Claims(key, dst); err != nil {
		return "", errNotOurToken
	}
	return h.KeyID, nil
}

// verifyIDTokenHint checks an id_token_hint: an ID token this server
// issued, possibly expired (OIDC RP-Initiated Logout §2).
func (s *Server) verifyIDTokenHint(ctx context.Context, raw string) (*IDTokenClaims, error) {
	var c IDTokenClaims
	if err := s.verifyJWT(ctx, raw, []string{"JWT"}, &c); err != nil {
		return nil, err
	}
	if c.Issuer != s.issuer || c.Subject == "" || len(c.Audience) == 0 {
		return nil, errNotOurToken
	}
	if time.Unix(c.Expiry, 0).Before(s.now().Add(-30 * 24 * time.Hour)) {
		return nil, errNotOurToken // too old to vouch for anything
	}
	return &c, nil
}
