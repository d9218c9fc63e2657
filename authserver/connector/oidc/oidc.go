package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/loopback"
)

// Timeouts of the requests to the provider.
const (
	// discoveryTimeout bounds fetching the discovery document.
	discoveryTimeout = 10 * time.Second
	// httpTimeout bounds every request of the default HTTP client.
	httpTimeout = 30 * time.Second
)

// defaultScopes are requested when the configuration names none.
var defaultScopes = []string{gooidc.ScopeOpenID, "profile", "email"}

// ClaimNames names the claims, in the ID token or at the userinfo
// endpoint, that the [connector.Identity] is read from. An empty field
// takes the default given.
type ClaimNames struct {
	// Username is the claim of the preferred username. Default
	// "preferred_username".
	Username string
	// Email is the claim of the email address. Default "email". Whether
	// it is verified is always read from email_verified.
	Email string
	// Name is the claim of the display name. Default "name".
	Name string
	// Groups is the claim of the person's groups: a list of strings, or
	// one string for a single group. Default "groups".
	Groups string
}

// Config is what a [Connector] is made from.
type Config struct {
	// Issuer is the provider's issuer identifier, exactly as its
	// discovery document and ID tokens spell it: an absolute https URL
	// (http only for a loopback host), such as
	// "https://accounts.google.com". The discovery document is read from
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID is the client ID the provider gave this server. Required;
	// it is also the audience ID tokens must name.
	ClientID string
	// ClientSecret is the client secret the provider gave this server,
	// sent with client_secret_basic (or client_secret_post when the
	// provider supports only that). Empty for a public client, which
	// sends only its client_id.
	ClientSecret string
	// Scopes are requested from the provider. Default openid, profile and
	// email; openid is added when missing.
	Scopes []string
	// Claims names the claims the identity is read from.
	Claims ClaimNames
	// AllowDomains, if not empty, admits only people whose hd (hosted
	// domain) claim is one of these domains, or whose verified email
	// address is in one of them. Compared without regard to case. With
	// exactly one domain, Google's hd parameter is sent as a hint.
	AllowDomains []string
	// AllowGroups, if not empty, admits only people in at least one of
	// these groups, as the groups claim names them (compared exactly).
	AllowGroups []string
	// HTTPClient makes the requests to the provider. Default: a client
	// with a 30-second timeout.
	HTTPClient *http.Client
	// Now is the clock ID tokens' expiry is checked against. Default
	// time.Now; tests set it.
	Now func() time.Time
}

// Connector signs people in at an upstream OpenID provider. It implements
// [connector.Redirect]; its methods are safe for concurrent use.
type Connector struct {
	cfg     Config
	domains []string
	client  *http.Client
	// discovering lets one call at a time fetch the discovery document.
	discovering chan struct{}
	// provider is the discovered provider, nil until discovery succeeds.
	provider atomic.Pointer[provider]
}

var _ connector.Redirect = (*Connector)(nil)

// provider is what discovery found.
type provider struct {
	oidc     *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	endpoint oauth2.Endpoint
	// issParameter says the provider sends iss in its authorization
	// responses (RFC 9207), so a response without it is not the
	// provider's.
	issParameter bool
}

// New checks cfg and returns a Connector. It does not reach the provider:
// discovery happens on first use.
func New(cfg Config) (*Connector, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("oidc connector: a client ID is required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = defaultScopes
	}
	scopes := []string{}
	for _, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return nil, fmt.Errorf("oidc connector: invalid scope %q", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if !slices.Contains(scopes, gooidc.ScopeOpenID) {
		scopes = append([]string{gooidc.ScopeOpenID}, scopes...)
	}
	cfg.Scopes = scopes
	setDefault(&cfg.Claims.Username, "preferred_username")
	setDefault(&cfg.Claims.Email, "email")
	setDefault(&cfg.Claims.Name, "name")
	setDefault(&cfg.Claims.Groups, "groups")
	var domains []string
	for _, d := range cfg.AllowDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/: \t") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
			return nil, fmt.Errorf("oidc connector: allowed domain %q is not a domain name (write example.com, not an address or URL)", d)
		}
		domains = append(domains, d)
	}
	for _, g := range cfg.AllowGroups {
		if g == "" {
			return nil, errors.New("oidc connector: an allowed group is empty")
		}
	}
	cfg.AllowGroups = slices.Clone(cfg.AllowGroups)
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: httpTimeout}
	}
	return &Connector{cfg: cfg, domains: domains, client: client, discovering: make(chan struct{}, 1)}, nil
}

