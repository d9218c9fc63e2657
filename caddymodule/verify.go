package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/caddymodule/gateway"
)

func init() {
	caddy.RegisterModule(new(Verify))
}

// Verify is the authgate_verify handler: the same decision as authgate,
// for services behind Caddy's forward_auth, nginx's auth_request or
// Traefik's ForwardAuth. It reads the original request from
// X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and
// X-Forwarded-Uri, or X-Original-URL and X-Original-Method (which must
// agree where both are sent), and the client's address from
// X-Forwarded-For or X-Real-IP. It answers 200 with the identity in
// response headers only for a request it authenticated and the policy
// allows; otherwise 401 or 403, a redirect to sign in for browsers, 400
// for malformed forwarded headers. A proxy reads any 2xx as "allowed", so
// the protected resource metadata is never answered through an auth
// request: it is served when the proxy sends the well-known path to this
// handler as an ordinary request. It answers every request itself.
type Verify struct {
	GatewayConfig

	// TrustedProxies are the addresses (CIDR ranges or IPs; the word
	// private_ranges for all private networks) whose forwarded headers are
	// believed. Requests from elsewhere are judged as they are, so nobody
	// can claim to be asking for another URL or to come from another
	// address. Default: loopback only.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`

	trusted []netip.Prefix
}

// CaddyModule returns the Caddy module information.
func (*Verify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate_verify", New: func() caddy.Module { return new(Verify) }}
}

// Provision builds the gateway and parses the trusted proxies.
func (h *Verify) Provision(ctx caddy.Context) error {
	proxies := h.TrustedProxies
	if len(proxies) == 0 {
		proxies = []string{"127.0.0.0/8", "::1/128"}
	}
	for _, p := range proxies {
		if p == "private_ranges" {
			for _, r := range caddyhttp.PrivateRangesCIDR() {
				h.trusted = append(h.trusted, netip.MustParsePrefix(r))
			}
			continue
		}
		prefix, err := caddyhttp.CIDRExpressionToPrefix(p)
		if err != nil {
			return fmt.Errorf("authgate_verify: trusted_proxies %q: %w", p, err)
		}
		h.trusted = append(h.trusted, prefix)
	}
	if err := h.provision(ctx, false); err != nil {
		return fmt.Errorf("authgate_verify: %w", err)
	}
	return nil
}

// Cleanup releases the gateway.
func (h *Verify) Cleanup() error {
	h.cleanup()
	return nil
}

// loginPath starts a sign-in and returns to its rd parameter (the
// gateway's default LoginPath).
const loginPath = "/.authgate/login"

// ServeHTTP answers for the forwarded request, or serves the protected
// host's resource metadata.
func (h *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	gr, proxied, err := h.forwardedRequest(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "bad forwarded request: "+err.Error())
		return nil
	}
	if i := strings.Index(r.URL.Path, gateway.WellKnownPath); i >= 0 {
		h.serveMetadata(w, r, gr, r.URL.Path[i:])
		return nil
	}
	d := h.gw.Decide(r.Context(), gr)
	switch {
	case d.Allowed:
		h.allow(w, r, d, proxied)
	case d.Status >= 200 && d.Status < 300:
		// An answer the gateway gave without authenticating anyone (its
		// metadata, a CORS preflight): a proxy would take it for "allowed"
		// and pass the request on.
		h.refuse(w, gr)
	default:
		h.answer(w, r, gr, d)
	}
	return nil
}

