package authserver

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// svcDocServer serves client ID metadata documents over TLS, one per
// path, and counts the fetches of each.
type svcDocServer struct {
	*httptest.Server
	mu      sync.Mutex
	fetches map[string]int
}

// svcNewDocServer starts the document server. Its documents are, by
// path: good (cached for 300 s), nocache (no-store), long (max-age a
// year), renamed (a configured client's name), scoped (one allowed and
// one unknown scope), and the bad ones: wrong-id, big, slow (never
// answers), redirect, confidential, no-redirects, http-redirect,
// service (client_credentials), bad-scope, bad-logout, not-json, and
// anything else 404.
func svcNewDocServer(t *testing.T) *svcDocServer {
	ds := &svcDocServer{fetches: map[string]int{}}
	release := make(chan struct{})
	doc := func(id string, extra map[string]any) []byte {
		m := map[string]any{"client_id": id, "client_name": "Doc App", "redirect_uris": []string{"http://127.0.0.1:9999/cb"},
			"grant_types": []string{"authorization_code"}, "token_endpoint_auth_method": "none"}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	ds.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		ds.fetches[r.URL.Path]++
		ds.mu.Unlock()
		self := ds.URL + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		var extra map[string]any
		switch r.URL.Path {
		case "/good.json":
			w.Header().Set("Cache-Control", "max-age=300")
		case "/nocache.json":
			w.Header().Set("Cache-Control", "max-age=300, no-store")
		case "/long.json":
			w.Header().Set("Cache-Control", "max-age=31536000")
		case "/renamed.json":
			extra = map[string]any{"client_name": "webapp"}
		case "/scoped.json":
			extra = map[string]any{"scope": "openid admin"}
		case "/wrong-id.json":
			w.Write(doc(ds.URL+"/good.json", nil))
			return
		case "/big.json":
			extra = map[string]any{"padding": strings.Repeat("x", 8<<10)}
		case "/slow.json":
			select { // answers only when the fetch has given up
			case <-r.Context().Done():
			case <-release:
			}
			return
		case "/redirect.json":
			http.Redirect(w, r, "/good.json", http.StatusFound)
			return
		case "/confidential.json":
			extra = map[string]any{"token_endpoint_auth_method": "client_secret_basic"}
		case "/no-redirects.json":
			extra = map[string]any{"redirect_uris": []string{}}
		case "/http-redirect.json":
			extra = map[string]any{"redirect_uris": []string{"http://app.example/cb"}}
		case "/service.json":
			extra = map[string]any{"grant_types": []string{"client_credentials"}}
		case "/bad-scope.json":
			extra = map[string]any{"scope": `"quoted"`}
		case "/bad-logout.json":
			extra = map[string]any{"post_logout_redirect_uris": []string{"http://app.example/bye"}}
		case "/not-json.json":
			w.Write([]byte("<html>"))
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Write(doc(self, extra))
	}))
	t.Cleanup(ds.Close)
	t.Cleanup(func() { close(release) })
	return ds
}

// count returns how often a document was fetched.
func (ds *svcDocServer) count(path string) int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.fetches[path]
}

// policy trusts the document server's certificate and, if allowPrivate,
// its loopback address.
func (ds *svcDocServer) policy(allowPrivate bool) *MetadataDocumentPolicy {
	pool := x509.NewCertPool()
	pool.AddCert(ds.Certificate())
	return &MetadataDocumentPolicy{AllowPrivateAddresses: allowPrivate, RootCAs: pool, Timeout: 500 * time.Millisecond}
}

// svcDocClient is the OAuth configuration of a metadata document client.
func (e *testEnv) svcDocClient(id string) *oauth2.Config {
	return &oauth2.Config{ClientID: id, RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
}

// svcResolves reports whether an authorization request for the client
// id gets the sign-in page (the client is known) rather than an error
// page (unknown: 400, and no redirect to anything the document named).
func (e *testEnv) svcResolves(t *testing.T, id string) bool {
	t.Helper()
	r := e.browser().get(e.svcDocClient(id).AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	switch {
	case isSignInPage(r):
		return true
	case r.status == http.StatusBadRequest && r.header.Get("Location") == "":
		return false
	}
	t.Fatalf("%s: %d %q %s", id, r.status, r.header.Get("Location"), r.body)
	return false
}

// TestMetadataDocumentClient: a client whose client_id is the https URL
// of its metadata document completes the code flow as a public client,
// shown on the consent page by the document's host; the document is
// fetched once and cached as its Cache-Control says, within the policy's
// bounds on the server's clock.
func TestMetadataDocumentClient(t *testing.T) {
	ds := svcNewDocServer(t)
	e := newEnv(t, func(cfg *Config) { cfg.MetadataDocuments = ds.policy(true) })
	if m := e.get("/.well-known/oauth-authorization-server", nil).json(t); m["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery does not advertise metadata documents: %v", m)
	}
	id := ds.URL + "/good.json"
	cfg := e.svcDocClient(id)
	b := e.browser()
	consent := b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", alicePassword)
	host := strings.TrimPrefix(ds.URL, "https://")
	if !isPage(consent, "Allow access?") || !strings.Contains(string(consent.body), `<span class="host">`+host+`</span>`) ||
		!strings.Contains(string(consent.body), `<span class="client">Doc App</span>`) || !strings.Contains(string(consent.body), `class="unverified"`) {
		t.Fatalf("the consent page does not show the document's host %s: %s", host, consent.body)
	}
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("metadata document client: %v", err)
	}
	e.verifyIDToken(tok.Extra("id_token").(string), id)
	if in := e.svcIntrospect(tok.AccessToken); in["client_id"] != id {
		t.Errorf("introspection = %v", in)
	}
	// It is public: a secret is refused.
	r := e.postForm("/token", url.Values{"grant_type": {GrantAuthorizationCode}, "code": {"x"}}, id, "secret")
	svcWantError(t, r, http.StatusUnauthorized, codeInvalidClient)
	if n := ds.count("/good.json"); n != 1 {
		t.Errorf("the document was fetched %d times; want once, then cached (max-age=300)", n)
	}
	e.clock.Advance(299 * time.Second)
	e.svcResolves(t, id)
	if n := ds.count("/good.json"); n != 1 {
		t.Errorf("fetched %d times within max-age", n)
	}
	e.clock.Advance(time.Second)
	e.svcResolves(t, id)
	if n := ds.count("/good.json"); n != 2 {
		t.Errorf("fetched %d times after max-age; want a second fetch", n)
	}

	// no-store still caches for the policy's minimum (a minute); a year
	// is cut to the maximum (a day).
	for _, tt := range []struct {
		path string
		ttl  time.Duration
	}{
		{"/nocache.json", time.Minute},
		{"/long.json", 24 * time.Hour},
	} {
		e.svcResolves(t, ds.URL+tt.path)
		e.clock.Advance(tt.ttl - time.Second)
		e.svcResolves(t, ds.URL+tt.path)
		if n := ds.count(tt.path); n != 1 {
			t.Errorf("%s: fetched %d times within %v", tt.path, n, tt.ttl)
		}
		e.clock.Advance(time.Second)
		e.svcResolves(t, ds.URL+tt.path)
		if n := ds.count(tt.path); n != 2 {
			t.Errorf("%s: fetched %d times after %v", tt.path, n, tt.ttl)
		}
	}
}

