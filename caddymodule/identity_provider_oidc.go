package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/connector/oidc"
)

func init() {
	caddy.RegisterModule(new(OIDCProvider))
}

// OIDCProvider lets people sign in with an upstream OpenID Connect
// provider: Google, Microsoft Entra ID, Okta, Keycloak, or any provider
// with OpenID Connect Discovery. The browser goes there with the
// authorization code flow and PKCE, and comes back to
// <issuer>/login/<name>/callback, the redirect URI to register with the
// provider. The provider's discovery document is fetched on the first
// sign-in, not when Caddy starts.
//
// Caddyfile, in the global authgate block:
//
//	identity_provider <name> oidc {
//	    issuer        <url>
//	    client_id     <id>
//	    client_secret <secret>
//	    scopes        <scope...>
//	    claims {
//	        username <claim>
//	        email    <claim>
//	        name     <claim>
//	        groups   <claim>
//	    }
//	    allow_domains <domain...>
//	    allow_groups  <group...>
//	    display_name  <text>
//	    trust_mfa
//	}
type OIDCProvider struct {
	// Name identifies the provider in URLs (/login/<name> and the
	// callback <issuer>/login/<name>/callback) and in its users'
	// usernames (<name>:<preferred_username>): lowercase letters, digits,
	// '-' and '_'. Required; the Caddyfile takes it from
	// `identity_provider <name> oidc`.
	Name string `json:"name,omitempty"`

	// DisplayName is shown on the sign-in page: "Continue with
	// <display_name>". Default: the name.
	DisplayName string `json:"display_name,omitempty"`

	// Issuer is the provider's issuer identifier, exactly as its
	// discovery document spells it, such as https://accounts.google.com
	// or https://login.microsoftonline.com/<tenant>/v2.0. https, or http
	// on a loopback host. Placeholders are replaced. Required.
	Issuer string `json:"issuer,omitempty"`

	// ClientID is the client ID the provider gave this server.
	// Placeholders are replaced. Required.
	ClientID string `json:"client_id,omitempty"`

	// ClientSecret is the client secret the provider gave this server;
	// empty for a public client. Placeholders are replaced: keep it out
	// of the config with {env.NAME} or {file./path}.
	ClientSecret string `json:"client_secret,omitempty"`

	// Scopes are requested from the provider. Default: openid profile
	// email; openid is added when missing. Add groups (or what the
	// provider calls it) for a groups claim.
	Scopes []string `json:"scopes,omitempty"`

	// Claims names the claims the person's identity is read from, when
	// the provider does not use the standard names.
	Claims OIDCClaimNames `json:"claims,omitzero"`

	// AllowDomains, if not empty, admits only people whose hd (hosted
	// domain: Google Workspace) claim is one of these domains, or whose
	// verified email address is in one of them. With exactly one domain,
	// Google's account chooser is told to offer only that domain.
	AllowDomains []string `json:"allow_domains,omitempty"`

	// AllowGroups, if not empty, admits only people in at least one of
	// these groups, as the groups claim names them.
	AllowGroups []string `json:"allow_groups,omitempty"`

	// TrustMFA counts a sign-in at the provider as one with a second
	// factor when its ID token's amr claim includes "mfa": such a person
	// is not asked for a second factor here, and their tokens say acr
	// "mfa". Only for a provider that checks second factors itself.
	// Default: a sign-in there is a first factor only.
	TrustMFA bool `json:"trust_mfa,omitempty"`

	cfg       oidc.Config // with the placeholders replaced
	connector *oidc.Connector
}

