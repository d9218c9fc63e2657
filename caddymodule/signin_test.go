package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// TestCodeFlow signs in, consents, exchanges the code with PKCE through
// golang.org/x/oauth2, verifies the ID token with go-oidc, calls userinfo,
// refreshes, and signs out.
func TestCodeFlow(t *testing.T) {
	tc := startCaddy(t, signinClients)
	b := newBrowser(tc)
	cfg := tc.appConfig("openid", "profile", "email", "groups", "offline_access")
	code, verifier := b.codeFlow(cfg, oidcNonce("n-123"))
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("token = %+v; want refresh and ID tokens", tok)
	}
	id := tc.verifyIDToken(tok.Extra("id_token").(string), "app")
	var claims struct {
		Nonce    string   `json:"nonce"`
		AuthTime int64    `json:"auth_time"`
		AZP      string   `json:"azp"`
		Email    string   `json:"email"`
		Name     string   `json:"name"`
		Groups   []string `json:"groups"`
		AMR      []string `json:"amr"`
	}
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice" || claims.Nonce != "n-123" || claims.AZP != "app" || claims.AuthTime == 0 ||
		claims.Email != "alice@example.com" || claims.Name != "Alice Liddell" || !slices.Equal(claims.Groups, []string{"users", "admins"}) {
		t.Errorf("ID token claims = %+v (sub %s)", claims, id.Subject)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	// userinfo with the access token.
	req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	info := do(t, req).json(t)
	if info["sub"] != "alice" || info["email"] != "alice@example.com" || info["preferred_username"] != "alice" {
		t.Errorf("userinfo = %v", info)
	}

	// Refresh: a new pair, the old refresh token is spent.
	old := tok.RefreshToken
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == old || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", fresh)
	}
	if !tc.active(fresh.AccessToken) || tc.active(old) {
		t.Error("after refresh the new access token must be active and the old refresh token spent")
	}

	// RP-initiated logout with id_token_hint returns to the client with state.
	r := b.get("/logout?" + url.Values{
		"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/bye"}, "state": {"s1"},
	}.Encode())
	if q := callback(t, tc, r, "http://127.0.0.1:9999/bye"); q.Get("state") != "s1" {
		t.Errorf("logout returned %v", q)
	}
	// Signed out: prompt=none now fails with login_required.
	r = b.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	if q := callback(t, tc, r, cfg.RedirectURL); q.Get("error") != "login_required" || q.Get("state") != "s2" {
		t.Errorf("after logout prompt=none gave %v", q)
	}
}

func oidcNonce(n string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("nonce", n) }

// TestCodeReplay redeems a code twice: the second fails and revokes the
// tokens the first issued.
func TestCodeReplay(t *testing.T) {
	tc := startCaddy(t, signinClients)
	b := newBrowser(tc)
	cfg := tc.appConfig("openid", "offline_access")
	code, verifier := b.codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	_, err = exchange(t, cfg, code, verifier)
	if !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed code: err = %v; want invalid_grant", err)
	}
	if tc.active(tok.AccessToken) || tc.active(tok.RefreshToken) {
		t.Error("tokens from a replayed code are still active")
	}
}

// TestRefreshReuse uses a rotated refresh token again: the family dies.
func TestRefreshReuse(t *testing.T) {
	tc := startCaddy(t, signinClients)
	cfg := tc.appConfig("openid", "offline_access", "read")
	code, verifier := newBrowser(tc).codeFlow(cfg)
	tok, _ := exchange(t, cfg, code, verifier)
	first := tok.RefreshToken
	second := refresh(t, tc, "app", first, "")
	if second["refresh_token"] == nil {
		t.Fatalf("refresh = %v", second)
	}
	// Narrowing works; widening does not.
	narrow := refresh(t, tc, "app", second["refresh_token"].(string), "openid")
	if narrow["scope"] != "openid" {
		t.Errorf("narrowed scope = %v", narrow["scope"])
	}
	// The rotated refresh token keeps the grant's whole scope (RFC 6749 §6).
	back := refresh(t, tc, "app", narrow["refresh_token"].(string), "openid read")
	if back["scope"] != "openid read" {
		t.Errorf("after narrowing once, the grant's scope = %v", back)
	}
	if wide := refresh(t, tc, "app", back["refresh_token"].(string), "openid profile"); wide["error"] != "invalid_scope" {
		t.Errorf("widening: %v; want invalid_scope", wide)
	}
	if reuse := refresh(t, tc, "app", first, ""); reuse["error"] != "invalid_grant" {
		t.Fatalf("reusing a rotated refresh token: %v; want invalid_grant", reuse)
	}
	for _, tokn := range []string{tok.AccessToken, second["access_token"].(string), back["access_token"].(string)} {
		if tc.active(tokn) {
			t.Error("a token of the family survived the reuse of a rotated refresh token")
		}
	}
	// A refresh token of one client is useless to another.
	code, verifier = newBrowser(tc).codeFlow(cfg)
	tok, _ = exchange(t, cfg, code, verifier)
	r := tc.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "webapp", "webapp-secret")
	if r.json(t)["error"] != "invalid_grant" {
		t.Errorf("another client's refresh token: %s", r.body)
	}
}