// TestMetadataDocumentContents: what a document may say: only
// authorization_code and refresh_token for a public client, with
// acceptable redirect URIs; scopes outside the registration policy are
// dropped; a configured client's name is replaced by the document's host.
func TestMetadataDocumentContents(t *testing.T) {
	ds := svcNewDocServer(t)
	e := newEnv(t, func(cfg *Config) { cfg.MetadataDocuments = ds.policy(true) })
	host := strings.TrimPrefix(ds.URL, "https://")
	r := e.browser().get(e.svcDocClient(ds.URL+"/renamed.json").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !strings.Contains(string(r.body), `<span class="client">`+host+`</span>`) || strings.Contains(string(r.body), `<span class="client">webapp<`) {
		t.Errorf("a document with a configured client's name: %s", r.body)
	}
	c, err := e.srv.lookupClient(t.Context(), ds.URL+"/scoped.json")
	if err != nil || c == nil || strings.Join(c.Scopes, " ") != "openid" || !c.Public || !c.Registered || !c.RequirePKCE {
		t.Errorf("scoped document: %+v %v", c, err)
	}
}

// TestMetadataDocumentGuards: each bad document, and each client ID URL
// that cannot name one, makes an unknown client (an error page, never a
// redirect): a client_id that is not the document's URL, a document over
// the size limit or too slow, a redirect (not followed), a confidential
// client, bad redirect URIs, other grants, a malformed scope, a
// non-JSON body, a missing document; a URL without a path, with a
// fragment, credentials or dot segments is not even fetched. A document
// on a private address is refused unless allowed, and without the
// feature an https client_id is just unknown.
func TestMetadataDocumentGuards(t *testing.T) {
	ds := svcNewDocServer(t)
	e := newEnv(t, func(cfg *Config) { cfg.MetadataDocuments = ds.policy(true) })
	for _, p := range []string{"/wrong-id.json", "/big.json", "/slow.json", "/redirect.json", "/confidential.json", "/no-redirects.json",
		"/http-redirect.json", "/service.json", "/bad-scope.json", "/bad-logout.json", "/not-json.json", "/missing.json"} {
		t.Run(p, func(t *testing.T) {
			if e.svcResolves(t, ds.URL+p) {
				t.Errorf("%s was accepted", p)
			}
			if n := ds.count(p); n != 1 {
				t.Errorf("%s was fetched %d times", p, n)
			}
		})
	}
	if n := ds.count("/good.json"); n != 0 {
		t.Errorf("a redirect was followed to /good.json")
	}
	for _, id := range []string{ds.URL, ds.URL + "/", ds.URL + "/good.json#x", ds.URL + "/good.json#",
		"https://user:pass@" + strings.TrimPrefix(ds.URL, "https://") + "/good.json", ds.URL + "/a/../good.json", ds.URL + "/./good.json/./x"} {
		if e.svcResolves(t, id) {
			t.Errorf("%s was accepted", id)
		}
	}
	if n := ds.count("/good.json"); n != 0 {
		t.Errorf("a malformed client ID URL was fetched %d times", n)
	}
	// A failed fetch is not cached: a document that comes right is used.
	if e.svcResolves(t, ds.URL+"/missing.json") || ds.count("/missing.json") != 2 {
		t.Errorf("a failed fetch was cached: %d fetches", ds.count("/missing.json"))
	}

	// The document must come from a public address unless allowed.
	e = newEnv(t, func(cfg *Config) { cfg.MetadataDocuments = ds.policy(false) })
	if e.svcResolves(t, ds.URL+"/good.json") || ds.count("/good.json") != 0 {
		t.Errorf("a document on a loopback address was accepted or fetched")
	}
	// Without the feature, an https client_id is just unknown.
	e = newEnv(t, nil)
	if e.svcResolves(t, ds.URL+"/good.json") || ds.count("/good.json") != 0 {
		t.Errorf("metadata documents disabled, but the document was used or fetched")
	}
	if m := e.get("/.well-known/oauth-authorization-server", nil).json(t); m["client_id_metadata_document_supported"] != nil {
		t.Errorf("disabled metadata documents are advertised")
	}
}
