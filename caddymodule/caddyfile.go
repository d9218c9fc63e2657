package caddymodule

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/ui"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("authgate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("authgate_server", parseServerDirective)
	// The gateway's directives are registered with their parsers in
	// gateway_caddyfile.go; the order of all three is set here, in one
	// place, since registration order decides it. Each goes just before
	// basic_auth, so they line up as authgate_health, authgate_server,
	// authgate, authgate_verify: the health check and the server's own
	// endpoints are never behind the gateway, and all come before
	// reverse_proxy and the other handlers. (authgate_health is
	// registered in health.go.)
	for _, dir := range []string{"authgate_health", "authgate_server", "authgate", "authgate_verify"} {
		httpcaddyfile.RegisterDirectiveOrder(dir, httpcaddyfile.Before, "basic_auth")
	}
}

// globalOptions are the options the switch in parseGlobalOption knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var globalOptions = []string{
	"issuer",
	"storage",
	"signing_algorithm",
	"key_rotation",
	"access_token_lifetime",
	"sweep_interval",
	"max_body_size",
	"refresh_token_lifetime",
	"id_token_lifetime",
	"session_lifetime",
	"session_idle_timeout",
	"consent_lifetime",
	"require_par",
	"userinfo_bare_token",
	"device_code_lifetime",
	"device_poll_interval",
	"templates",
	"product_name",
	"logo_url",
	"accent_color",
	"login_limit",
	"require_mfa",
	"require_mfa_groups",
	"registration",
	"client_id_metadata_documents",
	"user",
	"client",
	"identity_provider",
}

