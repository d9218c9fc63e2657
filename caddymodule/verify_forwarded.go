package caddymodule

// What the verify endpoint reads of a proxy's request: who the proxy is, and
// the original request it describes in X-Forwarded-* headers (or X-Original-*),
// each checked before it counts.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/authgate/authgate/caddymodule/gateway"
)

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
