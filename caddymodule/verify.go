package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
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
// X-Forwarded-Uri (or X-Original-URL and X-Original-Method) and answers
// 200 with the identity in response headers, 401 or 403, or a redirect to
// sign in for browsers. It answers every request itself.
type Verify struct {
	GatewayConfig

	// TrustedProxies are the addresses (CIDR ranges or IPs; the word
	// private_ranges for all private networks) whose forwarded headers are
	// believed. Requests from elsewhere are judged as they are, so nobody
	// can claim to be asking for another URL. Default: loopback only.
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

func (h *Verify) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range h.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedRequest reconstructs the request being authorized.
func (h *Verify) forwardedRequest(r *http.Request) (*gateway.Request, error) {
	gr := &gateway.Request{
		Method: r.Method, Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header, RemoteIP: clientIP(r), Forwarded: true,
	}
	if r.TLS != nil {
		gr.Scheme = "https"
	}
	if !h.fromTrustedProxy(r) {
		return gr, nil
	}
	if v := r.Header.Get("X-Original-URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("X-Original-URL is not an absolute http(s) URL")
		}
		gr.Scheme, gr.Host, gr.Path, gr.RawQuery = u.Scheme, u.Host, u.Path, u.RawQuery
		// nginx's auth_request takes only 2xx, 401 and 403; its error_page
		// sends browsers to the login path instead.
		gr.NoRedirect = r.Header.Get("X-Forwarded-Uri") == ""
	}
	for _, name := range []string{"X-Forwarded-Method", "X-Original-Method"} {
		if v := r.Header.Get(name); v != "" {
			if !validMethod(v) {
				return nil, fmt.Errorf("%s is not an HTTP method", name)
			}
			gr.Method = v
		}
	}
	if v := r.Header.Get("X-Forwarded-Proto"); v != "" {
		if v != "http" && v != "https" {
			return nil, fmt.Errorf("X-Forwarded-Proto must be http or https")
		}
		gr.Scheme = v
	}
	if v := r.Header.Get("X-Forwarded-Host"); v != "" {
		if strings.ContainsAny(v, " /\\@,") {
			return nil, fmt.Errorf("X-Forwarded-Host is not a host")
		}
		gr.Host = v
	}
	if v := r.Header.Get("X-Forwarded-Uri"); v != "" {
		if !strings.HasPrefix(v, "/") {
			return nil, fmt.Errorf("X-Forwarded-Uri must be a path")
		}
		u, err := url.ParseRequestURI(v)
		if err != nil {
			return nil, fmt.Errorf("X-Forwarded-Uri is malformed")
		}
		gr.Path, gr.RawQuery = u.Path, u.RawQuery
	}
	return gr, nil
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

// ServeHTTP answers for the forwarded request.
func (h *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	gr, err := h.forwardedRequest(r)
	if err != nil {
		http.Error(w, "bad forwarded request: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	d := h.gw.Decide(r.Context(), gr)
	if !d.Allowed {
		writeDecision(w, r, d)
		return nil
	}
	h.gw.ApplyHeaders(w.Header(), d.Identity)
	setPlaceholders(r, d.Identity)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Verify)(nil)
	_ caddy.CleanerUpper          = (*Verify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
