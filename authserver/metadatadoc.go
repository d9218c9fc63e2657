package authserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MetadataDocumentPolicy configures client ID metadata documents (the
// OAuth draft the MCP authorization specification prefers to dynamic
// registration): a client_id that is an https URL names a JSON document
// of the client's metadata, which the server fetches.
type MetadataDocumentPolicy struct {
	// AllowPrivateAddresses lets documents be fetched from loopback,
	// private and link-local addresses. Off by default: otherwise any
	// visitor could make the server probe its own network.
	AllowPrivateAddresses bool
	// RootCAs, if set, are the only certificate authorities trusted for
	// fetching documents; default: the system's.
	RootCAs *x509.CertPool
	// MaxBytes bounds a document. Default 5 KiB.
	MaxBytes int64
	// Timeout bounds one fetch. Default 5 seconds.
	Timeout time.Duration
	// MinCache and MaxCache bound how long a document is cached,
	// whatever its Cache-Control says. Defaults 1 minute and 24 hours.
	MinCache, MaxCache time.Duration
}

// metadataFetcher fetches and caches client ID metadata documents.
type metadataFetcher struct {
	policy MetadataDocumentPolicy
	server *Server
	http   *http.Client

	mu    sync.Mutex
	cache map[string]cachedDocument
}

type cachedDocument struct {
	client  *Client
	expires time.Time
}

const maxCachedDocuments = 10_000

func newMetadataFetcher(p MetadataDocumentPolicy, s *Server) *metadataFetcher {
	if p.MaxBytes == 0 {
		p.MaxBytes = 5 << 10
	}
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Second
	}
	if p.MinCache == 0 {
		p.MinCache = time.Minute
	}
	if p.MaxCache == 0 {
		p.MaxCache = 24 * time.Hour
	}
	f := &metadataFetcher{policy: p, server: s, cache: map[string]cachedDocument{}}
	dialer := &net.Dialer{Timeout: p.Timeout, Control: f.checkAddress}
	f.http = &http.Client{
		Timeout: p.Timeout,
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   p.Timeout,
			ResponseHeaderTimeout: p.Timeout,
			MaxIdleConns:          10,
			IdleConnTimeout:       time.Minute,
			Proxy:                 nil, // never through a proxy: the address check is the guard
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") },
	}
	return f
}

// checkAddress refuses connections to addresses a document may not come
// from. It runs on the resolved address, so DNS cannot point around it.
func (f *metadataFetcher) checkAddress(network, address string, _ syscall.RawConn) error {
	if f.policy.AllowPrivateAddresses {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !publicAddress(ip) {
		return fmt.Errorf("address %s is not public", host)
	}
	return nil
}

// nonPublicPrefixes are the special-purpose ranges (IANA's IPv4 and IPv6
// special-purpose address registries) a document may not come from:
// private, shared and local networks, and those that translate or tunnel
// to IPv4 (NAT64, 6to4, Teredo), through which an IPv6 address can name
// a private IPv4 one.
var nonPublicPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []string{
		"0.0.0.0/8",       // "this network"
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // shared address space (carrier-grade NAT)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local (cloud metadata services)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and broadcast
		"::/96",           // unspecified, loopback, IPv4-compatible
		"::ffff:0:0/96",   // IPv4-mapped: an IPv4 address in disguise
		"64:ff9b::/96",    // NAT64
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments, Teredo (2001::/32) among them
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4
		"3fff::/20",       // documentation
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}()

// publicAddress reports whether ip is a public unicast address a client
// ID metadata document may be fetched from.
func publicAddress(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return ip.IsValid()
}

// metadataDocument is the part of a client ID metadata document used here.
type metadataDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
}

// client resolves a client_id URL to a Client, from the cache or by
// fetching the document.
func (f *metadataFetcher) client(ctx context.Context, id string) (*Client, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(id, "#") ||
		u.Path == "" || u.Path == "/" || strings.Contains(u.Path, "/./") || strings.Contains(u.Path, "/../") {
		return nil, errors.New("a client ID URL must be https with a path, and no fragment or credentials")
	}
	now := f.server.now()
	f.mu.Lock()
	if c, ok := f.cache[id]; ok && now.Before(c.expires) {
		f.mu.Unlock()
		return c.client, nil
	}
	f.mu.Unlock()

	c, ttl, err := f.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.cache) >= maxCachedDocuments {
		for k, v := range f.cache {
			if !now.Before(v.expires) {
				delete(f.cache, k)
			}
		}
		if len(f.cache) >= maxCachedDocuments {
			clear(f.cache)
		}
	}
	f.cache[id] = cachedDocument{client: c, expires: now.Add(ttl)}
	f.mu.Unlock()
	return c, nil
}

func (f *metadataFetcher) fetch(ctx context.Context, id string) (*Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.policy.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.policy.MaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading: %w", err)
	}
	if int64(len(body)) > f.policy.MaxBytes {
		return nil, 0, fmt.Errorf("the document is larger than %d bytes", f.policy.MaxBytes)
	}
	var doc metadataDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("decoding: %w", err)
	}
	c, err := f.validate(id, doc)
	if err != nil {
		return nil, 0, err
	}
	return c, f.cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// validate checks a document: its client_id is the URL it came from, its
// redirect URIs are acceptable, and the client is public.
func (f *metadataFetcher) validate(id string, doc metadataDocument) (*Client, error) {
	p := &f.server.cfg.Registration
	switch {
	case doc.ClientID != id:
		return nil, errors.New("the document's client_id is not its URL")
	case len(doc.RedirectURIs) == 0 || len(doc.RedirectURIs) > 20:
		return nil, errors.New("the document needs redirect_uris")
	case doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != AuthMethodNone:
		return nil, errors.New("only public clients (token_endpoint_auth_method none) are supported for metadata documents")
	}
	for _, u := range append(slices.Clone(doc.RedirectURIs), doc.PostLogoutRedirectURIs...) {
		if e := p.checkRedirectURI(u, true); e != nil {
			return nil, errors.New(e.Description)
		}
	}
	grants := doc.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode}
	}
	for _, gt := range grants {
		if gt != GrantAuthorizationCode && gt != GrantRefreshToken {
			return nil, errors.New("metadata document clients may use only authorization_code and refresh_token")
		}
	}
	scopes := p.Scopes
	if doc.Scope != "" {
		want, ok := parseScope(doc.Scope)
		if !ok {
			return nil, errors.New("the document's scope is malformed")
		}
		scopes = nil
		for _, sc := range want {
			if slices.Contains(p.Scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	name := doc.ClientName
	if len(name) > 200 {
		name = name[:200]
	}
	u, _ := url.Parse(id)
	if name == "" || f.server.takesConfiguredName(name) {
		name = u.Host
	}
	return &Client{
		ID: id, Name: name, Public: true, RedirectURIs: doc.RedirectURIs, GrantTypes: grants, Scopes: scopes,
		Audiences: p.Audiences, PostLogoutRedirectURIs: doc.PostLogoutRedirectURIs, RequirePKCE: true,
		Registered: true, Host: u.Host,
	}, nil
}

// cacheTTL reads max-age from Cache-Control, within the policy's bounds;
// no-store and no-cache mean the minimum.
func (f *metadataFetcher) cacheTTL(cc string) time.Duration {
	ttl := 5 * time.Minute
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return f.policy.MinCache
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil && n >= 0 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(ttl, f.policy.MinCache), f.policy.MaxCache)
}
