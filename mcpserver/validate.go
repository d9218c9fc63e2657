package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/jsonschema-go/jsonschema"
)

const validateDescription = `Check a token: is it active, and what does it say?

With client_id and client_secret of a confidential client, the authorization server is asked (RFC 7662 introspection): this is authoritative, and sees revocation. A client sees the details of its own tokens (and of tokens naming it as audience); any other token looks inactive to it.
Without client credentials, only what can be checked locally is checked: a JWT's signature against the issuer's published keys (JWKS), its issuer and its expiry. Revocation is then not seen.

For a JWT, the result also reports what local verification says: signature_valid, kid, alg, typ (at+jwt for an access token), iss, sub, aud, exp, client_id, scope. Give audience to check that aud names your API.

A malformed, unknown, expired or revoked token is active false, not an error. Fails only when the client's authentication fails (invalid_client) or the server cannot be reached.`

// ValidateInput is the input of oauth2_validate_token.
type ValidateInput struct {
	Token         string `json:"token" jsonschema:"The access token (or refresh token, with client credentials) to check."`
	TokenTypeHint string `json:"token_type_hint,omitempty" jsonschema:"access_token or refresh_token, if known."`
	ClientID      string `json:"client_id,omitempty" jsonschema:"A confidential client to introspect as (with client_secret). Omit both for local verification only."`
	ClientSecret  string `json:"client_secret,omitempty" jsonschema:"That client's secret."`
	AuthMethod    string `json:"auth_method,omitempty" jsonschema:"How to send client_secret: client_secret_basic or client_secret_post. By default the method the client is registered with, else client_secret_basic."`
	Audience      string `json:"audience,omitempty" jsonschema:"An audience the token must name in aud, such as your API's URL; reported as audience_valid."`
}

// ValidateOutput is the output of oauth2_validate_token.
type ValidateOutput struct {
	Active        bool           `json:"active" jsonschema:"Whether the token is an active token: by introspection when checked_with is introspection, else by the JWT's signature, issuer and expiry (and audience, when asked)."`
	CheckedWith   string         `json:"checked_with" jsonschema:"introspection (the server was asked, RFC 7662), jwt (local verification only: revocation not seen) or none (not a JWT, and no client credentials to introspect with)."`
	Introspection map[string]any `json:"introspection,omitempty" jsonschema:"The introspection response (RFC 7662 §2.2): active, and for an active token scope, client_id, username, token_type, exp, iat, sub, aud, iss, jti."`
	JWT           *JWTReport     `json:"jwt,omitempty" jsonschema:"What local verification of the JWT says; absent when the token is not a JWT."`
	Note          string         `json:"note,omitempty" jsonschema:"What the result means, in words."`
	Failure
}

// JWTReport is what local verification of a JWT says.
type JWTReport struct {
	SignatureValid bool     `json:"signature_valid" jsonschema:"True when the signature verifies with a key of the issuer's JWKS."`
	Algorithm      string   `json:"alg,omitempty" jsonschema:"The signing algorithm in the JWT's header."`
	KeyID          string   `json:"kid,omitempty" jsonschema:"The key id in the JWT's header."`
	Type           string   `json:"typ,omitempty" jsonschema:"The typ header: at+jwt for an access token (RFC 9068)."`
	Issuer         string   `json:"iss,omitempty" jsonschema:"The iss claim (only when the signature is valid, as are the claims below)."`
	IssuerValid    bool     `json:"issuer_valid" jsonschema:"True when iss is the authorization server's issuer."`
	Subject        string   `json:"sub,omitempty" jsonschema:"The sub claim: the user, or the client for a client's own token."`
	Audience       []string `json:"aud,omitempty" jsonschema:"The aud claim: who the token is for."`
	AudienceValid  *bool    `json:"audience_valid,omitempty" jsonschema:"When audience was given: whether aud names it."`
	ClientID       string   `json:"client_id,omitempty" jsonschema:"The client_id claim: the client the token was issued to."`
	Scope          string   `json:"scope,omitempty" jsonschema:"The scope claim."`
	ExpiresAt      int64    `json:"exp,omitempty" jsonschema:"The exp claim, in seconds since 1970."`
	IssuedAt       int64    `json:"iat,omitempty" jsonschema:"The iat claim."`
	Expired        bool     `json:"expired" jsonschema:"True when exp has passed."`
	Valid          bool     `json:"valid" jsonschema:"True when the signature and issuer are valid, the token is within its validity period, and aud names audience if it was given."`
	Problem        string   `json:"problem,omitempty" jsonschema:"Why the JWT is not valid, when it is not."`
}

