package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestAuthorizeErrorPages: a request whose client or redirect URI cannot
// be trusted is answered on an error page, never by a redirect (RFC 6749
// §4.1.2.1), with headers that forbid framing and caching.
func TestAuthorizeErrorPages(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	long := signinAuthorizeURL("nonce", strings.Repeat("n", 17<<10))
	for _, tt := range []struct {
		name   string
		method string // GET unless set
		target string // the URL of a GET, the body of a POST
		ctype  string // the Content-Type of a POST
		status int    // 400 unless set
	}{
		{name: "unknown client", target: signinAuthorizeURL("client_id", "nobody")},
		{name: "no client", target: signinAuthorizeURL("client_id", "-")},
		{name: "redirect mismatch", target: signinAuthorizeURL("redirect_uri", "http://127.0.0.1:9999/other")},
		{name: "redirect to evil", target: signinAuthorizeURL("redirect_uri", "https://evil.example/cb")},
		{name: "redirect with more path", target: signinAuthorizeURL("redirect_uri", "http://127.0.0.1:9999/cb/x")},
		{name: "redirect with a query", target: signinAuthorizeURL("redirect_uri", "http://127.0.0.1:9999/cb?x=1")},
		{name: "redirect on another loopback name", target: signinAuthorizeURL("redirect_uri", "http://localhost:9999/cb")},
		{name: "loopback redirect over https", target: signinAuthorizeURL("redirect_uri", "https://127.0.0.1:9999/cb")},
		{name: "no redirect_uri, two registered", target: signinAuthorizeURL("redirect_uri", "-", "scope", "read")},
		{name: "no redirect_uri in an OpenID request", target: signinAuthorizeURL("client_id", "pushy", "redirect_uri", "-")},
		{name: "repeated client_id", target: "/authorize?client_id=app&client_id=app&response_type=code"},
		{name: "repeated redirect_uri", target: signinAuthorizeURL() + "&redirect_uri=" + url.QueryEscape(signinRedirect)},
		{name: "repeated request_uri", target: "/authorize?client_id=app&request_uri=urn:a&request_uri=urn:b"},
		{name: "oversized query", target: long},
		{name: "malformed query", target: "/authorize?client_id=app&state=%zz"},
		{name: "POST of another content type", method: http.MethodPost, target: "client_id=app", ctype: "text/plain"},
		{name: "POST over the body limit", method: http.MethodPost, target: "client_id=app&nonce=" + strings.Repeat("n", DefaultMaxBodyBytes),
			ctype: "application/x-www-form-urlencoded", status: http.StatusRequestEntityTooLarge},
		{name: "POST with an unknown client", method: http.MethodPost, target: "client_id=nobody&response_type=code",
			ctype: "application/x-www-form-urlencoded"},
	} {
		var r response
		if tt.method == http.MethodPost {
			req, _ := http.NewRequest(http.MethodPost, e.url("/authorize"), strings.NewReader(tt.target))
			req.Header.Set("Content-Type", tt.ctype)
			r = e.do(b.client, req)
		} else {
			r = b.get(tt.target)
		}
		status := tt.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		if why := signinIsErrorPage(r, status); why != "" {
			t.Errorf("%s: %s; want the error page with %d", tt.name, why, status)
		}
	}
}

