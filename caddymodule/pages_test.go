package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// pagesOptions brand the server and add a device client to the gateway
// setup's clients.
const pagesOptions = gatewayClients + `
		product_name "Example Corp"
		accent_color 0b7a3e
		client tv {
			public
			name "Living room TV"
			grant_types device_code
			scopes openid profile
		}
`

// TestPagesCaddyfile: the branding options of the global block and the
// gateway's name adapt to the app's and the handler's JSON.
func TestPagesCaddyfile(t *testing.T) {
	cfg, err := adaptCaddyfile(t, `{
	authgate {
		issuer https://auth.example.com
		product_name "Example Corp"
		logo_url https://cdn.example.com/logo.svg
		accent_color "#0b7a3e"
	}
}
grafana.example.com {
	authgate {
		accept session
		name "Grafana"
	}
	respond "ok"
}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Apps struct {
			Authgate struct {
				ProductName string `json:"product_name"`
				LogoURL     string `json:"logo_url"`
				AccentColor string `json:"accent_color"`
			} `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &got); err != nil {
		t.Fatal(err)
	}
	if a := got.Apps.Authgate; a.ProductName != "Example Corp" || a.LogoURL != "https://cdn.example.com/logo.svg" || a.AccentColor != "#0b7a3e" {
		t.Errorf("branding JSON: %+v", a)
	}
	if !strings.Contains(string(cfg), `"name":"Grafana"`) {
		t.Errorf("the gateway's name is not in the JSON: %s", cfg)
	}
	for _, bad := range []string{"product_name", "logo_url", "accent_color"} {
		if _, err := adaptCaddyfile(t, "{\n\tauthgate {\n\t\tissuer https://a.example\n\t\t"+bad+"\n\t}\n}\n"); err == nil {
			t.Errorf("%s without a value adapted", bad)
		}
	}
}

// TestPagesConfigErrors: branding that is not plain text, a color or a
// safe logo URL, and a gateway name that is not plain text, fail
// `caddy validate` and say why.
func TestPagesConfigErrors(t *testing.T) {
	// A bad accent_color fails earlier, while adapting (TestCaddyfileErrors).
	for _, tt := range []struct{ name, options, site, want string }{
		{"http logo", `logo_url http://cdn.example.com/logo.png`, "", "logo URL"},
		{"long product name", `product_name "` + strings.Repeat("x", 61) + `"`, "", "product name"},
		{"long gateway name", ``, `authgate {
		name "` + strings.Repeat("g", 81) + `"
	}`, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("{\n\tauthgate {\n\t\tissuer https://a.example\n\t\tstorage sqlite %s/a.db\n\t\t%s\n\t}\n}\nhttps://a.example {\n\tauthgate_server\n\t%s\n}\n", t.TempDir(), tt.options, tt.site)
			cfgJSON, err := adaptCaddyfile(t, text)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
				t.Fatal(err)
			}
			if err := caddy.Validate(&cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestGatewayPagesNameTheSite: through Caddy, the gateway's sign-in page
// says "Sign in to continue to Grafana (host)", branded; sign-out names
// the site and links back to it; a browser on the bearer-only API gets a
// page saying it needs an access token; the issuer's root is the landing
// page.
func TestGatewayPagesNameTheSite(t *testing.T) {
	g := startGateway(t, pagesOptions, `accept bearer`, `
			accept session
			name "Grafana"`)
	host := strings.TrimPrefix(g.app, "http://")
	b := newBrowser(g.testCaddy)
	first := b.get(g.app + "/page")
	if first.status != http.StatusFound {
		t.Fatalf("a browser without a session: %d", first.status)
	}
	login := b.get(first.header.Get("Location"))
	body := string(login.body)
	for _, want := range []string{`Sign in to continue to <span class="client">Grafana</span> (<span class="host">` + host + `</span>)`,
		`<title>Sign in · Example Corp</title>`, `--accent: #0b7a3e`} {
		if !strings.Contains(body, want) {
			t.Errorf("the sign-in page lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "this site") {
		t.Errorf("the sign-in page says this site: %s", body)
	}

	if r := b.signInThroughGateway(g.app + "/page"); !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("sign-in through the gateway: %d %s", r.status, r.body)
	}
	out := b.get(g.app + "/.authgate/logout")
	loc, _ := url.Parse(out.header.Get("Location"))
	if out.status != http.StatusSeeOther || loc.Query().Get("authgate_site") != g.app+"/.authgate/callback" {
		t.Fatalf("the gateway's sign-out: %d %s", out.status, loc)
	}
	confirm := b.get(loc.String())
	if !isPage(confirm, "Sign out?") || !strings.Contains(string(confirm.body), `sign out of <span class="client">`+host+`</span>`) {
		t.Fatalf("the sign-out page: %d %s", confirm.status, confirm.body)
	}
	f := fields(confirm)
	f.Set("decision", "logout")
	done := b.post("/logout", f)
	if !isPage(done, "Signed out") || !strings.Contains(string(done.body), `<a href="`+g.app+`/">Back to `+host+`</a>`) {
		t.Errorf("signed out: %d %s", done.status, done.body)
	}

	api := g.call("GET", g.app+"/api/things", "", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if api.status != http.StatusUnauthorized || !strings.HasPrefix(api.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(api.body), "needs an access token") || !strings.HasPrefix(api.header.Get("WWW-Authenticate"), "Bearer realm=") {
		t.Errorf("a browser on the API: %d %s %q", api.status, api.header, api.body)
	}
	if r := g.call("GET", g.app+"/api/things", ""); r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("an API client: %d %s", r.status, r.header.Get("Content-Type"))
	}

	landing := b.get(g.issuer + "/")
	if !isPage(landing, "Sign-in service") || !strings.Contains(string(landing.body), "Example Corp signs you in") ||
		!strings.Contains(string(landing.body), `href="/.well-known/openid-configuration"`) {
		t.Errorf("the landing page: %d %s", landing.status, landing.body)
	}
}
