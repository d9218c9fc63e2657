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
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return fmt.Errorf("address %s is not public", host)
	}
	return nil
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
	if name == "" {
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
