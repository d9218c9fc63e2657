package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver"
)

// Identity providers let people sign in to the bundled authorization
// server with an account elsewhere: an OpenID Connect provider, GitHub,
// an LDAP directory. Each is a Caddy module in the namespace
// authgate.identity_providers, so that other plugins can add more; the
// app lists them in its identity_providers field, each object naming its
// module in "provider":
//
//	"identity_providers": [
//	    {"provider": "oidc", "name": "corp", "issuer": "https://sso.example.com", ...},
//	    {"provider": "ldap", "name": "directory", "url": "ldaps://ldap.example.com", ...}
//	]
//
// and the Caddyfile's global authgate block has one line, and block, per
// provider:
//
//	identity_provider <name> <oidc|github|ldap|...> {
//	    ...
//	}
//
// A provider that sends the browser away (OIDC, GitHub) comes back to
// the server's callback, <issuer>/login/<name>/callback: that is the
// redirect URI to register with it.

// identityProvidersNamespace is the module namespace of identity
// providers: a provider of type t is the module
// authgate.identity_providers.t.
const identityProvidersNamespace = "authgate.identity_providers"

// IdentityProviderModule is a module in the authgate.identity_providers
// namespace: an upstream identity provider. Its JSON object names its
// module in "provider" and its own name in "name" (the Caddyfile's
// `identity_provider <name> <type>` sets both); its Caddyfile block is
// read by its UnmarshalCaddyfile, which gets the tokens from the type on.
// It builds its connector when provisioned, without contacting the
// provider, so that Caddy can start while a provider is down.
type IdentityProviderModule interface {
	caddy.Module
	// IdentityProvider returns the provider for the authorization
	// server, with exactly one of its connectors set. The app calls it
	// once the module is provisioned.
	IdentityProvider() authserver.IdentityProvider
}

// providerNamePattern is the rule authserver.New holds a provider's name
// to: it appears in URLs (/login/<name>) and usernames (<name>:<user>).
var providerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// checkProviderName checks a provider's name.
func checkProviderName(name string) error {
	if name == "" {
		return errors.New("a name is required")
	}
	if !providerNamePattern.MatchString(name) {
		return fmt.Errorf("name %q: use lowercase letters, digits, '-' and '_' (at most 63, starting with a letter or digit)", name)
	}
	return nil
}

// providerError puts the provider's name and type before err.
func providerError(name, typ string, err error) error {
	if name == "" {
		return fmt.Errorf("identity provider (%s): %w", typ, err)
	}
	return fmt.Errorf("identity provider %q (%s): %w", name, typ, err)
}

// expand replaces the placeholders Caddy knows everywhere ({env.NAME},
// {file./path}, ...) in a configured value, leaving any other braces as
// they are. A value that is empty only once they are replaced is an
// error: an unset variable or an unreadable file would otherwise
// silently leave a secret empty. The error names the option, never the
// value.
func expand(repl *caddy.Replacer, option, value string) (string, error) {
	out := repl.ReplaceKnown(value, "")
	if out == "" && value != "" {
		return "", fmt.Errorf("%s is empty once its placeholders are replaced (is the environment variable set, the file readable?)", option)
	}
	return out, nil
}

// loadIdentityProviders provisions the identity provider modules and
// returns their providers, in order.
func (a *App) loadIdentityProviders(ctx caddy.Context) ([]authserver.IdentityProvider, error) {
	if len(a.IdentityProvidersRaw) == 0 {
		return nil, nil
	}
	mods, err := ctx.LoadModule(a, "IdentityProvidersRaw")
	if err != nil {
		return nil, fmt.Errorf("loading identity providers: %w", err)
	}
	var out []authserver.IdentityProvider
	seen := map[string]bool{}
	for i, m := range mods.([]any) {
		mod, ok := m.(IdentityProviderModule)
		if !ok {
			return nil, fmt.Errorf("identity provider %d: module %T is not an identity provider", i, m)
		}
		p := mod.IdentityProvider()
		if seen[p.Name] {
			return nil, fmt.Errorf("identity provider %q is defined twice", p.Name)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

// parseIdentityProvider reads `identity_provider <name> <type> { … }` in
// the global authgate block: the module authgate.identity_providers.<type>
// reads the type and its block, and the name goes into its JSON object.
func parseIdentityProvider(d *caddyfile.Dispenser) (name string, raw json.RawMessage, err error) {
	const usage = "identity_provider <name> <type> { … }, the type being one of "
	if !d.NextArg() {
		return "", nil, d.Errf("identity_provider needs a name and a type: %s%s", usage, knownProviders())
	}
	name = d.Val()
	if err := checkProviderName(name); err != nil {
		return "", nil, d.Errf("identity_provider %s", err)
	}
	if !d.NextArg() {
		return "", nil, d.Errf("identity_provider %s needs a type: %s%s", name, usage, knownProviders())
	}
	typ := d.Val()
	id := identityProvidersNamespace + "." + typ
	if _, err := caddy.GetModule(id); err != nil {
		return "", nil, d.Errf("identity_provider %s: unknown type %q%s (want one of %s)", name, typ, didYouMean(typ, strings.Split(knownProviders(), ", ")...), knownProviders())
	}
	unm, err := caddyfile.UnmarshalModule(d, id)
	if err != nil {
		return "", nil, fmt.Errorf("identity_provider %s: %w", name, err)
	}
	b, err := json.Marshal(unm)
	if err != nil {
		return "", nil, fmt.Errorf("identity_provider %s: encoding: %w", name, err)
	}
	obj := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return "", nil, fmt.Errorf("identity_provider %s: module %s is not encoded as a JSON object: %w", name, id, err)
	}
	obj["provider"], obj["name"] = typ, name
	if raw, err = json.Marshal(obj); err != nil {
		return "", nil, fmt.Errorf("identity_provider %s: encoding: %w", name, err)
	}
	return name, raw, nil
}

// knownProviders lists the identity provider types registered.
func knownProviders() string {
	var known []string
	for _, m := range caddy.GetModules(identityProvidersNamespace) {
		known = append(known, m.ID.Name())
	}
	sort.Strings(known)
	return strings.Join(known, ", ")
}

// secretArg reads an option's one value, a secret: its errors never
// show what was typed, which may be part of the secret.
func secretArg(d *caddyfile.Dispenser, dst *string) error {
	option := d.Val()
	if !d.NextArg() || d.Val() == "" {
		return d.Errf("%s needs a value, such as {env.SECRET_NAME}", option)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one value; quote a secret that has spaces", option)
	}
	return nil
}

// noArgs checks that an option that opens a block has no arguments.
func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// requireOptions returns an error naming the first of the required
// options (name and value pairs) that is empty.
func requireOptions(d *caddyfile.Dispenser, typ string, options ...[2]string) error {
	for _, o := range options {
		if o[1] == "" {
			return d.Errf("%s: %s is required", typ, o[0])
		}
	}
	return nil
}

// errRequired says a required option is missing.
func errRequired(option string) error { return fmt.Errorf("%s is required", option) }
