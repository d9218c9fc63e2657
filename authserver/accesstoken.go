package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgate/authgate/authserver/bearer"
	"github.com/authgate/authgate/authserver/store"
)

// accessTokenType is the JWT typ of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// maxTokenLength bounds what is parsed as a presented token.
const maxTokenLength = 16 << 10

// AccessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2).
type AccessTokenClaims struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience jwt.Audience `json:"aud"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope,omitempty"`
	IssuedAt int64        `json:"iat"`
	Expiry   int64        `json:"exp"`
	ID       string       `json:"jti"`
	// AuthTime, ACR and AMR say when and how the user signed in (RFC
	// 9068 §2.2.1): ACR is "mfa" after a second factor, and absent, like
	// the others, for a client's own token.
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// accessTokenData is what the store keeps of an access token beyond its
// columns.
type accessTokenData struct {
	Scope    string   `json:"scope,omitempty"`
	Audience []string `json:"aud"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// randomID returns n random bytes, base64url-encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// newJTI returns an access token ID: 6 bytes of the issue time in
// milliseconds, then 10 random bytes, base64url (22 characters). With
// the time first, the IDs a busy server issues close together share
// their first characters and land together in the tokens' primary key,
// instead of on random pages of it: writes stay as fast with a million
// stored tokens as with a thousand. The 80 random bits keep IDs
// unguessable and unique. (The time is no secret: the token's iat says
// it.)
func newJTI(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:]) //nolint:errcheck // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// issuedToken is what a grant decided to issue.
type issuedToken struct {
	client   *Client
	subject  string
	scope    []string
	audience []string
	familyID string
	// authTime and amr say when and how the user signed in; zero for a
	// client's own token.
	authTime int64
	amr      []string
}

// mintedAccessToken is a signed JWT access token and the record that
// must be stored before it is handed out.
type mintedAccessToken struct {
	raw, jti string
	lifetime time.Duration
	record   store.Token
}

// issueAccessToken signs a JWT access token and records its jti, so that
// introspection and revocation work.
func (s *Server) issueAccessToken(ctx context.Context, it issuedToken) (mintedAccessToken, error) {
	m, err := s.mintAccessToken(ctx, it)
	if err != nil {
		return m, err
	}
	if err := s.cfg.Store.CreateToken(ctx, m.record); err != nil {
		return m, fmt.Errorf("recording access token: %w", err)
	}
	return m, nil
}

// mintAccessToken signs a JWT access token and builds its record, without
// storing it: the caller stores the record, with whatever else it issues,
// before the token leaves the server.
func (s *Server) mintAccessToken(ctx context.Context, it issuedToken) (mintedAccessToken, error) {
	now := s.now()
	lifetime := s.cfg.AccessTokenLifetime
	if it.client.AccessTokenLifetime > 0 {
		lifetime = it.client.AccessTokenLifetime
	}
	claims := AccessTokenClaims{
		Issuer:   s.issuer,
		Subject:  it.subject,
		Audience: jwt.Audience(it.audience),
		ClientID: it.client.ID,
		Scope:    strings.Join(it.scope, " "),
		IssuedAt: now.Unix(),
		Expiry:   now.Add(lifetime).Unix(),
		ID:       newJTI(now),
		AuthTime: it.authTime,
		ACR:      acrOf(it.amr),
		AMR:      it.amr,
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return mintedAccessToken{}, fmt.Errorf("encoding access token: %w", err)
	}
	data, err := json.Marshal(accessTokenData{Scope: claims.Scope, Audience: it.audience, AuthTime: it.authTime, AMR: it.amr})
	if err != nil {
		return mintedAccessToken{}, fmt.Errorf("encoding access token record: %w", err)
	}
	raw, err := s.cfg.Keys.Sign(ctx, payload, accessTokenType)
	if err != nil {
		return mintedAccessToken{}, fmt.Errorf("signing access token: %w", err)
	}
	return mintedAccessToken{raw: raw, jti: claims.ID, lifetime: lifetime, record: store.Token{
		Kind: store.AccessToken, ID: claims.ID, FamilyID: it.familyID, ClientID: it.client.ID,
		Subject: it.subject, Data: data, IssuedAt: now, ExpiresAt: time.Unix(claims.Expiry, 0),
	}}, nil
}

// verifyAccessTokenSignature checks that raw is a JWT access token this
// server signed (issuer, typ, a published key of the header's algorithm)
// and returns its claims. It does not check expiry or revocation: those
// come from the token's record, read on every call. A signature checked
// once is remembered (see signatureCache), so introspecting a token again
// costs no signature check while its key is still published.
func (s *Server) verifyAccessTokenSignature(ctx context.Context, raw string) (*AccessTokenClaims, error) {
	if len(raw) > maxTokenLength {
		return nil, errNotOurToken
	}
	key := bearer.CacheKey(raw)
	if claims, kid, ok := s.signatures.get(key); ok {
		if _, published := s.cfg.Keys.VerificationKey(ctx, kid); published {
			return claims, nil
		}
		s.signatures.remove(key)
	}
	var claims AccessTokenClaims
	kid, err := s.verifyJWTKey(ctx, raw, []string{accessTokenType}, &claims)
	if err != nil {
		return nil, err
	}
	if claims.Issuer != s.issuer || claims.ID == "" {
		return nil, errNotOurToken
	}
	s.signatures.put(key, &claims, kid, time.Unix(claims.Expiry, 0), s.now())
	return &claims, nil
}
