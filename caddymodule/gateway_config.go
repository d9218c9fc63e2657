package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/caddymodule/gateway"
	"github.com/authgate/authgate/policy"
)

// GatewayConfig is the configuration the authgate and authgate_verify
// handlers share: which credentials count, how they are verified, the
// policy, and what the upstream learns.
type GatewayConfig struct {
	// Accept lists the credentials that count: bearer (an Authorization:
	// Bearer token) and session (a sign-in cookie). Default both.
	Accept []string `json:"accept,omitempty"`

	// Name names the site on the sign-in pages ("Sign in to continue to
	// Grafana (grafana.example.com)") and on the gateway's own pages.
	// Plain text, at most 80 characters. Default: the site's host alone.
	Name string `json:"name,omitempty"`

	// Issuer is an external OpenID provider whose tokens and sign-in are
	// used instead of the bundled authorization server's.
	Issuer string `json:"issuer,omitempty"`

	// ClientID and ClientSecret are this gateway's client at the external
	// Issuer, for signing browsers in. With the bundled server they are
	// not needed: the gateway is its own first-party client.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`

	// Algorithms are the JWS algorithms accepted for an external issuer's
	// tokens. Default RS256 and ES256.
	Algorithms []string `json:"algorithms,omitempty"`

	// AllowPlainJWT also accepts an external issuer's JWT access tokens
	// typed JWT or not typed at all, for providers that do not type them
	// at+jwt (RFC 9068). ID tokens are refused even then: a JWT with
	// nonce, at_hash, c_hash or s_hash, or with none of client_id, scope
	// and scp, is not taken for an access token.
	AllowPlainJWT bool `json:"allow_plain_jwt,omitempty"`

	// Introspection verifies opaque (non-JWT) bearer tokens with RFC 7662.
	Introspection *IntrospectionConfig `json:"introspection,omitempty"`

	// Require lists scopes that must all be granted and audiences of
	// which one must be in the token, and can require a sign-in with a
	// second factor.
	Require *RequireConfig `json:"require,omitempty"`

	// Rules allow or deny by user, group, client, scope, audience, claim
	// or CEL expression. Deny wins; once any allow rule exists, a request
	// no allow rule matches is denied.
	Rules []RuleConfig `json:"rules,omitempty"`

	// Headers maps request header names to identity fields (subject,
	// username, email, name, groups, scopes, client_id, auth, amr, acr),
	// added to the defaults X-Auth-Subject, X-Auth-Username, X-Auth-Email,
	// X-Auth-Name, X-Auth-Groups, X-Auth-Scopes and X-Auth-Client-Id
	// (amr and acr, how the user signed in, go upstream only if mapped).
	// Copies of these headers sent by the client are always removed.
	Headers map[string]string `json:"headers,omitempty"`

	// RemoteHeaders also sets Remote-User, Remote-Groups, Remote-Email and
	// Remote-Name, for apps written for other gateways.
	RemoteHeaders bool `json:"remote_headers,omitempty"`

	// StripAuthorization removes the Authorization header before the
	// request goes upstream. Default: it is passed on.
	StripAuthorization bool `json:"strip_authorization,omitempty"`

	// CookieName names the session cookie. Default authgate_session_gw
	// (with the __Host- prefix over https).
	CookieName string `json:"cookie_name,omitempty"`

	// CookieDomain shares the session cookie with subdomains.
	CookieDomain string `json:"cookie_domain,omitempty"`

	// SessionLifetime is how long a session lasts before it is refreshed
	// (or the browser signs in again); a revoked grant or disabled user
	// ends the session at the next refresh. Default 15 minutes.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// CallbackPath and LogoutPath are served by the gateway. Defaults
	// /.authgate/callback and /.authgate/logout.
	CallbackPath string `json:"callback_path,omitempty"`
	LogoutPath   string `json:"logout_path,omitempty"`

	// Scopes asked for when signing a browser in. Default openid profile
	// email groups offline_access.
	Scopes []string `json:"scopes,omitempty"`

	// ResourcePath is the path of the protected resource for RFC 9728:
	// its metadata is served at /.well-known/oauth-protected-resource
	// followed by this path. Default: the site (empty path).
	ResourcePath string `json:"resource_path,omitempty"`

	// Realm names the protection space in challenges. Default the host.
	Realm string `json:"realm,omitempty"`

	// CacheSize bounds the cache of verified tokens. Default 10000.
	CacheSize int `json:"cache_size,omitempty"`

	// Hosts are the host names this gateway protects (*.example.com
	// matches one label), besides the host matchers of the site the
	// authgate handler is in, which count on their own. Sign-in starts
	// and returns only on these hosts, over https or on loopback, and a
	// token is accepted only if its audience names one of their origins
	// (or a require audience value). The verify endpoint, which decides
	// for other sites, knows only these.
	Hosts []string `json:"hosts,omitempty"`

	// BareToken also takes an access token sent as "Authorization:
	// <token>", without the Bearer scheme, as some clients do. Default
	// off (RFC 6750 names only Bearer); challenges stay Bearer.
	BareToken bool `json:"bare_token,omitempty"`

	// CORS lets browser clients of these origins ("*" for any) read the
	// gateway's 401 and 403 answers, WWW-Authenticate included; the
	// gateway also answers their preflights.
	CORS []string `json:"cors,omitempty"`

	// MCP marks a route to an MCP server (Streamable HTTP), for the
	// authgate handler only: once the credentials are valid, the JSON-RPC
	// message of each POST is read (at most MCPMaxBody bytes; a batch, or
	// a body that is not one JSON-RPC message, is refused with a JSON-RPC
	// error), the policy sees its method and tool (tool rules, scopes per
	// tool, mcp.method and mcp.tool in expressions), a tool call it
	// refuses gets 403 with a JSON-RPC error (and, for a missing scope,
	// the insufficient_scope challenge naming the scopes the call needs),
	// tools/list answers list only the tools the caller may call, and
	// each tool call is logged.
	MCP bool `json:"mcp,omitempty"`

	// MCPMaxBody bounds the JSON-RPC message read on an MCP route, in
	// bytes; a larger body gets 413. Default 1 MiB.
	MCPMaxBody int64 `json:"mcp_max_body,omitempty"`

	gw *gateway.Gateway
	// metrics counts the decisions, in the counters of the route label
	// (see metrics_gateway.go), which the app sets again once it knows
	// the hosts.
	metrics   *metrics
	decisions atomic.Pointer[routeDecisions]
}

