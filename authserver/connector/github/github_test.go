package github

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver/connector"
)

const callbackURL = "https://auth.example.com/login/github/callback"

// connectorFor returns a connector talking to f: through EnterpriseURL
// when f serves the API under /api/v3, through the APIURL, AuthURL and
// TokenURL overrides otherwise.
func connectorFor(t *testing.T, f *fakeGitHub, edit func(*Config)) *Connector {
	t.Helper()
	cfg := Config{ClientID: f.clientID, ClientSecret: f.clientSecret, HTTPClient: f.srv.Client()}
	if f.apiPrefix == "/api/v3" {
		cfg.EnterpriseURL = f.srv.URL + "/"
	} else {
		cfg.APIURL = f.srv.URL
		cfg.AuthURL = f.srv.URL + "/login/oauth/authorize"
		cfg.TokenURL = f.srv.URL + "/login/oauth/access_token"
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// signIn goes through the flow as the server and the browser would:
// AuthURL, the fake's authorize endpoint, and Callback with the query it
// redirected back with, redeeming the code with callbackVerifier.
func signIn(t *testing.T, c *Connector, f *fakeGitHub, callbackVerifier string) (connector.Identity, error) {
	t.Helper()
	const state, nonce, verifier = "state-123", "nonce-456", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	if callbackVerifier == "" {
		callbackVerifier = verifier
	}
	ctx := t.Context()
	authURL, err := c.AuthURL(ctx, callbackURL, state, nonce, verifier)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %s", resp.Status)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	back.RawQuery, back.Fragment = "", ""
	if back.String() != callbackURL {
		t.Fatalf("redirected to %s; want %s", back, callbackURL)
	}
	query, _ := url.ParseQuery(strings.SplitN(resp.Header.Get("Location"), "?", 2)[1])
	if query.Get("state") != state {
		t.Fatalf("state = %q; want %q", query.Get("state"), state)
	}
	return c.Callback(ctx, callbackURL, query, nonce, callbackVerifier)
}

// checkNoSecrets fails when err shows the client secret, a code or a
// token.
func checkNoSecrets(t *testing.T, f *fakeGitHub, err error) {
	t.Helper()
	for _, s := range f.secrets() {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows a secret, code or token", err)
		}
	}
}

func TestCallback(t *testing.T) {
	allGroups := []string{"acme", "Beta-Corp", "gamma", "delta", "acme:devs", "Beta-Corp:ops", "delta:sre"}
	octocat := connector.Identity{
		Subject: "583231", Username: "octocat", Name: "The Octocat",
		Email: "octocat@example.com", EmailVerified: true, Groups: allGroups,
	}
	withoutGroups := octocat
	withoutGroups.Groups = nil
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// Echo the token, to show the error does not pass the body on.
			w.WriteHeader(code)
			w.Write([]byte(`{"message":"failed for ` + r.Header.Get("Authorization") + `"}`))
		}
	}
	body := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(s)) }
	}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the foreign host got %s %s with Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
	}))
	defer foreign.Close()

	for _, tc := range []struct {
		name      string
		apiPrefix string // "/api/v3": GitHub Enterprise Server layout
		config    func(*Config)
		setup     func(*fakeGitHub)
		verifier  string // at the callback, when not the one sent
		want      connector.Identity
		wantErr   string // a part of the error; "" for none
		refused   bool   // the error is a *connector.RefusedError
		check     func(*testing.T, *fakeGitHub)
	}{
		{
			name:      "enterprise, org allowed case-insensitively, groups from orgs and teams across pages",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"BETA-CORP"} },
			want:      octocat,
			check: func(t *testing.T, f *fakeGitHub) {
				if f.jsonAnswers != 1 {
					t.Errorf("token endpoint answered JSON %d times; want 1 (Accept: application/json)", f.jsonAnswers)
				}
				if f.hitsOf("/user/orgs") != 2 || f.hitsOf("/user/teams") != 2 {
					t.Errorf("orgs read in %d pages, teams in %d; want 2 each", f.hitsOf("/user/orgs"), f.hitsOf("/user/teams"))
				}
			},
		},
		{
			name:   "github.com layout, team allowed, case-insensitively",
			config: func(c *Config) { c.Teams = []string{"beta-corp/OPS"} },
			want:   octocat,
		},
		{
			name:      "the organisation of a team counts",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"Delta"} },
			want:      octocat,
		},
		{
			name:      "org or team: the team lets them in",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"umbrella"}; c.Teams = []string{"acme/devs"} },
			want:      octocat,
		},
		{
			name:      "neither org nor team",
			apiPrefix: "/api/v3",
			config: func(c *Config) {
				c.Orgs = []string{"umbrella", "initech"}
				c.Teams = []string{"acme/admins"}
			},
			wantErr: "not a member of any of the organisations umbrella, initech or of the team acme/admins",
			refused: true,
		},
		{
			name:      "a member of nothing",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup:     func(f *fakeGitHub) { f.orgs, f.teams = nil, nil },
			wantErr:   "not a member of the organisation acme",
			refused:   true,
		},
		{
			name: "no allow-list: no read:org, organisations and teams not read, name falls back to login",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.user = map[string]any{"id": 583231, "login": "octocat", "name": nil}
			},
			want: connector.Identity{Subject: "583231", Username: "octocat", Name: "octocat", Email: "octocat@example.com", EmailVerified: true},
			check: func(t *testing.T, f *fakeGitHub) {
				if n := f.hitsOf("/user/orgs") + f.hitsOf("/user/teams"); n != 0 {
					t.Errorf("%d requests for organisations and teams; want none", n)
				}
			},
		},
		{
			name:      "unverified primary email: no email, though another is verified",
			apiPrefix: "/api/v3",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.emails = []map[string]any{
					{"email": "octocat@example.com", "primary": true, "verified": false},
					{"email": "old@example.com", "primary": false, "verified": true},
				}
			},
			want: connector.Identity{Subject: "583231", Username: "octocat", Name: "The Octocat"},
		},
		{
			name:      "no emails at all",
			apiPrefix: "/api/v3",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.emails = []any{}
			},
			want: connector.Identity{Subject: "583231", Username: "octocat", Name: "The Octocat"},
		},
		{
			name:      "wrong verifier",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			verifier:  "another-verifier-another-verifier-another-ve",
			wantErr:   "the token endpoint answered bad_verification_code",
			check: func(t *testing.T, f *fakeGitHub) {
				if n := f.hitsOf("/user"); n != 0 {
					t.Errorf("/user read %d times without a token", n)
				}
			},
		},
		{
			name:    "wrong client secret",
			config:  func(c *Config) { c.ClientSecret = "not-the-secret"; c.Orgs = []string{"acme"} },
			wantErr: "incorrect_client_credentials",
		},
		{
			name:      "/user answers 401",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup:     func(f *fakeGitHub) { f.override["/user"] = status(http.StatusUnauthorized) },
			wantErr:   "GET /user answered 401 Unauthorized",
		},
		{
			name:      "/user/emails answers 500",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup:     func(f *fakeGitHub) { f.override["/user/emails"] = status(http.StatusInternalServerError) },
			wantErr:   "GET /user/emails answered 500 Internal Server Error",
		},
		{
			name:      "second page of /user/teams answers 500",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup: func(f *fakeGitHub) {
				f.override["/user/teams"] = func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Query().Get("page") == "2" {
						status(http.StatusInternalServerError)(w, r)
						return
					}
					w.Header().Set("Link", `<`+f.srv.URL+r.URL.Path+`?page=2>; rel="next"`)
					w.Write([]byte(`[{"slug":"devs","organization":{"login":"acme"}}]`))
				}
			},
			wantErr: "GET /user/teams answered 500",
		},
		{
			name:      "oversized /user",
			apiPrefix: "/api/v3",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.override["/user"] = body(`{"id":1,"login":"x","name":"` + strings.Repeat("a", maxResponseBytes) + `"}`)
			},
			wantErr: "GET /user: the answer is larger than",
		},
		{
			name:      "garbage /user",
			apiPrefix: "/api/v3",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.override["/user"] = body(`<html>rate limited</html>`)
			},
			wantErr: "GET /user: decoding the answer",
		},
		{
			name:      "/user without an id",
			apiPrefix: "/api/v3",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.override["/user"] = body(`{"login":"octocat"}`)
			},
			wantErr: "no user id or login",
		},
		{
			name:      "garbage /user/orgs",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup:     func(f *fakeGitHub) { f.override["/user/orgs"] = body(`{"message":"not a list"}`) },
			wantErr:   "GET /user/orgs: decoding the answer",
		},
		{
			name:      "endless pages stop at the bound",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Orgs = []string{"acme"} },
			setup: func(f *fakeGitHub) {
				f.override["/user/orgs"] = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Link", `<`+r.URL.Path+`?page=again>; rel="next"`)
					w.Write([]byte(`[{"login":"acme"}]`))
				}
			},
			want: connector.Identity{
				Subject: "583231", Username: "octocat", Name: "The Octocat",
				Email: "octocat@example.com", EmailVerified: true,
				Groups: []string{"acme", "Beta-Corp", "delta", "acme:devs", "Beta-Corp:ops", "delta:sre"},
			},
			check: func(t *testing.T, f *fakeGitHub) {
				if n := f.hitsOf("/user/orgs"); n != maxPages {
					t.Errorf("/user/orgs read %d times; want %d", n, maxPages)
				}
			},
		},
		{
			name:      "next page on another host",
			apiPrefix: "/api/v3",
			config:    func(c *Config) { c.Teams = []string{"acme/devs"} },
			setup: func(f *fakeGitHub) {
				f.override["/user/teams"] = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Link", `<`+foreign.URL+`/api/v3/user/teams?page=2>; rel="next"`)
					w.Write([]byte(`[]`))
				}
			},
			wantErr: "GET /user/teams: the next page is on another host",
		},
		{
			name: "no allow-list, but emails fail",
			setup: func(f *fakeGitHub) {
				f.scope = "read:user user:email"
				f.override["/user/emails"] = status(http.StatusForbidden)
			},
			wantErr: "GET /user/emails answered 403 Forbidden",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitHub(t, tc.apiPrefix)
			if tc.setup != nil {
				tc.setup(f)
			}
			c := connectorFor(t, f, tc.config)
			got, err := signIn(t, c, f, tc.verifier)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Callback: %v", err)
			case tc.wantErr == "" && !reflect.DeepEqual(got, tc.want):
				t.Errorf("identity\n got %+v\nwant %+v", got, tc.want)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Callback = %+v; want an error with %q", got, tc.wantErr)
			case tc.wantErr != "":
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q; want it to say %q", err, tc.wantErr)
				}
				if _, refused := connector.IsRefused(err); refused != tc.refused {
					t.Errorf("IsRefused(%q) = %v; want %v", err, refused, tc.refused)
				}
				var pe *connector.ProviderError
				if errors.As(err, &pe) {
					t.Errorf("error %q is a *connector.ProviderError; GitHub reported nothing at the callback", err)
				}
				if !reflect.DeepEqual(got, connector.Identity{}) {
					t.Errorf("identity %+v returned with the error", got)
				}
				checkNoSecrets(t, f, err)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// TestCallbackQuery: what the callback's query alone decides, without