func refresh(t *testing.T, tc *testCaddy, client, rt, scope string) map[string]any {
	t.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return tc.postForm("/token", f, "", "").json(t)
}

func isOAuthError(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

// TestAuthorizeErrors covers the authorization endpoint's refusals: the
// unsafe ones on a page, the others by redirect with state and iss.
func TestAuthorizeErrors(t *testing.T) {
	tc := startCaddy(t, signinClients)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{
		"client_id": {"app"}, "redirect_uri": {"http://127.0.0.1:9999/cb"}, "response_type": {"code"},
		"state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"openid"},
	}
	with := func(changes ...string) string {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		for i := 0; i+1 < len(changes); i += 2 {
			if changes[i+1] == "-" {
				q.Del(changes[i])
			} else {
				q.Set(changes[i], changes[i+1])
			}
		}
		return "/authorize?" + q.Encode()
	}
	pages := map[string]string{
		"unknown client":          with("client_id", "nobody"),
		"no client":               with("client_id", "-"),
		"redirect mismatch":       with("redirect_uri", "http://127.0.0.1:9999/other"),
		"redirect to evil":        with("redirect_uri", "https://evil.example/cb"),
		"redirect with more path": with("redirect_uri", "http://127.0.0.1:9999/cb/x"),
		"repeated client_id":      "/authorize?client_id=app&client_id=app&response_type=code",
		"bad request_uri":         with("request_uri", "urn:ietf:params:oauth:request_uri:nope"),
	}
	b := newBrowser(tc)
	for name, u := range pages {
		r := b.get(u)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "Something went wrong") {
			t.Errorf("%s: %d %s; want an error page, never a redirect", name, r.status, r.header.Get("Location"))
		}
		if r.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: the error page lacks anti-framing headers", name)
		}
	}
	redirects := map[string]struct{ url, code string }{
		"no response_type":        {with("response_type", "-"), "invalid_request"},
		"implicit":                {with("response_type", "token"), "unsupported_response_type"},
		"no PKCE (public client)": {with("code_challenge", "-", "code_challenge_method", "-"), "invalid_request"},
		"plain PKCE":              {with("code_challenge_method", "plain"), "invalid_request"},
		"short challenge":         {with("code_challenge", "abc"), "invalid_request"},
		"scope not allowed":       {with("scope", "openid admin"), "invalid_scope"},
		"resource not allowed":    {with("resource", "https://evil.example"), "invalid_target"},
		"bad prompt":              {with("prompt", "sideways"), "invalid_request"},
		"prompt none and login":   {with("prompt", "none login"), "invalid_request"},
		"bad max_age":             {with("max_age", "-1"), "invalid_request"},
		"prompt=none, no session": {with("prompt", "none"), "login_required"},
		"repeated scope":          {with() + "&scope=openid", "invalid_request"},
		"request object":          {with("request", "eyJ.x.y"), "request_not_supported"},
	}
	for name, tt := range redirects {
		q := callback(t, tc, b.get(tt.url), "http://127.0.0.1:9999/cb")
		if q.Get("error") != tt.code || q.Get("state") != "xyz" || q.Get("error_description") == "" {
			t.Errorf("%s: callback %v; want error %s with state", name, q, tt.code)
		}
	}
	// A native app's loopback redirect may use any port (RFC 8252 §7.3).
	r := b.get(with("redirect_uri", "http://127.0.0.1:51234/native"))
	if !strings.Contains(string(r.body), `name="password"`) {
		t.Errorf("loopback redirect with another port: %d", r.status)
	}
	// A client that must use PAR cannot go straight to /authorize.
	q := callback(t, tc, b.get("/authorize?client_id=pushy&response_type=code&redirect_uri=http://127.0.0.1:9999/cb&state=p&code_challenge="+challenge+"&code_challenge_method=S256"), "http://127.0.0.1:9999/cb")
	if q.Get("error") != "invalid_request" {
		t.Errorf("pushy without PAR: %v", q)
	}
}

