package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/authgate/authgate/policy"
)

// WellKnownPath is where protected resource metadata lives (RFC 9728 §3).
const WellKnownPath = "/.well-known/oauth-protected-resource"

// Config is what a Gateway is made from.
type Config struct {
	// AcceptBearer and AcceptSession say which credentials count.
	AcceptBearer, AcceptSession bool
	// Verifier checks bearer tokens.
	Verifier Verifier
	// Policy decides, once the credentials are valid; nil allows all.
	Policy *policy.Policy
	// Realm names the protection space in challenges.
	Realm string
	// Login signs browsers in; without it, browsers get 401 like APIs.
	Login *Login
	// CookieKeys are securecookie's hash and block keys for the session
	// and sign-in cookies.
	CookieHashKey, CookieBlockKey []byte
	// CookieName of the session cookie. Default authgate_session_gw, with
	// the __Host- prefix over https when no CookieDomain is set.
	CookieName string
	// CookieDomain, if set, shares the session with subdomains.
	CookieDomain string
	// SessionLifetime is how long a session lasts before it is refreshed
	// (which the provider refuses once the grant is revoked or the user is
	// disabled) or signed in again. Default 15 minutes.
	SessionLifetime time.Duration
	// CallbackPath, LogoutPath and LoginPath are handled by the gateway.
	// Defaults /.authgate/callback, /.authgate/logout and /.authgate/login
	// (which starts a sign-in and returns to its rd parameter, a path).
	CallbackPath, LogoutPath, LoginPath string
	// Headers carry the identity to the upstream.
	Headers HeaderMap
	// ResourcePath is the path of the protected resource (RFC 9728): its
	// metadata is at WellKnownPath + ResourcePath.
	ResourcePath string
	// AuthorizationServers are the issuers named in the metadata.
	AuthorizationServers []string
	// ScopesSupported are named in the metadata.
	ScopesSupported []string
	// Registry lets any gateway of a site answer for the others'
	// metadata; optional.
	Registry *Registry
	// CacheSize bounds the verified-token cache. Default 10000.
	CacheSize int
	// Hosts are the host names (patterns as [NewHostList] takes them) of
	// the sites this gateway protects; [Gateway.SetHosts] replaces them
	// once the configuration is known. Only these hosts start a sign-in,
	// and only their origins count as the resource a token must name.
	Hosts []string
	// Audiences are accepted in a token's aud besides the resource's own
	// URL (origin and ResourcePath).
	Audiences []string
	// Sessions keeps sessions server-side, so that sign-out, a sign-out at
	// the provider or an operator can end them. Required with
	// AcceptSession.
	Sessions SessionStore
	// BareToken also takes "Authorization: <token>" (one word, no
	// scheme) as a bearer token.
	BareToken bool
	// CORSOrigins, if set, makes the gateway answer CORS preflights and
	// let these origins ("*" for any) read its 401 and 403 answers,
	// WWW-Authenticate included.
	CORSOrigins []string
	// Logger receives what clients are not shown.
	Logger *zap.Logger
	// MCP marks a route to an MCP server (Streamable HTTP): once the
	// credentials are valid, the JSON-RPC message of a POST (or of any
	// request with a body) is read, at most MCPMaxBody bytes, so that the
	// policy sees its method and tool; see [Gateway.PassMCP] for the
	// answer.
	MCP bool
	// MCPMaxBody bounds the message read. Default DefaultMCPMaxBody.
	MCPMaxBody int64
}

// Gateway decides about requests.
type Gateway struct {
	cfg       Config
	hosts     atomic.Pointer[HostList]
	cookies   *securecookie.SecureCookie
	tokens    *tokenCache
	sessions  *tokenCache
	refreshes singleflight.Group
	strip     []string
	now       func() time.Time
}

// New checks cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if !cfg.AcceptBearer && !cfg.AcceptSession {
		return nil, errors.New("accept neither bearer tokens nor sessions")
	}
	if cfg.AcceptBearer && cfg.Verifier == nil {
		return nil, errors.New("bearer tokens accepted but no verifier configured")
	}
	if cfg.AcceptSession && (len(cfg.CookieHashKey) < 32 || len(cfg.CookieBlockKey) != 32) {
		return nil, errors.New("sessions need a 32+ byte cookie hash key and a 32-byte block key")
	}
	if cfg.AcceptSession && cfg.Sessions == nil {
		return nil, errors.New("sessions need a session store")
	}
	hosts, err := NewHostList(cfg.Hosts)
	if err != nil {
		return nil, err
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 15 * time.Minute
	}
	if cfg.CallbackPath == "" {
		cfg.CallbackPath = "/.authgate/callback"
	}
	if cfg.LogoutPath == "" {
		cfg.LogoutPath = "/.authgate/logout"
	}
	if cfg.LoginPath == "" {
		cfg.LoginPath = "/.authgate/login"
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "authgate_session_gw"
	}
	if cfg.Headers == nil {
		cfg.Headers = DefaultHeaders()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	g := &Gateway{cfg: cfg, tokens: newTokenCache(cfg.CacheSize), sessions: newTokenCache(cfg.CacheSize), now: time.Now,
		strip: cfg.Headers.names()}
	if cfg.AcceptSession {
		g.cookies = securecookie.New(cfg.CookieHashKey, cfg.CookieBlockKey)
		g.cookies.MaxAge(int(sessionMaxLifetime.Seconds()))
		g.cookies.SetSerializer(securecookie.JSONEncoder{})
	}
	g.hosts.Store(hosts)
	if cfg.Registry != nil {
		cfg.Registry.add(cfg.ResourcePath, g)
	}
	return g, nil
}