// TestAuthorizeErrorRedirects: once client and redirect URI are valid,
// every refusal goes back to the client with the RFC 6749 §4.1.2.1 (or
// OIDC Core §3.1.2.6, RFC 8707, RFC 9101) error code, a description, the
// state and iss (RFC 9207), and no code.
func TestAuthorizeErrorRedirects(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	badChallenge := strings.Repeat("a", 42) + "+"
	for _, tt := range []struct {
		name, url, code string
		state           string // "xyz" unless set
	}{
		{name: "no response_type", url: signinAuthorizeURL("response_type", "-"), code: codeInvalidRequest},
		{name: "implicit", url: signinAuthorizeURL("response_type", "token"), code: codeUnsupportedResponseType},
		{name: "hybrid", url: signinAuthorizeURL("response_type", "code id_token"), code: codeUnsupportedResponseType},
		{name: "fragment response mode", url: signinAuthorizeURL("response_mode", "fragment"), code: codeInvalidRequest},
		{name: "no PKCE (public client)", url: signinAuthorizeURL("code_challenge", "-", "code_challenge_method", "-"), code: codeInvalidRequest},
		{name: "no PKCE (client that requires it)", url: signinAuthorizeURL("client_id", "strict", "redirect_uri", "https://strict.example/cb",
			"code_challenge", "-", "code_challenge_method", "-"), code: codeInvalidRequest},
		{name: "method without challenge", url: signinAuthorizeURL("code_challenge", "-"), code: codeInvalidRequest},
		{name: "plain PKCE", url: signinAuthorizeURL("code_challenge_method", "plain"), code: codeInvalidRequest},
		{name: "challenge without method (plain)", url: signinAuthorizeURL("code_challenge_method", "-"), code: codeInvalidRequest},
		{name: "unknown method", url: signinAuthorizeURL("code_challenge_method", "S512"), code: codeInvalidRequest},
		{name: "short challenge", url: signinAuthorizeURL("code_challenge", "abc"), code: codeInvalidRequest},
		{name: "challenge with bad characters", url: signinAuthorizeURL("code_challenge", badChallenge), code: codeInvalidRequest},
		{name: "plain challenge too short", url: signinAuthorizeURL("client_id", "plain", "code_challenge", "abc", "code_challenge_method", "plain"),
			code: codeInvalidRequest},
		{name: "scope not allowed", url: signinAuthorizeURL("scope", "openid admin"), code: codeInvalidScope},
		{name: "scope with bad characters", url: signinAuthorizeURL("scope", `openid "x"`), code: codeInvalidScope},
		{name: "resource not allowed", url: signinAuthorizeURL("resource", "https://evil.example"), code: codeInvalidTarget},
		{name: "relative resource", url: signinAuthorizeURL("resource", "/api"), code: codeInvalidTarget},
		{name: "resource with a fragment", url: signinAuthorizeURL("resource", "https://api.example.com#x"), code: codeInvalidTarget},
		{name: "bad prompt", url: signinAuthorizeURL("prompt", "sideways"), code: codeInvalidRequest},
		{name: "prompt none and login", url: signinAuthorizeURL("prompt", "none login"), code: codeInvalidRequest},
		{name: "negative max_age", url: signinAuthorizeURL("max_age", "-1"), code: codeInvalidRequest},
		{name: "non-numeric max_age", url: signinAuthorizeURL("max_age", "soon"), code: codeInvalidRequest},
		{name: "prompt=none, no session", url: signinAuthorizeURL("prompt", "none"), code: codeLoginRequired},
		{name: "repeated scope", url: signinAuthorizeURL() + "&scope=openid", code: codeInvalidRequest},
		{name: "repeated nonce", url: signinAuthorizeURL("nonce", "a") + "&nonce=b", code: codeInvalidRequest},
		{name: "request object", url: signinAuthorizeURL("request", "eyJ.x.y"), code: "request_not_supported"},
		{name: "nonce too long", url: signinAuthorizeURL("nonce", strings.Repeat("n", 513)), code: codeInvalidRequest},
		{name: "login_hint too long", url: signinAuthorizeURL("login_hint", strings.Repeat("h", 257)), code: codeInvalidRequest},
		{name: "state too long", url: signinAuthorizeURL("state", strings.Repeat("s", 2049)), code: codeInvalidRequest,
			state: strings.Repeat("s", 2049)},
		{name: "client without the code grant", url: signinAuthorizeURL("client_id", "nocode", "scope", "-"), code: codeUnauthorizedClient},
		{name: "client that must push", url: signinAuthorizeURL("client_id", "pushy", "state", "p"), code: codeInvalidRequest, state: "p"},
	} {
		redirect := signinRedirect
		if strings.Contains(tt.url, "client_id=strict") {
			redirect = "https://strict.example/cb"
		}
		q := e.callback(b.get(tt.url), redirect)
		state := tt.state
		if state == "" {
			state = "xyz"
		}
		if q.Get("error") != tt.code || q.Get("state") != state || q.Get("error_description") == "" || q.Has("code") {
			t.Errorf("%s: callback %v; want error %s with a description and state", tt.name, q, tt.code)
		}
	}
}

// TestAuthorizeRequirePAR: with Config.RequirePAR no client may go
// straight to /authorize (RFC 9126 §5); a pushed request still works.
func TestAuthorizeRequirePAR(t *testing.T) {
	e := signinEnv(t, func(c *Config) { c.RequirePAR = true })
	b := e.browser()
	if q := e.callback(b.get(signinAuthorizeURL()), signinRedirect); q.Get("error") != codeInvalidRequest || q.Get("state") != "xyz" {
		t.Errorf("an unpushed request: %v; want invalid_request", q)
	}
	r := e.postForm("/par", signinParams(oauth2.GenerateVerifier()), "", "")
	if r.status != http.StatusCreated {
		t.Fatalf("PAR: %d %s", r.status, r.body)
	}
	uri := r.json(t)["request_uri"].(string)
	if r := b.get("/authorize?" + url.Values{"client_id": {"app"}, "request_uri": {uri}}.Encode()); !isSignInPage(r) {
		t.Errorf("the pushed request: %d %s", r.status, r.body)
	}
}