// OIDCClaimNames names the claims an OIDC provider's identity is read
// from, in the ID token or at the userinfo endpoint.
type OIDCClaimNames struct {
	// Username is the claim of the preferred username. Default
	// preferred_username.
	Username string `json:"username,omitempty"`
	// Email is the claim of the email address. Default email; whether
	// it is verified is read from email_verified.
	Email string `json:"email,omitempty"`
	// Name is the claim of the display name. Default name.
	Name string `json:"name,omitempty"`
	// Groups is the claim of the groups: a list of strings, or one
	// string. Default groups.
	Groups string `json:"groups,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*OIDCProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: identityProvidersNamespace + ".oidc", New: func() caddy.Module { return new(OIDCProvider) }}
}

// Provision replaces the placeholders and builds the connector, without
// contacting the provider.
func (p *OIDCProvider) Provision(caddy.Context) error {
	if err := p.provision(); err != nil {
		return providerError(p.Name, "oidc", err)
	}
	return nil
}

func (p *OIDCProvider) provision() error {
	if err := checkProviderName(p.Name); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	cfg := oidc.Config{
		Scopes: p.Scopes,
		Claims: oidc.ClaimNames{
			Username: p.Claims.Username, Email: p.Claims.Email, Name: p.Claims.Name, Groups: p.Claims.Groups,
		},
		AllowDomains: p.AllowDomains,
		AllowGroups:  p.AllowGroups,
	}
	var err error
	for _, f := range []struct {
		option, value string
		dst           *string
	}{
		{"issuer", p.Issuer, &cfg.Issuer},
		{"client_id", p.ClientID, &cfg.ClientID},
		{"client_secret", p.ClientSecret, &cfg.ClientSecret},
	} {
		if *f.dst, err = expand(repl, f.option, f.value); err != nil {
			return err
		}
	}
	switch {
	case cfg.Issuer == "":
		return errRequired("issuer")
	case cfg.ClientID == "":
		return errRequired("client_id")
	}
	c, err := oidc.New(cfg)
	if err != nil {
		return err
	}
	p.cfg, p.connector = cfg, c
	return nil
}

// IdentityProvider returns the provider, its connector built.
func (p *OIDCProvider) IdentityProvider() authserver.IdentityProvider {
	return authserver.IdentityProvider{Name: p.Name, DisplayName: p.DisplayName, Redirect: p.connector, TrustMFA: p.TrustMFA}
}

// oidcOptions are the options the switch in (p *OIDCProvider) UnmarshalCaddyfile knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var oidcOptions = []string{
	"issuer",
	"client_id",
	"client_secret",
	"scopes",
	"claims",
	"allow_domains",
	"allow_groups",
	"display_name",
	"trust_mfa",
}

// UnmarshalCaddyfile reads `oidc { … }`, the rest of an
// identity_provider line and its block.
func (p *OIDCProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider type
	if err := noArgs(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "issuer":
			err = oneArg(d, &p.Issuer)
		case "client_id":
			err = oneArg(d, &p.ClientID)
		case "client_secret":
			err = secretArg(d, &p.ClientSecret)
		case "scopes":
			err = someArgs(d, &p.Scopes)
		case "claims":
			err = p.unmarshalClaims(d)
		case "allow_domains":
			err = someArgs(d, &p.AllowDomains)
		case "allow_groups":
			err = someArgs(d, &p.AllowGroups)
		case "display_name":
			err = oneArg(d, &p.DisplayName)
		case "trust_mfa":
			err = flag(d, &p.TrustMFA)
		default:
			err = unrecognizedOption(d, "oidc", d.Val(), oidcOptions)
		}
		if err != nil {
			return err
		}
	}
	return requireOptions(d, "oidc", [2]string{"issuer", p.Issuer}, [2]string{"client_id", p.ClientID})
}

// oidcClaimOptions are the options the switch in (p *OIDCProvider) unmarshalClaims knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var oidcClaimOptions = []string{"username", "email", "name", "groups"}

// unmarshalClaims reads `claims { username <claim> … }`.
func (p *OIDCProvider) unmarshalClaims(d *caddyfile.Dispenser) error {
	if err := noArgs(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "username":
			err = oneArg(d, &p.Claims.Username)
		case "email":
			err = oneArg(d, &p.Claims.Email)
		case "name":
			err = oneArg(d, &p.Claims.Name)
		case "groups":
			err = oneArg(d, &p.Claims.Groups)
		default:
			err = d.Errf("unrecognized claims option %q%s (want username, email, name or groups)", d.Val(), didYouMean(d.Val(), oidcClaimOptions...))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ IdentityProviderModule = (*OIDCProvider)(nil)
	_ caddy.Provisioner      = (*OIDCProvider)(nil)
	_ caddyfile.Unmarshaler  = (*OIDCProvider)(nil)
)
