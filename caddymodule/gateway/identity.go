package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/authgate/authgate/policy"
)

// Auth methods an identity can come from: the policy's names.
const (
	AuthBearer  = policy.AuthBearer
	AuthSession = policy.AuthSession
)

// Identity is who made a request: the identity the policy decides on
// (subject, client, email, name, scopes, groups, audience, how the user
// signed in (amr, acr), claims, and whether it came from a bearer token or
// a session), with what the gateway
// adds for the upstream and for revocation. Build it from claims with
// [IdentityFromClaims], whatever verified them.
type Identity struct {
	policy.Identity
	// Username is the preferred_username claim, or the subject.
	Username string
	// TokenID is the access token's jti, or the gateway session's ID,
	// for revocation.
	TokenID string

	// groups and scopes joined once, since a cached identity serves many
	// requests.
	joinOnce               sync.Once
	groupsJoin, scopesJoin string
	// the audiences as resource URLs, compared with each request's
	// resource: normalized once.
	audOnce  sync.Once
	audNorms []string
}

// resourceAudiences returns the audiences that are resource URLs, each
// normalized as normalResource does.
func (id *Identity) resourceAudiences() []string {
	id.audOnce.Do(func() {
		for _, aud := range id.Audience {
			if n := normalResource(aud); n != "" {
				id.audNorms = append(id.audNorms, n)
			}
		}
	})
	return id.audNorms
}

func (id *Identity) joined() (groups, scopes string) {
	id.joinOnce.Do(func() {
		id.groupsJoin, id.scopesJoin = strings.Join(id.Groups, ","), strings.Join(id.Scopes, " ")
	})
	return id.groupsJoin, id.scopesJoin
}

// Fields an identity header can carry.
const (
	FieldSubject  = "subject"
	FieldUsername = "username"
	FieldEmail    = "email"
	FieldName     = "name"
	FieldGroups   = "groups"
	FieldScopes   = "scopes"
	FieldClientID = "client_id"
	FieldAuth     = "auth"
	// FieldAMR is how the user signed in: the amr claim's methods (RFC
	// 8176: pwd, otp, hwk, swk, mfa…), comma-separated. No header carries
	// it unless mapped (header X-Auth-Amr amr).
	FieldAMR = "amr"
	// FieldACR is the sign-in's acr claim, such as mfa. No header
	// carries it unless mapped.
	FieldACR = "acr"
)

// Fields lists the identity fields headers can carry.
var Fields = []string{FieldSubject, FieldUsername, FieldEmail, FieldName, FieldGroups, FieldScopes, FieldClientID, FieldAuth, FieldAMR, FieldACR}

// Value returns one field as a header value: lists are comma-separated
// (scopes space-separated, as OAuth writes them).
func (id *Identity) Value(field string) string {
	switch field {
	case FieldSubject:
		return id.Subject
	case FieldUsername:
		return id.Username
	case FieldEmail:
		return id.Email
	case FieldName:
		return id.Name
	case FieldGroups:
		g, _ := id.joined()
		return g
	case FieldScopes:
		_, s := id.joined()
		return s
	case FieldClientID:
		return id.ClientID
	case FieldAuth:
		return id.Auth
	case FieldAMR:
		return strings.Join(id.AMR, ",")
	case FieldACR:
		return id.ACR
	}
	return ""
}

// ClaimString renders a claim value for a header or placeholder; ok is
// false for values that have no simple text form.
func ClaimString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool, int, int64:
		return fmt.Sprint(x), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := ClaimString(e)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), true
	case []string:
		return strings.Join(x, ","), true
	}
	return "", false
}

// HeaderMap says which request headers carry which identity fields to
// the upstream.
type HeaderMap map[string]string // header name → field

// DefaultHeaders are the identity headers set unless configured otherwise.
func DefaultHeaders() HeaderMap {
	return HeaderMap{
		"X-Auth-Subject":   FieldSubject,
		"X-Auth-Username":  FieldUsername,
		"X-Auth-Email":     FieldEmail,
		"X-Auth-Name":      FieldName,
		"X-Auth-Groups":    FieldGroups,
		"X-Auth-Scopes":    FieldScopes,
		"X-Auth-Client-Id": FieldClientID,
	}
}

// RemoteHeaders are the headers of apps written for other gateways.
func RemoteHeaders() HeaderMap {
	return HeaderMap{"Remote-User": FieldUsername, "Remote-Groups": FieldGroups, "Remote-Email": FieldEmail, "Remote-Name": FieldName}
}

// alwaysStripped are removed from every request, whatever the mapping,
// so a client can never pose as an identity.
var alwaysStripped = []string{
	"X-Auth-Subject", "X-Auth-Username", "X-Auth-Email", "X-Auth-Name", "X-Auth-Groups", "X-Auth-Scopes",
	"X-Auth-Client-Id", "Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name",
}

// names lists, canonical and once each, every header a client's copy of
// which is removed: the usual identity headers and the mapped ones.
func (m HeaderMap) names() []string {
	out := append([]string(nil), alwaysStripped...)
	for name := range m {
		name = http.CanonicalHeaderKey(name)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// Apply sets the mapped identity headers on h. Values with line breaks
// are dropped.
func (m HeaderMap) Apply(h http.Header, id *Identity) {
	for name, field := range m {
		v := id.Value(field)
		if v == "" || strings.ContainsAny(v, "\r\n") {
			continue
		}
		h.Set(name, v)
	}
}