// SetHosts replaces the hosts this gateway protects (see Config.Hosts).
func (g *Gateway) SetHosts(l *HostList) { g.hosts.Store(l) }

// Hosts returns the hosts this gateway protects.
func (g *Gateway) Hosts() *HostList { return g.hosts.Load() }

// CallbackPath is where the gateway finishes sign-ins.
func (g *Gateway) CallbackPath() string { return g.cfg.CallbackPath }

// SignsIn reports whether the gateway sends browsers to sign in.
func (g *Gateway) SignsIn() bool { return g.cfg.AcceptSession && g.cfg.Login != nil }

// SessionCookieName is the session cookie's name on plain http; over
// https it has the __Host- prefix unless the cookie is shared with a
// domain.
func (g *Gateway) SessionCookieName() string { return g.cfg.CookieName }

// Close removes the gateway from its registry.
func (g *Gateway) Close() {
	if g.cfg.Registry != nil {
		g.cfg.Registry.remove(g.cfg.ResourcePath, g)
	}
}

// StripHeaders removes every identity header a client may have sent.
func (g *Gateway) StripHeaders(h http.Header) {
	for _, name := range g.strip {
		delete(h, name)
	}
}

// productCookiePrefix starts the name of every cookie authgate sets: the
// gateway's session and sign-in cookies and the authorization server's
// session and CSRF cookies (which reach an upstream on the same host name
// as the issuer).
const productCookiePrefix = "authgate_"

// StripCookies removes authgate's own cookies (the gateway's session and
// sign-in cookies, the authorization server's session and CSRF cookies)
// from a request's Cookie headers: they are not the upstream's business,
// and a session cookie is a credential.
func (g *Gateway) StripCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	ours := func(name string) bool {
		name = strings.TrimPrefix(name, "__Host-")
		return name == g.cfg.CookieName || strings.HasPrefix(name, productCookiePrefix)
	}
	found := false
	for _, line := range lines {
		if strings.Contains(line, productCookiePrefix) || strings.Contains(line, g.cfg.CookieName) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part != "" && !ours(name) {
				kept = append(kept, part)
			}
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h.Set("Cookie", strings.Join(kept, "; "))
}

// ApplyHeaders sets the identity headers for the upstream.
func (g *Gateway) ApplyHeaders(h http.Header, id *Identity) { g.cfg.Headers.Apply(h, id) }

// Revoked forgets cached tokens with these jtis and sessions with these
// IDs, so a revocation or a sign-out takes effect on the next request.
func (g *Gateway) Revoked(jtis, sessionIDs []string) {
	if len(jtis) > 0 {
		g.tokens.evict(jtis)
	}
	if len(sessionIDs) > 0 {
		g.sessions.evict(sessionIDs)
	}
}

// Request is the request to decide about: the request itself for the
// middleware, or the forwarded one for the verify endpoint.
type Request struct {
	Method   string
	Scheme   string // http or https
	Host     string
	Path     string
	RawQuery string
	Header   http.Header
	RemoteIP string
	// LocalPort is the port the connection came in on, which a Host
	// header may name besides the default; empty for a forwarded request,
	// whose port must be a configured one.
	LocalPort string
	// EscapedPath is Path as the client spelled it, for the URL a browser
	// returns to after sign-in; Path is used when it is empty.
	EscapedPath string
	// Forwarded marks a verify-endpoint request: the session cannot be
	// refreshed, since the response's cookies do not reach the browser.
	Forwarded bool
	// NoRedirect answers browsers without a session with 401 rather than a
	// redirect, for proxies that accept only 2xx, 401 and 403 from an
	// auth request (nginx auth_request); they send browsers to LoginPath.
	NoRedirect bool
	// Body and ContentLength are the request's body and its length (-1
	// unknown), which Decide reads on an MCP route (Config.MCP).
	Body          io.Reader
	ContentLength int64
	// MCP is the JSON-RPC message Decide read from Body; the caller passes
	// MCP.Body on to the upstream in its place.
	MCP *MCPMessage

	received time.Time // when Decide began, for the tool call log
}

// canonicalOrigin is the origin as a resource URL names it: lower case,
// without the scheme's default port.
func (r *Request) canonicalOrigin() string {
	host := strings.ToLower(r.Host)
	if h, port, err := net.SplitHostPort(host); err == nil && (r.Scheme == "https" && port == "443" || r.Scheme == "http" && port == "80") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return r.Scheme + "://" + host
}

// location makes a path on the request's site into a Location value:
// absolute on the forwarded origin for the verify endpoint (a proxy such
// as Traefik would resolve a relative one against the verify endpoint's
// own address), if that origin is one the gateway protects; relative
// otherwise, so a forged forwarded host is never redirected to.
func (g *Gateway) location(r *Request, path string) string {
	if r.Forwarded && g.originAllowed(r) {
		return r.canonicalOrigin() + path
	}
	return path
}

