package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// externalProvider runs a second authgate authorization server, outside
// Caddy, to play an external OpenID provider.
func externalProvider(t *testing.T) *httptest.Server {
	t.Helper()
	return startProvider(t, func(cfg *authserver.Config, h password.Hash) {
		cfg.Users = []*authserver.User{{Username: "erin", Password: h, Email: "erin@ext.example", Groups: []string{"external"}}}
		cfg.Clients = []*authserver.Client{
			{ID: "gw", Secret: authserver.PlainSecret("gw-secret"), RedirectURIs: []string{"http://127.0.0.1/.authgate/callback"},
				GrantTypes: []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken},
				Scopes:     []string{"openid", "profile", "email", "groups", "offline_access"}, SkipConsent: true},
			{ID: "machine", Secret: authserver.PlainSecret("machine-secret"), GrantTypes: []string{authserver.GrantClientCredentials},
				Scopes: []string{"read"}, Audiences: []string{"https://api.example.com"}},
		}
	})
}

// startProvider runs an authgate authorization server outside Caddy, with
// RS256 keys on its own SQLite store, configured by configure (h is the
// hash of ext-password), and stops it when the test ends.
func startProvider(t *testing.T, configure func(cfg *authserver.Config, h password.Hash)) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ext.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.New(st, keys.Config{Algorithm: "RS256"})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("ext-password"), bcrypt.MinCost)
	h, _ := password.Parse(string(hash))
	var server *authserver.Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { server.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	cfg := authserver.Config{Issuer: ts.URL, Store: st, Keys: km}
	configure(&cfg, h)
	if server, err = authserver.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestGatewayExternalIssuer protects routes with another provider's
// tokens (verified with go-oidc against its JWKS) and sign-in.
func TestGatewayExternalIssuer(t *testing.T) {
	ext := externalProvider(t)
	g := startGateway(t, gatewayClients, `
			accept bearer
			issuer `+ext.URL+`
			algorithms RS256
			require scope read
			require audience https://api.example.com`, `
			accept session
			issuer `+ext.URL+`
			client_id gw
			client_secret gw-secret`)
	// A token from the external provider passes; one from the bundled
	// server does not (another issuer).
	tr := postForm(t, ext.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "resource": {"https://api.example.com"}}, "machine", "machine-secret")
	extToken, _ := tr["access_token"].(string)
	if r := g.call("GET", g.app+"/api/x", extToken); r.status != 200 || !strings.Contains(string(r.body), "sub=machine ") {
		t.Fatalf("external token: %d %s", r.status, r.body)
	}
	local := g.token("svc", "svc-secret", url.Values{"scope": {"read"}})
	if r := g.call("GET", g.app+"/api/x", local); r.status != 401 {
		t.Errorf("a token of another issuer: %d", r.status)
	}
	// Sign-in at the external provider.
	b := newBrowser(g.testCaddy)
	r := b.get(g.app + "/page")
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || !strings.HasPrefix(loc.String(), ext.URL+"/authorize?") || loc.Query().Get("code_challenge_method") != "S256" || loc.Query().Get("nonce") == "" {
		t.Fatalf("redirect to the external provider: %d %s", r.status, loc)
	}
	login := b.get(loc.String())
	f := fields(login)
	f.Set("username", "erin")
	f.Set("password", "ext-password")
	req, _ := http.NewRequest(http.MethodPost, ext.URL+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = b.do(req)
	if r.status != http.StatusSeeOther {
		t.Fatalf("external sign-in: %d %s", r.status, r.body)
	}
	r = b.get(r.header.Get("Location")) // the gateway's callback
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/page" {
		t.Fatalf("callback: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	r = b.get(g.app + "/page")
	if r.status != 200 || !strings.Contains(string(r.body), "sub=erin ") || !strings.Contains(string(r.body), "email=erin@ext.example") {
		t.Fatalf("after external sign-in: %d %s", r.status, r.body)
	}
}

func postForm(t *testing.T, endpoint string, form url.Values, user, pass string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	return do(t, req).json(t)
}
