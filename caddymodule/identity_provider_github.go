package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/connector/github"
)

func init() {
	caddy.RegisterModule(new(GitHubProvider))
}

// GitHubProvider lets people sign in with their GitHub account, on
// github.com or a GitHub Enterprise Server, optionally only members of
// given organisations or teams. Register an OAuth app (not a GitHub App)
// whose authorization callback URL is <issuer>/login/<name>/callback.
// Their groups are their organisations ("acme") and teams
// ("acme:site-reliability"), read only when orgs or teams are set.
//
// Caddyfile, in the global authgate block:
//
//	identity_provider <name> github {
//	    client_id      <id>
//	    client_secret  <secret>
//	    orgs           <org...>
//	    teams          <org/team-slug...>
//	    enterprise_url <url>
//	    display_name   <text>
//	}
type GitHubProvider struct {
	// Name identifies the provider in URLs (/login/<name> and the
	// callback <issuer>/login/<name>/callback) and in its users'
	// usernames (<name>:<login>): lowercase letters, digits, '-' and
	// '_'. Required; the Caddyfile takes it from
	// `identity_provider <name> github`.
	Name string `json:"name,omitempty"`

	// DisplayName is shown on the sign-in page: "Continue with
	// <display_name>". Default: GitHub.
	DisplayName string `json:"display_name,omitempty"`

	// ClientID is the OAuth app's client ID. Placeholders are replaced.
	// Required.
	ClientID string `json:"client_id,omitempty"`

	// ClientSecret is a client secret of the OAuth app. Placeholders are
	// replaced: keep it out of the config with {env.NAME} or
	// {file./path}. Required.
	ClientSecret string `json:"client_secret,omitempty"`

	// Orgs are organisation logins ("acme"). With orgs or teams set, only
	// members of a listed organisation or team may sign in, and each
	// organisation's owners must grant the OAuth app access to it.
	Orgs []string `json:"orgs,omitempty"`

	// Teams are teams as org/team-slug ("acme/site-reliability"), the
	// slug as in the team's URL.
	Teams []string `json:"teams,omitempty"`

	// EnterpriseURL is a GitHub Enterprise Server's address, such as
	// https://github.example.com; empty means github.com. https, or http
	// on a loopback host. Placeholders are replaced.
	EnterpriseURL string `json:"enterprise_url,omitempty"`

	cfg       github.Config // with the placeholders replaced
	connector *github.Connector
}

// CaddyModule returns the Caddy module information.
func (*GitHubProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: identityProvidersNamespace + ".github", New: func() caddy.Module { return new(GitHubProvider) }}
}

// Provision replaces the placeholders and builds the connector, without
// contacting GitHub.
func (p *GitHubProvider) Provision(caddy.Context) error {
	if err := p.provision(); err != nil {
		return providerError(p.Name, "github", err)
	}
	return nil
}

func (p *GitHubProvider) provision() error {
	if err := checkProviderName(p.Name); err != nil {
		return err
	}
	if p.DisplayName == "" {
		p.DisplayName = "GitHub"
	}
	repl := caddy.NewReplacer()
	cfg := github.Config{Orgs: p.Orgs, Teams: p.Teams}
	var err error
	for _, f := range []struct {
		option, value string
		dst           *string
	}{
		{"client_id", p.ClientID, &cfg.ClientID},
		{"client_secret", p.ClientSecret, &cfg.ClientSecret},
		{"enterprise_url", p.EnterpriseURL, &cfg.EnterpriseURL},
	} {
		if *f.dst, err = expand(repl, f.option, f.value); err != nil {
			return err
		}
	}
	switch {
	case cfg.ClientID == "":
		return errRequired("client_id")
	case cfg.ClientSecret == "":
		return errRequired("client_secret")
	}
	c, err := github.New(cfg)
	if err != nil {
		return err
	}
	p.cfg, p.connector = cfg, c
	return nil
}

// IdentityProvider returns the provider, its connector built.
func (p *GitHubProvider) IdentityProvider() authserver.IdentityProvider {
	return authserver.IdentityProvider{Name: p.Name, DisplayName: p.DisplayName, Redirect: p.connector}
}

// githubOptions are the options the switch in (p *GitHubProvider) UnmarshalCaddyfile knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var githubOptions = []string{"client_id", "client_secret", "orgs", "teams", "enterprise_url", "display_name"}

// UnmarshalCaddyfile reads `github { … }`, the rest of an
// identity_provider line and its block.
func (p *GitHubProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider type
	if err := noArgs(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "client_id":
			err = oneArg(d, &p.ClientID)
		case "client_secret":
			err = secretArg(d, &p.ClientSecret)
		case "orgs":
			err = someArgs(d, &p.Orgs)
		case "teams":
			err = someArgs(d, &p.Teams)
		case "enterprise_url":
			err = oneArg(d, &p.EnterpriseURL)
		case "display_name":
			err = oneArg(d, &p.DisplayName)
		default:
			err = unrecognizedOption(d, "github", d.Val(), githubOptions)
		}
		if err != nil {
			return err
		}
	}
	return requireOptions(d, "github", [2]string{"client_id", p.ClientID}, [2]string{"client_secret", p.ClientSecret})
}

// Interface guards
var (
	_ IdentityProviderModule = (*GitHubProvider)(nil)
	_ caddy.Provisioner      = (*GitHubProvider)(nil)
	_ caddyfile.Unmarshaler  = (*GitHubProvider)(nil)
)
