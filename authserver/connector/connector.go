// Package connector is the contract between the authorization server and
// the identity providers people sign in with besides its own users: an
// upstream OpenID Connect provider, GitHub, an LDAP directory. A
// [Redirect] connector sends the browser to the provider and finishes the
// sign-in at the server's callback; a [Password] connector checks a
// username and password itself. Either answers with the [Identity] the
// provider vouches for, or with a [*RefusedError] when the provider knows
// the person but the configuration does not let them in.
//
// Package authserver uses connectors and turns their identities into
// users; the subpackages oidc, github and ldap implement them, and
// caddymodule builds them from configuration. This package holds only
// the types, so that no connector depends on the server or on another.
package connector

import (
	"context"
	"errors"
	"net/url"
)

// Identity is a person as an identity provider vouches for them.
type Identity struct {
	// Subject is the provider's stable identifier of the person: an
	// OpenID provider's sub, GitHub's numeric user ID, an LDAP entry's
	// entryUUID or DN. It never changes when the email or username does.
	Subject string
	// Username is the provider's preferred username, if it has one.
	Username string
	// Email is the person's email address; EmailVerified says the
	// provider verified it (an unverified address is never used to
	// match an existing account).
	Email         string
	EmailVerified bool
	// Name is the display name.
	Name string
	// Groups are the provider's groups of the person (OIDC groups claim,
	// GitHub "org" and "org:team", LDAP group names). The server keeps
	// each with the provider's name and a colon before it, so that no
	// provider's group passes for another's or for a configured one.
	Groups []string
	// AMR is how the provider says the person signed in there: its ID
	// token's amr claim (RFC 8176 values such as "pwd", "otp", "mfa"),
	// empty when it said nothing. The server counts "mfa" as a second
	// factor only for a provider configured to be trusted with it.
	AMR []string
}

// Redirect is a connector that signs people in at the provider: the
// server sends the browser to AuthURL and the provider sends it back to
// the server's callback URL, whose query Callback reads.
type Redirect interface {
	// AuthURL returns where to send the browser. callbackURL is the
	// server's redirect URI for this connector; state, nonce and the
	// PKCE verifier are the server's, kept in its own cookie (a provider
	// that knows no nonce or PKCE ignores them).
	AuthURL(ctx context.Context, callbackURL, state, nonce, verifier string) (string, error)
	// Callback finishes the sign-in from the callback's query (after the
	// server checked state): it redeems the code with the verifier, checks
	// the nonce and the issuer, and returns who signed in. An error the
	// provider reported (error=access_denied, say) is a
	// [*ProviderError].
	Callback(ctx context.Context, callbackURL string, query url.Values, nonce, verifier string) (Identity, error)
}

// Password is a connector that checks a username and password itself,
// such as a directory.
type Password interface {
	// Login checks the credentials. ok is false for a wrong username or
	// password (the caller shows one message for both); err is for a
	// provider that could not answer, which is never a wrong password.
	Login(ctx context.Context, username, password string) (id Identity, ok bool, err error)
}

// RefusedError means the provider vouched for the person but the
// connector's allow-lists (domains, groups, organisations) keep them out.
// Reason is shown to the person as it is: plain words, no secrets.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "sign-in refused: " + e.Reason }

// Refused returns a [*RefusedError] with the reason.
func Refused(reason string) error { return &RefusedError{Reason: reason} }

// ProviderError is an error the provider sent back to the callback
// (RFC 6749 §4.1.2.1), such as access_denied when the person declined.
type ProviderError struct {
	Code        string
	Description string
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "the identity provider answered " + e.Code
	}
	return "the identity provider answered " + e.Code + ": " + e.Description
}

// CallbackError returns the [*ProviderError] a callback query carries, or
// nil when it carries none.
func CallbackError(query url.Values) error {
	code := query.Get("error")
	if code == "" {
		return nil
	}
	return &ProviderError{Code: code, Description: query.Get("error_description")}
}

// IsRefused reports whether err is, or wraps, a [*RefusedError], and
// returns it.
func IsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}
