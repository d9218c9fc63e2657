// Package bearer is the RFC 6750 bearer-token syntax every protected
// resource of authgate shares: reading the access token from a request's
// Authorization header (§2.1) and writing the WWW-Authenticate challenge
// (§3, with RFC 9728's resource_metadata and RFC 9470's acr_values and
// max_age), and the key under which a verified token is cached
// (CacheKey). The authorization server's /userinfo, /register/{id} and
// introspection and the gateway use it; it verifies no token and imports
// nothing of this module.
package bearer

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// InsufficientUserAuthentication is the error code of a challenge that
// asks for a stronger or more recent sign-in than the access token's
// (RFC 9470 §3): the client asks the authorization server for a new
// token with the challenge's acr_values and max_age.
const InsufficientUserAuthentication = "insufficient_user_authentication"

// MaxTokenLength bounds a token read from a header: 16 KiB, far above
// any access token this module issues or accepts.
const MaxTokenLength = 16 << 10

// Why an Authorization header yields no token.
var (
	// ErrRepeated: more than one Authorization header, which a proxy
	// and a resource could each read differently.
	ErrRepeated = errors.New("the Authorization header is repeated")
	// ErrMalformed: the Bearer scheme with no token, or a token that is
	// too long.
	ErrMalformed = errors.New("the Authorization header is not a Bearer token")
	// ErrOtherScheme: a scheme other than Bearer, such as Basic. A
	// gateway passes such a header on as the upstream's business; an
	// endpoint that takes only bearer tokens refuses it.
	ErrOtherScheme = errors.New("the Authorization header is not a Bearer token")
)

// FromHeader returns the access token of h's Authorization header:
// "Bearer <token>" (the scheme in any case), or with bare also a token
// sent alone ("Authorization: <token>": one word, as some clients do,
// though RFC 6750 names only Bearer). With no Authorization header it
// returns "" and no error.
func FromHeader(h http.Header, bare bool) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", ErrRepeated
	}
	scheme, token, hasSpace := strings.Cut(values[0], " ")
	if bare && !hasSpace && scheme != "" && len(scheme) <= MaxTokenLength && !strings.ContainsAny(scheme, "\t,") {
		return scheme, nil
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrOtherScheme
	}
	token = strings.TrimSpace(token)
	if !hasSpace || token == "" || len(token) > MaxTokenLength {
		return "", ErrMalformed
	}
	return token, nil
}

// Challenge is a Bearer challenge, the value of a WWW-Authenticate
// header (RFC 6750 §3; RFC 9728 §5.1; RFC 9470 §3). Empty fields are
// left out.
type Challenge struct {
	// Realm names the protection space.
	Realm string
	// Error is the error code: invalid_request, invalid_token or
	// insufficient_scope (RFC 6750 §3.1), or
	// [InsufficientUserAuthentication] (RFC 9470 §3); empty when no
	// credentials were sent (RFC 6750 §3.1: then no error is given).
	Error string
	// Description is the error's human-readable explanation; written
	// only with an Error.
	Description string
	// Scope lists, space-separated, the scopes the resource needs.
	Scope string
	// ACRValues lists, space-separated and in order of preference, the
	// authentication context class references of which the sign-in
	// behind the access token must have one (RFC 9470 §3), such as
	// "mfa"; the client passes them on as the acr_values parameter of
	// its authorization request. Sent with [InsufficientUserAuthentication].
	ACRValues string
	// MaxAge, when not nil, is the most seconds that may have passed
	// since the user last actively signed in (RFC 9470 §3: compared with
	// the token's auth_time); the client passes it on as max_age. 0 asks
	// for a sign-in now. Sent with [InsufficientUserAuthentication].
	MaxAge *int
	// ResourceMetadata is the URL of the protected resource metadata
	// document (RFC 9728), where a client finds the authorization server.
	ResourceMetadata string
}

// String renders the challenge, each value a quoted-string (max_age too,
// as in RFC 9470's examples; a negative MaxAge is left out).
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		if value == "" {
			return
		}
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteString(`="`)
		for i := 0; i < len(value); i++ {
			switch ch := value[i]; {
			case ch == '"' || ch == '\\':
				b.WriteByte('\\')
				b.WriteByte(ch)
			case ch < 0x20 || ch == 0x7f:
				// No control characters in a header (RFC 9110 §5.5).
			default:
				b.WriteByte(ch)
			}
		}
		b.WriteByte('"')
	}
	param("realm", c.Realm)
	param("error", c.Error)
	if c.Error != "" {
		param("error_description", c.Description)
	}
	param("scope", c.Scope)
	param("acr_values", c.ACRValues)
	if c.MaxAge != nil && *c.MaxAge >= 0 {
		param("max_age", strconv.Itoa(*c.MaxAge))
	}
	param("resource_metadata", c.ResourceMetadata)
	return b.String()
}