func validateSchema(s *jsonschema.Schema) {
	setString(s, "token", maxTokenLength)
	setString(s, "token_type_hint", 32, "access_token", "refresh_token")
	setString(s, "client_id", 2048)
	setString(s, "client_secret", 1024)
	setString(s, "auth_method", 32, authBasic, authPost)
	setString(s, "audience", 2048)
}

// validate introspects a token as the caller's client (RFC 7662), never
// as any other, and verifies a JWT locally.
func (s *Server) validate(ctx context.Context, in ValidateInput) (ValidateOutput, *toolError) {
	out := ValidateOutput{CheckedWith: "none"}
	if in.Token == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "token is required"}
	}
	if in.ClientID != "" && in.ClientSecret == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "introspection needs a confidential client: give client_secret with client_id, or neither for local verification only"}
	}
	if in.ClientSecret != "" && in.ClientID == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "client_secret needs client_id"}
	}
	meta, fail := s.provider.metadata(ctx)
	if fail != nil {
		return out, fail
	}
	out.JWT = s.verifyJWT(ctx, meta, in.Token, in.Audience)
	if in.ClientID != "" {
		_, auth, fail := s.client(ctx, in.ClientID, in.ClientSecret, in.AuthMethod, func(m *metadata) []string { return m.IntrospectionAuthMethods })
		if fail != nil {
			return ValidateOutput{}, fail
		}
		if meta.IntrospectionEndpoint == "" {
			return ValidateOutput{}, &toolError{Code: errInvalidRequest, Description: "the authorization server has no introspection endpoint; omit the client credentials for local verification only"}
		}
		form := url.Values{"token": {in.Token}}
		if in.TokenTypeHint != "" {
			form.Set("token_type_hint", in.TokenTypeHint)
		}
		doc, fail := s.provider.postForm(ctx, meta.IntrospectionEndpoint, form, auth)
		if fail != nil {
			return ValidateOutput{}, fail
		}
		out.CheckedWith, out.Introspection = "introspection", doc
		out.Active, _ = doc["active"].(bool)
		if out.Active && in.Audience != "" && !audienceNames(doc["aud"], in.Audience) {
			out.Active = false
			out.Note = "The token is active, but its aud does not name " + in.Audience + ": it is not for that audience."
		} else if out.Active {
			out.Note = "The authorization server says the token is active."
		} else {
			out.Note = "The authorization server says the token is not active (unknown, expired, revoked, or not this client's to see)."
		}
		return out, nil
	}
	if out.JWT == nil {
		out.Note = "Not a JWT: only introspection can tell whether it is active; give client_id and client_secret."
		return out, nil
	}
	out.CheckedWith, out.Active = "jwt", out.JWT.Valid
	if out.Active {
		out.Note = "The JWT's signature, issuer and validity period are valid. Revocation was not checked: give client_id and client_secret to introspect."
	} else {
		out.Note = "The JWT is not valid: " + out.JWT.Problem
	}
	return out, nil
}

// audienceNames reports whether an introspection response's aud, a
// string or a list, names want.
func audienceNames(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.Contains(a, any(want))
	}
	return false
}

// jwtAlgorithms are the algorithms read from a JWT's header. Only the
// asymmetric ones can verify against published keys; an HMAC one is
// reported as such, and "none" is not a JWS at all.
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	jose.HS256, jose.HS384, jose.HS512,
}