// Decision is the gateway's answer. If Allowed, the request goes on with
// Identity (and Header's cookies on the response); otherwise Status,
// Header and Body are the response.
type Decision struct {
	Allowed  bool
	Identity *Identity
	Status   int
	Header   http.Header
	Body     []byte
}

func respond(status int, contentType string, body []byte) Decision {
	h := http.Header{"Cache-Control": {"no-store"}}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return Decision{Status: status, Header: h, Body: body}
}

// Decide answers a request: the gateway's own paths (sign-in callback,
// logout, metadata), then the credentials and the policy.
func (g *Gateway) Decide(ctx context.Context, r *Request) Decision {
	d := g.decide(ctx, r)
	if len(g.cfg.CORSOrigins) > 0 && !d.Allowed {
		g.corsHeaders(r, d.Header)
	}
	return d
}

func (g *Gateway) decide(ctx context.Context, r *Request) Decision {
	if g.cfg.MCP {
		r.received = time.Now()
	}
	switch {
	case r.Path == g.cfg.CallbackPath && g.cfg.AcceptSession && g.cfg.Login != nil:
		return g.callback(ctx, r)
	case r.Path == g.cfg.LogoutPath && g.cfg.AcceptSession:
		return g.logout(ctx, r)
	case r.Path == g.cfg.LoginPath && g.cfg.AcceptSession && g.cfg.Login != nil:
		q, _ := url.ParseQuery(r.RawQuery)
		back := q.Get("rd")
		if !localPath(back) {
			back = "/"
		}
		target := *r
		target.Path, target.RawQuery = back, ""
		if p, query, ok := strings.Cut(back, "?"); ok {
			target.Path, target.RawQuery = p, query
		}
		return g.startLogin(ctx, &target)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.Path == WellKnownPath || strings.HasPrefix(r.Path, WellKnownPath+"/")):
		if d, ok := g.metadata(r); ok {
			return d
		}
	case r.Method == http.MethodOptions && len(g.cfg.CORSOrigins) > 0 && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "":
		return g.preflight(r)
	}
	var id *Identity
	var setCookies []string
	tokenSent := false
	if g.cfg.AcceptBearer {
		token, malformed := bearer(r.Header, g.cfg.BareToken)
		if malformed {
			return g.unauthorized(r, "invalid_request", "the Authorization header is not a Bearer token")
		}
		if token != "" {
			tokenSent = true
			var err error
			if id, err = g.verifyToken(ctx, token); err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					g.cfg.Logger.Error("verifying a bearer token", zap.Error(err))
					return respond(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("The token could not be checked. Try again later.\n"))
				}
				return g.unauthorized(r, "invalid_token", "the access token is invalid, expired or revoked")
			}
			if !g.audienceOK(r, id) {
				return g.unauthorized(r, "invalid_token", "the access token is not meant for this resource")
			}
		}
	}
	if !tokenSent && g.cfg.AcceptSession {
		var refreshed bool
		id, setCookies, refreshed = g.sessionIdentity(ctx, r)
		if refreshed && r.Forwarded && !r.NoRedirect {
			// forward_auth and Traefik pass only a non-2xx answer to the
			// browser as it is: the renewed cookie travels on a redirect to
			// the same URL.
			d := respond(http.StatusTemporaryRedirect, "", nil)
			d.Header.Set("Location", g.location(r, r.Path+query(r.RawQuery)))
			for _, c := range setCookies {
				d.Header.Add("Set-Cookie", c)
			}
			return d
		}
	}
	if id == nil {
		if g.isBrowser(r) && !r.NoRedirect {
			return g.startLogin(ctx, r)
		}
		return g.unauthorized(r, "", "")
	}
	if g.readsMCP(r) {
		msg, refused := g.readMCP(r)
		if refused != nil {
			return *refused
		}
		r.MCP = msg
	}
	if g.cfg.Policy != nil {
		d := g.cfg.Policy.Evaluate(policyIdentity(id), policyRequest(r))
		// A refused MCP message gets a JSON-RPC error (a token for another
		// resource is still a 401); a refused tool call is logged as one.
		mcpAnswer := !d.Allowed && r.MCP != nil && d.Reason != policy.ReasonWrongAudience
		if mcpAnswer && r.MCP.IsToolCall() {
			refused := g.mcpRefused(r, id, d)
			g.logRefusedToolCall(r, id, d, refused.Status)
			return refused
		}
		if !d.Allowed {
			if ce := g.cfg.Logger.Check(zap.InfoLevel, "policy refused a request"); ce != nil {
				fields := []zap.Field{zap.String("reason", string(d.Reason)), zap.String("subject", id.Subject)}
				if d.Rule >= 0 {
					fields = append(fields, zap.Int("rule", d.Rule))
				}
				if d.Err != nil {
					fields = append(fields, zap.NamedError("rule_error", d.Err))
				}
				ce.Write(fields...)
			}
			if mcpAnswer {
				return g.mcpRefused(r, id, d)
			}
			return g.forbidden(r, id, d)
		}
	}
	dec := Decision{Allowed: true, Identity: id}
	if len(setCookies) > 0 {
		dec.Header = http.Header{"Set-Cookie": setCookies}
	}
	return dec
}

func query(raw string) string {
	if raw == "" {
		return ""
	}
	return "?" + raw
}

