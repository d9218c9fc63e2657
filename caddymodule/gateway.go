package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/caddymodule/gateway"
	"github.com/authgate/authgate/policy"
)

func init() {
	caddy.RegisterModule(new(Gateway))
}

// GatewayConfig is the configuration the authgate and authgate_verify
// handlers share: which credentials count, how they are verified, the
// policy, and what the upstream learns.
type GatewayConfig struct {
	// Accept lists the credentials that count: bearer (an Authorization:
	// Bearer token) and session (a sign-in cookie). Default both.
	Accept []string `json:"accept,omitempty"`

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
	// which one must be in the token.
	Require *RequireConfig `json:"require,omitempty"`

	// Rules allow or deny by user, group, client, scope, audience, claim
	// or CEL expression. Deny wins; once any allow rule exists, a request
	// no allow rule matches is denied.
	Rules []RuleConfig `json:"rules,omitempty"`

	// Headers maps request header names to identity fields (subject,
	// username, email, name, groups, scopes, client_id, auth), added to
	// the defaults X-Auth-Subject, X-Auth-Username, X-Auth-Email,
	// X-Auth-Name, X-Auth-Groups, X-Auth-Scopes and X-Auth-Client-Id.
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
	// scopes, groups, aud, claims, auth, request.method, request.path,
	// request.host, request.remote_ip, mcp.method and mcp.tool.
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
		MCP: gc.MCP, MCPMaxBody: gc.MCPMaxBody,
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
			cfg.Login = bundledLogin(server, gc.Scopes)
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
		pc.Require = policy.Requirements{Scopes: gc.Require.Scopes}
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

	if gc.gw, err = gateway.New(cfg); err != nil {
		return err
	}
	server.SubscribeRevocations(gc.gw.Revoked)
	app.addGateway(gc, register)
	return nil
}

// gatewaySessions keeps gateway sessions in the bundled server's store,
// where every instance sees them and its revocation feed ends them.
type gatewaySessions struct {
	server *authserver.Server
	// bundled: the sessions come from the bundled server, whose sid
	// claims name its login sessions (an external provider's do not).
	bundled bool
}

func (s gatewaySessions) StartSession(ctx context.Context, subject, loginSID string, until time.Time) (string, error) {
	if !s.bundled {
		loginSID = ""
	}
	return s.server.StartGatewaySession(ctx, subject, loginSID, until)
}

func (s gatewaySessions) SessionActive(ctx context.Context, id string) (bool, error) {
	return s.server.GatewaySessionActive(ctx, id)
}

func (s gatewaySessions) EndSession(ctx context.Context, id string) error {
	return s.server.EndGatewaySession(ctx, id)
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

// Gateway is the authgate HTTP handler: it protects the routes it is
// placed in. A request with valid credentials that the policy allows goes
// on with the identity in request headers and placeholders
// ({http.auth.user.id}, {authgate.subject}, {authgate.email},
// {authgate.name}, {authgate.username}, {authgate.groups},
// {authgate.scopes}, {authgate.client_id}, {authgate.auth},
// {authgate.claims.NAME}); a browser without a session is sent to sign
// in; anything else gets 401 with an RFC 6750/9728 challenge, or 403.
type Gateway struct {
	GatewayConfig
}

// CaddyModule returns the Caddy module information.
func (*Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate", New: func() caddy.Module { return new(Gateway) }}
}

// Provision builds the gateway.
func (h *Gateway) Provision(ctx caddy.Context) error {
	if err := h.provision(ctx, true); err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	return nil
}

// Cleanup releases the gateway.
func (h *Gateway) Cleanup() error {
	h.cleanup()
	return nil
}

// ServeHTTP decides, then passes the request on or answers it.
func (h *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	gr := &gateway.Request{
		Method: r.Method, Scheme: requestScheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		EscapedPath: r.URL.EscapedPath(), Header: r.Header, RemoteIP: clientIP(r), LocalPort: localPort(r),
	}
	if h.MCP {
		gr.Body, gr.ContentLength = r.Body, r.ContentLength
	}
	h.gw.StripHeaders(r.Header)
	d := h.gw.Decide(r.Context(), gr)
	if !d.Allowed {
		writeDecision(w, r, d)
		return nil
	}
	for _, c := range d.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	h.gw.ApplyHeaders(r.Header, d.Identity)
	if h.StripAuthorization {
		r.Header.Del("Authorization")
	}
	// The gateway's own cookies (the session carries a refresh token) are
	// not the upstream's business.
	h.gw.StripCookies(r.Header)
	setPlaceholders(r, d.Identity)
	if !h.MCP {
		return next.ServeHTTP(w, r)
	}
	if msg := gr.MCP; msg != nil {
		// The upstream gets the message the gateway read and decided on.
		body := msg.Body
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength, r.TransferEncoding = int64(len(body)), nil
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	mw, done := h.gw.PassMCP(w, gr, d.Identity)
	err := next.ServeHTTP(mw, r)
	done(err)
	return err
}

// localPort is the port of the listener the request came in on.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	return ""
}

// requestScheme is the scheme the client used: https over TLS, or what a
// trusted proxy (the server's trusted_proxies) that terminated TLS says
// in X-Forwarded-Proto.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" {
			return "https"
		}
	}
	return "http"
}