// parseGlobalOption sets up the authgate app from the global option.
// Syntax:
//
//	authgate {
//	    issuer                <url>
//	    storage               sqlite [<path>]
//	    signing_algorithm     ES256|EdDSA|RS256
//	    key_rotation          <duration>
//	    access_token_lifetime <duration>
//	    max_body_size         <size>
//	    sweep_interval        <duration>
//	    refresh_token_lifetime <duration>
//	    id_token_lifetime     <duration>
//	    session_lifetime      <duration>
//	    session_idle_timeout  <duration>
//	    consent_lifetime      <duration>
//	    require_par
//	    templates             <directory>
//	    product_name          <text>
//	    logo_url              <https url or path under the issuer>
//	    accent_color          "#rrggbb"
//	    login_limit           <attempts> <window>
//	    require_mfa
//	    require_mfa_groups    <group...>
//	    device_code_lifetime  <duration>
//	    device_poll_interval  <duration>
//	    registration open|token|disabled {
//	        initial_access_token <token>
//	        grant_types          <grant type...>
//	        scopes               <scope...>
//	        audiences            <uri...>
//	        no_custom_schemes
//	        per_address_per_hour <n>
//	    }
//	    client_id_metadata_documents {
//	        allow_private_addresses
//	        trusted_ca <pem file>
//	        max_size   <size>
//	        timeout    <duration>
//	    }
//	    user <username> {
//	        password_hash <bcrypt or argon2id hash>
//	        email         <address>
//	        name          <full name>
//	        groups        <group...>
//	        disabled
//	    }
//	    client <id> {
//	        name                       <text>
//	        secret                     <secret>
//	        secret_hash                <bcrypt or argon2id hash>
//	        public
//	        token_endpoint_auth_method client_secret_basic|client_secret_post
//	        redirect_uris              <uri...>
//	        grant_types                <grant type...>
//	        scopes                     <scope...>
//	        audiences                  <uri...>
//	        access_token_lifetime      <duration>
//	        introspect_any
//	        require_pkce
//	        allow_plain_pkce
//	        skip_consent
//	        issue_refresh_tokens
//	        require_par
//	        require_mfa
//	        post_logout_redirect_uris  <uri...>
//	    }
//	    identity_provider <name> oidc|github|ldap|<other> {
//	        ... (read by the module authgate.identity_providers.<type>)
//	    }
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	providers := map[string]bool{}
	d.Next() // the option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "issuer":
			if err := oneArg(d, &app.Issuer); err != nil {
				return nil, err
			}
			// Checked again at provision, after placeholders.
			if !strings.Contains(app.Issuer, "{") {
				if err := authserver.ValidateIssuer(app.Issuer); err != nil {
					return nil, d.Errf("%v", err)
				}
			}
		case "storage":
			raw, err := parseStorage(d)
			if err != nil {
				return nil, err
			}
			app.StorageRaw = raw
		case "signing_algorithm":
			if err := oneArg(d, &app.SigningAlgorithm); err != nil {
				return nil, err
			}
			if !slices.Contains(keys.SignatureAlgorithms(), jose.SignatureAlgorithm(app.SigningAlgorithm)) {
				return nil, d.Errf("signing_algorithm: unsupported signing algorithm %q (want one of %v)", app.SigningAlgorithm, keys.SignatureAlgorithms())
			}
		case "key_rotation":
			if err := durationArg(d, &app.KeyRotation); err != nil {
				return nil, err
			}
		case "access_token_lifetime":
			if err := durationArg(d, &app.AccessTokenLifetime); err != nil {
				return nil, err
			}
		case "sweep_interval":
			if err := durationArg(d, &app.SweepInterval); err != nil {
				return nil, err
			}
		case "max_body_size":
			var s string
			if err := oneArg(d, &s); err != nil {
				return nil, err
			}
			n, err := humanize.ParseBytes(s)
			if err != nil || n == 0 || n > 1<<30 {
				return nil, d.Errf("max_body_size %q: want a size such as 64KiB", s)
			}
			app.MaxBodyBytes = int64(n)
		case "refresh_token_lifetime":
			if err := durationArg(d, &app.RefreshTokenLifetime); err != nil {
				return nil, err
			}
		case "id_token_lifetime":
			if err := durationArg(d, &app.IDTokenLifetime); err != nil {
				return nil, err
			}
		case "session_lifetime":
			if err := durationArg(d, &app.SessionLifetime); err != nil {
				return nil, err
			}
		case "session_idle_timeout":
			if err := durationArg(d, &app.SessionIdleTimeout); err != nil {
				return nil, err
			}
		case "consent_lifetime":
			if err := durationArg(d, &app.ConsentLifetime); err != nil {
				return nil, err
			}
		case "require_par":
			if err := flag(d, &app.RequirePAR); err != nil {
				return nil, err
			}
		case "userinfo_bare_token":
			if err := flag(d, &app.UserinfoBareToken); err != nil {
				return nil, err
			}
		case "device_code_lifetime":
			if err := durationArg(d, &app.DeviceCodeLifetime); err != nil {
				return nil, err
			}
		case "device_poll_interval":
			if err := durationArg(d, &app.DevicePollInterval); err != nil {
				return nil, err
			}
		case "templates":
			if err := oneArg(d, &app.Templates); err != nil {
				return nil, err
			}
		case "product_name":
			if err := oneArg(d, &app.ProductName); err != nil {
				return nil, err
			}
		case "logo_url":
			if err := oneArg(d, &app.LogoURL); err != nil {
				return nil, err
			}
		case "accent_color":
			// # starts a comment unless quoted: "#rrggbb", or rrggbb.
			if !d.NextArg() || d.CountRemainingArgs() > 0 {
				return nil, d.Errf(`accent_color takes one color, "#rrggbb" (quoted, since # starts a comment) or rrggbb`)
			}
			app.AccentColor = d.Val()
			if len(app.AccentColor) == 6 && !strings.HasPrefix(app.AccentColor, "#") {
				app.AccentColor = "#" + app.AccentColor
			}
			if !ui.ValidColor(app.AccentColor) {
				return nil, d.Errf("accent_color %q: want a color as \"#rrggbb\"", d.Val())
			}
		case "login_limit":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Errf("login_limit takes <attempts> <window>, such as: login_limit 5 15m")
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < -1 || n == 0 {
				return nil, d.Errf("login_limit attempts %q: want a positive number, or -1 for no limit", args[0])
			}
			w, err := caddy.ParseDuration(args[1])
			if err != nil || w <= 0 {
				return nil, d.Errf("login_limit window %q: want a duration such as 15m", args[1])
			}
			app.LoginAttempts, app.LoginWindow = n, caddy.Duration(w)
		case "require_mfa":
			if err := flag(d, &app.RequireMFA); err != nil {
				return nil, err
			}
		case "require_mfa_groups":
			if err := someArgs(d, &app.RequireMFAGroups); err != nil {
				return nil, err
			}
		case "registration":
			rc, err := parseRegistration(d)
			if err != nil {
				return nil, err
			}
			app.Registration = rc
		case "client_id_metadata_documents":
			mc, err := parseMetadataDocuments(d)
			if err != nil {
				return nil, err
			}
			app.ClientIDMetadataDocuments = mc
		case "user":
			u, err := parseUser(d)
			if err != nil {
				return nil, err
			}
			app.Users = append(app.Users, u)
		case "client":
			c, err := parseClient(d)
			if err != nil {
				return nil, err
			}
			app.Clients = append(app.Clients, c)
		case "identity_provider":
			name, raw, err := parseIdentityProvider(d)
			if err != nil {
				return nil, err
			}
			if providers[name] {
				return nil, d.Errf("identity_provider %s is defined twice", name)
			}
			providers[name] = true
			app.IdentityProvidersRaw = append(app.IdentityProvidersRaw, raw)
		default:
			return nil, unrecognizedOption(d, "authgate", d.Val(), globalOptions)
		}
	}
	return httpcaddyfile.App{Name: "authgate", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseStorage reads `storage <backend> ...`: the storage module
// authgate.storage.<backend> reads the rest of the line and its block, so a
// third-party backend is configured like the bundled sqlite and postgres.
func parseStorage(d *caddyfile.Dispenser) ([]byte, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	backend := d.Val()
	if _, err := caddy.GetModule(storageNamespace + "." + backend); err != nil {
		var known []string
		for _, m := range caddy.GetModules(storageNamespace) {
			known = append(known, m.ID.Name())
		}
		return nil, d.Errf("unknown storage backend %q%s (want one of %s)", backend, didYouMean(backend, known...), strings.Join(known, ", "))
	}
	unm, err := caddyfile.UnmarshalModule(d, storageNamespace+"."+backend)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, "backend", backend, nil), nil
}