// CleanPath is a request path as Caddy's path matchers see it, and as
// policy rules are given it: percent-decoded (the caller passes the
// decoded path), backslashes read as slashes, slashes merged, dot
// segments resolved, a trailing slash kept. Case is kept too: compare case-insensitively in a rule when the
// upstream does.
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	// Some upstreams (IIS, ASP.NET) read a backslash as a slash.
	p = strings.ReplaceAll(p, "\\", "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	cleaned := path.Clean(p)
	if cleaned != "/" && strings.HasSuffix(p, "/") {
		cleaned += "/"
	}
	return cleaned
}

// audienceOK reports whether a bearer token names this resource (the
// request's origin and the ResourcePath, on a host the gateway protects)
// or one of the configured audiences: a token for another resource, or
// for none, is not accepted here (RFC 8707, RFC 9700 §2.3).
func (g *Gateway) audienceOK(r *Request, id *Identity) bool {
	if g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) {
		resource := strings.TrimSuffix(r.canonicalOrigin()+g.cfg.ResourcePath, "/")
		for _, aud := range id.resourceAudiences() {
			if aud == resource {
				return true
			}
		}
	}
	for _, aud := range id.Audience {
		for _, want := range g.cfg.Audiences {
			if aud == want {
				return true
			}
		}
	}
	return false
}

// normalResource is a resource URL as compared with a request's resource:
// scheme and host in lower case, without the scheme's default port, the
// path as written, without a trailing slash; "" if it is no such URL.
func normalResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return ""
	}
	origin := (&Request{Scheme: strings.ToLower(u.Scheme), Host: u.Host}).canonicalOrigin()
	return strings.TrimSuffix(origin+u.EscapedPath(), "/")
}

// sameResource compares a token's audience with a resource URL: scheme
// and host without case, the default port optional, a trailing slash
// optional.
func sameResource(aud, resource string) bool {
	n := normalResource(aud)
	return n != "" && n == strings.TrimSuffix(resource, "/")
}

// corsHeaders lets browser clients of the allowed origins read the
// gateway's own answer, its challenge included.
func (g *Gateway) corsHeaders(r *Request, h http.Header) {
	origin := r.Header.Get("Origin")
	if origin == "" || h == nil {
		return
	}
	if slices.Contains(g.cfg.CORSOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if slices.Contains(g.cfg.CORSOrigins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	} else {
		return
	}
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
}

// preflight answers a CORS preflight (which carries no credentials) for
// the protected resource.
func (g *Gateway) preflight(r *Request) Decision {
	d := respond(http.StatusNoContent, "", nil)
	d.Header.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	d.Header.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID")
	d.Header.Set("Access-Control-Max-Age", "600")
	return d
}

// hostname is a Host header's name without the port, lower-cased, as
// policies compare it.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// bearer reads an Authorization: Bearer header (RFC 6750 §2.1), or with
// bare a token alone ("Authorization: <token>": one word, no scheme).
func bearer(h http.Header, bare bool) (token string, malformed bool) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", false
	}
	if len(values) > 1 {
		return "", true
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if bare && !ok && scheme != "" && len(scheme) <= 16<<10 && !strings.ContainsAny(scheme, "\t,") {
		return scheme, false
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false // another scheme is the upstream's business
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" || len(tok) > 16<<10 {
		return "", true
	}
	return tok, false
}

// tokenKey is the cache key of a bearer token. A JWT has more than one
// base64url spelling of the same bytes (the unused low bits of a
// segment's last character), and a signature verifies under each; keyed
// by the decoded segments, every spelling of a token is one entry, so a
// revocation that evicts it evicts them all.
func tokenKey(token string) [sha256.Size]byte {
	if strings.Count(token, ".") != 2 || len(token) > 3072 {
		return sha256.Sum256([]byte(token))
	}
	// The decoded segments, each after its length, on the stack.
	var out [3072]byte
	var scratch [2048]byte
	buf := out[:0]
	rest := token
	for range 3 {
		seg, tail, _ := strings.Cut(rest, ".")
		rest = tail
		src := append(scratch[:0], seg...)
		n := len(buf)
		buf = binary.BigEndian.AppendUint32(buf, 0)
		dec, err := base64.RawURLEncoding.AppendDecode(buf, src)
		if err != nil {
			return sha256.Sum256([]byte(token))
		}
		binary.BigEndian.PutUint32(buf[n:], uint32(len(dec)-n-4))
		buf = dec
	}
	return sha256.Sum256(buf)
}

