package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// ErrInvalidToken means a bearer token was refused: malformed, forged,
// expired, revoked, or of another issuer.
var ErrInvalidToken = errors.New("gateway: invalid token")

// Verifier checks bearer tokens. Implementations return ErrInvalidToken
// (possibly wrapped) for tokens they refuse, and other errors only when
// they could not decide.
type Verifier interface {
	// Verify returns the token's identity and until when that answer may
	// be cached.
	Verify(ctx context.Context, token string) (*Identity, time.Time, error)
}

// OIDCVerifier verifies JWT access tokens of an external issuer with
// go-oidc: discovery, a cached remote key set, iss, exp and nbf checks,
// and only the pinned asymmetric algorithms (so neither alg:none nor an
// HMAC signed with a public key can pass).
type OIDCVerifier struct {
	// Issuer is the issuer URL, whose discovery document names the JWKS.
	Issuer string
	// Algorithms are the accepted JWS algorithms. Default RS256 and ES256.
	Algorithms []string
	// HTTPClient fetches discovery and keys. Default http.DefaultClient.
	HTTPClient *http.Client

	verifier atomic.Pointer[oidc.IDTokenVerifier]
	mu       sync.Mutex
	failedAt time.Time
}

// discoveryRetry is how long a failed discovery is not tried again, so a
// provider that is down does not make every request wait for it.
const discoveryRetry = 10 * time.Second

func (v *OIDCVerifier) load(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if ver := v.verifier.Load(); ver != nil {
		return ver, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if ver := v.verifier.Load(); ver != nil {
		return ver, nil
	}
	if time.Since(v.failedAt) < discoveryRetry {
		return nil, fmt.Errorf("discovering %s failed lately; retrying soon", v.Issuer)
	}
	// The key set outlives this request: it fetches keys with a
	// background context.
	keyCtx := context.Background()
	if v.HTTPClient != nil {
		ctx, keyCtx = oidc.ClientContext(ctx, v.HTTPClient), oidc.ClientContext(keyCtx, v.HTTPClient)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, v.Issuer)
	if err != nil {
		v.failedAt = time.Now()
		return nil, fmt.Errorf("discovering %s: %w", v.Issuer, err)
	}
	algs := v.Algorithms
	if len(algs) == 0 {
		algs = []string{oidc.RS256, oidc.ES256}
	}
	ver := p.VerifierContext(keyCtx, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs})
	v.verifier.Store(ver)
	return ver, nil
}

// Verify implements [Verifier].
func (v *OIDCVerifier) Verify(ctx context.Context, token string) (*Identity, time.Time, error) {
	ver, err := v.load(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	tok, err := ver.Verify(ctx, token)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return identityFromClaims(claims, AuthBearer), tok.Expiry, nil
}

// identityFromClaims reads the usual JWT and OpenID Connect claims.
func identityFromClaims(claims map[string]any, auth string) *Identity {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := &Identity{
		Subject: str("sub"), Username: str("preferred_username"), Email: str("email"), Name: str("name"),
		ClientID: str("client_id"), TokenID: str("jti"), Claims: claims, Auth: auth,
	}
	if id.ClientID == "" {
		id.ClientID = str("azp")
	}
	if id.Username == "" {
		id.Username = id.Subject
	}
	switch s := claims["scope"].(type) {
	case string:
		id.Scopes = strings.Fields(s)
	}
	if id.Scopes == nil {
		id.Scopes = stringList(claims["scp"])
	}
	id.Groups = stringList(claims["groups"])
	id.Audience = stringList(claims["aud"])
	return id
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// IntrospectionVerifier verifies opaque tokens through RFC 7662
// introspection, authenticating as a client with client_secret_basic.
type IntrospectionVerifier struct {
	Endpoint     string
	ClientID     string
	ClientSecret string
	// MaxCache bounds how long an answer is trusted, since a revocation
	// at the other server is not announced. Default 1 minute.
	MaxCache   time.Duration
	HTTPClient *http.Client
}

// Verify implements [Verifier].
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*Identity, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.Endpoint, strings.NewReader(body))
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(v.ClientID), url.QueryEscape(v.ClientSecret))
	client := v.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("introspecting: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("introspecting: status %d", resp.StatusCode)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("introspecting: %w", err)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, time.Time{}, fmt.Errorf("%w: inactive", ErrInvalidToken)
	}
	maxCache := v.MaxCache
	if maxCache == 0 {
		maxCache = time.Minute
	}
	until := time.Now().Add(maxCache)
	if exp, ok := claims["exp"].(float64); ok {
		if e := time.Unix(int64(exp), 0); e.Before(until) {
			until = e
		}
		if !time.Now().Before(time.Unix(int64(exp), 0)) {
			return nil, time.Time{}, fmt.Errorf("%w: expired", ErrInvalidToken)
		}
	}
	return identityFromClaims(claims, AuthBearer), until, nil
}
