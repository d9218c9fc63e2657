package caddymodule

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub is a GitHub Enterprise Server on httptest, as the github
// connector reaches it through enterprise_url: the OAuth app's
// authorization and token endpoints under /login/oauth, and the REST API
// under /api/v3 (/user, /user/emails, /user/orgs, /user/teams). Its
// authorization endpoint signs in whoever the test made the user, at
// once, as GitHub does for someone signed in who approved the app.
type fakeGitHub struct {
	t   *testing.T
	srv *httptest.Server

	clientID, clientSecret string

	mu          sync.Mutex
	user        fakeGitHubUser
	codes       map[string]fakeGitHubCode
	tokens      map[string]fakeGitHubUser
	redirectURI string // the last one asked for
}

// fakeGitHubUser is a GitHub account with its memberships.
type fakeGitHubUser struct {
	id           int64
	login, name  string
	primaryEmail string
	orgs, teams  []string // teams as org/slug
}

type fakeGitHubCode struct {
	challenge, redirectURI string
	user                   fakeGitHubUser
}

func newFakeGitHub(t *testing.T, clientID, clientSecret string) *fakeGitHub {
	f := &fakeGitHub{t: t, clientID: clientID, clientSecret: clientSecret,
		codes: map[string]fakeGitHubCode{}, tokens: map[string]fakeGitHubUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET /api/v3/", f.api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// setUser makes u the account the next sign-in is of.
func (f *fakeGitHub) setUser(u fakeGitHubUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user = u
}

func fakeRandom() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorize checks the OAuth app's request and redirects back with a
// code, as GitHub does once the person approved the app.
func (f *fakeGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != f.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("state") == "" || !strings.Contains(q.Get("scope"), "read:org") {
		http.Error(w, "bad authorization request: "+q.Encode(), http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	code := fakeRandom()
	f.mu.Lock()
	f.codes[code] = fakeGitHubCode{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), user: f.user}
	f.redirectURI = q.Get("redirect_uri")
	f.mu.Unlock()
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// accessToken redeems a code for the app's credentials and the PKCE
// verifier, answering JSON (the connector asks for it) with errors in a
// 200, as GitHub does.
func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	answer := func(v map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v) //nolint:errcheck
	}
	if err := r.ParseForm(); err != nil {
		answer(map[string]string{"error": "bad_request"})
		return
	}
	if r.PostForm.Get("client_id") != f.clientID || r.PostForm.Get("client_secret") != f.clientSecret {
		answer(map[string]string{"error": "incorrect_client_credentials"})
		return
	}
	f.mu.Lock()
	c, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || r.PostForm.Get("redirect_uri") != c.redirectURI {
		answer(map[string]string{"error": "bad_verification_code"})
		return
	}
	token := "gho_" + fakeRandom()
	f.mu.Lock()
	f.tokens[token] = c.user
	f.mu.Unlock()
	answer(map[string]string{"access_token": token, "token_type": "bearer", "scope": "read:org,read:user,user:email"})
}

// api answers the REST API for the token's account.
func (f *fakeGitHub) api(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	u, ok := f.tokens[token]
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Bad credentials"}`)) //nolint:errcheck
		return
	}
	var v any
	switch strings.TrimPrefix(r.URL.Path, "/api/v3") {
	case "/user":
		v = map[string]any{"id": u.id, "login": u.login, "name": u.name}
	case "/user/emails":
		v = []map[string]any{
			{"email": "old-" + u.primaryEmail, "primary": false, "verified": true},
			{"email": u.primaryEmail, "primary": true, "verified": true},
		}
	case "/user/orgs":
		orgs := []map[string]any{}
		for _, o := range u.orgs {
			orgs = append(orgs, map[string]any{"login": o})
		}
		v = orgs
	case "/user/teams":
		teams := []map[string]any{}
		for _, team := range u.teams {
			org, slug, _ := strings.Cut(team, "/")
			teams = append(teams, map[string]any{"slug": slug, "organization": map[string]any{"login": org}})
		}
		v = teams
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

// TestIdentityProviderGitHub signs a browser in at a gateway route with
// a (fake) GitHub Enterprise Server configured with identity_provider …
// github: the upstream app sees the primary verified email and the
// organisations and teams as groups; someone outside the allowed
// organisations and teams gets the refusal page, and the app is not
// reached.
func TestIdentityProviderGitHub(t *testing.T) {
	gh := newFakeGitHub(t, "Iv1.authgate", "github-client-secret")
	t.Setenv("AUTHGATE_TEST_GITHUB_SECRET", "github-client-secret")
	g := startGateway(t, `
		identity_provider github github {
			client_id Iv1.authgate
			client_secret {env.AUTHGATE_TEST_GITHUB_SECRET}
			orgs acme
			teams beta/ops
			enterprise_url `+gh.srv.URL+`
		}`, `accept bearer`, `accept session`)

	signIn := func(b *browser) response {
		t.Helper()
		link := providerLink(t, b.openSignInPage(g.app+"/page"), "github", "GitHub")
		r := b.get(g.issuer + link)
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.HasPrefix(loc, gh.srv.URL+"/login/oauth/authorize?") {
			t.Fatalf("to GitHub: %d %q %s", r.status, loc, r.body)
		}
		r, _ = b.follow(g.issuer+link, r)
		gh.mu.Lock()
		defer gh.mu.Unlock()
		if gh.redirectURI != g.issuer+"/login/github/callback" {
			t.Errorf("redirect_uri = %q; want the issuer's /login/github/callback", gh.redirectURI)
		}
		return r
	}

	t.Run("member", func(t *testing.T) {
		gh.setUser(fakeGitHubUser{id: 583231, login: "octocat", name: "The Octocat", primaryEmail: "octocat@example.com",
			orgs: []string{"acme", "gamma"}, teams: []string{"acme/devs"}})
		b := newBrowser(g.testCaddy)
		r := signIn(b)
		for _, want := range []string{"user=github:octocat ", "email=octocat@example.com ", "groups=github:acme,github:gamma,github:acme:devs "} {
			if r.status != http.StatusOK || !strings.Contains(string(r.body), want) {
				t.Fatalf("the upstream app should see %q: %d %s", want, r.status, r.body)
			}
		}
	})
	t.Run("member of an allowed team only", func(t *testing.T) {
		gh.setUser(fakeGitHubUser{id: 42, login: "teamie", primaryEmail: "teamie@example.com", teams: []string{"beta/ops"}})
		r := signIn(newBrowser(g.testCaddy))
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "groups=github:beta,github:beta:ops ") {
			t.Fatalf("a member of beta/ops: %d %s", r.status, r.body)
		}
	})
	t.Run("outsider", func(t *testing.T) {
		gh.setUser(fakeGitHubUser{id: 666, login: "mallory", primaryEmail: "mallory@example.com",
			orgs: []string{"evil"}, teams: []string{"beta/devs"}})
		b := newBrowser(g.testCaddy)
		r := signIn(b)
		body := string(r.body)
		if r.status != http.StatusForbidden || !strings.Contains(body, "<h1>You cannot sign in here</h1>") ||
			!strings.Contains(body, "not a member of the organisation acme or of the team beta/ops") {
			t.Fatalf("want the refusal page: %d %s", r.status, body)
		}
		if strings.Contains(body, "sub=") || strings.Contains(body, "github-client-secret") {
			t.Errorf("the refusal page shows more than it should: %s", body)
		}
		if r := b.get(g.app + "/page"); r.status != http.StatusFound {
			t.Errorf("after the refusal the app answered %d %s", r.status, r.body)
		}
	})
}