func writeDecision(w http.ResponseWriter, r *http.Request, d gateway.Decision) {
	for k, vs := range d.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead && len(d.Body) > 0 {
		w.Write(d.Body) //nolint:errcheck // the client went away
	}
}

// setPlaceholders publishes the identity for other handlers and logs. The
// values are computed only when a placeholder is actually used.
func setPlaceholders(r *http.Request, id *gateway.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Map(func(key string) (any, bool) {
		if key == "http.auth.user.id" {
			return id.Subject, true
		}
		name, ok := strings.CutPrefix(key, "authgate.")
		if !ok {
			return nil, false
		}
		if claim, ok := strings.CutPrefix(name, "claims."); ok {
			v, found := id.Claims[claim]
			if !found {
				return "", true
			}
			return gateway.ClaimString(v)
		}
		if validField(name) {
			return id.Value(name), true
		}
		return nil, false
	})
}

// localVerifier verifies the bundled server's access tokens in-process.
type localVerifier struct{ server *authserver.Server }

func (v localVerifier) Verify(ctx context.Context, token string) (*gateway.Identity, time.Time, error) {
	info, err := v.server.VerifyAccessToken(ctx, token)
	if errors.Is(err, authserver.ErrInvalidToken) {
		return nil, time.Time{}, gateway.ErrInvalidToken
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	c := info.Claims
	claims := map[string]any{"iss": c.Issuer, "sub": c.Subject, "client_id": c.ClientID, "scope": c.Scope, "jti": c.ID,
		"iat": float64(c.IssuedAt), "exp": float64(c.Expiry)}
	aud := make([]any, len(c.Audience))
	for i, a := range c.Audience {
		aud[i] = a
	}
	claims["aud"] = aud
	id := &gateway.Identity{
		Subject: c.Subject, Username: c.Subject, ClientID: c.ClientID, Scopes: strings.Fields(c.Scope),
		Audience: []string(c.Audience), TokenID: c.ID, Claims: claims,
	}
	// What the user is goes upstream only as far as the token's scopes
	// released it (OIDC Core §5.4).
	if u := info.User; u != nil {
		if slices.Contains(id.Scopes, "email") {
			id.Email, claims["email"] = u.Email, u.Email
		}
		if slices.Contains(id.Scopes, "profile") {
			id.Name, claims["name"], claims["preferred_username"] = u.Name, u.Name, u.Username
		}
		if slices.Contains(id.Scopes, "groups") {
			id.Groups = u.Groups
			groups := make([]any, len(u.Groups))
			for i, g := range u.Groups {
				groups[i] = g
			}
			claims["groups"] = groups
		}
	}
	return id, time.Unix(c.Expiry, 0), nil
}

// chainVerifier sends JWTs to one verifier and opaque tokens to another.
type chainVerifier struct{ jwt, opaque gateway.Verifier }

func (v chainVerifier) Verify(ctx context.Context, token string) (*gateway.Identity, time.Time, error) {
	if strings.Count(token, ".") == 2 || v.opaque == nil {
		return v.jwt.Verify(ctx, token)
	}
	return v.opaque.Verify(ctx, token)
}

// bundledLogin signs browsers in with the bundled server as its built-in
// first-party client, entirely in-process.
func bundledLogin(s *authserver.Server, scopes []string) *gateway.Login {
	iss := s.Issuer()
	return &gateway.Login{
		Issuer: iss, ClientID: authserver.GatewayClientID, ClientSecret: s.GatewayClientSecret(), Scopes: scopes,
		HTTPClient:    &http.Client{Transport: inProcess{s}, Timeout: 30 * time.Second},
		Endpoint:      oauth2.Endpoint{AuthURL: iss + "/authorize", TokenURL: iss + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		EndSessionURL: iss + "/logout",
		IssParameter:  true, // RFC 9207: it always sends iss
		RevocationURL: iss + "/revoke",
		KeySet:        s,
		Push:          s.PushGatewayRequest,
	}
}

// inProcess is an http.RoundTripper that hands requests to a handler in
// the same process, so the gateway's OAuth client reaches the bundled
// server without the network.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RemoteAddr = "127.0.0.1:0"
	// The mark only in-process code can set: the gateway client
	// authenticates with nothing else.
	t.h.ServeHTTP(rec, req.WithContext(authserver.InProcessContext(req.Context())))
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: rec.header,
		Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder collects a response in memory.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
	_ http.RoundTripper           = inProcess{}
)
