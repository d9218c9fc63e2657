package caddymodule

import (
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/password"
)

// ClientConfig is an OAuth client declared in the configuration.
type ClientConfig struct {
	// ID is the client_id. Required.
	ID string `json:"id"`

	// Name is the client's name as shown to users. Default: the ID.
	Name string `json:"name,omitempty"`

	// Secret is a confidential client's secret in clear. Placeholders such
	// as {env.DEMO_SECRET} are replaced. Give it or SecretHash, not both.
	Secret string `json:"secret,omitempty"`

	// SecretHash is a bcrypt (as `caddy hash-password` prints it) or
	// argon2id (PHC string) hash of a confidential client's secret. A
	// successful check is remembered for a few minutes, keyed by a hash of
	// the presented secret, so that slow hashes do not slow every request.
	SecretHash string `json:"secret_hash,omitempty"`

	// Public marks a client that cannot keep a secret, such as a browser
	// or mobile app. It authenticates with "none".
	Public bool `json:"public,omitempty"`

	// TokenEndpointAuthMethod restricts a confidential client to
	// client_secret_basic or client_secret_post. Default: either.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`

	// RedirectURIs are the exact redirect URIs of the client.
	RedirectURIs []string `json:"redirect_uris,omitempty"`

	// GrantTypes the client may use: authorization_code, refresh_token,
	// client_credentials, urn:ietf:params:oauth:grant-type:device_code
	// (device_code for short). Default: client_credentials for a
	// confidential client without redirect URIs, otherwise
	// authorization_code and refresh_token.
	GrantTypes []string `json:"grant_types,omitempty"`

	// Scopes the client may request. A request without a scope gets them
	// all.
	Scopes []string `json:"scopes,omitempty"`

	// Audiences the client may request tokens for with the RFC 8707
	// resource parameter. A request without one gets all of them, or the
	// issuer when none is set.
	Audiences []string `json:"audiences,omitempty"`

	// AccessTokenLifetime overrides the app's access token lifetime for
	// this client.
	AccessTokenLifetime caddy.Duration `json:"access_token_lifetime,omitempty"`

	// IntrospectAny lets this client see the details of any token at the
	// introspection endpoint, as a resource server needs. Without it, a
	// client sees details only of tokens issued to it or naming it as
	// audience, and only "active" of others.
	IntrospectAny bool `json:"introspect_any,omitempty"`

	// RequirePKCE makes PKCE mandatory for a confidential client. It
	// always is for public clients.
	RequirePKCE bool `json:"require_pkce,omitempty"`

	// AllowPlainPKCE accepts code_challenge_method=plain from this
	// client. Default: only S256.
	AllowPlainPKCE bool `json:"allow_plain_pkce,omitempty"`

	// SkipConsent marks a first-party client: users are not asked to
	// approve its access.
	SkipConsent bool `json:"skip_consent,omitempty"`

	// IssueRefreshTokens gives the client refresh tokens without the
	// offline_access scope (it still needs the refresh_token grant).
	IssueRefreshTokens bool `json:"issue_refresh_tokens,omitempty"`

	// RequirePAR makes this client push its authorization requests
	// first (RFC 9126).
	RequirePAR bool `json:"require_par,omitempty"`

	// RequireMFA makes users sign in to this client with a second
	// factor; a session signed in with a password alone is asked for
	// one first.
	RequireMFA bool `json:"require_mfa,omitempty"`

	// PostLogoutRedirectURIs are where OpenID Connect RP-initiated logout
	// may send the user back to.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
}

// UserConfig is a local user declared in the configuration.
type UserConfig struct {
	// Username is what the user types to sign in, and the subject (sub)
	// of the user's tokens. Required.
	Username string `json:"username"`

	// PasswordHash is a bcrypt hash (as `caddy hash-password` prints it)
	// or an argon2id PHC string. Required.
	PasswordHash string `json:"password_hash"`

	// Email is released with the email scope.
	Email string `json:"email,omitempty"`

	// Name is the full name, released with the profile scope.
	Name string `json:"name,omitempty"`

	// Groups are released with the groups scope.
	Groups []string `json:"groups,omitempty"`

	// Disabled users cannot sign in; their sessions and refresh tokens
	// stop working.
	Disabled bool `json:"disabled,omitempty"`
}

func buildUsers(configs []*UserConfig) ([]*authserver.User, error) {
	repl := caddy.NewReplacer()
	out := make([]*authserver.User, 0, len(configs))
	for _, uc := range configs {
		if uc.Username == "" {
			return nil, fmt.Errorf("a user has no username")
		}
		h, err := password.Parse(repl.ReplaceAll(uc.PasswordHash, ""))
		if err != nil {
			return nil, fmt.Errorf("user %q: password_hash: %w", uc.Username, err)
		}
		out = append(out, &authserver.User{
			Username: uc.Username, Password: h, Email: uc.Email, Name: uc.Name,
			Groups: uc.Groups, Disabled: uc.Disabled,
		})
	}
	return out, nil
}

// buildClients turns the configured clients into the authorization
// server's values: it maps syntax (placeholders, the secret forms, the
// device_code short name) and leaves the rules to authserver.New.
func buildClients(configs []*ClientConfig) ([]*authserver.Client, error) {
	repl := caddy.NewReplacer()
	out := make([]*authserver.Client, 0, len(configs))
	for _, cc := range configs {
		c, err := cc.build(repl)
		if err != nil {
			return nil, fmt.Errorf("client %q: %w", cc.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (cc *ClientConfig) build(repl *caddy.Replacer) (*authserver.Client, error) {
	if cc.ID == "" {
		return nil, fmt.Errorf("id is required")
	}
	c := &authserver.Client{
		ID: cc.ID, Name: cc.Name, Public: cc.Public, AuthMethod: cc.TokenEndpointAuthMethod,
		RedirectURIs: cc.RedirectURIs, Scopes: cc.Scopes, Audiences: cc.Audiences,
		AccessTokenLifetime: time.Duration(cc.AccessTokenLifetime), IntrospectAny: cc.IntrospectAny,
		RequirePKCE: cc.RequirePKCE, AllowPlainPKCE: cc.AllowPlainPKCE, SkipConsent: cc.SkipConsent,
		IssueRefreshTokens: cc.IssueRefreshTokens, RequirePAR: cc.RequirePAR, RequireMFA: cc.RequireMFA,
		PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs,
	}
	switch {
	case cc.Secret != "" && cc.SecretHash != "":
		return nil, fmt.Errorf("give secret or secret_hash, not both")
	case cc.Secret != "":
		secret := repl.ReplaceAll(cc.Secret, "")
		if secret == "" {
			return nil, fmt.Errorf("secret is empty after replacing placeholders")
		}
		c.Secret = authserver.PlainSecret(secret)
	case cc.SecretHash != "":
		s, err := authserver.HashedSecret(repl.ReplaceAll(cc.SecretHash, ""))
		if err != nil {
			return nil, fmt.Errorf("secret_hash: %w", err)
		}
		c.Secret = s
	}
	for _, gt := range cc.GrantTypes {
		if gt == "device_code" {
			gt = authserver.GrantDeviceCode
		}
		if !slices.Contains(c.GrantTypes, gt) {
			c.GrantTypes = append(c.GrantTypes, gt)
		}
	}
	return c, nil
}
