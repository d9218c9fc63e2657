package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func adaptCaddyfile(t *testing.T, text string) ([]byte, error) {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	return cfg, err
}

// TestCaddyfileAdapts checks the JSON the global option and the directive
// produce.
func TestCaddyfileAdapts(t *testing.T) {
	cfg, err := adaptCaddyfile(t, `{
	authgate {
		issuer https://auth.example.com
		storage sqlite /var/lib/authgate.db
		signing_algorithm EdDSA
		key_rotation 24h
		access_token_lifetime 10m
		max_body_size 32KiB
		sweep_interval 1m
		client api {
			name "The API"
			secret {env.API_SECRET}
			token_endpoint_auth_method client_secret_post
			grant_types client_credentials device_code
			scopes read write
			audiences https://api.example.com
			access_token_lifetime 5m
			introspect_any
		}
		client app {
			public
			redirect_uris https://app.example.com/cb http://127.0.0.1/cb
		}
	}
}
auth.example.com {
	authgate_server
	reverse_proxy 127.0.0.1:8080
}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Apps struct {
			Authgate map[string]any `json:"authgate"`
			HTTP     struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Routes []struct {
								Handle []map[string]any `json:"handle"`
							} `json:"routes"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"access_token_lifetime":600000000000,"clients":[{"access_token_lifetime":300000000000,"audiences":["https://api.example.com"],"grant_types":["client_credentials","device_code"],"id":"api","introspect_any":true,"name":"The API","scopes":["read","write"],"secret":"{env.API_SECRET}","token_endpoint_auth_method":"client_secret_post"},{"id":"app","public":true,"redirect_uris":["https://app.example.com/cb","http://127.0.0.1/cb"]}],"issuer":"https://auth.example.com","key_rotation":86400000000000,"max_body_bytes":32768,"signing_algorithm":"EdDSA","storage":{"backend":"sqlite","path":"/var/lib/authgate.db"},"sweep_interval":60000000000}`
	if b, _ := json.Marshal(got.Apps.Authgate); string(b) != want {
		t.Errorf("authgate app JSON:\n got %s\nwant %s", b, want)
	}
	var order []string
	for _, srv := range got.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			for _, h := range r.Handle {
				for _, sub := range h.Routes {
					for _, hh := range sub.Handle {
						order = append(order, fmt.Sprint(hh["handler"]))
					}
				}
			}
		}
	}
	if strings.Join(order, ",") != "authgate_server,reverse_proxy" {
		t.Errorf("handler order = %v; want authgate_server before reverse_proxy without an order option", order)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"unknown option", `{
	authgate {
		issuer https://a.example
		colour blue
	}
}`, "unrecognized authgate option"},
		{"unknown client option", `{
	authgate {
		client x {
			flavour mint
		}
	}
}`, "unrecognized client option"},
		{"bad duration", `{
	authgate {
		access_token_lifetime soon
	}
}`, "invalid duration"},
		{"unknown backend", `{
	authgate {
		storage mongo
	}
}`, "unknown storage backend"},
		{"issuer without value", `{
	authgate {
		issuer
	}
}`, "wrong argument count"},
		{"bad size", `{
	authgate {
		max_body_size lots
	}
}`, "max_body_size"},
		// Values checked while adapting, so the error names the line.
		{"bad issuer names its line", `{
	authgate {
		issuer http://auth.example.com
	}
}`, "must use https (http is only for loopback hosts), at Caddyfile:3"},
		{"issuer with a query names its line", `{
	authgate {
		issuer https://auth.example.com/?x=1
	}
}`, "must not have a query or fragment, at Caddyfile:3"},
		{"bad algorithm names its line", `{
	authgate {
		issuer https://a.example
		signing_algorithm HS256
	}
}`, "unsupported signing algorithm \"HS256\" (want one of [ES256 EdDSA RS256]), at Caddyfile:4"},
		{"bad accent color names its line", `{
	authgate {
		issuer https://a.example
		accent_color red
	}
}`, "accent_color \"red\""},
		{"directive with options", `a.example {
	authgate_server {
		issuer x
	}
}`, "takes no options"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestConfigErrors checks configs that adapt but must not load: each
// fails `caddy validate` with a message that names the problem.
func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, options, want string }{
		{"no issuer", ``, "issuer is required"},
		{"client without secret", `issuer https://a.example
		client c {
			scopes read
		}`, "needs a secret"},
		{"public client with secret", `issuer https://a.example
		client c {
			public
			secret x
		}`, "public client cannot have a secret"},
		{"secret and hash", `issuer https://a.example
		client c {
			secret x
			secret_hash $2a$10$abcdefghijklmnopqrstuuOqNpZ9kSgS1Kx2F8fZq5p4F5Xb/lq1i
		}`, "not both"},
		{"bad hash", `issuer https://a.example
		client c {
			secret_hash plaintext
		}`, "secret_hash"},
		{"unknown grant", `issuer https://a.example
		client c {
			secret x
			grant_types implicit
		}`, "unknown grant type"},
		{"public client credentials", `issuer https://a.example
		client c {
			public
			grant_types client_credentials
		}`, "cannot use client_credentials"},
		{"redirect with fragment", `issuer https://a.example
		client c {
			public
			redirect_uris https://app.example/cb#x
		}`, "no fragment"},
		{"duplicate client", `issuer https://a.example
		client c {
			secret x
		}
		client c {
			secret y
		}`, "defined twice"},
		{"empty env secret", `issuer https://a.example
		client c {
			secret {env.AUTHGATE_TEST_UNSET_VARIABLE}
		}`, "empty after replacing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("{\n\tauthgate {\n\t\tstorage sqlite %s/a.db\n\t\t%s\n\t}\n}\nhttps://a.example {\n\tauthgate_server\n}\n", t.TempDir(), tt.options)
			cfgJSON, err := adaptCaddyfile(t, text)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
				t.Fatal(err)
			}
			err = caddy.Validate(&cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestCaddyfileExample adapts and validates the shipped Caddyfile.example,
// then runs it (on a free port instead of 9000) and follows the README:
// a token for demo-service that introspects active, then inactive after
// revocation; the gateway's API; the step-up at the app's /admin/.
func TestCaddyfileExample(t *testing.T) {
	text, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON, err := adaptCaddyfile(t, string(text))
	if err != nil {
		t.Fatalf("Caddyfile.example does not adapt: %v", err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("Caddyfile.example does not validate: %v", err)
	}

	local, ports := localExample(t, string(text))
	cfgJSON, err = adaptCaddyfile(t, local)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("running Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() })
	tc := &testCaddy{t: t, issuer: "http://" + ports["9000"]}
	tok := tc.token("demo-service", "demo-service-secret", nil)
	tc.verifyJWT(tok)
	in := tc.postForm("/introspect", url.Values{"token": {tok}}, "demo-service", "demo-service-secret").json(t)
	if in["active"] != true || in["scope"] != "read write" {
		t.Fatalf("introspection = %v", in)
	}
	if r := tc.postForm("/revoke", url.Values{"token": {tok}}, "demo-service", "demo-service-secret"); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	in = tc.postForm("/introspect", url.Values{"token": {tok}}, "demo-service", "demo-service-secret").json(t)
	if in["active"] != false {
		t.Fatalf("after revocation: %v", in)
	}

	// The gateway demo: the API wants a token with read; the forward_auth
	// site takes one too; the upstream echoes who it is.
	g := &gatewaySetup{testCaddy: tc}
	if r := g.call("GET", "http://"+ports["9001"]+"/api/hello", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("the demo API without a token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	read := tc.token("demo-service", "demo-service-secret", url.Values{"scope": {"read"}})
	for _, site := range []string{ports["9001"] + "/api/hello", ports["9002"] + "/hello"} {
		r := g.call("GET", "http://"+site, read)
		if r.status != 200 || !strings.Contains(string(r.body), "X-Auth-Subject:   demo-service") {
			t.Errorf("%s with a token: %d %s", site, r.status, r.body)
		}
	}
	// The site's resource metadata comes from the API's gateway, with its scope.
	if m := g.call("GET", "http://"+ports["9001"]+"/.well-known/oauth-protected-resource", "").json(t); len(anyStrings(m["scopes_supported"])) == 0 || anyStrings(m["scopes_supported"])[0] != "read" {
		t.Errorf("the demo's resource metadata = %v", m)
	}
	// The admin pages require a second factor, as the README walks
	// through: demo signs in with the password at the app, sets up an authenticator
	// app (the API the account page uses), and opening /admin/ asks for
	// its code only; the upstream then sees amr with mfa.
	app := "http://" + ports["9001"]
	b := newBrowser(tc)
	r, at := b.follow(tc.issuer+"/login", b.passwordSignIn(app+"/", "demo", "demo-password"))
	if r.status != 200 || at != app+"/" || !strings.Contains(string(r.body), "X-Auth-Subject:   demo\n") ||
		!strings.Contains(string(r.body), "X-Auth-Amr:       pwd\n") {
		t.Fatalf("demo's password sign-in: %d at %s\n%s", r.status, at, r.body)
	}
	totp := setUpTOTP(t, "demo")
	r, at = b.follow(app+"/admin/", b.get(app+"/admin/"))
	if at != tc.issuer+"/login/factor" || !isFactorPage(r) {
		t.Fatalf("the step-up at /admin/: %d at %s\n%s", r.status, at, r.body)
	}
	r, at = b.follow(tc.issuer+"/login/factor", b.submitFactor(r, "code", totp.code()))
	if r.status != 200 || at != app+"/admin/" || !strings.Contains(string(r.body), "X-Auth-Amr:       pwd,otp,mfa\n") ||
		!strings.HasSuffix(strings.TrimSpace(string(r.body)), "X-Auth-Acr:       mfa") {
		t.Fatalf("after the step-up: %d at %s\n%s", r.status, at, r.body)
	}

	// The demo offers passkeys, as the README says: its issuer is on
	// localhost, a host name that can be the relying party ID, so the
	// signed-in demo user's /account/passkeys has the form to add one.
	r = b.get(tc.issuer + "/account/passkeys")
	if page := string(r.body); r.status != http.StatusOK || strings.Contains(page, "IP address") ||
		!strings.Contains(page, `id="passkey-add"`) || !strings.Contains(page, "localhost") {
		t.Fatalf("the demo's passkeys page: %d\n%s", r.status, page)
	}

	// Self-registration works as the README shows.
	reg := tc.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1:9999/cb"}, "token_endpoint_auth_method": "none"}, "")
	if reg.status != http.StatusCreated {
		t.Errorf("registration on the example: %d %s", reg.status, reg.body)
	}
}

// localExample rewrites Caddyfile.example to free ports (the demo's
// 9000, 9001, 9002 and 9100 may be taken) with its own admin endpoint,
// Caddy storage and authgate store. A port keeps its host: the
// authorization server is on localhost (ports["9000"] is localhost:<port>),
// the other sites on 127.0.0.1.
func localExample(t *testing.T, text string) (string, map[string]string) {
	t.Helper()
	ports := map[string]string{}
	for _, p := range []string{"9000", "9001", "9002", "9100"} {
		port := freePort(t)
		for _, host := range []string{"localhost", "127.0.0.1"} {
			if strings.Contains(text, host+":"+p) {
				ports[p] = fmt.Sprintf("%s:%d", host, port)
				text = strings.ReplaceAll(text, host+":"+p, ports[p])
			}
		}
	}
	text = strings.Replace(text, "{\n", fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tstorage file_system %s\n", freePort(t), t.TempDir()), 1)
	// A store of its own: what one test sets up (demo's authenticator
	// app, say) does not reach the next.
	text = strings.Replace(text, "\t\tissuer ", "\t\tstorage sqlite "+filepath.Join(t.TempDir(), "authgate.db")+"\n\t\tissuer ", 1)
	return text, ports
}