// verifyToken answers from the cache or the verifier.
func (g *Gateway) verifyToken(ctx context.Context, token string) (*Identity, error) {
	key := tokenKey(token)
	now := g.now()
	if id, refused, ok := g.tokens.get(key, now); ok {
		if refused {
			return nil, ErrInvalidToken
		}
		return id, nil
	}
	id, until, err := g.cfg.Verifier.Verify(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		g.tokens.refuse(key, now)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	id.Auth = AuthBearer
	if !until.After(now) {
		return id, nil
	}
	if !g.tokens.put(key, id, until) {
		// Revoked while it was being verified.
		g.tokens.refuse(key, now)
		return nil, ErrInvalidToken
	}
	return id, nil
}

// isBrowser: a GET or HEAD that accepts HTML and carries no Authorization
// header is a person's browser, which is sent to sign in.
func (g *Gateway) isBrowser(r *Request) bool {
	if !g.cfg.AcceptSession || g.cfg.Login == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	if r.Header.Get("Authorization") != "" {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// resourceMetadataURL is where this resource's RFC 9728 metadata lives.
func (g *Gateway) resourceMetadataURL(r *Request) string {
	return r.canonicalOrigin() + WellKnownPath + g.cfg.ResourcePath
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3, RFC 9728 §5.1).
func (g *Gateway) challenge(r *Request, code, description, scope string) string {
	realm := g.cfg.Realm
	if realm == "" {
		realm = r.Host
	}
	c := fmt.Sprintf("Bearer realm=%q", realm)
	if code != "" {
		c += fmt.Sprintf(", error=%q", code)
		if description != "" {
			c += fmt.Sprintf(", error_description=%q", description)
		}
	}
	if scope != "" {
		c += fmt.Sprintf(", scope=%q", scope)
	}
	if g.cfg.AcceptBearer {
		c += fmt.Sprintf(", resource_metadata=%q", g.resourceMetadataURL(r))
	}
	return c
}

func (g *Gateway) unauthorized(r *Request, code, description string) Decision {
	status := http.StatusUnauthorized
	if code == "invalid_request" {
		status = http.StatusBadRequest
	}
	body := map[string]string{}
	if code != "" {
		body["error"], body["error_description"] = code, description
	}
	b, _ := json.Marshal(body)
	d := respond(status, "application/json", b)
	// The scopes the resource needs (RFC 6750 §3), so that a client asks
	// for just those (the MCP authorization specification's scope
	// selection).
	var scope string
	if g.cfg.AcceptBearer && g.cfg.Policy != nil && code != "invalid_request" {
		scope = strings.Join(g.cfg.Policy.RequiredScopes(), " ")
	}
	d.Header.Set("WWW-Authenticate", g.challenge(r, code, description, scope))
	return d
}

func (g *Gateway) forbidden(r *Request, id *Identity, pd policy.Decision) Decision {
	if pd.Reason == policy.ReasonWrongAudience {
		return g.unauthorized(r, "invalid_token", "the access token is not meant for this resource")
	}
	// Every scope the request needs, granted or not (RFC 6750 §3.1; MCP
	// authorization: servers name the scopes the operation needs, and
	// clients add them to those they have).
	scope := strings.Join(pd.NeededScopes, " ")
	if scope == "" && g.cfg.Policy != nil {
		scope = strings.Join(g.cfg.Policy.RequiredScopes(), " ")
	}
	if id.Auth == AuthSession {
		d := respond(http.StatusForbidden, "text/html; charset=utf-8", page("Access denied",
			"You are signed in as "+id.Username+", but you may not open this page.", g.cfg.LogoutPath, "Sign in as someone else"))
		return d
	}
	b, _ := json.Marshal(map[string]string{"error": "insufficient_scope", "error_description": "the credentials do not allow this request"})
	d := respond(http.StatusForbidden, "application/json", b)
	d.Header.Set("WWW-Authenticate", g.challenge(r, "insufficient_scope", "the credentials do not allow this request", scope))
	return d
}

// policyIdentity converts an identity for the policy engine.
func policyIdentity(id *Identity) policy.Identity {
	return policy.Identity{
		Subject: id.Subject, ClientID: id.ClientID, Email: id.Email, Name: id.Name,
		Scopes: id.Scopes, Groups: id.Groups, Audience: id.Audience, Claims: id.Claims, Auth: id.Auth,
	}
}

// ---- sessions ----

func (g *Gateway) cookieName(r *Request) string {
	if r.Scheme == "https" && g.cfg.CookieDomain == "" {
		return "__Host-" + g.cfg.CookieName
	}
	return g.cfg.CookieName
}

func (g *Gateway) cookie(r *Request, name, value string, maxAge time.Duration) string {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()), HttpOnly: true,
		Secure: r.Scheme == "https", SameSite: http.SameSiteLaxMode}
	if g.cfg.CookieDomain != "" && !strings.HasPrefix(name, "__Host-") && !strings.HasPrefix(name, flowCookiePrefix) {
		c.Domain = g.cfg.CookieDomain
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c.String()
}

// readCookie finds one cookie's value in the Cookie headers without
// parsing the others.
func readCookie(h http.Header, name string) (string, bool) {
	for _, line := range h.Values("Cookie") {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if n, v, ok := strings.Cut(part, "="); ok && n == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// sessionKey is the session cache's key of a cookie on the request's
// host: a session is cached for the host it is a session on.
func sessionKey(r *Request, raw string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(hostname(r.Host)))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// sessionIdentity reads the session cookie: a session the store still
// has active, within its absolute lifetime. An expired session with a
// refresh token is refreshed; refreshed says so, and setCookies carry the
// renewed cookie.
func (g *Gateway) sessionIdentity(ctx context.Context, r *Request) (id *Identity, setCookies []string, refreshed bool) {
	name := g.cookieName(r)
	raw, ok := readCookie(r.Header, name)
	if !ok {
		return nil, nil, false
	}
	key := sessionKey(r, raw)
	now := g.now()
	if id, refused, ok := g.sessions.get(key, now); ok {
		if refused || id == nil {
			return nil, nil, false
		}
		return id, nil, false
	}
	var s session
	if err := g.cookies.Decode(name, raw, &s); err != nil || s.ID == "" || now.Unix() >= s.Until ||
		g.cfg.Login == nil || s.Issuer != g.cfg.Login.Issuer || g.cfg.CookieDomain == "" && s.Host != hostname(r.Host) {
		// Routes on one host share the cookie: a session from another
		// route's provider is not one of this route's; and a host-only
		// cookie copied to another host is not a session there.
		return nil, nil, false
	}
	active, err := g.cfg.Sessions.SessionActive(ctx, s.ID)
	if err != nil {
		g.cfg.Logger.Error("checking a gateway session", zap.Error(err))
		return nil, nil, false
	}
	if !active {
		g.sessions.refuse(key, now)
		return nil, nil, false
	}
	if now.Unix() < s.Expiry {
		id := s.identity()
		if !g.sessions.put(key, id, time.Unix(min(s.Expiry, s.Until), 0)) {
			return nil, nil, false // ended while it was being checked
		}
		return id, nil, false
	}
	if s.Refresh == "" || g.cfg.Login == nil || r.Forwarded && !g.originAllowed(r) {
		return nil, nil, false
	}
	// Requests a page makes at once all carry the expired cookie: only one
	// may use the refresh token (a second use would be a reuse, which
	// revokes the whole grant); the others wait for its answer.
	v, err, _ := g.refreshes.Do(string(key[:]), func() (any, error) {
		// A request that checked the cache just before another finished
		// the refresh must not spend the refresh token a second time.
		if id, _, ok := g.sessions.get(key, g.now()); ok && id != nil {
			return id, nil
		}
		fresh, err := g.refresh(ctx, &s, now)
		if err == nil {
			// Requests still carrying the old cookie get the new identity.
			g.sessions.put(key, fresh.identity(), now.Add(30*time.Second))
		}
		return fresh, err
	})
	if err != nil {
		// A refused refresh (a revoked grant, a disabled user) is not
		// tried again for every request that carries the cookie.
		g.sessions.refuse(key, g.now())
		return nil, nil, false
	}
	fresh, ok := v.(*session)
	if !ok {
		return v.(*Identity), nil, false
	}
	setCookie, err := g.sessionCookie(r, fresh)
	if err != nil {
		return nil, nil, false
	}
	return fresh.identity(), []string{setCookie}, true
}

// refresh renews an expired session with its refresh token. A provider
// that sends no new ID token (OIDC Core §12.2 allows it) keeps the claims
// the session had.
func (g *Gateway) refresh(ctx context.Context, old *session, now time.Time) (*session, error) {
	tok, idt, err := g.cfg.Login.Refresh(ctx, old.Refresh)
	if err != nil {
		return nil, err
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = old.Refresh
	}
	if idt == nil {
		fresh := *old
		fresh.Refresh, fresh.Expiry = refresh, now.Add(g.cfg.SessionLifetime).Unix()
		return &fresh, nil
	}
	if idt.Subject != old.Subject {
		return nil, errors.New("the refreshed ID token is for another user")
	}
	fresh, err := sessionFromIDToken(ctx, g.cfg.Login, tok, idt, refresh, now.Add(g.cfg.SessionLifetime))
	if err != nil {
		return nil, err
	}
	fresh.ID, fresh.Until, fresh.Issuer, fresh.Host = old.ID, old.Until, old.Issuer, old.Host
	return fresh, nil
}

func (g *Gateway) sessionCookie(r *Request, s *session) (string, error) {
	name := g.cookieName(r)
	v, err := g.cookies.Encode(name, s)
	if err != nil {
		return "", fmt.Errorf("encoding the session cookie: %w", err)
	}
	return g.cookie(r, name, v, sessionMaxLifetime), nil
}

// flowCookiePrefix starts the name of each sign-in's own cookie.
const flowCookiePrefix = "authgate_flow_"

// flowCookieName names a sign-in's cookie after its state; over https it
// has the __Host- prefix (never shared with other hosts).
func flowCookieName(r *Request, state string) string {
	name := flowCookiePrefix + state[:8]
	if r.Scheme == "https" {
		name = "__Host-" + name
	}
	return name
}

// originAllowed reports whether the request's origin is one the gateway
// protects and may send a browser back to: a configured host, over https
// or on loopback.
func (g *Gateway) originAllowed(r *Request) bool {
	return g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) && SecureOrigin(r.Scheme, r.Host)
}

// hostRefused is the answer for a sign-in on a host the configuration
// does not name: never a redirect.
func hostRefused() Decision {
	return respond(http.StatusBadRequest, "text/html; charset=utf-8", page("Unknown site",
		"This address is not one this sign-in protects, so the sign-in cannot start. Check the address, or ask the operator to add the host to the gateway's configuration.", "", ""))
}

// startLogin sends a browser to sign in, remembering where it was going.
// The redirect URI is on the request's origin only if that is a host the
// configuration names.
func (g *Gateway) startLogin(ctx context.Context, r *Request) Decision {
	if !g.originAllowed(r) {
		g.cfg.Logger.Warn("refused a sign-in for a host that is not configured", zap.String("host", r.Host), zap.String("scheme", r.Scheme))
		return hostRefused()
	}
	path := r.EscapedPath
	if path == "" {
		path = r.Path
	}
	returnTo := path + query(r.RawQuery)
	if !localPath(returnTo) {
		returnTo = "/"
	}
	f := flow{State: random(24), Nonce: random(24), Verifier: random(48), ReturnTo: returnTo, Redirect: r.canonicalOrigin() + g.cfg.CallbackPath}
	u, err := g.cfg.Login.AuthURL(ctx, f.Redirect, f.State, f.Nonce, f.Verifier)
	if err != nil {
		g.cfg.Logger.Error("starting sign-in", zap.Error(err))
		return respond(http.StatusServiceUnavailable, "text/html; charset=utf-8", page("Sign-in unavailable", "The sign-in service could not be reached. Try again later.", "", ""))
	}
	name := flowCookieName(r, f.State)
	v, err := g.cookies.Encode(name, f)
	if err != nil {
		g.cfg.Logger.Error("encoding the sign-in cookie", zap.Error(err))
		return respond(http.StatusServiceUnavailable, "text/html; charset=utf-8", page("Sign-in unavailable", "The sign-in could not start. Try again later.", "", ""))
	}
	d := respond(http.StatusFound, "", nil)
	d.Header.Set("Location", u)
	d.Header.Add("Set-Cookie", g.cookie(r, name, v, 10*time.Minute))
	return d
}

// callback finishes a sign-in: state, the origin it started on, iss, the
// code exchange, the ID token; then it records the session.
func (g *Gateway) callback(ctx context.Context, r *Request) Decision {
	q, _ := url.ParseQuery(r.RawQuery)
	state := q.Get("state")
	fail := func(status int, msg string) Decision {
		return respond(status, "text/html; charset=utf-8", page("Sign-in failed", msg, "/", "Start again"))
	}
	if len(state) < 8 {
		return fail(http.StatusBadRequest, "The sign-in response has no valid state.")
	}
	name := flowCookieName(r, state)
	raw, ok := readCookie(r.Header, name)
	var f flow
	if !ok || g.cookies.Decode(name, raw, &f) != nil || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return fail(http.StatusBadRequest, "This sign-in expired or was started in another browser.")
	}
	if !g.originAllowed(r) || f.Redirect != r.canonicalOrigin()+g.cfg.CallbackPath {
		return fail(http.StatusBadRequest, "This sign-in was started on another site.")
	}
	clear := g.cookie(r, name, "", -1)
	if e := q.Get("error"); e != "" {
		d := fail(http.StatusForbidden, "The sign-in did not succeed ("+e+").")
		d.Header.Add("Set-Cookie", clear)
		return d
	}
	// RFC 9207 §2.4: a wrong iss is always refused, a missing one when the
	// provider says it always sends it.
	if iss := q.Get("iss"); iss != g.cfg.Login.Issuer && (iss != "" || g.cfg.Login.RequiresIss(ctx)) {
		return fail(http.StatusBadRequest, "The sign-in response did not come from the expected issuer.")
	}
	tok, idt, err := g.cfg.Login.Exchange(ctx, f.Redirect, q.Get("code"), f.Verifier, f.Nonce)
	if err != nil {
		g.cfg.Logger.Warn("sign-in callback", zap.Error(err))
		return fail(http.StatusBadGateway, "The sign-in could not be completed.")
	}
	now := g.now()
	s, err := sessionFromIDToken(ctx, g.cfg.Login, tok, idt, tok.RefreshToken, now.Add(g.cfg.SessionLifetime))
	if err != nil {
		g.cfg.Logger.Warn("sign-in callback", zap.Error(err))
		return fail(http.StatusBadGateway, "The sign-in could not be completed.")
	}
	var sid struct {
		SID string `json:"sid"`
	}
	idt.Claims(&sid) //nolint:errcheck // optional claim
	s.Until, s.Host = now.Add(sessionMaxLifetime).Unix(), hostname(r.Host)
	if s.ID, err = g.cfg.Sessions.StartSession(ctx, s.Subject, sid.SID, time.Unix(s.Until, 0)); err != nil {
		g.cfg.Logger.Error("recording a gateway session", zap.Error(err))
		return fail(http.StatusServiceUnavailable, "The session could not be stored. Try again later.")
	}
	setCookie, err := g.sessionCookie(r, s)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "The session could not be stored. Try again later.")
	}
	g.cfg.Logger.Info("gateway session started", zap.String("session", s.ID), zap.String("subject", s.Subject), zap.String("host", r.Host))
	d := respond(http.StatusSeeOther, "", nil)
	d.Header.Set("Location", g.location(r, f.ReturnTo))
	d.Header.Add("Set-Cookie", setCookie)
	d.Header.Add("Set-Cookie", clear)
	return d
}

