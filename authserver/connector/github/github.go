// Package github is the connector that lets people sign in to the
// authorization server with their GitHub account (github.com or a GitHub
// Enterprise Server), optionally only members of given organisations or
// teams.
//
// It implements [connector.Redirect] from package authserver/connector:
// caddymodule builds a [Connector] from configuration with [New], and
// package authserver sends the browser to [Connector.AuthURL] and finishes
// the sign-in at its callback with [Connector.Callback], turning the
// returned [connector.Identity] into a user. GitHub speaks OAuth 2.0, not
// OpenID Connect: there is no ID token and no nonce, so who signed in is
// read from GitHub's REST API with the access token, which is then
// dropped. The connector sends the server's state and a PKCE S256
// challenge, which GitHub checks when the code is redeemed.
//
// # Setting up GitHub
//
// Register an OAuth app (not a GitHub App) at GitHub: Settings, Developer
// settings, OAuth Apps, New OAuth App (under an organisation's settings
// for an app the organisation owns; on GitHub Enterprise Server the same
// pages under its own address). Its homepage URL is the issuer; its
// authorization callback URL is
//
//	<issuer>/login/<name>/callback
//
// where <name> is the connector's name in the server's configuration.
// The app's client ID and a client secret generated for it go into
// [Config].
//
// # Identity
//
// The [connector.Identity] has the numeric GitHub user ID, in decimal, as
// Subject (it stays when the person renames their account, which the
// login does not); the login as Username; the profile name, or the login
// when there is none, as Name; and the primary email address only when
// GitHub has verified it (otherwise Email is empty and EmailVerified
// false).
//
// # Organisations and teams
//
// With [Config.Orgs] or [Config.Teams] set, the connector also asks for
// the read:org scope and reads the person's organisations and teams, and
// only members of at least one listed organisation or at least one listed
// team may sign in; anyone else gets a [*connector.RefusedError]. A team
// member counts as a member of the team's organisation. Names compare
// case-insensitively. Groups then holds each organisation's login, as
// GitHub spells it ("acme"), and each team as "org:team-slug"
// ("acme:site-reliability"). Without Orgs and Teams, organisations and
// teams are not read and Groups is empty.
//
// GitHub shows an OAuth app only the organisations that let it: an
// organisation with OAuth app access restrictions (the default for
// organisations created since 2018) hides its memberships and teams from
// an app its owners have not approved, and a person whose membership is
// private may then not appear as a member at all. Operators must have an
// owner of each listed organisation grant the app access (organisation
// settings, Third-party access, OAuth app policy), or members request it
// on GitHub's consent screen, which the read:org scope offers.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	ghendpoint "golang.org/x/oauth2/github"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/loopback"
)

const (
	// defaultAPIURL is github.com's REST API.
	defaultAPIURL = "https://api.github.com"
	// requestTimeout bounds each request to GitHub, whatever the
	// HTTPClient's own timeout.
	requestTimeout = 15 * time.Second
	// maxResponseBytes bounds each answer read from GitHub.
	maxResponseBytes = 2 << 20
	// maxPages bounds how many pages of organisations, or of teams, are
	// read (100 to a page); further pages are ignored.
	maxPages = 10
	// perPage is the page size asked of paginated endpoints (GitHub's
	// largest).
	perPage = 100
	// apiVersion is the REST API version the connector is written for.
	apiVersion = "2022-11-28"
)

var _ connector.Redirect = (*Connector)(nil)

// Config configures a [Connector]. ClientID and ClientSecret are
// required; everything else is optional.
type Config struct {
	// ClientID and ClientSecret are the GitHub OAuth app's credentials.
	ClientID     string
	ClientSecret string
	// Orgs are organisation logins ("acme"): with Orgs or Teams set, only
	// members of a listed organisation or team may sign in.
	Orgs []string
	// Teams are teams as "org/team-slug" ("acme/site-reliability"), the
	// slug being the team's name as it appears in its GitHub URL.
	Teams []string
	// EnterpriseURL is a GitHub Enterprise Server's base URL, such as
	// https://github.example.com: OAuth then happens at
	// <EnterpriseURL>/login/oauth/... and the REST API is at
	// <EnterpriseURL>/api/v3. It must be https, or http on a loopback
	// host. Empty means github.com.
	EnterpriseURL string
	// HTTPClient makes the requests to GitHub; nil means a client with a
	// 15-second timeout. Each request is bounded by 15 seconds either way.
	HTTPClient *http.Client

	// APIURL, AuthURL and TokenURL override the REST API's base URL
	// (https://api.github.com), the authorization endpoint and the token
	// endpoint, whether derived from EnterpriseURL or github.com's. They
	// are for tests against a fake GitHub; production configurations
	// leave them empty. Like EnterpriseURL they must be https, or http on
	// a loopback host.
	APIURL   string
	AuthURL  string
	TokenURL string
}