// IntrospectionConfig names an RFC 7662 endpoint and the client that
// calls it.
type IntrospectionConfig struct {
	Endpoint     string `json:"endpoint"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// MaxCache bounds how long an answer is trusted. Default 1 minute.
	MaxCache caddy.Duration `json:"max_cache,omitempty"`
}

// RequireConfig lists what every request must have.
type RequireConfig struct {
	Scopes    []string `json:"scopes,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	// Tools lists scopes that calling some tools needs, on an MCP route.
	Tools []ToolScopesConfig `json:"tools,omitempty"`
	// MFA requires a sign-in that included a second factor: the token's
	// or session's amr claim lists "mfa", or its acr is "mfa". A browser
	// session without one signs in again asking for it (acr_values=mfa);
	// a bearer token without one gets 401 with error
	// insufficient_user_authentication and acr_values="mfa" (RFC 9470).
	MFA bool `json:"mfa,omitempty"`
}

// ToolScopesConfig requires scopes for calling some tools: a tools/call
// of one of Tools (names, or patterns where * stands for any run of
// characters) needs every one of Scopes, or gets 403 insufficient_scope.
type ToolScopesConfig struct {
	Tools  []string `json:"tools"`
	Scopes []string `json:"scopes"`
}

// RuleConfig is one allow or deny rule.
type RuleConfig struct {
	// Effect is allow or deny.
	Effect string `json:"effect"`
	// Kind is user, group, client, scope, audience, claim, expression or
	// tool (the tools a tools/call may name, on an MCP route; * stands for
	// any run of characters).
	Kind string `json:"kind"`
	// Claim names the claim, for kind claim.
	Claim string `json:"claim,omitempty"`
	// Values that match (any one), for every kind but expression.
	Values []string `json:"values,omitempty"`
	// Expression is a CEL expression over sub, client_id, email, name,
	// scopes, groups, aud, claims, auth, amr, acr, request.method,
	// request.path, request.host, request.remote_ip, mcp.method and
	// mcp.tool.
	Expression string `json:"expression,omitempty"`
}

