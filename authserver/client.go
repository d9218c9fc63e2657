package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/authserver/loopback"
	"github.com/authgate/authgate/authserver/password"
)

// Grant type identifiers (RFC 6749, RFC 8628).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// knownGrants are the grant types this server implements.
var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}

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
	// RequireMFA makes users sign in to the client with a second
	// factor; a session signed in without one steps up first.
	RequireMFA bool
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

// Secret verifies presented client secrets: either a secret kept only as
// its SHA-256, or an operator's bcrypt or argon2id hash.
type Secret struct {
	digest []byte
	hash   password.Hash
	// strong marks a high-entropy secret, which guessing cannot find: the
	// failure limit never stops it (see authenticateClient).
	strong bool
}

// PlainSecret keeps the SHA-256 of secret for constant-time comparison.
// A long, varied secret (as `openssl rand -base64 32` makes) counts as
// high-entropy.
func PlainSecret(secret string) Secret {
	d := sha256.Sum256([]byte(secret))
	return Secret{digest: d[:], strong: highEntropy(secret)}
}

// minStrongSecretBits is how many bits, by highEntropy's estimate, make a
// secret one that online guessing cannot find.
const minStrongSecretBits = 128

// highEntropy estimates a secret's entropy as its length times the
// Shannon entropy of its own character frequencies, a deliberately low
// estimate for random strings (32 random base64 characters give about
// 150 bits) that gives little to repeated or short ones.
func highEntropy(secret string) bool {
	if len(secret) < 32 {
		return false
	}
	var counts [256]int
	for i := 0; i < len(secret); i++ {
		counts[secret[i]]++
	}
	n := float64(len(secret))
	var perChar float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			perChar -= p * math.Log2(p)
		}
	}
	return perChar*n >= minStrongSecretBits
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

// slowCheck is the outcome of one slow secret check: refused by the
// limit, or checked with err nil for a right secret.
type slowCheck struct {
	blocked bool
	wait    time.Duration
	err     *Error
}

// slowCheckFlights runs one slow secret check at a time per client,
// address and presented secret: callers that present the same while it
// runs share its outcome (each its own copy of the error).
type slowCheckFlights struct {
	mu      sync.Mutex
	running map[[sha256.Size]byte]*slowCheckFlight
}

type slowCheckFlight struct {
	done chan struct{}
	res  slowCheck
}

func (f *slowCheckFlights) do(key [sha256.Size]byte, check func() slowCheck) slowCheck {
	f.mu.Lock()
	if fl, ok := f.running[key]; ok {
		f.mu.Unlock()
		<-fl.done
		return fl.res.copy()
	}
	if f.running == nil {
		f.running = map[[sha256.Size]byte]*slowCheckFlight{}
	}
	fl := &slowCheckFlight{done: make(chan struct{})}
	f.running[key] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.running, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.res = check()
	return fl.res.copy()
}

// copy returns res with its own copy of the error, which its caller may
// change (its headers) while others read the shared one.
func (res slowCheck) copy() slowCheck {
	if res.err != nil {
		e := *res.err
		e.Header = res.err.Header.Clone()
		res.err = &e
	}
	return res
}

// quickSecretCheck reports whether checking presented for c takes no
// time: there is no such client, it is public, its secret is kept as a
// digest, or presented already passed its hash.
func (s *Server) quickSecretCheck(c *Client, presented string, now time.Time) bool {
	if c == nil || c.Public || c.Secret.digest != nil || c.Secret.hash.IsZero() {
		return true
	}
	return s.secretCache.passed(c.ID, presented, now)
}

func (s *Server) verifySecret(c *Client, presented string, now time.Time) bool {
	if c.Secret.digest != nil {
		d := sha256.Sum256([]byte(presented))
		return subtle.ConstantTimeCompare(d[:], c.Secret.digest) == 1
	}
	if c.Secret.hash.IsZero() {
		return false
	}
	if s.secretCache.passed(c.ID, presented, now) {
		return true
	}
	if !c.Secret.hash.Verify(presented) {
		return false
	}
	s.secretCache.remember(c.ID, presented, now)
	return true
}

// secretCacheKey is the cache key of a secret presented for a client.
func secretCacheKey(clientID, presented string) [32]byte {
	return sha256.Sum256([]byte(clientID + "\x00" + presented))
}