// TestAuthorizeRedirectURIs: a native app's loopback redirect may use any
// port (RFC 8252 §7.3), and the code goes there; a client with one
// redirect URI may leave it out of a request that is not OpenID.
func TestAuthorizeRedirectURIs(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	for _, tt := range []struct{ name, sent, want string }{
		{"loopback on another port", "http://127.0.0.1:51234/native", "http://127.0.0.1:51234/native"},
		{"loopback without a port", "http://127.0.0.1/native", "http://127.0.0.1/native"},
		{"registered", signinRedirect, signinRedirect},
	} {
		q := e.callback(b.get(signinAuthorizeURL("redirect_uri", tt.sent)), tt.want)
		if q.Get("code") == "" || q.Get("state") != "xyz" {
			t.Errorf("%s: %v", tt.name, q)
		}
	}
	// spa has one redirect URI and no OpenID scope.
	r := e.browser().get(signinAuthorizeURL("client_id", "spa", "redirect_uri", "-", "scope", "-"))
	if !isSignInPage(r) {
		t.Errorf("spa without redirect_uri: %d %s", r.status, r.body)
	}
}

// TestAuthorizePost: a form-encoded POST to /authorize works as a GET
// does (OIDC Core §3.1.2.1).
func TestAuthorizePost(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	body := strings.TrimPrefix(signinAuthorizeURL("state", "post"), "/authorize?")
	req, _ := http.NewRequest(http.MethodPost, e.url("/authorize"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if q := e.callback(e.do(b.client, req), signinRedirect); q.Get("code") == "" || q.Get("state") != "post" {
		t.Errorf("POST /authorize: %v", q)
	}
	// And its errors go back the same way.
	req, _ = http.NewRequest(http.MethodPost, e.url("/authorize"), strings.NewReader(body+"&prompt=sideways"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if q := e.callback(e.do(b.client, req), signinRedirect); q.Get("error") != codeInvalidRequest {
		t.Errorf("POST /authorize with a bad prompt: %v", q)
	}
}

// TestAuthorizePrompts: with a session, prompt and max_age decide whether
// the user signs in again or consents again (OIDC Core §3.1.2.1); signing
// in again then completes the request.
func TestAuthorizePrompts(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn() // at the clock's start
	for _, tt := range []struct {
		name    string
		advance time.Duration // before the request
		params  []string
		want    string // "code", "login", "consent" or an error code
	}{
		{"no prompt", 0, nil, "code"},
		{"prompt=none", 0, []string{"prompt", "none"}, "code"},
		{"select_account", 0, []string{"prompt", "select_account"}, "code"},
		{"prompt=consent", 0, []string{"prompt", "consent"}, "consent"},
		{"prompt=login", time.Second, []string{"prompt", "login"}, "login"},
		{"max_age=0", time.Second, []string{"max_age", "0"}, "login"},
		{"max_age not reached", 30 * time.Second, []string{"max_age", "60"}, "code"},
		{"max_age reached exactly", 30 * time.Second, []string{"max_age", "60"}, "code"},
		{"max_age passed", time.Second, []string{"max_age", "60"}, "login"},
		{"max_age passed with prompt=none", 61 * time.Second, []string{"max_age", "60", "prompt", "none"}, codeLoginRequired},
		{"prompt=none and consent wider than remembered", 0, []string{"prompt", "none", "scope", "openid profile"}, codeConsentRequired},
	} {
		e.clock.Advance(tt.advance)
		r := b.get(signinAuthorizeURL(tt.params...))
		switch tt.want {
		case "login":
			if !isSignInPage(r) {
				t.Fatalf("%s: %d %s; want the sign-in page", tt.name, r.status, r.body)
			}
			// Signing in again completes the request, whatever its max_age.
			if q := e.callback(b.signIn(r, "alice", alicePassword), signinRedirect); q.Get("code") == "" {
				t.Errorf("%s: after signing in again: %v", tt.name, q)
			}
		case "consent":
			if !isPage(r, "Allow access?") {
				t.Errorf("%s: %d %s; want the consent page", tt.name, r.status, r.body)
			}
		case "code":
			if q := e.callback(r, signinRedirect); q.Get("code") == "" || q.Get("state") != "xyz" {
				t.Errorf("%s: %v; want a code", tt.name, q)
			}
		default:
			if q := e.callback(r, signinRedirect); q.Get("error") != tt.want || q.Get("state") != "xyz" {
				t.Errorf("%s: %v; want %s", tt.name, q, tt.want)
			}
		}
	}
}

// TestAuthorizeMaxAgeWithConsent: with max_age=0, signing in and then
// taking time on the consent page still ends with a code: the sign-in was
// for this request.
func TestAuthorizeMaxAgeWithConsent(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	r := b.signIn(b.get(signinAuthorizeURL("scope", "openid email", "max_age", "0")), "alice", alicePassword)
	e.clock.Advance(2 * time.Minute)
	if q := e.callback(b.consent(r, "approve", false), signinRedirect); q.Get("code") == "" {
		t.Errorf("max_age=0 then consent: %v", q)
	}
}

// TestAuthorizeLoginHint: login_hint fills in the username on the sign-in
// page, escaped.
func TestAuthorizeLoginHint(t *testing.T) {
	e := signinEnv(t, nil)
	r := e.browser().get(signinAuthorizeURL("login_hint", `al"ice`))
	if !strings.Contains(string(r.body), `name="username" value="al&#34;ice"`) {
		t.Errorf("the sign-in page does not carry the hint: %s", r.body)
	}
}

// TestAuthorizePendingRequest: a pending request is single use; once it
// got its code it cannot be completed again.
func TestAuthorizePendingRequest(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	login := b.get(signinAuthorizeURL())
	consent := b.signIn(login, "alice", alicePassword)
	if q := e.callback(b.consent(consent, "approve", false), signinRedirect); q.Get("code") == "" {
		t.Fatalf("first completion: %v", q)
	}
	if why := signinIsErrorPage(b.consent(consent, "approve", false), http.StatusBadRequest); why != "" {
		t.Errorf("completing the request again: %s", why)
	}
	if why := signinIsErrorPage(b.signIn(login, "alice", alicePassword), http.StatusBadRequest); why != "" {
		t.Errorf("signing in for the completed request: %s", why)
	}
}

// TestAuthorizeRequestURI: a request_uri from PAR is single use, expires
// after its lifetime on the clock, belongs to the client that pushed it,
// and replaces whatever else the query says (RFC 9126 §4). Its errors are
// pages: the pushed redirect URI is not known until it resolves.
func TestAuthorizeRequestURI(t *testing.T) {
	e := signinEnv(t, nil)
	push := func() string {
		t.Helper()
		r := e.postForm("/par", url.Values{
			"client_id": {"pushy"}, "response_type": {"code"}, "redirect_uri": {signinRedirect},
			"scope": {"openid"}, "state": {"par-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"},
		}, "", "")
		if r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.body)
		}
		return r.json(t)["request_uri"].(string)
	}
	at := func(client, uri string, extra ...string) string {
		q := url.Values{"client_id": {client}, "request_uri": {uri}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return "/authorize?" + q.Encode()
	}
	b := e.browser()
	uri := push()
	// The query's own parameters do not override the pushed ones.
	r := b.consent(b.signIn(b.get(at("pushy", uri, "state", "evil", "redirect_uri", "https://evil.example/cb")), "alice", alicePassword), "approve", false)
	if q := e.callback(r, signinRedirect); q.Get("state") != "par-state" || q.Get("code") == "" {
		t.Fatalf("PAR flow callback: %v", q)
	}
	used := at("pushy", uri)

	expired := push()
	e.clock.Advance(parLifetime)
	for _, tt := range []struct{ name, url string }{
		{"reused", used},
		{"expired", at("pushy", expired)},
		{"another client's", at("app", push())},
		{"unknown", at("pushy", parRequestURIPrefix+"nope")},
		{"not this server's", at("pushy", "https://example.com/request")},
		{"empty reference", at("pushy", parRequestURIPrefix)},
		{"without client_id", "/authorize?" + url.Values{"request_uri": {push()}}.Encode()},
	} {
		if why := signinIsErrorPage(b.get(tt.url), http.StatusBadRequest); why != "" {
			t.Errorf("%s request_uri: %s", tt.name, why)
		}
	}
	// A pushed request works until just before it expires.
	fresh := push()
	e.clock.Advance(parLifetime - time.Second)
	if r := b.get(at("pushy", fresh)); !isPage(r, "Allow access?") {
		t.Errorf("a request_uri within its lifetime: %d %s", r.status, r.body)
	}
}

// TestAuthorizePromptLoginSameSecond: prompt=login asks for the password
// even when the session's sign-in happened in the same second as the
// request, before it: only a sign-in made for the request itself may
// satisfy it (OIDC Core §3.1.2.1).
func TestAuthorizePromptLoginSameSecond(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn() // no clock advance: the same second
	r := b.get(signinAuthorizeURL("prompt", "login"))
	if !isSignInPage(r) {
		t.Fatalf("prompt=login right after an earlier sign-in: %d %s; want the sign-in page", r.status, r.header.Get("Location"))
	}
	if q := e.callback(b.signIn(r, "alice", alicePassword), signinRedirect); q.Get("code") == "" {
		t.Errorf("after signing in again: %v", q)
	}
}