// crossSite reports whether a browser says another site made the request
// (Fetch Metadata, or an Origin that is not this one).
func crossSite(r *Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	return origin != "" && !strings.EqualFold(origin, r.canonicalOrigin())
}

// sessionMaxLifetime is how long a gateway session lasts at most, however
// often it is refreshed; the session cookie lives as long.
const sessionMaxLifetime = 30 * 24 * time.Hour

// logout ends the gateway session everywhere (the store records it, so
// every instance refuses a copy of the cookie), revokes its refresh token
// at the provider, and, if the provider can, ends the user's session
// there too.
func (g *Gateway) logout(ctx context.Context, r *Request) Decision {
	// Another site may not sign the user out (a link or an image would
	// do): a cross-site GET is asked to confirm, a cross-site POST refused.
	if crossSite(r) {
		if r.Method == http.MethodPost {
			return respond(http.StatusForbidden, "text/html; charset=utf-8", page("Sign-out refused", "Another site asked to sign you out. Sign out from this site instead.", "/", "Back"))
		}
		d := respond(http.StatusOK, "text/html; charset=utf-8", confirmPage("Sign out?", "Sign out of "+hostname(r.Host)+"?", g.cfg.LogoutPath, "Sign out"))
		d.Header.Set("X-Frame-Options", "DENY")
		d.Header.Set("Content-Security-Policy", "frame-ancestors 'none'")
		return d
	}
	name := g.cookieName(r)
	if raw, ok := readCookie(r.Header, name); ok {
		g.sessions.forget(sessionKey(r, raw))
		var s session
		if g.cookies.Decode(name, raw, &s) == nil && s.ID != "" {
			if err := g.cfg.Sessions.EndSession(ctx, s.ID); err != nil {
				g.cfg.Logger.Error("ending a gateway session", zap.Error(err))
			}
			g.sessions.evict([]string{s.ID})
			if s.Refresh != "" && g.cfg.Login != nil {
				if err := g.cfg.Login.Revoke(ctx, s.Refresh); err != nil {
					g.cfg.Logger.Warn("revoking a signed-out session's refresh token", zap.Error(err))
				}
			}
		}
	}
	next := g.location(r, "/")
	if g.cfg.Login != nil {
		if u := g.cfg.Login.LogoutURL(ctx); u != "" {
			next = u
		}
	}
	d := respond(http.StatusSeeOther, "", nil)
	d.Header.Set("Location", next)
	d.Header.Add("Set-Cookie", g.cookie(r, name, "", -1))
	return d
}

