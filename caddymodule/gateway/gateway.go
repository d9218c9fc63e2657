package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
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
	// Name names the site on the gateway's own pages, beside its host
	// (such as the page a browser gets from an API that needs an access
	// token). Default: the host alone.
	Name string
	// Observer is told of cache lookups and token verifications, for
	// metrics; optional.
	Observer Observer
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
	// signsIn: sessions are accepted and there is a provider to sign in
	// with, decided once.
	signsIn bool
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
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	g := &Gateway{cfg: cfg, tokens: newTokenCache(cfg.CacheSize), sessions: newTokenCache(cfg.CacheSize), now: time.Now,
		strip: cfg.Headers.names(), signsIn: cfg.AcceptSession && cfg.Login != nil}
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
func (g *Gateway) SignsIn() bool { return g.signsIn }

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

// retryAfter is the Retry-After (seconds) of a 503.
const retryAfter = "5"

func respond(status int, contentType string, body []byte) Decision {
	h := http.Header{"Cache-Control": {"no-store"}}
	if status == http.StatusServiceUnavailable {
		// Every 503 is a check that could not be made now (the store or
		// the provider is down): the client may try again shortly.
		h.Set("Retry-After", retryAfter)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return Decision{Status: status, Header: h, Body: body}
}
