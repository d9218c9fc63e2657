// Package loopback says which hosts are this machine's own, where plain
// http is acceptable: an issuer tried out locally (RFC 8414 §2), a native
// app's redirect URI (RFC 8252 §7.3), a gateway site signing browsers in.
// The authorization server and the gateway both ask it, so the rule is
// one; it imports nothing of this module.
package loopback

import (
	"net/netip"
	"strings"
)

// IsHost reports whether host (a URL's host name, without port; IPv6 with
// or without brackets) is a loopback address or a localhost name (RFC 6761
// §6.3: "localhost" and names under ".localhost", which browsers resolve
// to loopback themselves). IPv4-mapped IPv6 loopback addresses count.
func IsHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(host), "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