// verifyJWT verifies a JWS compact token against the issuer's JWKS with
// go-jose and reads its claims; nil when raw is not a JWS.
func (s *Server) verifyJWT(ctx context.Context, meta *metadata, raw, audience string) *JWTReport {
	if strings.Count(raw, ".") != 2 {
		return nil
	}
	jws, err := jose.ParseSignedCompact(raw, jwtAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil
	}
	h := jws.Signatures[0].Header
	r := &JWTReport{Algorithm: h.Algorithm, KeyID: h.KeyID}
	r.Type, _ = h.ExtraHeaders[jose.HeaderType].(string)
	if strings.HasPrefix(h.Algorithm, "HS") {
		r.Problem = "it is signed with a shared secret (" + h.Algorithm + "), which no published key verifies"
		return r
	}
	if meta.JWKSURI == "" {
		r.Problem = "the authorization server publishes no keys (no jwks_uri)"
		return r
	}
	keys, err := s.provider.keys.lookup(ctx, s.provider, meta.JWKSURI, h.KeyID)
	if err != nil {
		r.Problem = "the issuer's keys could not be read: " + err.Error()
		return r
	}
	var payload []byte
	for _, k := range keys {
		if k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != h.Algorithm) || !k.IsPublic() {
			continue
		}
		if p, err := jws.Verify(k); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		if len(keys) == 0 {
			r.Problem = "no key of the issuer has its kid"
		} else {
			r.Problem = "the signature does not verify with the issuer's keys"
		}
		return r
	}
	r.SignatureValid = true
	var claims jwt.Claims
	var extra struct {
		ClientID any `json:"client_id"`
		Scope    any `json:"scope"`
	}
	if json.Unmarshal(payload, &claims) != nil || json.Unmarshal(payload, &extra) != nil {
		r.Problem = "its claims are not a valid JSON object"
		return r
	}
	r.Issuer, r.Subject, r.Audience = claims.Issuer, claims.Subject, claims.Audience
	r.ClientID, _ = extra.ClientID.(string)
	switch sc := extra.Scope.(type) {
	case string:
		r.Scope = sc
	case []any:
		var parts []string
		for _, v := range sc {
			if str, ok := v.(string); ok {
				parts = append(parts, str)
			}
		}
		r.Scope = strings.Join(parts, " ")
	}
	now := s.now()
	if claims.Expiry != nil {
		r.ExpiresAt = claims.Expiry.Time().Unix()
		r.Expired = !now.Before(claims.Expiry.Time())
	}
	if claims.IssuedAt != nil {
		r.IssuedAt = claims.IssuedAt.Time().Unix()
	}
	r.IssuerValid = claims.Issuer == s.issuer
	if audience != "" {
		ok := claims.Audience.Contains(audience)
		r.AudienceValid = &ok
	}
	switch {
	case !r.IssuerValid:
		r.Problem = fmt.Sprintf("its issuer is %q, not %q", claims.Issuer, s.issuer)
	case r.Expired:
		r.Problem = "it has expired"
	case claims.NotBefore != nil && now.Add(time.Minute).Before(claims.NotBefore.Time()):
		r.Problem = "it is not valid yet (nbf)"
	case r.AudienceValid != nil && !*r.AudienceValid:
		r.Problem = "its aud does not name " + audience
	default:
		r.Valid = true
	}
	return r
}

// keyCache holds an issuer's JWKS: read again after keysTTL, or when a
// token names a kid it lacks, but not more than once every keysRetry.
type keyCache struct {
	mu      sync.Mutex
	uri     string
	set     *jose.JSONWebKeySet
	fetched time.Time
}

const (
	keysTTL   = 5 * time.Minute
	keysRetry = 10 * time.Second
)

// lookup returns the keys with id kid (all keys when kid is empty).
func (c *keyCache) lookup(ctx context.Context, p *provider, uri, kid string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := p.now()
	match := func() []jose.JSONWebKey {
		if kid == "" {
			return c.set.Keys
		}
		return c.set.Key(kid)
	}
	if c.set != nil && c.uri == uri {
		age := now.Sub(c.fetched)
		if keys := match(); age < keysRetry || (age < keysTTL && len(keys) > 0) {
			return keys, nil
		}
	}
	set, err := fetchJWKS(ctx, p, uri)
	if err != nil {
		if c.set != nil && c.uri == uri {
			c.fetched = now // the old keys, until the next try
			return match(), nil
		}
		return nil, err
	}
	c.uri, c.set, c.fetched = uri, set, now
	return match(), nil
}

func fetchJWKS(ctx context.Context, p *provider, uri string) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := p.getJSON(ctx, uri, "a JWK set", &set); err != nil {
		return nil, err
	}
	return &set, nil
}
