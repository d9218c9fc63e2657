package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/authserver/password"
)

// Grant type identifiers (RFC 6749, RFC 8628).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client authentication methods (RFC 7591 §2).
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// Client is a registered OAuth client.
type Client struct {
	// ID is the client_id.
	ID string
	// Name is shown to users.
	Name string
	// Public clients have no secret and authenticate with "none".
	Public bool
	// Secret authenticates a confidential client.
	Secret Secret
	// AuthMethod, if set, is the only authentication method the client may
	// use; otherwise a confidential client may use client_secret_basic or
	// client_secret_post.
	AuthMethod string
	// RedirectURIs are the exact redirect URIs the client may use.
	RedirectURIs []string
	// GrantTypes the client may use.
	GrantTypes []string
	// Scopes the client may request; a request without scope gets them all.
	Scopes []string
	// Audiences the client may request with the resource parameter; a
	// request without one gets them all, or the issuer if there are none.
	Audiences []string
	// AccessTokenLifetime overrides the server's default when not zero.
	AccessTokenLifetime time.Duration
	// IntrospectAny lets the client see the details of any token at the
	// introspection endpoint, as a resource server needs. Other clients
	// see details only of tokens issued to them or naming them in aud.
	IntrospectAny bool
	// RequirePKCE makes PKCE mandatory for a confidential client too
	// (it always is for public clients).
	RequirePKCE bool
	// AllowPlainPKCE accepts code_challenge_method=plain.
	AllowPlainPKCE bool
	// SkipConsent marks a first-party client: users are not asked to
	// approve it.
	SkipConsent bool
	// IssueRefreshTokens gives the client a refresh token without
	// offline_access (when it may use the refresh_token grant).
	IssueRefreshTokens bool
	// RequirePAR makes the client push its authorization requests.
	RequirePAR bool
	// PostLogoutRedirectURIs are where RP-initiated logout may return.
	PostLogoutRedirectURIs []string
	// Registered marks a client that registered itself (RFC 7591) rather
	// than one from configuration.
	Registered bool
	// Host is where the client lives, when known (its client_uri or
	// metadata document URL), shown on the consent page.
	Host string
	// TrustPushedRedirects lets the client use redirect URIs it pushed
	// itself through PAR without registering them (RFC 9126 §2.4). Only
	// the built-in gateway client has it.
	TrustPushedRedirects bool
}

// AllowsGrant reports whether the client may use grant type gt.
func (c *Client) AllowsGrant(gt string) bool { return slices.Contains(c.GrantTypes, gt) }

// Secret verifies presented client secrets: either a high-entropy secret
// kept only as its SHA-256, or an operator's bcrypt or argon2id hash.
type Secret struct {
	digest []byte
	hash   password.Hash
}

// PlainSecret keeps the SHA-256 of secret for constant-time comparison.
func PlainSecret(secret string) Secret {
	d := sha256.Sum256([]byte(secret))
	return Secret{digest: d[:]}
}

// HashedSecret parses a bcrypt or argon2id hash of a secret.
func HashedSecret(encoded string) (Secret, error) {
	h, err := password.Parse(encoded)
	if err != nil {
		return Secret{}, err
	}
	return Secret{hash: h}, nil
}

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.digest == nil && s.hash.IsZero() }

// secretCache remembers recent successful checks against slow hashes,
// keyed by a digest of client and presented secret, so that a busy client
// does not pay bcrypt on every request. Failures are never remembered.
type secretCache struct {
	mu      sync.Mutex
	entries map[[32]byte]time.Time
}

const (
	secretCacheTTL  = 10 * time.Minute
	secretCacheSize = 4096
)

func (s *Server) verifySecret(c *Client, presented string, now time.Time) bool {
	if c.Secret.digest != nil {
		d := sha256.Sum256([]byte(presented))
		return subtle.ConstantTimeCompare(d[:], c.Secret.digest) == 1
	}
	if c.Secret.hash.IsZero() {
		return false
	}
	key := sha256.Sum256([]byte(c.ID + "\x00" + presented))
	cache := &s.secretCache
	cache.mu.Lock()
	exp, ok := cache.entries[key]
	cache.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if !c.Secret.hash.Verify(presented) {
		return false
	}
	cache.mu.Lock()
	if cache.entries == nil || len(cache.entries) >= secretCacheSize {
		cache.entries = make(map[[32]byte]time.Time)
	}
	cache.entries[key] = now.Add(secretCacheTTL)
	cache.mu.Unlock()
	return true
}