// allow answers 200 with the identity, a renewed session cookie and, to
// a trusted proxy, the cookies for the upstream.
func (h *Verify) allow(w http.ResponseWriter, r *http.Request, d gateway.Decision, proxied bool) {
	hdr := w.Header()
	h.gw.ApplyHeaders(hdr, d.Identity)
	// A session renewed for nginx (which takes no redirect from an auth
	// request) reaches the browser through the proxy's add_header.
	for _, c := range d.Header.Values("Set-Cookie") {
		hdr.Add("Set-Cookie", c)
	}
	// The request's cookies without the gateway's own (the session carries
	// a refresh token), for the proxy to send upstream instead of the
	// original Cookie header. Only to a proxy: a page's script that could
	// read this answer would learn the HttpOnly cookies.
	if lines := r.Header.Values("Cookie"); proxied && len(lines) > 0 {
		c := http.Header{"Cookie": append([]string(nil), lines...)}
		h.gw.StripCookies(c)
		if v := strings.Join(c.Values("Cookie"), "; "); v != "" {
			hdr.Set("Cookie", v)
		}
	}
	setPlaceholders(r, d.Identity)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// refuse answers a request the gateway did not authenticate with a
// non-2xx status: 404 for the resource metadata, which is served only
// outside auth requests, and otherwise the challenge.
func (h *Verify) refuse(w http.ResponseWriter, gr *gateway.Request) {
	if gr.Path == gateway.WellKnownPath || strings.HasPrefix(gr.Path, gateway.WellKnownPath+"/") {
		writeJSONError(w, http.StatusNotFound, "not_found",
			"the protected resource metadata is served when the proxy sends this path to the verify endpoint, not through an auth request")
		return
	}
	realm := h.Realm
	if realm == "" {
		realm = gr.Host
	}
	challenge := fmt.Sprintf("Bearer realm=%q", realm)
	if slices.Contains(h.Accept, gateway.AuthBearer) {
		challenge += fmt.Sprintf(", resource_metadata=%q", gr.Scheme+"://"+gr.Host+gateway.WellKnownPath+h.ResourcePath)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSONError(w, http.StatusUnauthorized, "", "")
}

// answer passes on the gateway's refusal or redirect, adapted to the
// proxies: a redirect is an absolute URL on the forwarded origin (Traefik
// would resolve a relative one against the verify endpoint's address),
// and for nginx, which takes no redirect from an auth request, a
// browser's 401 names the sign-in URL in Location for the proxy's
// error_page to follow.
func (h *Verify) answer(w http.ResponseWriter, r *http.Request, gr *gateway.Request, d gateway.Decision) {
	hdr := w.Header()
	for k, vs := range d.Header {
		hdr[k] = append([]string(nil), vs...)
	}
	// Absolute only on an origin the gateway protects: a forged forwarded
	// host is never redirected to.
	protected := h.gw.Hosts().Allows(gr.Host, gr.Scheme, "") && gateway.SecureOrigin(gr.Scheme, gr.Host)
	if loc := hdr.Get("Location"); protected && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\") {
		hdr.Set("Location", gr.Scheme+"://"+gr.Host+loc)
	}
	if gr.NoRedirect && d.Status == http.StatusUnauthorized && h.browser(gr) && protected {
		back := (&url.URL{Path: gr.Path, RawQuery: gr.RawQuery}).RequestURI()
		hdr.Set("Location", gr.Scheme+"://"+gr.Host+loginPath+"?rd="+url.QueryEscape(back))
	}
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead && len(d.Body) > 0 {
		w.Write(d.Body) //nolint:errcheck // the client went away
	}
}

// browser is the gateway's test for a person's browser, which is sent to
// sign in: a GET or HEAD that accepts HTML, without an Authorization
// header, where sessions count.
func (h *Verify) browser(gr *gateway.Request) bool {
	if !h.gw.SignsIn() || (gr.Method != http.MethodGet && gr.Method != http.MethodHead) || gr.Header.Get("Authorization") != "" {
		return false
	}
	for _, part := range strings.Split(gr.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// serveMetadata answers a request for a protected host's resource
// metadata (RFC 9728) that the proxy sent to the verify endpoint as an
// ordinary request, the well-known path under the endpoint's own:
// never an auth request, which always names the URL it asks about in
// X-Forwarded-Uri or X-Original-URL.
func (h *Verify) serveMetadata(w http.ResponseWriter, r *http.Request, gr *gateway.Request, path string) {
	if r.Header.Get("X-Forwarded-Uri") != "" || r.Header.Get("X-Original-URL") != "" {
		writeJSONError(w, http.StatusNotFound, "not_found", "the protected resource metadata is not answered to an auth request")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "the metadata is read with GET")
		return
	}
	if h.gw.Hosts().Allows(gr.Host, gr.Scheme, "") {
		md := &gateway.Request{Method: r.Method, Scheme: gr.Scheme, Host: gr.Host, Path: path, Header: http.Header{}, RemoteIP: gr.RemoteIP}
		if d := h.gw.Decide(r.Context(), md); !d.Allowed && d.Status == http.StatusOK {
			writeDecision(w, r, d)
			return
		}
	}
	writeJSONError(w, http.StatusNotFound, "not_found", "no protected resource metadata here")
}

// writeJSONError writes an RFC 6749 style error body.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{}
	if code != "" {
		body["error"] = code
	}
	if description != "" {
		body["error_description"] = description
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

// peer is the address of the connection's other end.
func peer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// trustedAddr reports whether ip is one of the trusted proxies.
func (h *Verify) trustedAddr(ip netip.Addr) bool {
	for _, p := range h.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedClientIP is the client's address as the trusted proxy in front
// reports it: the rightmost address of X-Forwarded-For that is not itself
// a trusted proxy (each proxy appends the address it was reached from),
// or else X-Real-IP, or else the proxy's own.
func (h *Verify) forwardedClientIP(r *http.Request, proxy netip.Addr) string {
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	if len(hops) == 0 {
		if real := r.Header.Values("X-Real-IP"); len(real) == 1 {
			if ip, ok := parseHop(real[0]); ok {
				return ip.String()
			}
		}
		return proxy.String()
	}
	client := proxy
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			break // what lies left of a malformed entry is not believed
		}
		client = ip
		if !h.trustedAddr(ip) {
			break
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an IP address, maybe with a
// port, IPv6 maybe in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), ip.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && strings.HasPrefix(s, "[") {
		return ip.Unmap(), ip.Zone() == ""
	}
	return netip.Addr{}, false
}

// errConflict is a forwarded request whose headers disagree: a client's
// own copy of a header the proxy does not set, next to one it does.
var errConflict = errors.New("the forwarded headers disagree")

// forwardedRequest reconstructs the request being authorized: from a
// trusted proxy's forwarded headers (proxied), or else the request as it
// is.
func (h *Verify) forwardedRequest(r *http.Request) (gr *gateway.Request, proxied bool, err error) {
	gr = &gateway.Request{
		Method: r.Method, Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header, RemoteIP: clientIP(r), Forwarded: true,
	}
	if r.TLS != nil {
		gr.Scheme = "https"
	}
	proxy, ok := peer(r)
	if !ok || !h.trustedAddr(proxy) {
		if !validHostPort(gr.Host) {
			return nil, false, errors.New("the Host header is not a host")
		}
		return gr, false, nil
	}
	gr.RemoteIP = h.forwardedClientIP(r, proxy)
	one := func(name string) (string, error) {
		vs := r.Header.Values(name)
		if len(vs) > 1 {
			return "", fmt.Errorf("more than one %s", name)
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	var vals [6]string
	for i, name := range []string{"X-Original-URL", "X-Original-Method", "X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri"} {
		v, err := one(name)
		if err != nil {
			return nil, false, err
		}
		vals[i] = v
	}
	origURL, origMethod, fwdMethod, fwdProto, fwdHost, fwdURI := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]

	// nginx: the whole URL.
	var origURI string
	if origURL != "" {
		u, err := url.Parse(origURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
			return nil, false, errors.New("X-Original-URL is not an absolute http(s) URL")
		}
		if !validHostPort(u.Host) {
			return nil, false, errors.New("the host of X-Original-URL is not a host")
		}
		origURI = origURL[len(u.Scheme)+len("://")+len(u.Host):]
		if origURI == "" {
			origURI = "/"
		}
		if !strings.HasPrefix(origURI, "/") {
			return nil, false, errors.New("X-Original-URL is not an absolute http(s) URL")
		}
		gr.Scheme, gr.Host, gr.Path, gr.RawQuery = u.Scheme, u.Host, u.Path, u.RawQuery
		// nginx's auth_request takes only 2xx, 401 and 403; its error_page
		// sends browsers to the login path instead.
		gr.NoRedirect = fwdURI == ""
	}
	// Caddy, Traefik: the parts. A proxy sets one kind and passes the
	// client's copies of the other on: both must say the same.
	if fwdProto != "" {
		if fwdProto != "http" && fwdProto != "https" {
			return nil, false, errors.New("X-Forwarded-Proto must be http or https")
		}
		if origURL != "" && fwdProto != gr.Scheme {
			return nil, false, fmt.Errorf("%w: X-Forwarded-Proto and X-Original-URL", errConflict)
		}
		gr.Scheme = fwdProto
	}
	if fwdHost != "" {
		if !validHostPort(fwdHost) {
			return nil, false, errors.New("X-Forwarded-Host is not a host")
		}
		if origURL != "" && !strings.EqualFold(fwdHost, gr.Host) {
			return nil, false, fmt.Errorf("%w: X-Forwarded-Host and X-Original-URL", errConflict)
		}
		gr.Host = fwdHost
	}
	if fwdURI != "" {
		u, err := url.ParseRequestURI(fwdURI)
		if err != nil || !strings.HasPrefix(fwdURI, "/") || u.Host != "" {
			return nil, false, errors.New("X-Forwarded-Uri must be a path")
		}
		if origURL != "" && fwdURI != origURI {
			return nil, false, fmt.Errorf("%w: X-Forwarded-Uri and X-Original-URL", errConflict)
		}
		gr.Path, gr.RawQuery = u.Path, u.RawQuery
	}
	for _, m := range []struct{ name, value string }{{"X-Forwarded-Method", fwdMethod}, {"X-Original-Method", origMethod}} {
		if m.value == "" {
			continue
		}
		if !validMethod(m.value) {
			return nil, false, fmt.Errorf("%s is not an HTTP method", m.name)
		}
	}
	switch {
	case fwdMethod != "" && origMethod != "" && fwdMethod != origMethod:
		return nil, false, fmt.Errorf("%w: X-Forwarded-Method and X-Original-Method", errConflict)
	case fwdMethod != "":
		gr.Method = fwdMethod
	case origMethod != "":
		gr.Method = origMethod
	}
	if !validHostPort(gr.Host) {
		return nil, false, errors.New("the Host header is not a host")
	}
	return gr, true, nil
}

// validHostPort checks a Host header value (RFC 9110 §7.2): a DNS name
// or IP address (IPv6 in brackets), and an optional port 1-65535.
func validHostPort(hp string) bool {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return false
		}
		host, port = hp[1:end], hp[end+1:]
		if port != "" {
			if !strings.HasPrefix(port, ":") {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
	} else {
		if i := strings.IndexByte(hp, ':'); i >= 0 {
			host, port = hp[:i], hp[i+1:]
			if port == "" {
				return false
			}
		}
		if !validHostName(host) {
			return false
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return false
		}
	}
	return true
}

// validHostName accepts an IPv4 address or a DNS name of letters, digits,
// hyphens and underscores, labels of 1-63 characters not starting or
// ending with a hyphen, with an optional final dot.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Is4()
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validMethod checks an HTTP method token (RFC 9110 §9.1).
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for _, c := range m {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Verify)(nil)
	_ caddy.CleanerUpper          = (*Verify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