// provision builds the gateway; the app supplies the bundled server.
// Middleware gateways join the app's metadata registry; the verify
// endpoint, which decides for other hosts, does not.
func (gc *GatewayConfig) provision(ctx caddy.Context, register bool) error {
	appIface, err := ctx.App("authgate")
	if err != nil {
		return fmt.Errorf("the authgate app: %w", err)
	}
	app := appIface.(*App)
	repl := caddy.NewReplacer()
	for name, p := range map[string]string{"callback_path": gc.CallbackPath, "logout_path": gc.LogoutPath, "resource_path": gc.ResourcePath} {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#")) {
			return fmt.Errorf("%s %q must be a path starting with /", name, p)
		}
	}
	cfg := gateway.Config{
		CookieName: gc.CookieName, CookieDomain: gc.CookieDomain, SessionLifetime: time.Duration(gc.SessionLifetime),
		CallbackPath: gc.CallbackPath, LogoutPath: gc.LogoutPath, ResourcePath: gc.ResourcePath, Realm: gc.Realm,
		CacheSize: gc.CacheSize, Logger: ctx.Logger(), Hosts: gc.Hosts, CORSOrigins: gc.CORS, BareToken: gc.BareToken,
		MCP: gc.MCP, MCPMaxBody: gc.MCPMaxBody, Name: gc.Name, Observer: app.metrics,
	}
	gc.metrics = app.metrics
	gc.setRoute(gc.routeLabel(gc.Hosts, register), false)
	if gc.Name != "" {
		if err := authserver.CheckAppName(gc.Name); err != nil {
			return err
		}
	}
	if gc.MCP && !register {
		return errors.New("mcp is for the authgate handler only: the verify endpoint never sees request bodies, so it cannot read MCP messages (put authgate with mcp in front of the MCP server)")
	}
	if gc.MCPMaxBody < 0 {
		return fmt.Errorf("mcp_max_body %d: want a positive size", gc.MCPMaxBody)
	}
	if gc.Require != nil {
		cfg.Audiences = gc.Require.Audiences
	}
	if register {
		cfg.Registry = app.registry
	}
	if len(gc.Accept) == 0 {
		gc.Accept = []string{gateway.AuthBearer, gateway.AuthSession}
	}
	for _, a := range gc.Accept {
		switch a {
		case gateway.AuthBearer:
			cfg.AcceptBearer = true
		case gateway.AuthSession:
			cfg.AcceptSession = true
		default:
			return fmt.Errorf("accept %q: want bearer or session", a)
		}
	}
	server := app.AuthServer()
	issuer := repl.ReplaceAll(gc.Issuer, "")
	if issuer == "" {
		issuer = server.Issuer()
	}
	cfg.AuthorizationServers = []string{issuer}

	// Bearer tokens.
	var jwtVerifier gateway.Verifier
	if gc.Issuer == "" {
		jwtVerifier = localVerifier{server}
	} else {
		jwtVerifier = &gateway.OIDCVerifier{Issuer: issuer, Algorithms: gc.Algorithms, AllowPlainJWT: gc.AllowPlainJWT}
	}
	var opaque gateway.Verifier
	if ic := gc.Introspection; ic != nil {
		if ic.Endpoint == "" || ic.ClientID == "" {
			return errors.New("introspection needs an endpoint and a client id")
		}
		opaque = &gateway.IntrospectionVerifier{Endpoint: repl.ReplaceAll(ic.Endpoint, ""), ClientID: repl.ReplaceAll(ic.ClientID, ""),
			ClientSecret: repl.ReplaceAll(ic.ClientSecret, ""), MaxCache: time.Duration(ic.MaxCache)}
	}
	cfg.Verifier = chainVerifier{jwt: jwtVerifier, opaque: opaque}

	// Sessions.
	if cfg.AcceptSession {
		if cfg.CookieHashKey, cfg.CookieBlockKey, err = app.gatewayCookieKeys(ctx); err != nil {
			return err
		}
		cfg.Sessions = gatewaySessions{server: server, bundled: gc.Issuer == ""}
		if gc.Issuer == "" {
			cfg.Login = bundledLogin(server, gc.Scopes, gc.Name)
		} else {
			if gc.ClientID == "" {
				return errors.New("sessions with an external issuer need client_id and client_secret")
			}
			cfg.Login = &gateway.Login{Issuer: issuer, ClientID: repl.ReplaceAll(gc.ClientID, ""), ClientSecret: repl.ReplaceAll(gc.ClientSecret, ""), Scopes: gc.Scopes}
		}
	}

	// Policy.
	pc := policy.Config{}
	if gc.Require != nil {
		// The audiences are the gateway's to check, with the resource's own.
		pc.Require = policy.Requirements{Scopes: gc.Require.Scopes, MFA: gc.Require.MFA}
		for _, ts := range gc.Require.Tools {
			pc.Require.Tools = append(pc.Require.Tools, policy.ToolScopes{Tools: ts.Tools, Scopes: ts.Scopes})
		}
	}
	for _, rc := range gc.Rules {
		effect, err := policy.ParseEffect(rc.Effect)
		if err != nil {
			return err
		}
		kind, err := policy.ParseKind(rc.Kind)
		if err != nil {
			return err
		}
		pc.Rules = append(pc.Rules, policy.Rule{Effect: effect, Kind: kind, Claim: rc.Claim, Values: rc.Values, Expression: rc.Expression})
	}
	if cfg.Policy, err = policy.Compile(pc); err != nil {
		return err
	}
	if cfg.Policy.UsesMCP() && !gc.MCP {
		// Without mcp no request is a tools/call: a deny tool rule would
		// never deny.
		return errors.New("tool rules, scopes for tools and expressions over mcp.method or mcp.tool need the mcp option, on an authgate route in front of the MCP server")
	}
	cfg.ScopesSupported = cfg.Policy.RequiredScopes()

	// Headers.
	cfg.Headers = gateway.DefaultHeaders()
	if gc.RemoteHeaders {
		for k, v := range gateway.RemoteHeaders() {
			cfg.Headers[k] = v
		}
	}
	for name, field := range gc.Headers {
		if !validField(field) {
			return fmt.Errorf("header %s: unknown identity field %q (want one of %v)", name, field, gateway.Fields)
		}
		cfg.Headers[http.CanonicalHeaderKey(name)] = field
	}

	if gc.Issuer == "" {
		gc.warnUnobtainable(ctx.Logger(), app, issuer, cfg.AcceptSession)
	}

	if gc.gw, err = gateway.New(cfg); err != nil {
		return err
	}
	server.SubscribeRevocations(gc.gw.Revoked)
	app.addGateway(gc, register)
	return nil
}

func validField(f string) bool {
	for _, x := range gateway.Fields {
		if x == f {
			return true
		}
	}
	return false
}

// cleanup removes the gateway from the app's registry.
func (gc *GatewayConfig) cleanup() {
	if gc.gw != nil {
		gc.gw.Close()
	}
}