// authenticateClient identifies and authenticates the client of a
// request to the token, introspection or revocation endpoint (RFC 6749
// §2.3). Exactly one method may be used.
func (s *Server) authenticateClient(r *http.Request, f form) (*Client, *Error) {
	id, secret, basic, credErr := s.clientCredentials(r, f)
	if credErr != nil {
		return nil, credErr
	}
	method := AuthMethodNone
	switch {
	case basic:
		method = AuthMethodBasic
	case secret != "":
		method = AuthMethodPost
	}
	fail := func(description string) *Error {
		e := &Error{Code: ErrInvalidClient, Description: description, Status: http.StatusUnauthorized}
		if basic {
			e.Header = http.Header{"Www-Authenticate": {fmt.Sprintf("Basic realm=%q", s.issuer)}}
		}
		return e
	}
	if id == "" {
		return nil, fail("client authentication is required")
	}
	now := s.now()
	ip := s.cfg.ClientIP(r)
	c, err := s.lookupClient(r.Context(), id)
	if err != nil {
		return nil, serverError(err)
	}
	known := ""
	if c != nil {
		known = c.ID
	}
	if _, ok := s.clientAuth.attempt(known, ip, now); !ok {
		e := fail("too many failed authentication attempts; try again later")
		e.Status = http.StatusTooManyRequests
		return nil, e
	}
	var e *Error
	switch {
	case c == nil:
		e = fail("client authentication failed")
	case c.Public:
		if method != AuthMethodNone {
			e = fail("a public client has no secret to present")
		}
	case method == AuthMethodNone:
		e = fail("this client must authenticate with its secret")
	case c.AuthMethod != "" && c.AuthMethod != method:
		e = fail("this client must authenticate with " + c.AuthMethod)
	case !s.verifySecret(c, secret, now):
		e = fail("client authentication failed")
	}
	if e != nil {
		s.logger.Info("client authentication failed", zapClient(known), zapIP(ip))
		return nil, e
	}
	s.clientAuth.succeed(c.ID, ip, now)
	return c, nil
}

// clientCredentials extracts the client id and secret from the
// Authorization header (form-decoded, RFC 6749 §2.3.1) or the body.
func (s *Server) clientCredentials(r *http.Request, f form) (id, secret string, basic bool, e *Error) {
	bodyID, bodySecret := f.get("client_id"), f.get("client_secret")
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return bodyID, bodySecret, false, nil
	}
	if len(r.Header.Values("Authorization")) > 1 {
		return "", "", false, invalidRequest("the Authorization header is repeated")
	}
	scheme, _, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", true, &Error{Code: ErrInvalidClient, Description: "client authentication must use the Basic scheme", Status: http.StatusUnauthorized}
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(rawID)
		secret, err2 = url.QueryUnescape(rawSecret)
		ok = err1 == nil && err2 == nil && id != ""
	}
	if !ok {
		return "", "", true, &Error{Code: ErrInvalidClient, Description: "the Basic credentials are malformed", Status: http.StatusUnauthorized,
			Header: http.Header{"Www-Authenticate": {fmt.Sprintf("Basic realm=%q", s.issuer)}}}
	}
	if bodySecret != "" {
		return "", "", true, invalidRequest("the client used more than one authentication method")
	}
	if bodyID != "" && bodyID != id {
		return "", "", true, invalidRequest("client_id in the body differs from the authenticated client")
	}
	return id, secret, true, nil
}

// clientRequest reads a POST form and authenticates its client, as the
// token, introspection and revocation endpoints all begin. On failure it
// writes the error response and reports false.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) (form, *Client, bool) {
	f, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
	if e == nil {
		var c *Client
		if c, e = s.authenticateClient(r, f); e == nil {
			return f, c, true
		}
	}
	s.writeError(w, r, e)
	return nil, nil, false
}
