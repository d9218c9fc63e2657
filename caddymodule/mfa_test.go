package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestMFACaddyfile: require_mfa and require_mfa_groups in the global
// block, require_mfa in a client and trust_mfa in an oidc provider
// adapt to the app's JSON, reach the authorization server's values, and
// provision.
func TestMFACaddyfile(t *testing.T) {
	dir := t.TempDir()
	text := idpCaddyfile(dir, `
		require_mfa
		require_mfa_groups admins corp:ops
		require_mfa_groups auditors
		client portal {
			public
			redirect_uris https://portal.example.com/cb
			require_mfa
		}
		client relaxed {
			public
			redirect_uris https://relaxed.example.com/cb
			require_mfa false
		}
		identity_provider corp oidc {
			issuer https://sso.example.com
			client_id authgate
			trust_mfa
		}
		identity_provider other oidc {
			issuer https://other.example.com
			client_id authgate
		}`)
	cfg, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps struct {
			Authgate struct {
				RequireMFA        bool              `json:"require_mfa"`
				RequireMFAGroups  []string          `json:"require_mfa_groups"`
				Clients           []json.RawMessage `json:"clients"`
				IdentityProviders []json.RawMessage `json:"identity_providers"`
			} `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	app := doc.Apps.Authgate
	if !app.RequireMFA || strings.Join(app.RequireMFAGroups, " ") != "admins corp:ops auditors" {
		t.Errorf("require_mfa %v, require_mfa_groups %v", app.RequireMFA, app.RequireMFAGroups)
	}
	for i, want := range []string{
		`{"id":"portal","public":true,"redirect_uris":["https://portal.example.com/cb"],"require_mfa":true}`,
		`{"id":"relaxed","public":true,"redirect_uris":["https://relaxed.example.com/cb"]}`,
	} {
		if got := string(app.Clients[i]); got != want {
			t.Errorf("client %d:\n got %s\nwant %s", i, got, want)
		}
		var cc ClientConfig
		if err := json.Unmarshal(app.Clients[i], &cc); err != nil {
			t.Fatal(err)
		}
		c, err := cc.build(caddy.NewReplacer())
		if err != nil {
			t.Fatal(err)
		}
		if c.RequireMFA != (i == 0) {
			t.Errorf("client %s: RequireMFA %v", c.ID, c.RequireMFA)
		}
	}
	for i, want := range []string{
		`{"client_id":"authgate","issuer":"https://sso.example.com","name":"corp","provider":"oidc","trust_mfa":true}`,
		`{"client_id":"authgate","issuer":"https://other.example.com","name":"other","provider":"oidc"}`,
	} {
		if got := string(app.IdentityProviders[i]); got != want {
			t.Errorf("identity provider %d:\n got %s\nwant %s", i, got, want)
		}
		var p OIDCProvider
		if err := json.Unmarshal(app.IdentityProviders[i], &p); err != nil {
			t.Fatal(err)
		}
		if err := p.provision(); err != nil {
			t.Fatal(err)
		}
		if got := p.IdentityProvider().TrustMFA; got != (i == 0) {
			t.Errorf("provider %s: TrustMFA %v", p.Name, got)
		}
	}
	if err := validate(t, text); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// TestMFACaddyfileErrors: what the adapter refuses of the options.
func TestMFACaddyfileErrors(t *testing.T) {
	for _, tt := range []struct{ name, lines, want string }{
		{"groups without a group", "require_mfa_groups", "wrong argument count"},
		{"require_mfa with a word", "require_mfa always", "takes no argument, or true or false"},
		{"client require_mfa with a word", "client x {\n\t\t\trequire_mfa yes please\n\t\t}", "takes no argument, or true or false"},
		{"trust_mfa with a word", "identity_provider corp oidc {\n\t\t\tissuer https://sso.example.com\n\t\t\tclient_id x\n\t\t\ttrust_mfa maybe\n\t\t}",
			"takes no argument, or true or false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, idpCaddyfile(t.TempDir(), "\t\t"+tt.lines))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
	// The oidc module reads trust_mfa from its own block too.
	var p OIDCProvider
	d := caddyfile.NewTestDispenser("oidc {\n issuer https://sso.example.com\n client_id x\n trust_mfa\n}")
	if err := p.UnmarshalCaddyfile(d); err != nil || !p.TrustMFA {
		t.Errorf("UnmarshalCaddyfile: %v, TrustMFA %v", err, p.TrustMFA)
	}
}

// TestReadmeSecondFactors adapts and validates the Caddyfile of the
// README's "Second factors" section, with its store in a temporary
// directory and its placeholder set.
func TestReadmeSecondFactors(t *testing.T) {
	var blocks []string
	for _, b := range codeBlocks(readmeSection(t, "### Second factors"), "caddyfile") {
		if strings.HasPrefix(b, "{\n") {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("found %d complete Caddyfiles in the section; want 1", len(blocks))
	}
	cfg, err := adaptCaddyfile(t, blocks[0])
	if err != nil {
		t.Fatalf("the README's example does not adapt: %v", err)
	}
	for _, want := range []string{`"require_mfa_groups":["admins"]`, `"require_mfa":true`, `"trust_mfa":true`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the adapted example lacks %s: %s", want, cfg)
		}
	}
	t.Setenv("CORP_CLIENT_SECRET", "corp-secret")
	local := strings.Replace(blocks[0], "issuer http://127.0.0.1:9000\n",
		"issuer http://127.0.0.1:9000\n\t\tstorage sqlite "+t.TempDir()+"/a.db\n", 1)
	if err := validate(t, local); err != nil {
		t.Fatalf("the README's example does not validate: %v", err)
	}
}