// clientOptions are the options the switch in parseClient knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var clientOptions = []string{
	"name",
	"secret",
	"secret_hash",
	"public",
	"token_endpoint_auth_method",
	"redirect_uris",
	"grant_types",
	"scopes",
	"audiences",
	"access_token_lifetime",
	"introspect_any",
	"require_pkce",
	"allow_plain_pkce",
	"skip_consent",
	"issue_refresh_tokens",
	"require_par",
	"require_mfa",
	"post_logout_redirect_uris",
}

func parseClient(d *caddyfile.Dispenser) (*ClientConfig, error) {
	c := new(ClientConfig)
	if err := oneArgOpenBlock(d, &c.ID); err != nil {
		return nil, err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			err = oneArg(d, &c.Name)
		case "secret":
			err = oneArg(d, &c.Secret)
		case "secret_hash":
			err = oneArg(d, &c.SecretHash)
		case "public":
			err = flag(d, &c.Public)
		case "token_endpoint_auth_method":
			err = oneArg(d, &c.TokenEndpointAuthMethod)
		case "redirect_uris":
			err = someArgs(d, &c.RedirectURIs)
		case "grant_types":
			err = someArgs(d, &c.GrantTypes)
		case "scopes":
			err = someArgs(d, &c.Scopes)
		case "audiences":
			err = someArgs(d, &c.Audiences)
		case "access_token_lifetime":
			err = durationArg(d, &c.AccessTokenLifetime)
		case "introspect_any":
			err = flag(d, &c.IntrospectAny)
		case "require_pkce":
			err = flag(d, &c.RequirePKCE)
		case "allow_plain_pkce":
			err = flag(d, &c.AllowPlainPKCE)
		case "skip_consent":
			err = flag(d, &c.SkipConsent)
		case "issue_refresh_tokens":
			err = flag(d, &c.IssueRefreshTokens)
		case "require_par":
			err = flag(d, &c.RequirePAR)
		case "require_mfa":
			err = flag(d, &c.RequireMFA)
		case "post_logout_redirect_uris":
			err = someArgs(d, &c.PostLogoutRedirectURIs)
		default:
			err = unrecognizedOption(d, "client", d.Val(), clientOptions)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// registrationOptions are the options the switch in parseRegistration knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var registrationOptions = []string{"initial_access_token", "grant_types", "scopes", "audiences", "no_custom_schemes", "per_address_per_hour"}

func parseRegistration(d *caddyfile.Dispenser) (*RegistrationConfig, error) {
	rc := new(RegistrationConfig)
	if err := oneArgOpenBlock(d, &rc.Mode); err != nil {
		return nil, err
	}
	switch rc.Mode {
	case "open", "token", "disabled":
	default:
		return nil, d.Errf("registration mode %q: want open, token or disabled", rc.Mode)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "initial_access_token":
			var t string
			err = oneArg(d, &t)
			rc.InitialAccessTokens = append(rc.InitialAccessTokens, t)
		case "grant_types":
			err = someArgs(d, &rc.GrantTypes)
		case "scopes":
			err = someArgs(d, &rc.Scopes)
		case "audiences":
			err = someArgs(d, &rc.Audiences)
		case "no_custom_schemes":
			err = flag(d, &rc.NoCustomSchemes)
		case "per_address_per_hour":
			var s string
			if err = oneArg(d, &s); err == nil {
				if rc.PerAddressPerHour, err = strconv.Atoi(s); err != nil || rc.PerAddressPerHour < 1 {
					err = d.Errf("per_address_per_hour %q: want a positive number", s)
				}
			}
		default:
			err = unrecognizedOption(d, "registration", d.Val(), registrationOptions)
		}
		if err != nil {
			return nil, err
		}
	}
	return rc, nil
}

// metadataDocumentsOptions are the options the switch in parseMetadataDocuments knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var metadataDocumentsOptions = []string{"allow_private_addresses", "trusted_ca", "max_size", "timeout"}

func parseMetadataDocuments(d *caddyfile.Dispenser) (*MetadataDocumentsConfig, error) {
	mc := new(MetadataDocumentsConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "allow_private_addresses":
			err = flag(d, &mc.AllowPrivateAddresses)
		case "trusted_ca":
			err = someArgs(d, &mc.TrustedCAs)
		case "max_size":
			var s string
			if err = oneArg(d, &s); err == nil {
				n, perr := humanize.ParseBytes(s)
				if perr != nil || n == 0 || n > 1<<20 {
					err = d.Errf("max_size %q: want a size up to 1MiB", s)
				}
				mc.MaxBytes = int64(n)
			}
		case "timeout":
			err = durationArg(d, &mc.Timeout)
		default:
			err = unrecognizedOption(d, "client_id_metadata_documents", d.Val(), metadataDocumentsOptions)
		}
		if err != nil {
			return nil, err
		}
	}
	return mc, nil
}

