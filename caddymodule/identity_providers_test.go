package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/connector/ldap/ldaptest"
)

// idpCaddyfile is a Caddyfile whose authgate block has the given lines
// (identity providers, typically), its store in dir.
func idpCaddyfile(dir, lines string) string {
	return fmt.Sprintf("{\n\tauthgate {\n\t\tissuer https://auth.example.com\n\t\tstorage sqlite %s/a.db\n%s\n\t}\n}\nauth.example.com {\n\tauthgate_server\n}\n", dir, lines)
}

// adaptedProviders adapts a Caddyfile and returns the authgate app's
// identity_providers JSON.
func adaptedProviders(t *testing.T, text string) string {
	t.Helper()
	cfg, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var doc struct {
		Apps struct {
			Authgate struct {
				IdentityProviders json.RawMessage `json:"identity_providers"`
			} `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	return string(doc.Apps.Authgate.IdentityProviders)
}

// validate adapts a Caddyfile and provisions it without running it,
// returning the error.
func validate(t *testing.T, text string) error {
	t.Helper()
	cfgJSON, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return validateJSON(t, cfgJSON)
}

func validateJSON(t *testing.T, cfgJSON []byte) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// allProviderOptions uses every option of the three providers.
const allProviderOptions = `
		identity_provider corp oidc {
			issuer https://sso.example.com/realms/corp
			client_id authgate
			client_secret {env.CORP_SECRET}
			scopes openid profile email
			scopes groups
			claims {
				username upn
				email mail
				name display_name
				groups roles
			}
			allow_domains example.com example.org
			allow_groups staff admins
			display_name "Corp SSO"
		}
		identity_provider gh github {
			client_id Iv1.abc
			client_secret {env.GITHUB_SECRET}
			orgs acme beta
			teams acme/devs beta/ops
			enterprise_url https://github.example.com
			display_name "GitHub Enterprise"
		}
		identity_provider directory ldap {
			url ldap://ldap.example.com
			bind_dn "cn=authgate,ou=services,dc=example,dc=com"
			bind_password {env.LDAP_PASSWORD}
			base_dn "ou=people,dc=example,dc=com"
			user_filter "(&(objectClass=person)(uid={username})(!(employeeType=disabled)))"
			group_base_dn "ou=groups,dc=example,dc=com"
			group_filter "(&(objectClass=posixGroup)(memberUid={username}))"
			attributes {
				username uid
				email mail
				name displayName
				group cn
				subject entryUUID
			}
			starttls
			ca $CA
			timeout 5s
			allow_groups staff
			display_name "Company directory"
		}`

// TestIdentityProvidersCaddyfile: the JSON the identity_provider lines
// adapt to, with every option, the name and type put in by the global
// option, and placeholders left for provisioning; then the same config
// provisions once the placeholders have values.
func TestIdentityProvidersCaddyfile(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	caPEM, _, _ := ldaptest.NewCA(t, "test CA")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	text := idpCaddyfile(dir, strings.ReplaceAll(allProviderOptions, "$CA", caFile))
	got := adaptedProviders(t, text)
	want := `[` +
		`{"allow_domains":["example.com","example.org"],"allow_groups":["staff","admins"],"claims":{"email":"mail","groups":"roles","name":"display_name","username":"upn"},"client_id":"authgate","client_secret":"{env.CORP_SECRET}","display_name":"Corp SSO","issuer":"https://sso.example.com/realms/corp","name":"corp","provider":"oidc","scopes":["openid","profile","email","groups"]},` +
		`{"client_id":"Iv1.abc","client_secret":"{env.GITHUB_SECRET}","display_name":"GitHub Enterprise","enterprise_url":"https://github.example.com","name":"gh","orgs":["acme","beta"],"provider":"github","teams":["acme/devs","beta/ops"]},` +
		`{"allow_groups":["staff"],"attributes":{"email":"mail","group":"cn","name":"displayName","subject":"entryUUID","username":"uid"},"base_dn":"ou=people,dc=example,dc=com","bind_dn":"cn=authgate,ou=services,dc=example,dc=com","bind_password":"{env.LDAP_PASSWORD}","ca_file":"` + caFile + `","display_name":"Company directory","group_base_dn":"ou=groups,dc=example,dc=com","group_filter":"(\u0026(objectClass=posixGroup)(memberUid={username}))","name":"directory","provider":"ldap","starttls":true,"timeout":5000000000,"url":"ldap://ldap.example.com","user_filter":"(\u0026(objectClass=person)(uid={username})(!(employeeType=disabled)))"}` +
		`]`
	if got != want {
		t.Errorf("identity_providers:\n got %s\nwant %s", got, want)
	}

	// The smallest blocks: only what is required.
	got = adaptedProviders(t, idpCaddyfile(dir, `
		identity_provider a oidc {
			issuer https://accounts.google.com
			client_id x
		}
		identity_provider b github {
			client_id x
			client_secret y
		}
		identity_provider c ldap {
			url ldaps://ldap.example.com
			base_dn dc=example,dc=com
		}`))
	want = `[{"client_id":"x","issuer":"https://accounts.google.com","name":"a","provider":"oidc"},` +
		`{"client_id":"x","client_secret":"y","name":"b","provider":"github"},` +
		`{"base_dn":"dc=example,dc=com","name":"c","provider":"ldap","url":"ldaps://ldap.example.com"}]`
	if got != want {
		t.Errorf("minimal identity_providers:\n got %s\nwant %s", got, want)
	}

	// With the secrets in the environment the full config provisions:
	// no provider is contacted (none of these hosts exists).
	t.Setenv("CORP_SECRET", "corp-secret")
	t.Setenv("GITHUB_SECRET", "github-secret")
	t.Setenv("LDAP_PASSWORD", "ldap-secret")
	if err := validate(t, text); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// TestIdentityProvidersCaddyfileErrors: what the Caddyfile adapter
// refuses, at the line, and that a secret is never repeated in the error.
func TestIdentityProvidersCaddyfileErrors(t *testing.T) {
	oidcBlock := "issuer https://sso.example.com\n client_id x\n"
	for _, tt := range []struct {
		name, lines, want string
	}{
		{"no name", "identity_provider", "needs a name and a type"},
		{"no type", "identity_provider corp", "identity_provider corp needs a type"},
		{"unknown type", "identity_provider corp saml {\n}", `unknown type "saml" (want one of github, ldap, oidc`},
		{"name with capitals", "identity_provider Corp oidc {\n" + oidcBlock + "}", `name "Corp": use lowercase letters`},
		{"name with a slash", "identity_provider a/b oidc {\n" + oidcBlock + "}", `name "a/b"`},
		{"duplicate names", "identity_provider corp oidc {\n" + oidcBlock + "}\nidentity_provider corp github {\nclient_id x\nclient_secret y\n}", "identity_provider corp is defined twice"},
		{"argument after the type", "identity_provider corp oidc extra {\n" + oidcBlock + "}", "wrong argument count"},

		{"oidc without a block", "identity_provider corp oidc", "oidc: issuer is required"},
		{"oidc without issuer", "identity_provider corp oidc {\nclient_id x\n}", "oidc: issuer is required"},
		{"oidc without client_id", "identity_provider corp oidc {\nissuer https://sso.example.com\n}", "oidc: client_id is required"},
		{"oidc unknown option", "identity_provider corp oidc {\n" + oidcBlock + "tenant x\n}", `unrecognized oidc option "tenant"`},
		{"oidc issuer without value", "identity_provider corp oidc {\nissuer\n}", "wrong argument count"},
		{"oidc two issuers on a line", "identity_provider corp oidc {\nissuer https://a.example https://b.example\n}", "wrong argument count"},
		{"oidc scopes without value", "identity_provider corp oidc {\n" + oidcBlock + "scopes\n}", "wrong argument count"},
		{"oidc unknown claim", "identity_provider corp oidc {\n" + oidcBlock + "claims {\nphone phone_number\n}\n}", `unrecognized claims option "phone"`},
		{"oidc claims with an argument", "identity_provider corp oidc {\n" + oidcBlock + "claims groups\n}", "wrong argument count"},
		{"oidc claim without value", "identity_provider corp oidc {\n" + oidcBlock + "claims {\ngroups\n}\n}", "wrong argument count"},
		{"oidc empty client_secret", "identity_provider corp oidc {\n" + oidcBlock + "client_secret \"\"\n}", "client_secret needs a value"},

		{"github without client_id", "identity_provider gh github {\nclient_secret y\n}", "github: client_id is required"},
		{"github without client_secret", "identity_provider gh github {\nclient_id x\n}", "github: client_secret is required"},
		{"github unknown option", "identity_provider gh github {\nclient_id x\nclient_secret y\norganisation acme\n}", `unrecognized github option "organisation"`},
		{"github orgs without value", "identity_provider gh github {\nclient_id x\nclient_secret y\norgs\n}", "wrong argument count"},

		{"ldap without url", "identity_provider dir ldap {\nbase_dn dc=example,dc=com\n}", "ldap: url is required"},
		{"ldap without base_dn", "identity_provider dir ldap {\nurl ldap://ldap.example.com\n}", "ldap: base_dn is required"},
		{"ldap bad timeout", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\ntimeout soon\n}", `invalid duration "soon"`},
		{"ldap negative timeout", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\ntimeout -5s\n}", `invalid duration "-5s"`},
		{"ldap starttls not a boolean", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nstarttls maybe\n}", "takes no argument, or true or false"},
		{"ldap unknown attribute", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nattributes {\nphone telephoneNumber\n}\n}", `unrecognized attributes option "phone"`},
		{"ldap unknown option", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nfilter (uid={username})\n}", `unrecognized ldap option "filter"`},
		{"ldap two CA files", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nca a.pem b.pem\n}", "wrong argument count"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, idpCaddyfile(t.TempDir(), tt.lines))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("adapt error = %v; want it to mention %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("the error does not name the line: %v", err)
			}
		})
	}

	// A secret typed with a space, or on the wrong line, is not shown.
	for _, lines := range []string{
		"identity_provider corp oidc {\n" + oidcBlock + "client_secret s3cret-part1 s3cret-part2\n}",
		"identity_provider gh github {\nclient_id x\nclient_secret s3cret-part1 s3cret-part2\n}",
		"identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nbind_dn cn=a\nbind_password s3cret-part1 s3cret-part2\n}",
	} {
		_, err := adaptCaddyfile(t, idpCaddyfile(t.TempDir(), lines))
		if err == nil || !strings.Contains(err.Error(), "takes one value; quote a secret that has spaces") {
			t.Errorf("two-word secret: %v", err)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// TestIdentityProvidersProvisionErrors: what only provisioning finds
// (values the connectors refuse, placeholders without values, JSON
// written by hand), with the provider named and no secret shown.
func TestIdentityProvidersProvisionErrors(t *testing.T) {
	t.Setenv("IDP_TEST_EMPTY", "")
	const secret = "very-secret-value"
	for _, tt := range []struct {
		name, lines, want string
	}{
		{"oidc issuer not https", "identity_provider corp oidc {\nissuer http://sso.example.com\nclient_id x\n}",
			`identity provider "corp" (oidc): oidc connector: issuer "http://sso.example.com" must use https`},
		{"oidc issuer not a URL", "identity_provider corp oidc {\nissuer sso.example.com\nclient_id x\n}", "must be an absolute https URL"},
		{"oidc domain that is an address", "identity_provider corp oidc {\nissuer https://sso.example.com\nclient_id x\nallow_domains @example.com\n}", "is not a domain name"},
		{"oidc bad scope", "identity_provider corp oidc {\nissuer https://sso.example.com\nclient_id x\nscopes \"a b\"\n}", `invalid scope "a b"`},
		{"oidc secret from an unset variable", "identity_provider corp oidc {\nissuer https://sso.example.com\nclient_id x\nclient_secret {env.IDP_TEST_EMPTY}\n}",
			`identity provider "corp" (oidc): client_secret is empty once its placeholders are replaced`},
		{"oidc issuer from an unset variable", "identity_provider corp oidc {\nissuer {env.IDP_TEST_EMPTY}\nclient_id x\n}", "issuer is empty once its placeholders are replaced"},

		{"github team without org", "identity_provider gh github {\nclient_id x\nclient_secret " + secret + "\nteams devs\n}",
			`identity provider "gh" (github): github: team "devs" is not of the form org/team-slug`},
		{"github bad org", "identity_provider gh github {\nclient_id x\nclient_secret " + secret + "\norgs a/b\n}", "is not an organisation login"},
		{"github enterprise over http", "identity_provider gh github {\nclient_id x\nclient_secret " + secret + "\nenterprise_url http://github.example.com\n}", "must be https"},
		{"github secret from an unset variable", "identity_provider gh github {\nclient_id x\nclient_secret {env.IDP_TEST_EMPTY}\n}", "client_secret is empty once"},

		{"ldap http URL", "identity_provider dir ldap {\nurl http://ldap.example.com\nbase_dn dc=example,dc=com\n}",
			`identity provider "dir" (ldap): ldap: URL "http://ldap.example.com" is not an ldap:// or ldaps:// URL`},
		{"ldap base not a DN", "identity_provider dir ldap {\nurl ldap://h\nbase_dn example.com\n}", "is not a DN"},
		{"ldap filter without username", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nuser_filter (uid=alice)\n}", "has no {username}"},
		{"ldap filter syntax", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nuser_filter \"(&(uid={username})\"\n}", "not an LDAP filter"},
		{"ldap bind_dn without password", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nbind_dn cn=search,dc=x\n}", "BindDN without BindPassword"},
		{"ldap bind_dn not a DN", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nbind_dn search\nbind_password " + secret + "\n}", `BindDN "search" is not a DN`},
		{"ldap starttls with ldaps", "identity_provider dir ldap {\nurl ldaps://h\nbase_dn dc=x\nstarttls\n}", "StartTLS is for ldap://"},
		{"ldap CA without TLS", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nca /nonexistent/ca.pem\n}", "not encrypted"},
		{"ldap missing CA file", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nstarttls\nca /nonexistent/ca.pem\n}", "reading CAFile"},
		{"ldap bad attribute", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nattributes {\nemail \"mail)(uid=*\"\n}\n}", "is not an attribute name"},
		{"ldap password from an unset variable", "identity_provider dir ldap {\nurl ldap://h\nbase_dn dc=x\nbind_dn cn=a\nbind_password {env.IDP_TEST_EMPTY}\n}", "bind_password is empty once"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(t, idpCaddyfile(t.TempDir(), tt.lines))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}

	// JSON written by hand: what the Caddyfile adapter would have caught.
	jsonConfig := func(dir string, providers ...string) []byte {
		return []byte(fmt.Sprintf(`{"apps":{"authgate":{"issuer":"https://auth.example.com","storage":{"backend":"sqlite","path":%q},"identity_providers":[%s]}}}`,
			filepath.Join(dir, "a.db"), strings.Join(providers, ",")))
	}
	const corp = `{"provider":"oidc","name":"corp","issuer":"https://sso.example.com","client_id":"x"}`
	for _, tt := range []struct {
		name      string
		providers []string
		want      string
	}{
		{"no name", []string{`{"provider":"oidc","issuer":"https://sso.example.com","client_id":"x"}`}, "identity provider (oidc): a name is required"},
		{"bad name", []string{`{"provider":"ldap","name":"Dir","url":"ldap://h","base_dn":"dc=x"}`}, `identity provider "Dir" (ldap): name "Dir": use lowercase letters`},
		{"no issuer", []string{`{"provider":"oidc","name":"corp","client_id":"x"}`}, `identity provider "corp" (oidc): issuer is required`},
		{"no client_id", []string{`{"provider":"oidc","name":"corp","issuer":"https://sso.example.com"}`}, `identity provider "corp" (oidc): client_id is required`},
		{"github no secret", []string{`{"provider":"github","name":"gh","client_id":"x"}`}, `identity provider "gh" (github): client_secret is required`},
		{"ldap no url", []string{`{"provider":"ldap","name":"dir","base_dn":"dc=x"}`}, `identity provider "dir" (ldap): url is required`},
		{"ldap no base_dn", []string{`{"provider":"ldap","name":"dir","url":"ldap://h"}`}, `identity provider "dir" (ldap): base_dn is required`},
		{"ldap negative timeout", []string{`{"provider":"ldap","name":"dir","url":"ldap://h","base_dn":"dc=x","timeout":"-1s"}`}, "Timeout must not be negative"},
		{"duplicate names", []string{corp, corp}, `identity provider "corp" is defined twice`},
		{"duplicate names across types", []string{corp, `{"provider":"ldap","name":"corp","url":"ldap://h","base_dn":"dc=x"}`}, `identity provider "corp" is defined twice`},
		{"unknown provider", []string{`{"provider":"saml","name":"corp"}`}, "authgate.identity_providers.saml"},
		{"no provider", []string{`{"name":"corp"}`}, "provider"},
		{"unknown field", []string{`{"provider":"oidc","name":"corp","issuer":"https://sso.example.com","client_id":"x","tenant":"y"}`}, "tenant"},
	} {
		t.Run("json "+tt.name, func(t *testing.T) {
			err := validateJSON(t, jsonConfig(t.TempDir(), tt.providers...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
	if err := validateJSON(t, jsonConfig(t.TempDir(), corp, `{"provider":"github","name":"gh","client_id":"x","client_secret":"y"}`)); err != nil {
		t.Errorf("valid JSON: %v", err)
	}
}

// TestIdentityProvidersPlaceholders: {env.*} and {file.*} in the values
// that take them are replaced when the modules are provisioned; braces
// that are no placeholder Caddy knows stay, as do the LDAP filters'
// {username} and {dn}.
func TestIdentityProvidersPlaceholders(t *testing.T) {
	t.Setenv("IDP_TEST_ISSUER", "https://sso.example.com")
	t.Setenv("IDP_TEST_CLIENT", "client-from-env")
	t.Setenv("IDP_TEST_SECRET", "secret-from-env")
	t.Setenv("IDP_TEST_LDAP", "ldap.example.com")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("secret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caPEM, _, _ := ldaptest.NewCA(t, "test CA")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	o := &OIDCProvider{Name: "corp", Issuer: "{env.IDP_TEST_ISSUER}/realms/x", ClientID: "{env.IDP_TEST_CLIENT}", ClientSecret: "{file." + secretFile + "}"}
	if err := o.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Issuer != "https://sso.example.com/realms/x" || o.cfg.ClientID != "client-from-env" || o.cfg.ClientSecret != "secret-from-file" {
		t.Errorf("oidc: %q %q %q", o.cfg.Issuer, o.cfg.ClientID, o.cfg.ClientSecret)
	}
	if o.Issuer != "{env.IDP_TEST_ISSUER}/realms/x" {
		t.Errorf("the module's own field was rewritten: %q", o.Issuer)
	}
	if p := o.IdentityProvider(); p.Name != "corp" || p.DisplayName != "" || p.Redirect == nil || p.Password != nil {
		t.Errorf("oidc provider: %+v", p)
	}

	g := &GitHubProvider{Name: "github", ClientID: "{env.IDP_TEST_CLIENT}", ClientSecret: "a{literal}b{env.IDP_TEST_SECRET}"}
	if err := g.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if g.cfg.ClientID != "client-from-env" || g.cfg.ClientSecret != "a{literal}bsecret-from-env" {
		t.Errorf("github: %q %q", g.cfg.ClientID, g.cfg.ClientSecret)
	}
	if p := g.IdentityProvider(); p.DisplayName != "GitHub" || p.Redirect == nil {
		t.Errorf("github provider: %+v", p)
	}

	l := &LDAPProvider{
		Name: "dir", URL: "ldap://{env.IDP_TEST_LDAP}", BaseDN: "dc=example,dc=com",
		BindDN: "cn=search,dc=example,dc=com", BindPassword: "{env.IDP_TEST_SECRET}",
		UserFilter: "(&(uid={username})(objectClass=person))", GroupFilter: "(member={dn})",
		StartTLS: true, CACert: "{file." + caFile + "}", Timeout: caddy.Duration(3 * time.Second),
	}
	if err := l.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if l.cfg.URL != "ldap://ldap.example.com" || l.cfg.BindPassword != "secret-from-env" || string(l.cfg.CACert) != strings.TrimSuffix(string(caPEM), "\n") ||
		l.cfg.UserFilter != "(&(uid={username})(objectClass=person))" || l.cfg.GroupFilter != "(member={dn})" || l.cfg.Timeout != 3*time.Second {
		t.Errorf("ldap: %+v", l.cfg)
	}
	if p := l.IdentityProvider(); p.Name != "dir" || p.Password == nil || p.Redirect != nil {
		t.Errorf("ldap provider: %+v", p)
	}
}

// thirdPartyIdP stands for an identity provider module from another
// plugin: `identity_provider <name> thirdparty { realm <realm> }`, a
// directory that knows one password.
type thirdPartyIdP struct {
	Name  string `json:"name,omitempty"`
	Realm string `json:"realm,omitempty"`
}

func (*thirdPartyIdP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "authgate.identity_providers.thirdparty", New: func() caddy.Module { return new(thirdPartyIdP) }}
}

func (p *thirdPartyIdP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	for d.NextBlock(0) {
		if d.Val() != "realm" || !d.Args(&p.Realm) {
			return d.Errf("unknown option %q", d.Val())
		}
	}
	return nil
}

func (p *thirdPartyIdP) IdentityProvider() authserver.IdentityProvider {
	return authserver.IdentityProvider{Name: p.Name, DisplayName: "Realm " + p.Realm, Password: thirdPartyLogin{}}
}

type thirdPartyLogin struct{}

func (thirdPartyLogin) Login(_ context.Context, username, password string) (connector.Identity, bool, error) {
	return connector.Identity{Subject: username, Username: username}, password == "open-sesame", nil
}

func init() { caddy.RegisterModule(new(thirdPartyIdP)) } //nolint:gochecknoinits // a test module

// TestThirdPartyIdentityProvider: a provider module another plugin
// registers is offered by the adapter, reads its own block, gets its
// name, and provisions into the app.
func TestThirdPartyIdentityProvider(t *testing.T) {
	dir := t.TempDir()
	text := idpCaddyfile(dir, "identity_provider partner thirdparty {\nrealm EXAMPLE\n}")
	if got, want := adaptedProviders(t, text), `[{"name":"partner","provider":"thirdparty","realm":"EXAMPLE"}]`; got != want {
		t.Errorf("identity_providers = %s; want %s", got, want)
	}
	if err := validate(t, text); err != nil {
		t.Errorf("validate: %v", err)
	}
	_, err := adaptCaddyfile(t, idpCaddyfile(dir, "identity_provider partner nosuch"))
	if err == nil || !strings.Contains(err.Error(), "thirdparty") {
		t.Errorf("the unknown-type error does not list the third-party type: %v", err)
	}
}
