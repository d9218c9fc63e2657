package caddymodule

import (
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/connector/ldap"
	"github.com/authgate/authgate/authserver/loopback"
)

func init() {
	caddy.RegisterModule(new(LDAPProvider))
}

// LDAPProvider lets people sign in with their directory account: an
// LDAP directory (OpenLDAP, 389 Directory Server, FreeIPA, Active
// Directory, ...) checks the username and password typed into the
// sign-in form, where the directory is one of the accounts to choose
// from. The connector binds as the service account, finds the one entry
// user_filter matches, binds as that entry with the password, and reads
// the person's groups with group_filter. Nothing is contacted when Caddy
// starts; each sign-in opens its own connection.
//
// Caddyfile, in the global authgate block:
//
//	identity_provider <name> ldap {
//	    url           ldap://<host>[:port] | ldaps://<host>[:port]
//	    bind_dn       <dn>
//	    bind_password <password>
//	    base_dn       <dn>
//	    user_filter   <filter with {username}>
//	    group_base_dn <dn>
//	    group_filter  <filter with {dn} or {username}>
//	    attributes {
//	        username <attribute>
//	        email    <attribute>
//	        name     <attribute>
//	        group    <attribute>
//	        subject  <attribute>
//	    }
//	    starttls
//	    ca            <pem file>
//	    timeout       <duration>
//	    allow_groups  <group...>
//	    display_name  <text>
//	}
type LDAPProvider struct {
	// Name identifies the provider in the sign-in form and in its users'
	// usernames (<name>:<uid>): lowercase letters, digits, '-' and '_'.
	// Required; the Caddyfile takes it from
	// `identity_provider <name> ldap`.
	Name string `json:"name,omitempty"`

	// DisplayName is the directory's name in the sign-in form's list of
	// accounts. Default: the name.
	DisplayName string `json:"display_name,omitempty"`

	// URL is the directory's address: ldap://host[:port] (389 by
	// default; add starttls unless on loopback or a private link, or
	// passwords cross the network in clear) or ldaps://host[:port] (636
	// by default). Placeholders are replaced. Required.
	URL string `json:"url,omitempty"`

	// BindDN is the service account that searches people and groups,
	// such as cn=authgate,ou=services,dc=example,dc=org. Empty, with
	// BindPassword, for anonymous searches. Placeholders are replaced.
	BindDN string `json:"bind_dn,omitempty"`

	// BindPassword is the service account's password. Placeholders are
	// replaced: keep it out of the config with {env.NAME} or
	// {file./path}.
	BindPassword string `json:"bind_password,omitempty"`

	// BaseDN is where people are searched (the whole subtree), such as
	// ou=people,dc=example,dc=org. Placeholders are replaced. Required.
	BaseDN string `json:"base_dn,omitempty"`

	// UserFilter finds the person's entry; {username} stands for what
	// they typed, escaped. It must match exactly one entry, and is how to
	// leave out disabled accounts. Default
	// (&(objectClass=person)(uid={username})).
	UserFilter string `json:"user_filter,omitempty"`

	// GroupBaseDN is where groups are searched. Default: BaseDN.
	// Placeholders are replaced.
	GroupBaseDN string `json:"group_base_dn,omitempty"`

	// GroupFilter finds the person's groups; {dn} stands for the
	// person's DN and {username} for their username as the directory
	// has it. Default (&(objectClass=groupOfNames)(member={dn})).
	GroupFilter string `json:"group_filter,omitempty"`

	// Attributes names the attributes the identity is read from, when
	// the directory does not use the defaults.
	Attributes LDAPAttributeNames `json:"attributes,omitzero"`

	// StartTLS upgrades an ldap:// connection to TLS before anything
	// else is sent.
	StartTLS bool `json:"starttls,omitempty"`

	// CACert is the PEM of the certificate authorities trusted for the
	// directory's certificate, instead of the system's. Placeholders are
	// replaced ({file./path} reads a file). Needs ldaps:// or StartTLS.
	CACert string `json:"ca_cert,omitempty"`

	// CAFile is a PEM file of the certificate authorities trusted for the
	// directory's certificate, read when Caddy loads the config. Needs
	// ldaps:// or StartTLS. Placeholders are replaced.
	CAFile string `json:"ca_file,omitempty"`

	// Timeout bounds each sign-in's whole exchange with the directory.
	// Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// AllowGroups, if not empty, lets in only members of at least one of
	// these groups (compared without regard to case); others are shown
	// that they may not sign in here.
	AllowGroups []string `json:"allow_groups,omitempty"`

	cfg       ldap.Config // with the placeholders replaced
	connector *ldap.Connector
}