// TestPKCEAndRedirectAtToken: the code is bound to its verifier, redirect
// URI and client.
func TestPKCEAndRedirectAtToken(t *testing.T) {
	tc := startCaddy(t, signinClients)
	cfg := tc.appConfig("openid")
	b := newBrowser(tc)
	for name, tt := range map[string]struct {
		mutate func(f url.Values)
		code   string
	}{
		"wrong verifier":    {func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, "invalid_grant"},
		"missing verifier":  {func(f url.Values) { f.Del("code_verifier") }, "invalid_request"},
		"malformed":         {func(f url.Values) { f.Set("code_verifier", "short") }, "invalid_request"},
		"other redirect":    {func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1/native") }, "invalid_grant"},
		"other client":      {func(f url.Values) { f.Set("client_id", "pushy") }, "invalid_grant"},
		"expired":           {nil, "invalid_grant"},
		"no code":           {func(f url.Values) { f.Del("code") }, "invalid_request"},
		"unregistered code": {func(f url.Values) { f.Set("code", "ag_ac_nothing") }, "invalid_grant"},
	} {
		code, verifier := b.codeFlow(cfg)
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"client_id": {"app"}, "redirect_uri": {cfg.RedirectURL}}
		if tt.mutate != nil {
			tt.mutate(f)
		} else {
			expire(t, store.AuthorizationCode, code)
		}
		if got := tc.postForm("/token", f, "", "").json(t); got["error"] != tt.code {
			t.Errorf("%s: %v; want %s", name, got, tt.code)
		}
	}
}

