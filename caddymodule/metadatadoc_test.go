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
	"testing"
)

// newDocServer serves a client ID metadata document over TLS at
// /good.json and writes its certificate to a file for trusted_ca.
func newDocServer(t *testing.T) (*httptest.Server, string) {
	ds := httptest.NewUnstartedServer(nil)
	ds.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/good.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"client_id": ds.URL + r.URL.Path, "client_name": "Doc App", //nolint:errcheck
			"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none"})
	})
	ds.StartTLS()
	t.Cleanup(ds.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ds.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return ds, caFile
}

// TestMetadataDocumentOptions: the Caddyfile's client_id_metadata_documents
// options reach the server: with the document server's certificate as
// trusted_ca and allow_private_addresses, a client whose client_id is its
// document's URL is known (it pushes an authorization request); without
// allow_private_addresses, a document on loopback is refused. Documents
// themselves are tested in authserver.
func TestMetadataDocumentOptions(t *testing.T) {
	ds, caFile := newDocServer(t)
	config := func(private string) string {
		return signinClients + fmt.Sprintf(`
		client_id_metadata_documents {
			%s
			trusted_ca %s
			timeout 1s
		}`, private, caFile)
	}
	tc := startCaddy(t, config("allow_private_addresses"))
	if m := tc.get("/.well-known/oauth-authorization-server").json(t); m["client_id_metadata_document_supported"] != true {
		t.Errorf("discovery does not advertise metadata documents: %v", m)
	}
	push := url.Values{"client_id": {ds.URL + "/good.json"}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	if r := tc.postForm("/par", push, "", ""); r.status != http.StatusCreated {
		t.Errorf("a metadata document client: %d %s", r.status, r.body)
	}
	tc.reload(config(""))
	if r := tc.postForm("/par", push, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("a document on a loopback address was accepted: %d %s", r.status, r.body)
	}
}