// userOptions are the options the switch in parseUser knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var userOptions = []string{"password_hash", "email", "name", "groups", "disabled"}

func parseUser(d *caddyfile.Dispenser) (*UserConfig, error) {
	u := new(UserConfig)
	if err := oneArgOpenBlock(d, &u.Username); err != nil {
		return nil, err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "password_hash":
			err = oneArg(d, &u.PasswordHash)
		case "email":
			err = oneArg(d, &u.Email)
		case "name":
			err = oneArg(d, &u.Name)
		case "groups":
			err = someArgs(d, &u.Groups)
		case "disabled":
			err = flag(d, &u.Disabled)
		default:
			err = unrecognizedOption(d, "user", d.Val(), userOptions)
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

// parseServerDirective sets up the authgate_server handler. Syntax:
//
//	authgate_server
func parseServerDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	if h.NextBlock(0) {
		return nil, h.Errf("authgate_server takes no options; configure the authgate global option")
	}
	return new(ServerHandler), nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// oneArgOpenBlock reads one argument that may be followed by a block.
func oneArgOpenBlock(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.CountRemainingArgs() > 0 {
		return d.ArgErr()
	}
	return nil
}

func someArgs(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

func flag(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		b, err := strconv.ParseBool(d.Val())
		if err != nil || d.NextArg() {
			return d.Errf("%s takes no argument, or true or false", d.Val())
		}
		*dst = b
		return nil
	}
	*dst = true
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 || dur > 10*365*24*time.Hour {
		return d.Errf("invalid duration %q", s)
	}
	*dst = caddy.Duration(dur)
	return nil
}