// contacting GitHub.
func TestCallbackQuery(t *testing.T) {
	f := newFakeGitHub(t, "/api/v3")
	c := connectorFor(t, f, nil)
	for _, tc := range []struct {
		name     string
		query    url.Values
		verifier string
		wantErr  string
		provider *connector.ProviderError
	}{
		{
			name:     "access denied",
			query:    url.Values{"error": {"access_denied"}, "error_description": {"The user has denied your application access."}, "state": {"s"}},
			verifier: "v",
			provider: &connector.ProviderError{Code: "access_denied", Description: "The user has denied your application access."},
		},
		{
			name:     "redirect_uri mismatch",
			query:    url.Values{"error": {"redirect_uri_mismatch"}},
			verifier: "v",
			provider: &connector.ProviderError{Code: "redirect_uri_mismatch"},
		},
		{name: "no code", query: url.Values{"state": {"s"}}, verifier: "v", wantErr: "no code"},
		{name: "no verifier", query: url.Values{"code": {"c"}}, wantErr: "no PKCE verifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Callback(t.Context(), callbackURL, tc.query, "", tc.verifier)
			if err == nil {
				t.Fatal("Callback succeeded")
			}
			var pe *connector.ProviderError
			if tc.provider != nil {
				if !errors.As(err, &pe) || *pe != *tc.provider {
					t.Errorf("error %#v; want %#v", err, tc.provider)
				}
				return
			}
			if errors.As(err, &pe) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q; want a plain error saying %q", err, tc.wantErr)
			}
		})
	}
	if n := f.hitsOf("/user"); n != 0 {
		t.Errorf("GitHub's API was asked %d times", n)
	}
}

