package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/policy"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
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
//
// Only access tokens count: a JWT must be typed at+jwt (RFC 9068 §2.1,
// RFC 8725 §3.11), so an ID token, a logout token or any other JWT the
// issuer signs is refused even though its signature is good. Tokens
// bound to a key (a cnf claim: DPoP or mutual TLS) are refused too, since
// the gateway checks no proof of possession. The audience is not checked
// here: the identity carries aud, which the gateway compares with the
// route's resource and required audiences.
type OIDCVerifier struct {
	// Issuer is the issuer URL, whose discovery document names the JWKS.
	Issuer string
	// Algorithms are the accepted JWS algorithms. Default RS256 and ES256.
	Algorithms []string
	// AllowPlainJWT also accepts access tokens typed JWT, or not typed at
	// all, for providers that do not follow RFC 9068. Such a token still
	// counts only if nothing marks it as an ID token: see
	// [looksLikeIDToken].
	AllowPlainJWT bool
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
	// go-oidc checks no audience (its check is for ID tokens, whose
	// audience is a client): the gateway compares aud with the route's
	// resource itself.
	ver := p.VerifierContext(keyCtx, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs})
	v.verifier.Store(ver)
	return ver, nil
}

func (v *OIDCVerifier) algorithms() []jose.SignatureAlgorithm {
	algs := v.Algorithms
	if len(algs) == 0 {
		algs = []string{oidc.RS256, oidc.ES256}
	}
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// Verify implements [Verifier].
func (v *OIDCVerifier) Verify(ctx context.Context, token string) (*Identity, time.Time, error) {
	// The type first: it is in the protected header, which the signature
	// covers, so a token refused for its type is refused whatever the
	// signature, and one accepted is checked in full below.
	plain, err := v.tokenType(token)
	if err != nil {
		return nil, time.Time{}, err
	}
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
	if plain {
		if why := looksLikeIDToken(claims); why != "" {
			return nil, time.Time{}, fmt.Errorf("%w: a JWT typed JWT that %s is not an access token", ErrInvalidToken, why)
		}
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return nil, time.Time{}, fmt.Errorf("%w: the token names no subject (RFC 9068 §2.2)", ErrInvalidToken)
	}
	if why := notForBearerUse(claims); why != "" {
		return nil, time.Time{}, fmt.Errorf("%w: the token %s", ErrInvalidToken, why)
	}
	return IdentityFromClaims(claims, AuthBearer), tok.Expiry, nil
}

// tokenType reads the JWS protected header's typ: at+jwt (or
// application/at+jwt, without case, RFC 9068 §2.1 and RFC 7515 §4.1.9)
// is an access token; JWT or none is a plain JWT, accepted only with
// AllowPlainJWT; anything else is refused.
func (v *OIDCVerifier) tokenType(token string) (plain bool, err error) {
	jws, err := jose.ParseSignedCompact(token, v.algorithms())
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return false, fmt.Errorf("%w: not one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	typ, isString := h.ExtraHeaders[jose.HeaderType].(string)
	_, present := h.ExtraHeaders[jose.HeaderType]
	typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
	switch {
	case isString && typ == "at+jwt":
		return false, nil
	case v.AllowPlainJWT && (!present || isString && typ == "jwt"):
		return true, nil
	case !present:
		return false, fmt.Errorf("%w: the JWT has no typ header, so it is not an RFC 9068 access token (allow_plain_jwt accepts such tokens)", ErrInvalidToken)
	default:
		return false, fmt.Errorf("%w: a JWT typed %q is not an RFC 9068 access token (at+jwt)", ErrInvalidToken, typ)
	}
}

// looksLikeIDToken says why a plain JWT (typed JWT or not typed) is taken
// for an ID token, or "". Such JWTs are all alike in their header, so the
// claims decide:
//   - nonce, at_hash, c_hash and s_hash are defined for ID tokens only
//     (OIDC Core §2, §3.3.2.11; FAPI 1.0 Part 2 §5.1), and an access
//     token has no use for them;
//   - an access token says what it grants and to whom (RFC 9068 §2.2
//     requires client_id, and scope when one was asked for; many
//     providers use scp), while an ID token carries none of client_id,
//     scope or scp: a JWT with none of them grants nothing and is taken
//     for an ID token. (An ID token's azp and aud name a client, just as
//     an access token's azp does, so they tell nothing apart.)
func looksLikeIDToken(claims map[string]any) string {
	for _, c := range []string{"nonce", "at_hash", "c_hash", "s_hash"} {
		if _, ok := claims[c]; ok {
			return "has " + c
		}
	}
	for _, c := range []string{"client_id", "scope", "scp"} {
		if _, ok := claims[c]; ok {
			return ""
		}
	}
	return "names neither client_id nor scope"
}

// notForBearerUse says why a verified access token may still not be
// used as a bearer token here, or "": it is bound to a key (cnf: DPoP,
// RFC 9449 §6; mutual TLS, RFC 8705 §3), and used as a plain bearer token
// it is exactly what its binding is meant to stop, since the gateway
// checks no proof of possession; or a typ claim marks it as an ID or
// refresh token (Keycloak's ID, Refresh and Offline).
func notForBearerUse(claims map[string]any) string {
	if _, ok := claims["cnf"]; ok {
		return "is bound to a key (cnf), and the gateway accepts bearer tokens only"
	}
	if t, ok := claims["typ"].(string); ok {
		switch strings.ToLower(t) {
		case "id", "id_token", "refresh", "refresh_token", "offline":
			return fmt.Sprintf("is marked %q, not an access token", t)
		}
	}
	return ""
}

// IdentityFromClaims makes the identity of a verified token or sign-in
// from its claims (the usual JWT, OAuth and OpenID Connect ones: sub,
// preferred_username, email, name, client_id or azp, jti, scope or scp,
// groups, aud, and amr and acr, which say how the user signed in), auth
// saying how it was proven. Every verifier and the
// session builds its identity here, so a claim means one thing whatever
// issued it.
func IdentityFromClaims(claims map[string]any, auth string) *Identity {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := &Identity{
		Identity: policy.Identity{Subject: str("sub"), Email: str("email"), Name: str("name"),
			ClientID: str("client_id"), Claims: claims, Auth: auth},
		Username: str("preferred_username"), TokenID: str("jti"),
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
	id.AMR = stringList(claims["amr"])
	id.ACR = str("acr")
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
	status, raw, err := postClientForm(ctx, v.HTTPClient, v.Endpoint, v.ClientID, v.ClientSecret,
		url.Values{"token": {token}, "token_type_hint": {"access_token"}})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("introspecting: %w", err)
	}
	if status != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("introspecting: status %d", status)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("introspecting: %w", err)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, time.Time{}, fmt.Errorf("%w: inactive", ErrInvalidToken)
	}
	// Only bearer access tokens count: token_type (RFC 7662 §2.2, the
	// values of RFC 6749 §7.1) tells a refresh token or a DPoP-bound token
	// from a bearer access token, when the server says.
	if tt, ok := claims["token_type"].(string); ok && !strings.EqualFold(tt, "Bearer") && !strings.EqualFold(tt, "access_token") {
		return nil, time.Time{}, fmt.Errorf("%w: token_type %q is not a bearer access token", ErrInvalidToken, tt)
	}
	if why := notForBearerUse(claims); why != "" {
		return nil, time.Time{}, fmt.Errorf("%w: the token %s", ErrInvalidToken, why)
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
	return IdentityFromClaims(claims, AuthBearer), until, nil
}
