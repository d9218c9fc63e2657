package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/authgate/authgate/authserver/loopback"
)

// HostList is the set of origins a gateway may send a browser back to
// after sign-in, and whose URLs count as its resource: the site addresses
// of the configuration and the hosts an operator listed. A request's Host
// (or a forwarded host) that is not on it never starts a sign-in, so
// nobody can have a sign-in code delivered to a host, or a port, of their
// choosing. Names are compared without case; a pattern "*.example.com"
// matches exactly one label in front of example.com. A pattern without a
// port allows the scheme's default port (a Host header without a port)
// and the port the request arrived on; "name:port" allows that port too.
type HostList struct {
	exact    map[string]map[string]bool // name → ports ("" is the default)
	wildcard map[string]map[string]bool // parent domain of *. → ports
}

// NewHostList checks and compiles host patterns.
func NewHostList(patterns []string) (*HostList, error) {
	l := &HostList{exact: map[string]map[string]bool{}, wildcard: map[string]map[string]bool{}}
	for _, p := range patterns {
		name, port := strings.ToLower(p), ""
		if h, pt, err := net.SplitHostPort(name); err == nil {
			if !validPort(pt) {
				return nil, fmt.Errorf("host %q: the port is not a number from 1 to 65535", p)
			}
			name, port = h, pt
		}
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
		set, target := l.exact, name
		if parent, ok := strings.CutPrefix(name, "*."); ok {
			if !validHostName(parent) || !strings.Contains(parent, ".") {
				return nil, fmt.Errorf("host pattern %q: want *.domain.tld", p)
			}
			set, target = l.wildcard, parent
		} else if !validHostName(name) {
			return nil, fmt.Errorf("host %q is not a host name or IP address", p)
		}
		if set[target] == nil {
			set[target] = map[string]bool{"": true}
		}
		set[target][port] = true
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
	for rest := h; ; {
		label, tail, more := strings.Cut(rest, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// validPort accepts a port number in its one spelling.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// splitHost splits a Host header value into its lower-case name and its
// port, "" for the scheme's default; ok is false if it is malformed.
func splitHost(host, scheme string) (name, port string, ok bool) {
	name = strings.ToLower(host)
	if h, p, err := net.SplitHostPort(name); err == nil {
		if !validPort(p) {
			return "", "", false
		}
		name, port = h, p
		if scheme == "https" && p == "443" || scheme == "http" && p == "80" {
			port = ""
		}
	} else if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"), ":") && !strings.HasPrefix(name, "[") {
		return "", "", false // a bare IPv6 address, or a stray colon
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return name, port, validHostName(name)
}

// Allows reports whether host (a Host header value, with or without a
// port), reached over scheme on localPort (the port the connection came in
// on; "" for a forwarded request), is on the list.
func (l *HostList) Allows(host, scheme, localPort string) bool {
	if l == nil {
		return false
	}
	name, port, ok := splitHost(host, scheme)
	if !ok {
		return false
	}
	ports, found := l.exact[name]
	if !found {
		if _, parent, cut := strings.Cut(name, "."); cut {
			ports, found = l.wildcard[parent]
		}
	}
	return found && (ports[port] || port != "" && port == localPort)
}

// AllowsName reports whether a host name (any port) is on the list.
func (l *HostList) AllowsName(host string) bool {
	if l == nil {
		return false
	}
	name, _, ok := splitHost(host, "")
	if !ok {
		return false
	}
	if _, found := l.exact[name]; found {
		return true
	}
	_, parent, cut := strings.Cut(name, ".")
	_, found := l.wildcard[parent]
	return cut && found
}

// Len is how many names and patterns the list has.
func (l *HostList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.exact) + len(l.wildcard)
}

// SecureOrigin reports whether a redirect to scheme://host is acceptable
// for sign-in: https, or http on a loopback host.
func SecureOrigin(scheme, host string) bool {
	return scheme == "https" || scheme == "http" && loopback.IsHost(hostname(host))
}
