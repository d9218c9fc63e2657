package caddymodule

import (
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("authgate", parseGatewayDirective)
	httpcaddyfile.RegisterHandlerDirective("authgate_verify", parseVerifyDirective)
}

// parseGatewayDirective sets up the authgate handler. Syntax:
//
//	authgate [<matcher>] {
//	    accept          bearer|session...
//	    name            <text>
//	    require         scope|audience <value...>
//	    require         scope <scope...> for tool <tool...>
//	    require         mfa
//	    allow|deny      user|group|client|scope|audience <value...>
//	    allow|deny      claim <name> <value...>
//	    allow|deny      expression <cel expression>
//	    allow|deny      tool <tool...>
//	    mcp             [<max_body_size>]
//	    issuer          <url>
//	    client_id       <id>
//	    client_secret   <secret>
//	    algorithms      <alg...>
//	    allow_plain_jwt
//	    introspection   <endpoint> <client_id> <client_secret>
//	    header          <Header-Name> <field>
//	    remote_headers
//	    strip_authorization
//	    cookie_name     <name>
//	    cookie_domain   <domain>
//	    session_lifetime <duration>
//	    callback_path   <path>
//	    logout_path     <path>
//	    scopes          <scope...>
//	    resource_path   <path>
//	    realm           <realm>
//	    hosts           <host...>
//	    bare_token
//	    cors            [<origin...>]
//	    cache_size      <n>
//	}
func parseGatewayDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		if err := parseGatewayOption(h.Dispenser, &g.GatewayConfig); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// parseVerifyDirective sets up the authgate_verify handler: the options
// of authgate, plus
//
//	trusted_proxies <cidr...|private_ranges>
func parseVerifyDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	v := new(Verify)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		if h.Val() == "trusted_proxies" {
			if err := someArgs(h.Dispenser, &v.TrustedProxies); err != nil {
				return nil, err
			}
			continue
		}
		if err := parseGatewayOption(h.Dispenser, &v.GatewayConfig, "trusted_proxies"); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// gatewayOptions are the options the switch in parseGatewayOption knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var gatewayOptions = []string{
	"accept",
	"name",
	"require",
	"allow",
	"deny",
	"issuer",
	"client_id",
	"client_secret",
	"algorithms",
	"allow_plain_jwt",
	"introspection",
	"header",
	"remote_headers",
	"strip_authorization",
	"cookie_name",
	"cookie_domain",
	"session_lifetime",
	"callback_path",
	"logout_path",
	"scopes",
	"resource_path",
	"realm",
	"hosts",
	"bare_token",
	"cors",
	"mcp",
	"cache_size",
}

func parseGatewayOption(d *caddyfile.Dispenser, g *GatewayConfig, extra ...string) error {
	switch opt := d.Val(); opt {
	case "accept":
		return someArgs(d, &g.Accept)
	case "name":
		return oneArg(d, &g.Name)
	case "require":
		var args []string
		if err := someArgs(d, &args); err != nil {
			return err
		}
		if g.Require == nil {
			g.Require = new(RequireConfig)
		}
		if args[0] == "mfa" {
			if len(args) > 1 {
				return d.Errf("require mfa takes no values")
			}
			g.Require.MFA = true
			return nil
		}
		if len(args) < 2 {
			return d.Errf("require takes scope or audience and at least one value, or mfa")
		}
		// require scope <scope...> for tool <tool...>
		if i := slices.Index(args, "for"); (args[0] == "scope" || args[0] == "scopes") && i > 0 && i+1 < len(args) && (args[i+1] == "tool" || args[i+1] == "tools") {
			if i == 1 || i+2 >= len(args) {
				return d.Errf("require scope <scope...> for tool <tool...>: name at least one scope and one tool")
			}
			g.Require.Tools = append(g.Require.Tools, ToolScopesConfig{Scopes: args[1:i], Tools: args[i+2:]})
			return nil
		}
		switch args[0] {
		case "scope", "scopes":
			g.Require.Scopes = append(g.Require.Scopes, args[1:]...)
		case "audience", "audiences":
			g.Require.Audiences = append(g.Require.Audiences, args[1:]...)
		default:
			return d.Errf("require %q: want scope, audience or mfa", args[0])
		}
		return nil
	case "allow", "deny":
		args := d.RemainingArgs()
		if len(args) < 2 {
			return d.Errf("%s takes a kind (user, group, client, scope, audience, claim, expression, tool) and values", opt)
		}
		rule := RuleConfig{Effect: opt, Kind: args[0]}
		switch args[0] {
		case "expression":
			rule.Expression = strings.Join(args[1:], " ")
		case "claim":
			if len(args) < 3 {
				return d.Errf("%s claim takes a claim name and values", opt)
			}
			rule.Claim, rule.Values = args[1], args[2:]
		default:
			rule.Values = args[1:]
		}
		g.Rules = append(g.Rules, rule)
		return nil
	case "issuer":
		return oneArg(d, &g.Issuer)
	case "client_id":
		return oneArg(d, &g.ClientID)
	case "client_secret":
		return oneArg(d, &g.ClientSecret)
	case "algorithms":
		return someArgs(d, &g.Algorithms)
	case "allow_plain_jwt":
		return flag(d, &g.AllowPlainJWT)
	case "introspection":
		args := d.RemainingArgs()
		if len(args) != 3 {
			return d.Errf("introspection takes <endpoint> <client_id> <client_secret>")
		}
		g.Introspection = &IntrospectionConfig{Endpoint: args[0], ClientID: args[1], ClientSecret: args[2]}
		return nil
	case "header":
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.Errf("header takes <Header-Name> <field>")
		}
		if g.Headers == nil {
			g.Headers = map[string]string{}
		}
		g.Headers[args[0]] = args[1]
		return nil
	case "remote_headers":
		return flag(d, &g.RemoteHeaders)
	case "strip_authorization":
		return flag(d, &g.StripAuthorization)
	case "cookie_name":
		return oneArg(d, &g.CookieName)
	case "cookie_domain":
		return oneArg(d, &g.CookieDomain)
	case "session_lifetime":
		return durationArg(d, &g.SessionLifetime)
	case "callback_path":
		return oneArg(d, &g.CallbackPath)
	case "logout_path":
		return oneArg(d, &g.LogoutPath)
	case "scopes":
		return someArgs(d, &g.Scopes)
	case "resource_path":
		return oneArg(d, &g.ResourcePath)
	case "realm":
		return oneArg(d, &g.Realm)
	case "hosts":
		return someArgs(d, &g.Hosts)
	case "bare_token":
		return flag(d, &g.BareToken)
	case "cors":
		g.CORS = append(g.CORS, d.RemainingArgs()...)
		if len(g.CORS) == 0 {
			g.CORS = []string{"*"}
		}
		return nil
	case "mcp":
		g.MCP = true
		if !d.NextArg() {
			return nil
		}
		n, err := humanize.ParseBytes(d.Val())
		if err != nil || n == 0 || n > 1<<30 {
			return d.Errf("mcp %q: want the largest message to read, a size such as 1MiB (at most 1GiB)", d.Val())
		}
		g.MCPMaxBody = int64(n)
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	case "cache_size":
		var s string
		if err := oneArg(d, &s); err != nil {
			return err
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return d.Errf("cache_size %q: want a positive number", s)
		}
		g.CacheSize = n
		return nil
	default:
		return unrecognizedOption(d, "authgate", opt, gatewayOptions, extra...)
	}
}