// localPath reports whether p is a path on this site, safe to return to.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}{{if .Action}}<form method="post" action="{{.Action}}"><button type="submit">{{.Button}}</button></form>{{end}}</body></html>`))

// confirmPage renders a small HTML page with one button that posts to
// action, a local path.
func confirmPage(title, message, action, button string) []byte {
	var b strings.Builder
	pageTemplate.Execute(&b, map[string]string{"Title": title, "Message": message, "Action": action, "Button": button}) //nolint:errcheck
	return []byte(b.String())
}

// page renders a small HTML page; link must be a local path.
func page(title, message, link, linkText string) []byte {
	var b strings.Builder
	pageTemplate.Execute(&b, map[string]string{"Title": title, "Message": message, "Link": link, "LinkText": linkText}) //nolint:errcheck
	return []byte(b.String())
}

// ---- protected resource metadata (RFC 9728) ----

// Registry holds the gateways of a configuration by resource path, so
// that whichever gateway a metadata request reaches can answer it.
type Registry struct {
	mu sync.RWMutex
	by map[string]*Gateway
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{by: map[string]*Gateway{}} }

func (reg *Registry) add(path string, g *Gateway) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if old, ok := reg.by[path]; !ok || !old.cfg.AcceptBearer {
		reg.by[path] = g
	}
}