// passed reports whether presented passed clientID's hash check within
// secretCacheTTL.
func (c *secretCache) passed(clientID, presented string, now time.Time) bool {
	c.mu.Lock()
	exp, ok := c.entries[secretCacheKey(clientID, presented)]
	c.mu.Unlock()
	return ok && now.Before(exp)
}

// remember records that presented passed clientID's hash check.
func (c *secretCache) remember(clientID, presented string, now time.Time) {
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= secretCacheSize {
		c.entries = make(map[[32]byte]time.Time)
	}
	c.entries[secretCacheKey(clientID, presented)] = now.Add(secretCacheTTL)
	c.mu.Unlock()
}

// inProcessKey marks the context of a request made inside this process.
type inProcessKey struct{}

// InProcessContext returns a copy of ctx marking a request as made inside
// this process, never received from the network: the gateway's
// in-process transport sets it on the requests it hands to the server.
// Only such requests may authenticate as the built-in gateway client
// ([GatewayClientID]). Nothing a network client sends can set it.
func InProcessContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, inProcessKey{}, true)
}

// inProcess reports whether ctx was marked by InProcessContext.
func inProcess(ctx context.Context) bool {
	v, _ := ctx.Value(inProcessKey{}).(bool)
	return v
}

// authenticateClient identifies and authenticates the client of a
// request to the token, introspection, revocation, PAR or device
// authorization endpoint (RFC 6749 §2.3). Exactly one method may be used.
//
// Failed attempts are limited per client and address together, and per
// address (never per client alone, so that nobody can lock a client out
// from elsewhere); a client presenting a correct high-entropy secret is
// let in whatever the limits say, since guessing cannot find such a
// secret and others' failures must not stop it. The built-in gateway
// client authenticates only in-process: over the network it is unknown.
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
		e := &Error{Code: codeInvalidClient, Description: description, Status: http.StatusUnauthorized}
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
	if c != nil && c.ID == GatewayClientID && !inProcess(r.Context()) {
		c = nil
	}
	known, pair := "", ""
	if c != nil {
		known = c.ID
		pair = c.ID + "\x00" + addressKey(ip)
	}
	check := func() *Error {
		switch {
		case c == nil:
			return fail("client authentication failed")
		case c.Public:
			if method != AuthMethodNone {
				return fail("a public client has no secret to present")
			}
		case method == AuthMethodNone:
			return fail("this client must authenticate with its secret")
		case c.AuthMethod != "" && c.AuthMethod != method:
			return fail("this client must authenticate with " + c.AuthMethod)
		case !s.verifySecret(c, secret, now):
			return fail("client authentication failed")
		}
		return nil
	}
	// A high-entropy secret cannot be guessed, so a right one is let in
	// before any limit. A check that takes no time (a digest, a bcrypt
	// hash this secret already passed, no client at all) is made within
	// the limit: refused while blocked, and counted if it fails. A slow
	// one (a hash not yet passed) is counted before it starts and
	// forgiven if right, so that concurrent guesses cannot all slip in
	// while the hash runs; requests that present the same secret from the
	// same address while its hash runs wait for that one check, so a
	// client's burst at start-up (before its secret is remembered) counts
	// once, not once per request.
	strong := c != nil && !c.Public && c.Secret.strong
	var e *Error
	if strong {
		e = check()
	}
	tooMany := func(wait time.Duration) *Error {
		s.emitFrom(r, Event{Name: EventClientAuthFailure, Method: method, Client: known, Error: "rate_limited"})
		e := fail("too many failed authentication attempts; try again later")
		e.Status = http.StatusTooManyRequests
		if e.Header == nil {
			e.Header = http.Header{}
		}
		e.Header.Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return e
	}
	switch {
	case strong && e == nil:
	case strong || s.quickSecretCheck(c, secret, now):
		if wait, blocked := s.clientAuth.blocked(pair, ip, now); blocked {
			return nil, tooMany(wait)
		}
		if !strong {
			e = check()
		}
		if e != nil {
			s.clientAuth.attempt(pair, ip, now)
		} else {
			s.clientAuth.forget(pair)
		}
	default:
		res := s.slowChecks.do(sha256.Sum256([]byte(pair+"\x00"+ip+"\x00"+secret)), func() slowCheck {
			wait, ok := s.clientAuth.attempt(pair, ip, now)
			if !ok {
				return slowCheck{blocked: true, wait: wait}
			}
			e := check()
			if e == nil {
				s.clientAuth.succeed(pair, ip, now)
			}
			return slowCheck{err: e}
		})
		if res.blocked {
			return nil, tooMany(res.wait)
		}
		e = res.err
	}
	if e != nil {
		s.emitFrom(r, Event{Name: EventClientAuthFailure, Method: method, Client: known, Error: e.Code})
		return nil, e
	}
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
		return "", "", true, &Error{Code: codeInvalidClient, Description: "client authentication must use the Basic scheme", Status: http.StatusUnauthorized}
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(rawID)
		secret, err2 = url.QueryUnescape(rawSecret)
		ok = err1 == nil && err2 == nil && id != ""
	}
	if !ok {
		return "", "", true, &Error{Code: codeInvalidClient, Description: "the Basic credentials are malformed", Status: http.StatusUnauthorized,
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
	f, c, e := s.authenticatedRequest(w, r)
	if e != nil {
		s.writeError(w, r, e)
		return nil, nil, false
	}
	return f, c, true
}

// authenticatedRequest reads a client's POST form and authenticates the
// client. On an error the form is what could be read (nil if nothing),
// and the client nil.
func (s *Server) authenticatedRequest(w http.ResponseWriter, r *http.Request) (form, *Client, *Error) {
	f, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
	if e != nil {
		return nil, nil, e
	}
	c, e := s.authenticateClient(r, f)
	if e != nil {
		return f, nil, e
	}
	return f, c, nil
}

// checkClient applies the defaults to a copy of a configured client and
// checks it, so that every way of building a Server gets the same rules.
func checkClient(configured *Client) (*Client, error) {
	if configured == nil {
		return nil, errors.New("a client is nil")
	}
	c := *configured
	if c.Name == "" {
		c.Name = c.ID
	}
	if len(c.GrantTypes) == 0 {
		// A confidential client without redirect URIs is a service; any
		// other signs users in.
		if !c.Public && len(c.RedirectURIs) == 0 {
			c.GrantTypes = []string{GrantClientCredentials}
		} else {
			c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	if err := validateClient(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func validateClient(c *Client) error {
	switch {
	case c.ID == "":
		return errors.New("a client has no id")
	case c.Public && !c.Secret.IsZero():
		return fmt.Errorf("client %q: a public client cannot have a secret", c.ID)
	case !c.Public && c.Secret.IsZero():
		return fmt.Errorf("client %q: a confidential client needs a secret", c.ID)
	case c.Public && c.AuthMethod != "" && c.AuthMethod != AuthMethodNone:
		return fmt.Errorf("client %q: a public client authenticates with none", c.ID)
	case !c.Public && c.AuthMethod != "" && c.AuthMethod != AuthMethodBasic && c.AuthMethod != AuthMethodPost:
		return fmt.Errorf("client %q: unsupported authentication method %q", c.ID, c.AuthMethod)
	case c.AllowsGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0:
		return fmt.Errorf("client %q: the authorization code grant needs redirect URIs", c.ID)
	}
	for _, gt := range c.GrantTypes {
		if !slices.Contains(knownGrants, gt) {
			return fmt.Errorf("client %q: unknown grant type %q (want one of %v)", c.ID, gt, knownGrants)
		}
	}
	if c.Public && c.AllowsGrant(GrantClientCredentials) {
		return fmt.Errorf("client %q: a public client cannot use client_credentials", c.ID)
	}
	for _, a := range c.Audiences {
		if p, err := url.Parse(a); err != nil || !p.IsAbs() || p.Fragment != "" {
			return fmt.Errorf("client %q: audience %q must be an absolute URI without a fragment (RFC 8707)", c.ID, a)
		}
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		p, err := url.Parse(u)
		if err != nil || !p.IsAbs() || p.Fragment != "" || strings.Contains(u, "#") {
			return fmt.Errorf("client %q: redirect URI %q must be absolute and have no fragment", c.ID, u)
		}
		if p.Scheme == "http" && !loopback.IsHost(p.Hostname()) {
			return fmt.Errorf("client %q: redirect URI %q must use https (http only for loopback)", c.ID, u)
		}
	}
	return nil
}
