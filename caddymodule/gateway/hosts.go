package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// HostList is the set of host names a gateway may send a browser back to
// after sign-in, and whose origins count as its resource: the site
// addresses of the configuration and the hosts an operator listed. A
// request's Host (or a forwarded host) that is not on it never starts a
// sign-in, so nobody can have a sign-in code delivered to a host of their
// choosing. Names are compared without port and case; a pattern
// "*.example.com" matches exactly one label in front of example.com.
type HostList struct {
	exact    map[string]bool
	wildcard map[string]bool // parent domains of *. patterns
}

// NewHostList checks and compiles host patterns.
func NewHostList(patterns []string) (*HostList, error) {
	l := &HostList{exact: map[string]bool{}, wildcard: map[string]bool{}}
	for _, p := range patterns {
		name := strings.ToLower(strings.TrimSuffix(p, "."))
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
		if parent, ok := strings.CutPrefix(name, "*."); ok {
			if !validHostName(parent) || !strings.Contains(parent, ".") {
				return nil, fmt.Errorf("host pattern %q: want *.domain.tld", p)
			}
			l.wildcard[parent] = true
			continue
		}
		if !validHostName(name) {
			return nil, fmt.Errorf("host %q is not a host name or IP address", p)
		}
		l.exact[name] = true
	}
	return l, nil
}

// validHostName accepts DNS names and IP literals.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Allows reports whether host (a Host header value, with or without a
// port) is on the list.
func (l *HostList) Allows(host string) bool {
	if l == nil {
		return false
	}
	name := hostname(host)
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if !validHostName(name) {
		return false
	}
	if l.exact[name] {
		return true
	}
	_, parent, ok := strings.Cut(name, ".")
	return ok && l.wildcard[parent]
}

// Len is how many patterns the list has.
func (l *HostList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.exact) + len(l.wildcard)
}

// Patterns lists the patterns, exact names first.
func (l *HostList) Patterns() []string {
	if l == nil {
		return nil
	}
	var out []string
	for h := range l.exact {
		out = append(out, h)
	}
	for h := range l.wildcard {
		out = append(out, "*."+h)
	}
	return out
}

// IsLoopback reports whether a host name (without port) is a loopback
// address or localhost, where plain http is acceptable.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(host), "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// SecureOrigin reports whether a redirect to scheme://host is acceptable
// for sign-in: https, or http on a loopback host.
func SecureOrigin(scheme, host string) bool {
	return scheme == "https" || scheme == "http" && IsLoopback(hostname(host))
}