func (reg *Registry) remove(path string, g *Gateway) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.by[path] == g {
		delete(reg.by, path)
	}
}

func (reg *Registry) lookup(path string) (*Gateway, bool) {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	g, ok := reg.by[path]
	return g, ok
}

// metadata answers a metadata request for this gateway's resource, or
// another's in the registry.
func (g *Gateway) metadata(r *Request) (Decision, bool) {
	suffix := strings.TrimPrefix(r.Path, WellKnownPath)
	if !g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) {
		// No resource of this configuration lives at a host it does not
		// name; a shared cache must not keep a document made from a
		// forged Host.
		b, _ := json.Marshal(map[string]string{"error": "not_found", "error_description": "no protected resource at this host"})
		return respond(http.StatusNotFound, "application/json", b), true
	}
	// The registry prefers a gateway that takes bearer tokens, whose
	// metadata (scopes) matter to API clients.
	target, ok := (*Gateway)(nil), false
	if g.cfg.Registry != nil {
		target, ok = g.cfg.Registry.lookup(suffix)
	}
	if !ok {
		if suffix != g.cfg.ResourcePath {
			if suffix == "" {
				return Decision{}, false
			}
			// RFC 9728 §3: no such protected resource.
			b, _ := json.Marshal(map[string]string{"error": "not_found", "error_description": "no protected resource at this path"})
			return respond(http.StatusNotFound, "application/json", b), true
		}
		target = g
	}
	doc := map[string]any{
		"resource":                 r.canonicalOrigin() + target.cfg.ResourcePath,
		"authorization_servers":    target.cfg.AuthorizationServers,
		"bearer_methods_supported": []string{"header"},
	}
	if len(target.cfg.ScopesSupported) > 0 {
		doc["scopes_supported"] = target.cfg.ScopesSupported
	}
	b, _ := json.Marshal(doc)
	d := respond(http.StatusOK, "application/json", b)
	d.Header.Set("Cache-Control", "public, max-age=300")
	d.Header.Set("Access-Control-Allow-Origin", "*")
	return d, true
}