// Connector signs people in with GitHub. It implements
// [connector.Redirect]; build it with [New]. It is safe for concurrent
// use.
type Connector struct {
	oauth       oauth2.Config // without RedirectURL, which is per call
	apiURL      string        // no trailing slash
	apiOrigin   *url.URL      // scheme and host pagination links must keep
	client      *http.Client  // for the REST API
	tokenClient *http.Client  // for the token endpoint: asks for JSON
	orgs        map[string]bool
	teams       map[string]bool // "org/slug", lower case
	orgList     []string        // as configured, for the refusal
	teamList    []string
}

// New checks cfg, without contacting GitHub, and returns the connector.
func New(cfg Config) (*Connector, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("github: ClientID is required")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("github: ClientSecret is required")
	}
	c := &Connector{orgs: map[string]bool{}, teams: map[string]bool{}}
	for _, org := range cfg.Orgs {
		if !validName(org) {
			return nil, fmt.Errorf("github: organisation %q is not an organisation login", org)
		}
		c.orgs[strings.ToLower(org)] = true
		c.orgList = append(c.orgList, org)
	}
	for _, team := range cfg.Teams {
		org, slug, ok := strings.Cut(team, "/")
		if !ok || !validName(org) || !validName(slug) {
			return nil, fmt.Errorf("github: team %q is not of the form org/team-slug", team)
		}
		c.teams[strings.ToLower(org)+"/"+strings.ToLower(slug)] = true
		c.teamList = append(c.teamList, team)
	}

	endpoint := ghendpoint.Endpoint
	apiURL := defaultAPIURL
	if cfg.EnterpriseURL != "" {
		base, err := checkURL("EnterpriseURL", cfg.EnterpriseURL)
		if err != nil {
			return nil, err
		}
		endpoint.AuthURL = base + "/login/oauth/authorize"
		endpoint.TokenURL = base + "/login/oauth/access_token"
		apiURL = base + "/api/v3"
	}
	for _, o := range []struct {
		name, value string
		dst         *string
	}{
		{"APIURL", cfg.APIURL, &apiURL},
		{"AuthURL", cfg.AuthURL, &endpoint.AuthURL},
		{"TokenURL", cfg.TokenURL, &endpoint.TokenURL},
	} {
		if o.value == "" {
			continue
		}
		u, err := checkURL(o.name, o.value)
		if err != nil {
			return nil, err
		}
		*o.dst = u
	}
	endpoint.DeviceAuthURL = ""
	// GitHub takes the client credentials as form parameters; saying so
	// spares the library's probing, which would redeem a code twice.
	endpoint.AuthStyle = oauth2.AuthStyleInParams

	scopes := []string{"read:user", "user:email"}
	if len(c.orgs) > 0 || len(c.teams) > 0 {
		scopes = append(scopes, "read:org")
	}
	c.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     endpoint,
		Scopes:       scopes,
	}
	c.apiURL = apiURL
	origin, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("github: APIURL: %w", err)
	}
	c.apiOrigin = origin

	c.client = cfg.HTTPClient
	if c.client == nil {
		c.client = &http.Client{Timeout: requestTimeout}
	}
	tc := *c.client
	base := tc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tc.Transport = acceptJSON{base}
	c.tokenClient = &tc
	return c, nil
}

// validName reports whether s can be an organisation login or team slug:
// not empty, and without the separators and spaces neither has.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/: \t\r\n?#%")
}