// checkIssuer checks an issuer identifier: an absolute https URL (http for
// loopback hosts) without query, fragment or user information.
func checkIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("oidc connector: an issuer is required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("oidc connector: issuer %q: %w", issuer, err)
	}
	switch {
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("oidc connector: issuer %q must be an absolute https URL", issuer)
	case u.Scheme == "http" && !loopback.IsHost(u.Hostname()):
		return fmt.Errorf("oidc connector: issuer %q must use https (http is only for loopback hosts)", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(issuer, "?#"):
		return fmt.Errorf("oidc connector: issuer %q must not have a query or fragment", issuer)
	case u.User != nil:
		return fmt.Errorf("oidc connector: issuer %q must not contain user information", issuer)
	}
	return nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// discover returns the provider, fetching its discovery document the
// first time. A failed discovery is not remembered: the next call tries
// again.
func (c *Connector) discover(ctx context.Context) (*provider, error) {
	if p := c.provider.Load(); p != nil {
		return p, nil
	}
	select {
	case c.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the discovery of the OpenID provider %s: %w", c.cfg.Issuer, ctx.Err())
	}
	defer func() { <-c.discovering }()
	if p := c.provider.Load(); p != nil {
		return p, nil
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	op, err := gooidc.NewProvider(gooidc.ClientContext(dctx, c.client), c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering the OpenID provider %s: %w", c.cfg.Issuer, err)
	}
	var meta struct {
		ISSParameter bool     `json:"authorization_response_iss_parameter_supported"`
		AuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
		JWKSURI      string   `json:"jwks_uri"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("reading the discovery document of %s: %w", c.cfg.Issuer, err)
	}
	ep := op.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" || meta.JWKSURI == "" {
		return nil, fmt.Errorf("the discovery document of %s lacks an authorization endpoint, a token endpoint or a jwks_uri", c.cfg.Issuer)
	}
	style, err := c.authStyle(meta.AuthMethods)
	if err != nil {
		return nil, err
	}
	ep.AuthStyle = style
	p := &provider{
		oidc:         op,
		verifier:     op.Verifier(&gooidc.Config{ClientID: c.cfg.ClientID, Now: c.cfg.Now}),
		endpoint:     ep,
		issParameter: meta.ISSParameter,
	}
	c.provider.Store(p)
	return p, nil
}

// authStyle chooses how to authenticate at the token endpoint from the
// methods the provider lists (client_secret_basic when it lists none,
// OIDC Discovery §3).
func (c *Connector) authStyle(methods []string) (oauth2.AuthStyle, error) {
	switch {
	case c.cfg.ClientSecret == "":
		return oauth2.AuthStyleInParams, nil
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("the OpenID provider %s takes neither client_secret_basic nor client_secret_post at its token endpoint (it lists %s)",
		c.cfg.Issuer, strings.Join(methods, ", "))
}

// oauth2Config is the OAuth client configuration for a callback URL.
func (c *Connector) oauth2Config(p *provider, callbackURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     p.endpoint,
		RedirectURL:  callbackURL,
		Scopes:       c.cfg.Scopes,
	}
}

// AuthURL returns the provider's authorization URL for the code flow with
// PKCE (S256), state and nonce, discovering the provider first if need be.
// With exactly one allowed domain it adds Google's hd parameter.
func (c *Connector) AuthURL(ctx context.Context, callbackURL, state, nonce, verifier string) (string, error) {
	if state == "" || nonce == "" || verifier == "" {
		return "", errors.New("oidc connector: a state, a nonce and a PKCE verifier are required")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)}
	if len(c.domains) == 1 {
		opts = append(opts, oauth2.SetAuthURLParam("hd", c.domains[0]))
	}
	return c.oauth2Config(p, callbackURL).AuthCodeURL(state, opts...), nil
}
