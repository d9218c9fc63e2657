package caddymodule

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// docServer serves client ID metadata documents over TLS, one per path,
// and counts the fetches of each.
type docServer struct {
	*httptest.Server
	caFile  string
	fetches map[string]*atomic.Int32
}

func newDocServer(t *testing.T) *docServer {
	ds := &docServer{fetches: map[string]*atomic.Int32{}}
	for _, p := range []string{"/good.json", "/wrong-id.json", "/big.json", "/slow.json", "/redirect.json", "/confidential.json"} {
		ds.fetches[p] = new(atomic.Int32)
	}
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
		if n, ok := ds.fetches[r.URL.Path]; ok {
			n.Add(1)
		}
		self := ds.URL + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/good.json":
			w.Header().Set("Cache-Control", "max-age=300")
			w.Write(doc(self, nil))
		case "/wrong-id.json":
			w.Write(doc(ds.URL+"/good.json", nil))
		case "/big.json":
			w.Write(doc(self, map[string]any{"padding": strings.Repeat("x", 8<<10)}))
		case "/slow.json":
			time.Sleep(1500 * time.Millisecond)
			w.Write(doc(self, nil))
		case "/redirect.json":
			http.Redirect(w, r, "/good.json", http.StatusFound)
		case "/confidential.json":
			w.Write(doc(self, map[string]any{"token_endpoint_auth_method": "client_secret_basic"}))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ds.Close)
	ds.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ds.Certificate().Raw})
	if err := os.WriteFile(ds.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return ds
}

func (ds *docServer) config(allowPrivate bool) string {
	private := ""
	if allowPrivate {
		private = "allow_private_addresses"
	}
	return fmt.Sprintf(`
		client_id_metadata_documents {
			%s
			trusted_ca %s
			timeout 1s
		}`, private, ds.caFile)
}

// TestMetadataDocumentClient: a client whose client_id is the URL of its
// metadata document completes the code flow; each guard refuses.
func TestMetadataDocumentClient(t *testing.T) {
	ds := newDocServer(t)
	tc := startCaddy(t, signinClients+ds.config(true))
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery does not advertise metadata documents: %v", m)
	}
	id := ds.URL + "/good.json"
	cfg := &oauth2.Config{ClientID: id, RedirectURL: "http://127.0.0.1:9999/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	b := newBrowser(tc)
	consent := b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", alicePassword)
	host := strings.TrimPrefix(ds.URL, "https://")
	if !isPage(consent, "Allow access?") || !strings.Contains(string(consent.body), `<span class="host">`+host+`</span>`) {
		t.Fatalf("the consent page does not show the document's host %s: %s", host, consent.body)
	}
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("metadata document client: %v", err)
	}
	tc.verifyIDToken(tok.Extra("id_token").(string), id)
	if n := ds.fetches["/good.json"].Load(); n != 1 {
		t.Errorf("the document was fetched %d times; want once, then cached (max-age=300)", n)
	}
	// Guards: each bad document is an unknown client (an error page).
	for _, p := range []string{"/wrong-id.json", "/big.json", "/slow.json", "/redirect.json", "/confidential.json", "/missing.json"} {
		u := strings.Replace(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "client_id="+url.QueryEscape(id), "client_id="+url.QueryEscape(ds.URL+p), 1)
		start := time.Now()
		r := b.get(u)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("%s: %d %s; want an error page", p, r.status, r.header.Get("Location"))
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s took %v: the fetch timeout did not hold", p, time.Since(start))
		}
	}
	if n := ds.fetches["/good.json"].Load(); n != 1 {
		t.Errorf("a redirect was followed to /good.json")
	}
	// The document must come from a public address unless allowed.
	tc.reload(signinClients + ds.config(false))
	if r := newBrowser(tc).get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); r.status != http.StatusBadRequest {
		t.Errorf("a document on a loopback address was accepted: %d", r.status)
	}
	// Without the option, an https client_id is just unknown.
	tc.reload(signinClients)
	if r := newBrowser(tc).get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); r.status != http.StatusBadRequest {
		t.Errorf("metadata documents disabled: %d", r.status)
	}
}
