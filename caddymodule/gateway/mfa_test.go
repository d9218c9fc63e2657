package gateway

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/policy"
)

// mfaIdP is the token endpoint of a provider, whose next ID token's
// claims a test sets: enough for the gateway's callback and refresh,
// with the keys given to the Login directly (no discovery).
type mfaIdP struct {
	t   *testing.T
	key *rsa.PrivateKey
	srv *httptest.Server

	mu     sync.Mutex
	claims map[string]any // the next ID token's, besides iss, aud, iat, exp
	grants []string       // grant_type of each token request
}

const mfaIssuer = "https://idp.example"

func newMFAIdP(t *testing.T) *mfaIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &mfaIdP{t: t, key: key}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm() //nolint:errcheck
		p.mu.Lock()
		claims := map[string]any{"iss": mfaIssuer, "aud": "gw", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range p.claims {
			claims[k] = v
		}
		p.grants = append(p.grants, r.Form.Get("grant_type"))
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck
			"access_token": "at", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt-" + random(8), "id_token": p.sign(claims)})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *mfaIdP) sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		p.t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func (p *mfaIdP) next(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = claims
}

// claimsVerifier takes a bearer token for the name of its claims.
type claimsVerifier map[string]map[string]any

func (v claimsVerifier) Verify(_ context.Context, token string) (*Identity, time.Time, error) {
	c, ok := v[token]
	if !ok {
		return nil, time.Time{}, ErrInvalidToken
	}
	return IdentityFromClaims(c, AuthBearer), time.Now().Add(time.Hour), nil
}