func TestAuthURL(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	for _, tc := range []struct {
		name   string
		cfg    Config
		prefix string
		scope  string
	}{
		{
			name:   "github.com",
			cfg:    Config{ClientID: "id", ClientSecret: "secret"},
			prefix: "https://github.com/login/oauth/authorize?",
			scope:  "read:user user:email",
		},
		{
			name:   "github.com with orgs",
			cfg:    Config{ClientID: "id", ClientSecret: "secret", Orgs: []string{"acme"}},
			prefix: "https://github.com/login/oauth/authorize?",
			scope:  "read:user user:email read:org",
		},
		{
			name:   "enterprise with teams",
			cfg:    Config{ClientID: "id", ClientSecret: "secret", Teams: []string{"acme/devs"}, EnterpriseURL: "https://github.example.com/"},
			prefix: "https://github.example.com/login/oauth/authorize?",
			scope:  "read:user user:email read:org",
		},
		{
			name:   "override",
			cfg:    Config{ClientID: "id", ClientSecret: "secret", EnterpriseURL: "https://github.example.com", AuthURL: "http://127.0.0.1:1234/auth"},
			prefix: "http://127.0.0.1:1234/auth?",
			scope:  "read:user user:email",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.AuthURL(t.Context(), callbackURL, "the-state", "the-nonce", verifier)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("AuthURL = %s; want it to start with %s", got, tc.prefix)
			}
			u, _ := url.Parse(got)
			want := url.Values{
				"response_type":         {"code"},
				"client_id":             {"id"},
				"redirect_uri":          {callbackURL},
				"scope":                 {tc.scope},
				"state":                 {"the-state"},
				"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, // RFC 7636 appendix B
				"code_challenge_method": {"S256"},
			}
			if !reflect.DeepEqual(u.Query(), want) {
				t.Errorf("query\n got %v\nwant %v", u.Query(), want)
			}
		})
	}

	c, _ := New(Config{ClientID: "id", ClientSecret: "secret"})
	for _, args := range [][3]string{{"", "s", verifier}, {callbackURL, "", verifier}, {callbackURL, "s", ""}} {
		if got, err := c.AuthURL(t.Context(), args[0], args[1], "n", args[2]); err == nil {
			t.Errorf("AuthURL(%q, %q, %q) = %s; want an error", args[0], args[1], args[2], got)
		}
	}
}

