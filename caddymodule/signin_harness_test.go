package caddymodule

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// signinClients are the users and clients of the sign-in tests.
const signinClients = defaultClients + `
		user alice {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			name "Alice Liddell"
			email alice@example.com
			groups users admins
		}
		user bob {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			disabled
		}
		client app {
			public
			redirect_uris http://127.0.0.1:9999/cb http://127.0.0.1/native
			post_logout_redirect_uris http://127.0.0.1:9999/bye
			scopes openid profile email groups offline_access read
		}
		client webapp {
			secret webapp-secret
			redirect_uris https://webapp.example/cb
			scopes openid profile read
			issue_refresh_tokens
			skip_consent
		}
		client pushy {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid
			require_par
		}
`

// alicePassword is the password behind the hash above (bcrypt cost 4).
const alicePassword = "wonderland"

// browser is an HTTP client with cookies that does not follow redirects,
// standing in for a user's browser on the server's pages.
type browser struct {
	t      *testing.T
	tc     *testCaddy
	client *http.Client
}

func newBrowser(tc *testCaddy) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: tc.t, tc: tc, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	return doWith(b.t, b.client, req)
}

func (b *browser) get(u string) response {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.tc.issuer + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.tc.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// fields returns a page's hidden form fields.
func fields(r response) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(r.body), -1) {
		out.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

func isPage(r response, title string) bool {
	return r.status == http.StatusOK && strings.Contains(string(r.body), "<h1>"+title+"</h1>")
}

// signIn submits the sign-in page r and returns the next response.
func (b *browser) signIn(r response, user, pass string) response {
	b.t.Helper()
	if !strings.Contains(string(r.body), `name="password"`) {
		b.t.Fatalf("not a sign-in page: %d %s", r.status, r.body)
	}
	f := fields(r)
	f.Set("username", user)
	f.Set("password", pass)
	return b.post("/login", f)
}

// consent answers the consent page r.
func (b *browser) consent(r response, decision string, remember bool) response {
	b.t.Helper()
	if !isPage(r, "Allow access?") {
		b.t.Fatalf("not the consent page: %d %s", r.status, r.body)
	}
	f := fields(r)
	f.Set("decision", decision)
	if remember {
		f.Set("remember", "yes")
	}
	return b.post("/consent", f)
}

// callback checks that r redirects to the client's redirect URI and
// returns the query it carries, checking iss (RFC 9207).
func callback(t *testing.T, tc *testCaddy, r response, redirectURI string) url.Values {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("want a redirect to %s, got %d %s", redirectURI, r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("redirected to %q; want %s", r.header.Get("Location"), redirectURI)
	}
	q := loc.Query()
	if q.Get("iss") != tc.issuer {
		t.Errorf("iss = %q; want %s (RFC 9207)", q.Get("iss"), tc.issuer)
	}
	return q
}

// appConfig is the OAuth client config of the public client "app".
func (tc *testCaddy) appConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: "app", RedirectURL: "http://127.0.0.1:9999/cb", Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// codeFlow runs the whole browser flow for cfg and returns the code,
// the PKCE verifier, and the state it checked.
func (b *browser) codeFlow(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	b.t.Helper()
	verifier = oauth2.GenerateVerifier()
	state := "st-" + oauth2.GenerateVerifier()[:8]
	r := b.get(cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...))
	if strings.Contains(string(r.body), `name="password"`) {
		r = b.signIn(r, "alice", alicePassword)
	}
	if isPage(r, "Allow access?") {
		r = b.consent(r, "approve", true)
	}
	q := callback(b.t, b.tc, r, cfg.RedirectURL)
	if q.Get("state") != state || q.Get("code") == "" {
		b.t.Fatalf("callback = %v; want a code and state %s", q, state)
	}
	return q.Get("code"), verifier
}

// exchange redeems a code with the oauth2 library.
func exchange(t *testing.T, cfg *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
}

// verifyIDToken checks an ID token with go-oidc against the server's
// discovery document and keys.
func (tc *testCaddy) verifyIDToken(raw, clientID string) *oidc.IDToken {
	tc.t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, tc.issuer)
	if err != nil {
		tc.t.Fatalf("OIDC discovery: %v", err)
	}
	id, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		tc.t.Fatalf("verifying ID token: %v", err)
	}
	return id
}