// TestSignInPages: CSRF, wrong passwords, disabled users, the rate limit,
// consent memory and denial, prompt=login and max_age.
func TestSignInPages(t *testing.T) {
	tc := startCaddy(t, signinClients+`
		login_limit 3 1m`)
	cfg := tc.appConfig("openid", "profile")
	b := newBrowser(tc)
	login := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if login.header.Get("X-Frame-Options") != "DENY" || login.header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(login.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("sign-in page headers = %v", login.header)
	}

	// CSRF: a token from another browser, or none, is refused.
	f := fields(login)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	other := newBrowser(tc)
	if r := other.post("/login", f); r.status != http.StatusForbidden {
		t.Errorf("sign-in without the CSRF cookie: %d", r.status)
	}
	f.Set("csrf_token", "forged")
	if r := b.post("/login", f); r.status != http.StatusForbidden {
		t.Errorf("sign-in with a forged CSRF token: %d", r.status)
	}

	// Wrong password and a disabled user look the same.
	for _, who := range [][2]string{{"alice", "nope"}, {"bob", alicePassword}} {
		r := b.signIn(login, who[0], who[1])
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "Wrong username or password") {
			t.Errorf("%s: %d", who[0], r.status)
		}
	}
	// The third failure for alice blocks her, with a clear message, even
	// with the right password.
	b.signIn(login, "alice", "nope")
	b.signIn(login, "alice", "nope")
	r := b.signIn(login, "alice", alicePassword)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Too many failed sign-in attempts") {
		t.Fatalf("rate limit: %d %s", r.status, r.body)
	}

	// Consent: deny sends access_denied; approve with remember is asked once.
	tc.reload(signinClients) // a new config has new limits
	b = newBrowser(tc)
	r = b.signIn(b.get(cfg.AuthCodeURL("d", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", alicePassword)
	if !strings.Contains(string(r.body), "Alice") && !strings.Contains(string(r.body), "alice") {
		t.Errorf("the consent page does not say who is signed in")
	}
	if q := callback(t, tc, b.consent(r, "deny", false), cfg.RedirectURL); q.Get("error") != "access_denied" || q.Get("state") != "d" {
		t.Errorf("deny: %v", q)
	}
	b.codeFlow(cfg) // asks consent, remembers it
	r = b.get(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if q := callback(t, tc, r, cfg.RedirectURL); q.Get("code") == "" {
		t.Errorf("a remembered consent was asked again")
	}
	// prompt=consent asks anyway; prompt=login and max_age=0 ask for the password.
	if r := b.get(cfg.AuthCodeURL("c", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent"))); !isPage(r, "Allow access?") {
		t.Errorf("prompt=consent: %d", r.status)
	}
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		time.Sleep(1100 * time.Millisecond) // auth_time has one-second resolution
		r := b.get(cfg.AuthCodeURL("l", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), opt))
		if !strings.Contains(string(r.body), `name="password"`) {
			t.Fatalf("prompt=login / max_age=0 did not ask for the password: %d", r.status)
		}
		if q := callback(t, tc, b.signIn(r, "alice", alicePassword), cfg.RedirectURL); q.Get("code") == "" {
			t.Errorf("after signing in again: %v", q)
		}
	}
	// A first-party client skips consent; a confidential one authenticates.
	web := &oauth2.Config{ClientID: "webapp", ClientSecret: "webapp-secret", RedirectURL: "https://webapp.example/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: tc.issuer + "/authorize", TokenURL: tc.issuer + "/token"}}
	code, verifier := b.codeFlow(web)
	tok, err := exchange(t, web, code, verifier)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("first-party client: %v %+v; want a refresh token (issue_refresh_tokens)", err, tok)
	}
	// A user disabled after sign-in loses the refresh token, and her access
	// tokens introspect inactive.
	tc.reload(strings.Replace(signinClients, "user alice {", "user alice {\n\t\t\tdisabled", 1))
	if tc.active(tok.AccessToken) {
		t.Error("a disabled user's access token introspects active")
	}
	if r := tc.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "webapp", "webapp-secret"); r.json(t)["error"] != "invalid_grant" {
		t.Errorf("refresh for a disabled user: %s", r.body)
	}
}

// TestPAR pushes a request, uses it once, and refuses reuse and expiry.
func TestPAR(t *testing.T) {
	tc := startCaddy(t, signinClients)
	verifier := oauth2.GenerateVerifier()
	push := func() string {
		r := tc.postForm("/par", url.Values{
			"client_id": {"pushy"}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
			"scope": {"openid"}, "state": {"par-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"},
		}, "", "")
		m := r.json(t)
		if r.status != http.StatusCreated || m["expires_in"] != float64(60) || !strings.HasPrefix(m["request_uri"].(string), "urn:ietf:params:oauth:request_uri:") {
			t.Fatalf("PAR: %d %v", r.status, m)
		}
		return m["request_uri"].(string)
	}
	uri := push()
	b := newBrowser(tc)
	at := "/authorize?" + url.Values{"client_id": {"pushy"}, "request_uri": {uri}}.Encode()
	r := b.consent(b.signIn(b.get(at), "alice", alicePassword), "approve", false)
	q := callback(t, tc, r, "http://127.0.0.1:9999/cb")
	if q.Get("state") != "par-state" || q.Get("code") == "" {
		t.Fatalf("PAR flow callback: %v", q)
	}
	if r := b.get(at); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Errorf("reusing a request_uri: %d", r.status)
	}
	uri = push()
	expire(t, store.PushedRequest, strings.TrimPrefix(uri, "urn:ietf:params:oauth:request_uri:"))
	if r := b.get("/authorize?" + url.Values{"client_id": {"pushy"}, "request_uri": {uri}}.Encode()); r.status != http.StatusBadRequest {
		t.Errorf("an expired request_uri: %d", r.status)
	}
	uri = push()
	if r := b.get("/authorize?" + url.Values{"client_id": {"app"}, "request_uri": {uri}}.Encode()); r.status != http.StatusBadRequest {
		t.Errorf("another client's request_uri: %d", r.status)
	}
	// PAR validates like /authorize, answering in JSON.
	bad := tc.postForm("/par", url.Values{"client_id": {"pushy"}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/"}}, "", "")
	if bad.status != http.StatusBadRequest || bad.json(t)["error"] != "invalid_request" {
		t.Errorf("PAR with a bad redirect: %d %s", bad.status, bad.body)
	}
	if r := tc.postForm("/par", url.Values{"client_id": {"pushy"}, "request_uri": {uri}}, "", ""); r.json(t)["error"] != "invalid_request" {
		t.Errorf("pushing a request_uri: %s", r.body)
	}
}

// TestUserInfoErrors covers RFC 6750 §3 answers.
func TestUserInfoErrors(t *testing.T) {
	tc := startCaddy(t, signinClients)
	call := func(auth string) response {
		req, _ := http.NewRequest(http.MethodGet, tc.issuer+"/userinfo", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return do(t, req)
	}
	if r := call(""); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer realm=") || strings.Contains(r.header.Get("WWW-Authenticate"), "error=") {
		t.Errorf("no token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := call("Bearer garbage"); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := call("Basic abc"); r.status != 400 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("wrong scheme: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	cc := tc.token("svc", "svc-secret", nil)
	if r := call("Bearer " + cc); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("a client credentials token (no user): %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	cfg := tc.appConfig("read")
	code, verifier := newBrowser(tc).codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if r := call("Bearer " + tok.AccessToken); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("a user token without openid: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