func TestNew(t *testing.T) {
	ok := func(edit func(*Config)) Config {
		c := Config{ClientID: "id", ClientSecret: "top-secret-value"}
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string // "" for a valid configuration
	}{
		{"minimal", ok(func(*Config) {}), ""},
		{"orgs and teams", ok(func(c *Config) {
			c.Orgs = []string{"acme"}
			c.Teams = []string{"acme/site-reliability", "Beta_Corp/ops"}
		}), ""},
		{"enterprise", ok(func(c *Config) { c.EnterpriseURL = "https://github.example.com" }), ""},
		{"enterprise on loopback http", ok(func(c *Config) { c.EnterpriseURL = "http://localhost:8080/" }), ""},
		{"enterprise on loopback IPv6", ok(func(c *Config) { c.EnterpriseURL = "http://[::1]:8080" }), ""},
		{"no client id", ok(func(c *Config) { c.ClientID = "" }), "ClientID is required"},
		{"no client secret", ok(func(c *Config) { c.ClientSecret = "" }), "ClientSecret is required"},
		{"empty org", ok(func(c *Config) { c.Orgs = []string{""} }), "not an organisation login"},
		{"org with a slash", ok(func(c *Config) { c.Orgs = []string{"acme/devs"} }), "not an organisation login"},
		{"team without slug", ok(func(c *Config) { c.Teams = []string{"acme"} }), "not of the form org/team-slug"},
		{"team with empty slug", ok(func(c *Config) { c.Teams = []string{"acme/"} }), "not of the form org/team-slug"},
		{"team with empty org", ok(func(c *Config) { c.Teams = []string{"/devs"} }), "not of the form org/team-slug"},
		{"team with two slashes", ok(func(c *Config) { c.Teams = []string{"acme/devs/x"} }), "not of the form org/team-slug"},
		{"team with a colon", ok(func(c *Config) { c.Teams = []string{"acme:devs"} }), "not of the form org/team-slug"},
		{"team with a space", ok(func(c *Config) { c.Teams = []string{"acme/site reliability"} }), "not of the form org/team-slug"},
		{"enterprise on plain http", ok(func(c *Config) { c.EnterpriseURL = "http://github.example.com" }), "must be https"},
		{"enterprise on a look-alike", ok(func(c *Config) { c.EnterpriseURL = "http://localhost.example.com" }), "must be https"},
		{"enterprise not absolute", ok(func(c *Config) { c.EnterpriseURL = "github.example.com" }), "not an absolute http(s) URL"},
		{"enterprise on ftp", ok(func(c *Config) { c.EnterpriseURL = "ftp://github.example.com" }), "not an absolute http(s) URL"},
		{"enterprise with credentials", ok(func(c *Config) { c.EnterpriseURL = "https://u:p@github.example.com" }), "must not carry credentials"},
		{"enterprise with a query", ok(func(c *Config) { c.EnterpriseURL = "https://github.example.com/?x=1" }), "no query or fragment"},
		{"enterprise unparsable", ok(func(c *Config) { c.EnterpriseURL = "https://github.example.com/%zz" }), "EnterpriseURL is not a URL"},
		{"API override on plain http", ok(func(c *Config) { c.APIURL = "http://api.example.com" }), "APIURL"},
		{"token override relative", ok(func(c *Config) { c.TokenURL = "/login/oauth/access_token" }), "TokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr == "" && c == nil:
				t.Fatal("New returned no connector")
			case tc.wantErr != "" && err == nil:
				t.Fatalf("New succeeded; want an error with %q", tc.wantErr)
			case tc.wantErr != "":
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q; want it to say %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "top-secret-value") {
					t.Errorf("error %q shows the client secret", err)
				}
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	c, err := New(Config{ClientID: "id", ClientSecret: "secret", EnterpriseURL: "https://github.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const page1 = "https://github.example.com/api/v3/user/orgs?per_page=100"
	for _, tc := range []struct {
		name    string
		links   []string
		want    string
		wantErr string
	}{
		{name: "none", want: ""},
		{
			name:  "GitHub's",
			links: []string{`<https://github.example.com/api/v3/user/orgs?per_page=100&page=2>; rel="next", <https://github.example.com/api/v3/user/orgs?per_page=100&page=5>; rel="last"`},
			want:  "https://github.example.com/api/v3/user/orgs?per_page=100&page=2",
		},
		{
			name:  "last page",
			links: []string{`<https://github.example.com/api/v3/user/orgs?page=4>; rel="prev", <https://github.example.com/api/v3/user/orgs?page=1>; rel="first"`},
			want:  "",
		},
		{
			name:  "several headers, relative, unquoted, several relations",
			links: []string{`<https://github.example.com/x>; rel="prev"`, `</api/v3/user/orgs?page=2>;title="x"; REL=next`},
			want:  "https://github.example.com/api/v3/user/orgs?page=2",
		},
		{
			name:  "several relation types",
			links: []string{`<?page=3>; rel="last next"`},
			want:  "https://github.example.com/api/v3/user/orgs?page=3",
		},
		{name: "not next", links: []string{`<https://github.example.com/n>; rel="nextish"`}, want: ""},
		{name: "no brackets", links: []string{`https://github.example.com/n; rel="next"`}, want: ""},
		{name: "another host", links: []string{`<https://evil.example.com/api/v3/user/orgs?page=2>; rel="next"`}, wantErr: "another host"},
		{name: "another scheme", links: []string{`<http://github.example.com/api/v3/user/orgs?page=2>; rel="next"`}, wantErr: "another host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, page1, nil)
			resp := &http.Response{Header: http.Header{"Link": tc.links}, Request: req}
			got, err := c.nextLink(resp)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("nextLink = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
			case err != nil || got != tc.want:
				t.Errorf("nextLink = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestCallbackContext: a cancelled context stops the sign-in.
func TestCallbackContext(t *testing.T) {
	f := newFakeGitHub(t, "")
	c := connectorFor(t, f, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Callback(ctx, callbackURL, url.Values{"code": {"c"}}, "", "v")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Callback with a cancelled context = %v; want context.Canceled", err)
	}
}
