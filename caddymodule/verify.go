package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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
	h.countDecision(d)
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Verify)(nil)
	_ caddy.CleanerUpper          = (*Verify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