// checkURL checks that raw is an absolute https URL, or http on a
// loopback host, with no credentials, query or fragment, and returns it
// without a trailing slash.
func checkURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("github: %s is not a URL: %w", name, err)
	}
	switch {
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "", fmt.Errorf("github: %s %q is not an absolute http(s) URL", name, raw)
	case u.Scheme == "http" && !loopback.IsHost(u.Hostname()):
		return "", fmt.Errorf("github: %s %q must be https (plain http only on a loopback host)", name, raw)
	case u.User != nil:
		return "", fmt.Errorf("github: %s must not carry credentials", name)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("github: %s %q must have no query or fragment", name, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// acceptJSON asks the token endpoint for JSON: GitHub otherwise answers
// form-encoded.
type acceptJSON struct{ base http.RoundTripper }

func (t acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	return t.base.RoundTrip(r)
}

// AuthURL returns GitHub's authorization URL for the app with
// callbackURL as redirect_uri, the state and the S256 PKCE challenge of
// verifier. GitHub knows no nonce; it is ignored.
func (c *Connector) AuthURL(_ context.Context, callbackURL, state, _, verifier string) (string, error) {
	if callbackURL == "" || state == "" || verifier == "" {
		return "", errors.New("github: AuthURL needs the callback URL, the state and the PKCE verifier")
	}
	cfg := c.oauth
	cfg.RedirectURL = callbackURL
	return cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// Callback finishes a sign-in from the callback's query: an error GitHub
// reported is a [*connector.ProviderError]; otherwise it redeems the code
// with the verifier, reads the user, their emails and, with Orgs or Teams
// configured, their organisations and teams, and returns the identity, or
// a [*connector.RefusedError] when the allow-lists keep the person out.
// The nonce is ignored.
func (c *Connector) Callback(ctx context.Context, callbackURL string, query url.Values, _, verifier string) (connector.Identity, error) {
	if err := connector.CallbackError(query); err != nil {
		return connector.Identity{}, err
	}
	code := query.Get("code")
	if code == "" {
		return connector.Identity{}, errors.New("github: the callback carries no code")
	}
	if verifier == "" {
		return connector.Identity{}, errors.New("github: no PKCE verifier to redeem the code with")
	}
	token, err := c.exchange(ctx, callbackURL, code, verifier)
	if err != nil {
		return connector.Identity{}, err
	}

	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if _, err := c.get(ctx, token, "/user", c.apiURL+"/user", &user); err != nil {
		return connector.Identity{}, err
	}
	if user.ID <= 0 || user.Login == "" {
		return connector.Identity{}, errors.New("github: GET /user answered no user id or login")
	}
	id := connector.Identity{
		Subject:  strconv.FormatInt(user.ID, 10),
		Username: user.Login,
		Name:     user.Name,
	}
	if id.Name == "" {
		id.Name = user.Login
	}

	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if _, err := c.get(ctx, token, "/user/emails", c.apiURL+"/user/emails?per_page="+strconv.Itoa(perPage), &emails); err != nil {
		return connector.Identity{}, err
	}
	for _, e := range emails {
		if e.Primary && e.Verified && e.Email != "" {
			id.Email, id.EmailVerified = e.Email, true
			break
		}
	}

	if len(c.orgs) == 0 && len(c.teams) == 0 {
		return id, nil
	}
	orgs, teams, err := c.memberships(ctx, token)
	if err != nil {
		return connector.Identity{}, err
	}
	allowed := false
	for _, org := range orgs {
		id.Groups = append(id.Groups, org)
		allowed = allowed || c.orgs[strings.ToLower(org)]
	}
	for _, t := range teams {
		id.Groups = append(id.Groups, t.org+":"+t.slug)
		allowed = allowed || c.teams[strings.ToLower(t.org)+"/"+strings.ToLower(t.slug)]
	}
	if !allowed {
		return connector.Identity{}, connector.Refused(c.refusal())
	}
	return id, nil
}

// exchange redeems the code for an access token. Its errors name what
// GitHub answered but never the code, the secret or a token.
func (c *Connector) exchange(ctx context.Context, callbackURL, code, verifier string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.tokenClient)
	cfg := c.oauth
	cfg.RedirectURL = callbackURL
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		// RetrieveError's own message quotes the answer's body; name
		// only the error code or the status.
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode != "":
			msg := fmt.Sprintf("github: redeeming the code: the token endpoint answered %s", re.ErrorCode)
			if re.ErrorDescription != "" {
				msg += " (" + re.ErrorDescription + ")"
			}
			return "", errors.New(msg)
		case errors.As(err, &re) && re.Response != nil:
			return "", fmt.Errorf("github: redeeming the code: the token endpoint answered %s", re.Response.Status)
		case errors.As(err, &re):
			return "", errors.New("github: redeeming the code: the token endpoint failed")
		}
		return "", fmt.Errorf("github: redeeming the code: %w", err)
	}
	return tok.AccessToken, nil
}

// refusal is the reason shown to a person the allow-lists keep out.
func (c *Connector) refusal() string {
	var what []string
	if len(c.orgList) > 0 {
		what = append(what, plural(len(c.orgList), "the organisation ", "any of the organisations ")+strings.Join(c.orgList, ", "))
	}
	if len(c.teamList) > 0 {
		what = append(what, plural(len(c.teamList), "the team ", "any of the teams ")+strings.Join(c.teamList, ", "))
	}
	return "Your GitHub account is not a member of " + strings.Join(what, " or of ") +
		", whose members may sign in here. If you are a member, an owner of the organisation may have to grant this application access to it on GitHub."
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