// newMFAGateway protects https://app.example with sessions signed in at
// p and bearer tokens, under a policy that requires a second factor if
// mfa is set; pushed collects the authorization requests, when Push is
// used.
func newMFAGateway(t *testing.T, p *mfaIdP, mfa bool, push func(url.Values)) *Gateway {
	t.Helper()
	pol, err := policy.Compile(policy.Config{Require: policy.Requirements{MFA: mfa}})
	if err != nil {
		t.Fatal(err)
	}
	login := &Login{Issuer: mfaIssuer, ClientID: "gw", ClientSecret: "s",
		Endpoint:          oauth2.Endpoint{AuthURL: mfaIssuer + "/authorize", TokenURL: p.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		KeySet:            &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&p.key.PublicKey}},
		SigningAlgorithms: []string{"RS256"},
		AccountURL:        mfaIssuer + "/account",
	}
	if push != nil {
		login.Push = func(_ context.Context, params url.Values) (string, error) {
			push(params)
			return mfaIssuer + "/authorize?request_uri=urn:x", nil
		}
	}
	verifier := claimsVerifier{
		"pwd-token": {"sub": "svc", "client_id": "cli", "aud": "https://app.example", "amr": []any{"pwd"}},
		"two-token": {"sub": "svc", "client_id": "cli", "aud": "https://app.example", "amr": []any{"pwd", "otp"}},
		"mfa-token": {"sub": "erin", "client_id": "cli", "aud": "https://app.example", "amr": []any{"pwd", "otp", "mfa"}, "acr": "mfa"},
		"acr-token": {"sub": "erin", "client_id": "cli", "aud": "https://app.example", "acr": "mfa"},
	}
	g, err := New(Config{AcceptBearer: true, AcceptSession: true, Verifier: verifier, Policy: pol, Login: login,
		CookieHashKey: []byte(strings.Repeat("h", 64)), CookieBlockKey: []byte(strings.Repeat("b", 32)),
		Sessions: activeSessions{}, Hosts: []string{"app.example"}, Name: "Wiki",
		Headers: HeaderMap{"X-Auth-Amr": FieldAMR, "X-Auth-Acr": FieldACR}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// mfaRequest is a request to https://app.example; headers are pairs.
func mfaRequest(method, target string, headers ...string) *Request {
	path, query, _ := strings.Cut(target, "?")
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	return &Request{Method: method, Scheme: "https", Host: "app.example", Path: path, RawQuery: query, Header: h, RemoteIP: "192.0.2.1"}
}

// sessionCookieHeader is the Cookie value of a session with amr and acr.
func sessionCookieHeader(t *testing.T, g *Gateway, amr []string, acr string) string {
	t.Helper()
	now := time.Now()
	s := &session{ID: random(16), Issuer: mfaIssuer, Host: "app.example", Subject: "erin", Username: "erin", AMR: amr, ACR: acr,
		Expiry: now.Add(time.Hour).Unix(), Until: now.Add(24 * time.Hour).Unix()}
	set, err := g.sessionCookie(&Request{Scheme: "https"}, s)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := strings.Cut(set, ";")
	return c
}

// flowOf decodes the sign-in cookie a redirect to the provider set.
func flowOf(t *testing.T, g *Gateway, d Decision) (cookie string, f flow) {
	t.Helper()
	for _, set := range d.Header.Values("Set-Cookie") {
		c, _, _ := strings.Cut(set, ";")
		name, value, _ := strings.Cut(c, "=")
		if strings.Contains(name, flowCookiePrefix) {
			if err := g.cookies.Decode(name, value, &f); err != nil {
				t.Fatal(err)
			}
			return c, f
		}
	}
	t.Fatalf("no sign-in cookie: %v", d.Header)
	return "", f
}

// TestStepUpSession: a browser whose session has no second factor is sent
// to sign in again with acr_values=mfa, back to where it was going; a
// session with one (amr mfa, or acr mfa) passes, its amr and acr visible
// to the upstream; a request that is not a browser's page load gets the
// RFC 9470 401, never a redirect.
func TestStepUpSession(t *testing.T) {
	p := newMFAIdP(t)
	g := newMFAGateway(t, p, true, nil)
	ctx := context.Background()
	pwd := sessionCookieHeader(t, g, []string{"pwd"}, "")

	d := g.Decide(ctx, mfaRequest("GET", "/docs/page?x=1", "Accept", browserAccept, "Cookie", pwd))
	if d.Allowed || d.Status != http.StatusFound {
		t.Fatalf("password-only session: %d %s", d.Status, d.Body)
	}
	loc, err := url.Parse(d.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != mfaIssuer+"/authorize" {
		t.Fatalf("Location %q", d.Header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("acr_values") != "mfa" || q.Get("redirect_uri") != "https://app.example/.authgate/callback" || q.Get("code_challenge") == "" || q.Get("nonce") == "" {
		t.Errorf("step-up request %v", q)
	}
	if q.Has("max_age") || q.Has("prompt") {
		t.Errorf("the step-up forces a whole new sign-in: %v", q)
	}
	if _, f := flowOf(t, g, d); f.ReturnTo != "/docs/page?x=1" || f.ACR != "mfa" || f.State != q.Get("state") {
		t.Errorf("flow %+v", f)
	}

	for _, tt := range []struct {
		name string
		amr  []string
		acr  string
	}{
		{"amr mfa", []string{"pwd", "otp", "mfa"}, ""},
		{"acr mfa", nil, "mfa"},
		{"both", []string{"hwk", "mfa"}, "mfa"},
	} {
		d := g.Decide(ctx, mfaRequest("GET", "/docs/page", "Accept", browserAccept, "Cookie", sessionCookieHeader(t, g, tt.amr, tt.acr)))
		if !d.Allowed {
			t.Errorf("%s: %d %s", tt.name, d.Status, d.Body)
			continue
		}
		if !slices.Equal(d.Identity.AMR, tt.amr) || d.Identity.ACR != tt.acr || d.Identity.Auth != AuthSession {
			t.Errorf("%s: identity amr %q acr %q", tt.name, d.Identity.AMR, d.Identity.ACR)
		}
		h := http.Header{}
		g.ApplyHeaders(h, d.Identity)
		if h.Get("X-Auth-Amr") != strings.Join(tt.amr, ",") || h.Get("X-Auth-Acr") != tt.acr {
			t.Errorf("%s: headers %v", tt.name, h)
		}
	}

	// Not a page load: the RFC 9470 challenge, as for a token.
	for _, tt := range []struct {
		name string
		r    *Request
		page bool
	}{
		{"fetch for JSON", mfaRequest("GET", "/docs/api", "Accept", "application/json", "Cookie", pwd), false},
		{"a form's POST", mfaRequest("POST", "/docs/save", "Accept", browserAccept, "Cookie", pwd), true},
		{"through nginx", func() *Request {
			r := mfaRequest("GET", "/docs/page", "Accept", browserAccept, "Cookie", pwd)
			r.Forwarded, r.NoRedirect = true, true
			return r
		}(), true},
	} {
		d := g.Decide(ctx, tt.r)
		if d.Allowed || d.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %v", tt.name, d.Status, d.Header)
			continue
		}
		checkStepUpChallenge(t, tt.name, d)
		if isPage := strings.HasPrefix(d.Header.Get("Content-Type"), "text/html"); isPage != tt.page {
			t.Errorf("%s: Content-Type %q", tt.name, d.Header.Get("Content-Type"))
		}
		if tt.page && !strings.Contains(string(d.Body), "second factor") {
			t.Errorf("%s: page %s", tt.name, d.Body)
		}
	}

	// Without require mfa, a password-only session passes, and a sign-in
	// asks for no second factor.
	plain := newMFAGateway(t, p, false, nil)
	if d := plain.Decide(ctx, mfaRequest("GET", "/", "Accept", browserAccept, "Cookie", sessionCookieHeader(t, plain, []string{"pwd"}, ""))); !d.Allowed {
		t.Errorf("no requirement: %d", d.Status)
	}
	d = plain.Decide(ctx, mfaRequest("GET", "/", "Accept", browserAccept))
	if loc := d.Header.Get("Location"); d.Status != http.StatusFound || strings.Contains(loc, "acr_values") {
		t.Errorf("sign-in without the requirement: %d %q", d.Status, loc)
	}
}

// checkStepUpChallenge checks an RFC 9470 §3 challenge: 401,
// error="insufficient_user_authentication", acr_values="mfa", and the
// usual realm and resource metadata.
func checkStepUpChallenge(t *testing.T, what string, d Decision) {
	t.Helper()
	const want = `Bearer realm="app.example", error="insufficient_user_authentication", error_description="` + mfaDescription +
		`", acr_values="mfa", resource_metadata="https://app.example/.well-known/oauth-protected-resource"`
	if got := d.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("%s: challenge\n got %s\nwant %s", what, got, want)
	}
}

// TestStepUpFirstSignIn: a browser not signed in to a route that requires
// a second factor asks for one at once, through the login path (nginx)
// too, and pushed authorization requests carry acr_values.
func TestStepUpFirstSignIn(t *testing.T) {
	p := newMFAIdP(t)
	var pushed []url.Values
	g := newMFAGateway(t, p, true, func(v url.Values) { pushed = append(pushed, v) })
	ctx := context.Background()
	for _, r := range []*Request{
		mfaRequest("GET", "/page", "Accept", browserAccept),
		mfaRequest("GET", "/.authgate/login?rd=/page"),
	} {
		d := g.Decide(ctx, r)
		if d.Status != http.StatusFound || d.Header.Get("Location") != mfaIssuer+"/authorize?request_uri=urn:x" {
			t.Fatalf("%s: %d %q", r.Path, d.Status, d.Header.Get("Location"))
		}
		if _, f := flowOf(t, g, d); f.ACR != "mfa" || f.ReturnTo != "/page" {
			t.Errorf("%s: flow %+v", r.Path, f)
		}
	}
	if len(pushed) != 2 {
		t.Fatalf("%d pushed requests", len(pushed))
	}
	for _, v := range pushed {
		if v.Get("acr_values") != "mfa" || v.Get("client_id") != "gw" || v.Get("response_type") != "code" {
			t.Errorf("pushed %v", v)
		}
	}
}

// TestStepUpCallback follows a step-up through the callback: a provider
// that signs the user in without the second factor gets the loop guard's
// 403 page (with the session, and a link to add a factor) instead of a
// redirect back to the page that would ask again; one that signs in with
// it sends the browser back, and the new session passes.
func TestStepUpCallback(t *testing.T) {
	p := newMFAIdP(t)
	g := newMFAGateway(t, p, true, nil)
	ctx := context.Background()
	pwd := sessionCookieHeader(t, g, []string{"pwd"}, "")

	// callback starts a step-up and answers it with an ID token with amr
	// and acr.
	callback := func(amr []string, acr string) Decision {
		t.Helper()
		d := g.Decide(ctx, mfaRequest("GET", "/docs/page?x=1", "Accept", browserAccept, "Cookie", pwd))
		if d.Status != http.StatusFound {
			t.Fatalf("step-up: %d", d.Status)
		}
		flowCookie, f := flowOf(t, g, d)
		claims := map[string]any{"sub": "erin", "nonce": f.Nonce, "preferred_username": "erin", "email": "erin@example.com", "name": "Erin", "groups": []any{"staff"}}
		if amr != nil {
			claims["amr"] = amr
		}
		if acr != "" {
			claims["acr"] = acr
		}
		p.next(claims)
		return g.Decide(ctx, mfaRequest("GET", "/.authgate/callback?code=c&state="+f.State, "Accept", browserAccept, "Cookie", pwd+"; "+flowCookie))
	}
	newSession := func(d Decision) string {
		t.Helper()
		for _, set := range d.Header.Values("Set-Cookie") {
			c, _, _ := strings.Cut(set, ";")
			if v, ok := strings.CutPrefix(c, "__Host-authgate_session_gw="); ok && v != "" {
				return c
			}
		}
		t.Fatalf("no session cookie: %v", d.Header)
		return ""
	}

	// The provider ignored acr_values, or the account has no second factor.
	for _, tt := range []struct {
		name string
		amr  []string
		acr  string
	}{
		{"amr pwd", []string{"pwd"}, ""},
		{"no amr", nil, ""},
		{"two methods, not mfa", []string{"pwd", "otp"}, "1"},
	} {
		d := callback(tt.amr, tt.acr)
		if d.Status != http.StatusForbidden || d.Header.Get("Location") != "" {
			t.Fatalf("%s: %d %q %s", tt.name, d.Status, d.Header.Get("Location"), d.Body)
		}
		body := string(d.Body)
		for _, want := range []string{"Second factor required", "signed in as erin", `href="https://idp.example/account"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page lacks %q: %s", tt.name, want, body)
			}
		}
		if d.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: a page without its CSP", tt.name)
		}
		// The session stands (pages that need no second factor work), and
		// the page that needs one asks again only when opened again.
		s := newSession(d)
		again := g.Decide(ctx, mfaRequest("GET", "/docs/page?x=1", "Accept", browserAccept, "Cookie", s))
		if again.Status != http.StatusFound || !strings.Contains(again.Header.Get("Location"), "acr_values=mfa") {
			t.Errorf("%s: opened again: %d %q", tt.name, again.Status, again.Header.Get("Location"))
		}
	}

	// With a second factor: back to the page, and the session passes.
	d := callback([]string{"pwd", "otp", "mfa"}, "mfa")
	if d.Status != http.StatusSeeOther || d.Header.Get("Location") != "/docs/page?x=1" {
		t.Fatalf("callback with mfa: %d %q %s", d.Status, d.Header.Get("Location"), d.Body)
	}
	d = g.Decide(ctx, mfaRequest("GET", "/docs/page?x=1", "Accept", browserAccept, "Cookie", newSession(d)))
	if !d.Allowed || d.Identity.Subject != "erin" || !d.Identity.HasMFA() || d.Identity.ACR != "mfa" || d.Identity.Email != "erin@example.com" {
		t.Fatalf("after the step-up: %d %+v", d.Status, d.Identity)
	}
	if amr, _ := d.Identity.Claims["amr"].([]any); len(amr) != 3 {
		t.Errorf("claims.amr %v", d.Identity.Claims["amr"])
	}

	// Without an account page, the loop guard's page says where to go.
	g.cfg.Login.AccountURL = ""
	d = callback([]string{"pwd"}, "")
	if d.Status != http.StatusForbidden || !strings.Contains(string(d.Body), "at your sign-in provider") || !strings.Contains(string(d.Body), `href="/docs/page?x=1"`) {
		t.Errorf("without an account page: %d %s", d.Status, d.Body)
	}
}

// TestStepUpBearer: a bearer token from a sign-in without a second factor
// gets 401 with the RFC 9470 challenge (a browser a page saying so, with
// the same challenge); one with amr mfa or acr mfa passes.
func TestStepUpBearer(t *testing.T) {
	g := newMFAGateway(t, newMFAIdP(t), true, nil)
	ctx := context.Background()
	for _, tok := range []string{"pwd-token", "two-token"} {
		for _, accept := range []string{"application/json", "", browserAccept} {
			d := g.Decide(ctx, mfaRequest("GET", "/api/x", "Authorization", "Bearer "+tok, "Accept", accept))
			if d.Allowed || d.Status != http.StatusUnauthorized {
				t.Errorf("%s, Accept %q: %d", tok, accept, d.Status)
				continue
			}
			checkStepUpChallenge(t, tok, d)
			if accept == browserAccept {
				if !strings.Contains(string(d.Body), "comes from a sign-in without a second factor") {
					t.Errorf("%s: page %s", tok, d.Body)
				}
				continue
			}
			var body map[string]string
			if err := json.Unmarshal(d.Body, &body); err != nil || body["error"] != "insufficient_user_authentication" || body["error_description"] == "" {
				t.Errorf("%s: body %s", tok, d.Body)
			}
		}
	}
	for _, tok := range []string{"mfa-token", "acr-token"} {
		d := g.Decide(ctx, mfaRequest("GET", "/api/x", "Authorization", "Bearer "+tok))
		if !d.Allowed || !d.Identity.HasMFA() || d.Identity.Auth != AuthBearer {
			t.Errorf("%s: %d %s", tok, d.Status, d.Body)
		}
	}
	// The challenge names the scopes the route requires, as the others do.
	pol, _ := policy.Compile(policy.Config{Require: policy.Requirements{MFA: true, Scopes: []string{"read"}}})
	g.cfg.Policy = pol
	g.cfg.Verifier.(claimsVerifier)["read-token"] = map[string]any{"sub": "svc", "aud": "https://app.example", "scope": "read", "amr": []any{"pwd"}}
	d := g.Decide(ctx, mfaRequest("GET", "/api/x", "Authorization", "Bearer read-token"))
	if c := d.Header.Get("WWW-Authenticate"); d.Status != http.StatusUnauthorized || !strings.Contains(c, `scope="read", acr_values="mfa"`) {
		t.Errorf("with a required scope: %d %s", d.Status, c)
	}
}

// TestSessionKeepsAMR: the session cookie carries amr and acr, and a
// refresh whose ID token says nothing of how the user signed in keeps
// them, while one that says takes its word.
func TestSessionKeepsAMR(t *testing.T) {
	p := newMFAIdP(t)
	g := newMFAGateway(t, p, true, nil)
	ctx := context.Background()
	old := &session{ID: "s1", Issuer: mfaIssuer, Host: "app.example", Subject: "erin", AMR: []string{"pwd", "hwk", "mfa"}, ACR: "mfa", Refresh: "rt", Until: time.Now().Add(time.Hour).Unix()}

	// The cookie round trip.
	name := g.cookieName(&Request{Scheme: "https"})
	v, err := g.cookies.Encode(name, old)
	if err != nil {
		t.Fatal(err)
	}
	var back session
	if err := g.cookies.Decode(name, v, &back); err != nil || !slices.Equal(back.AMR, old.AMR) || back.ACR != "mfa" {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	if id := back.identity(); !slices.Equal(id.AMR, old.AMR) || id.ACR != "mfa" || !id.HasMFA() {
		t.Errorf("identity %+v", id.Identity)
	}

	p.next(map[string]any{"sub": "erin"})
	fresh, err := g.refresh(ctx, old, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fresh.AMR, old.AMR) || fresh.ACR != "mfa" {
		t.Errorf("refreshed without amr: %q %q", fresh.AMR, fresh.ACR)
	}
	p.next(map[string]any{"sub": "erin", "amr": []string{"pwd"}})
	if fresh, err = g.refresh(ctx, old, time.Now()); err != nil || !slices.Equal(fresh.AMR, []string{"pwd"}) || fresh.ACR != "" {
		t.Errorf("refreshed with amr pwd: %+v %v", fresh, err)
	}
	if p.grants[0] != "refresh_token" {
		t.Errorf("grants %v", p.grants)
	}
}

// TestIdentityFromClaimsAMR: amr as a list (or, leniently, a single
// string) and acr as a string; anything else counts as none.
func TestIdentityFromClaimsAMR(t *testing.T) {
	for _, tt := range []struct {
		claims map[string]any
		amr    []string
		acr    string
	}{
		{map[string]any{"amr": []any{"pwd", "otp", "mfa"}, "acr": "mfa"}, []string{"pwd", "otp", "mfa"}, "mfa"},
		{map[string]any{"amr": "mfa"}, []string{"mfa"}, ""},
		{map[string]any{"amr": []any{"pwd", 7.0, nil}, "acr": 2.0}, []string{"pwd"}, ""},
		{map[string]any{}, nil, ""},
	} {
		id := IdentityFromClaims(tt.claims, AuthBearer)
		if !slices.Equal(id.AMR, tt.amr) || id.ACR != tt.acr {
			t.Errorf("%v: amr %q acr %q", tt.claims, id.AMR, id.ACR)
		}
	}
}

// TestStepUpMCP: on an MCP route, a token without the second factor gets
// the RFC 9470 401 for a tool call too, not a JSON-RPC error, and one
// with it reaches the tool.
func TestStepUpMCP(t *testing.T) {
	g := newMFAGateway(t, newMFAIdP(t), true, nil)
	g.cfg.MCP, g.cfg.MCPMaxBody = true, DefaultMCPMaxBody
	call := func(tok string) Decision {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy"}}`
		r := mfaRequest("POST", "/mcp", "Authorization", "Bearer "+tok, "Content-Type", "application/json", "Accept", "application/json, text/event-stream")
		r.Body, r.ContentLength = strings.NewReader(body), int64(len(body))
		return g.Decide(context.Background(), r)
	}
	d := call("pwd-token")
	if d.Allowed || d.Status != http.StatusUnauthorized {
		t.Fatalf("without mfa: %d %s", d.Status, d.Body)
	}
	checkStepUpChallenge(t, "tools/call", d)
	if d := call("mfa-token"); !d.Allowed || d.Identity.Subject != "erin" {
		t.Errorf("with mfa: %d %s", d.Status, d.Body)
	}
}