// LDAPAttributeNames names the directory attributes an LDAP identity is
// read from.
type LDAPAttributeNames struct {
	// Username is the person's username. Default uid (sAMAccountName on
	// Active Directory).
	Username string `json:"username,omitempty"`
	// Email is the email address. Default mail.
	Email string `json:"email,omitempty"`
	// Name is the display name. Default cn (or displayName).
	Name string `json:"name,omitempty"`
	// Group is the group entry's attribute that names the group.
	// Default cn.
	Group string `json:"group,omitempty"`
	// Subject is the person's stable identifier. Default entryUUID
	// (objectGUID on Active Directory); an entry without it is
	// identified by its DN.
	Subject string `json:"subject,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*LDAPProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: identityProvidersNamespace + ".ldap", New: func() caddy.Module { return new(LDAPProvider) }}
}

// Provision replaces the placeholders and builds the connector (reading
// the CA file), without contacting the directory.
func (p *LDAPProvider) Provision(ctx caddy.Context) error {
	if err := p.provision(); err != nil {
		return providerError(p.Name, "ldap", err)
	}
	// People's passwords go to the directory: in clear text over ldap://
	// without StartTLS, which is fine on this machine or a private link
	// only, so a directory elsewhere gets a warning at every start.
	if u, err := url.Parse(p.cfg.URL); err == nil && strings.EqualFold(u.Scheme, "ldap") && !p.cfg.StartTLS && !loopback.IsHost(u.Hostname()) {
		ctx.Logger().Warn("the directory's sign-ins send passwords in clear text: use ldaps:// or starttls unless the link to it is private",
			zap.String("identity_provider", p.Name), zap.String("url", p.cfg.URL))
	}
	return nil
}

func (p *LDAPProvider) provision() error {
	if err := checkProviderName(p.Name); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	cfg := ldap.Config{
		UserFilter:  p.UserFilter,
		GroupFilter: p.GroupFilter,
		Attributes: ldap.AttributeNames{
			Username: p.Attributes.Username, Email: p.Attributes.Email, Name: p.Attributes.Name,
			Group: p.Attributes.Group, Subject: p.Attributes.Subject,
		},
		StartTLS:    p.StartTLS,
		Timeout:     time.Duration(p.Timeout),
		AllowGroups: p.AllowGroups,
	}
	var caCert string
	var err error
	for _, f := range []struct {
		option, value string
		dst           *string
	}{
		{"url", p.URL, &cfg.URL},
		{"bind_dn", p.BindDN, &cfg.BindDN},
		{"bind_password", p.BindPassword, &cfg.BindPassword},
		{"base_dn", p.BaseDN, &cfg.BaseDN},
		{"group_base_dn", p.GroupBaseDN, &cfg.GroupBaseDN},
		{"ca_cert", p.CACert, &caCert},
		{"ca_file", p.CAFile, &cfg.CAFile},
	} {
		if *f.dst, err = expand(repl, f.option, f.value); err != nil {
			return err
		}
	}
	if caCert != "" {
		cfg.CACert = []byte(caCert)
	}
	switch {
	case cfg.URL == "":
		return errRequired("url")
	case cfg.BaseDN == "":
		return errRequired("base_dn")
	}
	c, err := ldap.New(cfg)
	if err != nil {
		return err
	}
	p.cfg, p.connector = cfg, c
	return nil
}

// IdentityProvider returns the provider, its connector built.
func (p *LDAPProvider) IdentityProvider() authserver.IdentityProvider {
	return authserver.IdentityProvider{Name: p.Name, DisplayName: p.DisplayName, Password: p.connector}
}

// ldapOptions are the options the switch in (p *LDAPProvider) UnmarshalCaddyfile knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var ldapOptions = []string{
	"url",
	"bind_dn",
	"bind_password",
	"base_dn",
	"user_filter",
	"group_base_dn",
	"group_filter",
	"attributes",
	"starttls",
	"ca",
	"timeout",
	"allow_groups",
	"display_name",
}

// UnmarshalCaddyfile reads `ldap { … }`, the rest of an
// identity_provider line and its block.
func (p *LDAPProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider type
	if err := noArgs(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "url":
			err = oneArg(d, &p.URL)
		case "bind_dn":
			err = oneArg(d, &p.BindDN)
		case "bind_password":
			err = secretArg(d, &p.BindPassword)
		case "base_dn":
			err = oneArg(d, &p.BaseDN)
		case "user_filter":
			err = oneArg(d, &p.UserFilter)
		case "group_base_dn":
			err = oneArg(d, &p.GroupBaseDN)
		case "group_filter":
			err = oneArg(d, &p.GroupFilter)
		case "attributes":
			err = p.unmarshalAttributes(d)
		case "starttls":
			err = flag(d, &p.StartTLS)
		case "ca":
			err = oneArg(d, &p.CAFile)
		case "timeout":
			err = durationArg(d, &p.Timeout)
		case "allow_groups":
			err = someArgs(d, &p.AllowGroups)
		case "display_name":
			err = oneArg(d, &p.DisplayName)
		default:
			err = unrecognizedOption(d, "ldap", d.Val(), ldapOptions)
		}
		if err != nil {
			return err
		}
	}
	return requireOptions(d, "ldap", [2]string{"url", p.URL}, [2]string{"base_dn", p.BaseDN})
}

// ldapAttributeOptions are the options the switch in (p *LDAPProvider) unmarshalAttributes knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var ldapAttributeOptions = []string{"username", "email", "name", "group", "subject"}

// unmarshalAttributes reads `attributes { username <attribute> … }`.
func (p *LDAPProvider) unmarshalAttributes(d *caddyfile.Dispenser) error {
	if err := noArgs(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "username":
			err = oneArg(d, &p.Attributes.Username)
		case "email":
			err = oneArg(d, &p.Attributes.Email)
		case "name":
			err = oneArg(d, &p.Attributes.Name)
		case "group":
			err = oneArg(d, &p.Attributes.Group)
		case "subject":
			err = oneArg(d, &p.Attributes.Subject)
		default:
			err = d.Errf("unrecognized attributes option %q%s (want username, email, name, group or subject)", d.Val(), didYouMean(d.Val(), ldapAttributeOptions...))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ IdentityProviderModule = (*LDAPProvider)(nil)
	_ caddy.Provisioner      = (*LDAPProvider)(nil)
	_ caddyfile.Unmarshaler  = (*LDAPProvider)(nil)
)
