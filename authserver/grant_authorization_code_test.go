package authserver

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// signinAllScopes are app's scopes, which the code grant tests approve
// once.
var signinAllScopes = []string{"openid", "profile", "email", "groups", "offline_access", "read"}

// TestAuthorizationCodeGrant: a code buys an access token for its user,
// client, scope and audience, a refresh token when the client may have
// one (offline_access or IssueRefreshTokens), and an ID token for openid,
// in a response that is never cached (RFC 6749 §5.1). The redirect URI
// must be repeated only if the request sent one; PKCE is bound as the
// request said.
func TestAuthorizationCodeGrant(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.browser()
	b.codeFlow(e.appConfig(signinAllScopes...)) // remembers consent for app
	spa := []string{"client_id", "spa", "redirect_uri", "-", "scope", "-"}
	b.consent(b.get(signinAuthorizeURL(spa...)), "approve", true)
	b.consent(b.get(signinAuthorizeURL("client_id", "plain")), "approve", true)
	plainVerifier := oauth2.GenerateVerifier()
	webapp := []string{"client_id", "webapp", "redirect_uri", "https://webapp.example/cb", "code_challenge", "-", "code_challenge_method", "-"}
	for _, tt := range []struct {
		name       string
		authorize  []string // changes to app's request for openid
		token      []string // changes to app's token request
		user, pass string
		advance    time.Duration
		scope      string
		refresh    bool
		id         bool
		client     string   // app unless set
		aud        []string // the issuer unless set
	}{
		{name: "openid offline_access", authorize: []string{"scope", "openid offline_access"}, scope: "openid offline_access", refresh: true, id: true},
		{name: "openid", scope: "openid", id: true},
		{name: "no openid", authorize: []string{"scope", "read"}, scope: "read"},
		{name: "no scope: all the client's", authorize: []string{"scope", "-"}, scope: strings.Join(signinAllScopes, " "), refresh: true, id: true},
		{name: "just before the code expires", advance: codeLifetime - time.Second, scope: "openid", id: true},
		{name: "confidential client without PKCE", authorize: webapp, token: []string{"client_id", "-", "code_verifier", "-", "redirect_uri", "https://webapp.example/cb"},
			user: "webapp", pass: "webapp-secret", client: "webapp", scope: "openid", refresh: true, id: true},
		{name: "resource", authorize: []string{"client_id", "strict", "redirect_uri", "https://strict.example/cb", "resource", "https://api.example.com"},
			token: []string{"client_id", "-", "redirect_uri", "https://strict.example/cb"}, user: "strict", pass: "strict-secret",
			client: "strict", scope: "openid", id: true, aud: []string{"https://api.example.com"}},
		{name: "no resource: all the client's audiences", authorize: []string{"client_id", "strict", "redirect_uri", "https://strict.example/cb"},
			token: []string{"client_id", "-", "redirect_uri", "https://strict.example/cb"}, user: "strict", pass: "strict-secret",
			client: "strict", scope: "openid", id: true, aud: []string{"https://api.example.com", "https://other.example.com"}},
		{name: "plain PKCE", authorize: []string{"client_id", "plain", "code_challenge", plainVerifier, "code_challenge_method", "plain"},
			token: []string{"client_id", "plain", "code_verifier", plainVerifier}, client: "plain", scope: "openid", id: true},
		{name: "redirect_uri left out of both", authorize: spa, token: []string{"client_id", "spa", "redirect_uri", "-"}, client: "spa"},
		{name: "redirect_uri only at the token endpoint", authorize: spa, token: []string{"client_id", "spa"}, client: "spa"},
	} {
		code, verifier := e.signinCode(b, tt.authorize...)
		e.clock.Advance(tt.advance)
		f := signinRedeemForm(code, verifier)
		for i := 0; i+1 < len(tt.token); i += 2 {
			if tt.token[i+1] == "-" {
				f.Del(tt.token[i])
			} else {
				f.Set(tt.token[i], tt.token[i+1])
			}
		}
		r := e.postForm("/token", f, tt.user, tt.pass)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: %d %s %v", tt.name, r.status, r.body, r.header)
			continue
		}
		m := r.json(t)
		rt, _ := m["refresh_token"].(string)
		if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || (m["scope"] != tt.scope && tt.scope != "") ||
			(rt != "") != tt.refresh || (m["id_token"] != nil) != tt.id || (rt != "" && !strings.HasPrefix(rt, "ag_rt_")) {
			t.Errorf("%s: token response = %v", tt.name, m)
		}
		info, err := e.srv.VerifyAccessToken(context.Background(), m["access_token"].(string))
		if err != nil {
			t.Errorf("%s: the access token: %v", tt.name, err)
			continue
		}
		client, aud := tt.client, tt.aud
		if client == "" {
			client = "app"
		}
		if aud == nil {
			aud = []string{e.issuer}
		}
		if info.Claims.Subject != "alice" || info.Claims.ClientID != client || !slices.Equal([]string(info.Claims.Audience), aud) ||
			info.User == nil || info.User.Username != "alice" {
			t.Errorf("%s: access token claims = %+v", tt.name, info.Claims)
		}
	}
}

// TestAuthorizationCodeGrantErrors: the code is bound to its client,
// redirect URI and PKCE verifier and expires after codeLifetime on the
// clock; each failure has its RFC 6749 §5.2 / RFC 7636 §4.6 code.
func TestAuthorizationCodeGrantErrors(t *testing.T) {
	e := signinEnv(t, nil)
	b := e.signinSignedIn()
	webapp := []string{"client_id", "webapp", "redirect_uri", "https://webapp.example/cb", "code_challenge", "-", "code_challenge_method", "-"}
	for _, tt := range []struct {
		name       string
		authorize  []string
		mutate     func(f url.Values)
		user, pass string
		advance    time.Duration
		status     int
		code       string
	}{
		{name: "wrong verifier", mutate: func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, code: codeInvalidGrant},
		{name: "missing verifier", mutate: func(f url.Values) { f.Del("code_verifier") }, code: codeInvalidRequest},
		{name: "malformed verifier", mutate: func(f url.Values) { f.Set("code_verifier", "short") }, code: codeInvalidRequest},
		{name: "verifier with bad characters", mutate: func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 42)+"+") }, code: codeInvalidRequest},
		{name: "the challenge as verifier", mutate: func(f url.Values) { f.Set("code_verifier", oauth2.S256ChallengeFromVerifier(f.Get("code_verifier"))) },
			code: codeInvalidGrant},
		{name: "other redirect", mutate: func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1/native") }, code: codeInvalidGrant},
		{name: "redirect left out", mutate: func(f url.Values) { f.Del("redirect_uri") }, code: codeInvalidGrant},
		{name: "other public client", mutate: func(f url.Values) { f.Set("client_id", "pushy") }, code: codeInvalidGrant},
		{name: "other confidential client", mutate: func(f url.Values) { f.Del("client_id") }, user: "webapp", pass: "webapp-secret", code: codeInvalidGrant},
		{name: "client without the grant", mutate: func(f url.Values) { f.Set("client_id", "tv") }, code: codeUnauthorizedClient},
		{name: "no client", mutate: func(f url.Values) { f.Del("client_id") }, status: http.StatusUnauthorized, code: codeInvalidClient},
		{name: "expired", advance: codeLifetime, code: codeInvalidGrant},
		{name: "no code", mutate: func(f url.Values) { f.Del("code") }, code: codeInvalidRequest},
		{name: "unregistered code", mutate: func(f url.Values) { f.Set("code", "ag_ac_nothing") }, code: codeInvalidGrant},
		{name: "verifier for a code without challenge (RFC 9700 §4.8.2)", authorize: webapp, user: "webapp", pass: "webapp-secret",
			mutate: func(f url.Values) { f.Del("client_id"); f.Set("redirect_uri", "https://webapp.example/cb") }, code: codeInvalidGrant},
	} {
		code, verifier := e.signinCode(b, tt.authorize...)
		e.clock.Advance(tt.advance)
		f := signinRedeemForm(code, verifier)
		if tt.mutate != nil {
			tt.mutate(f)
		}
		r := e.postForm("/token", f, tt.user, tt.pass)
		status := tt.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		if r.status != status || r.errorCode(t) != tt.code || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s; want %d %s", tt.name, r.status, r.body, status, tt.code)
		}
	}
}

// TestAuthorizationCodeReplay: a code is single use; redeeming it again
// fails and revokes everything issued from it, including tokens from
// refreshing (RFC 6749 §4.1.2).
func TestAuthorizationCodeReplay(t *testing.T) {
	e := signinEnv(t, nil)
	cfg := e.appConfig("openid", "offline_access")
	code, verifier := e.browser().codeFlow(cfg)
	tok, err := exchange(t, cfg, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	refreshed := e.signinRefresh("app", tok.RefreshToken, "")
	if refreshed.status != http.StatusOK {
		t.Fatalf("refresh: %s", refreshed.body)
	}
	rotated := refreshed.json(t)
	r := e.signinToken(signinRedeemForm(code, verifier))
	if r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
		t.Fatalf("replayed code: %d %s; want invalid_grant", r.status, r.body)
	}
	for name, tokn := range map[string]string{
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken,
		"rotated access token": rotated["access_token"].(string), "rotated refresh token": rotated["refresh_token"].(string),
	} {
		if e.signinActive(tokn) {
			t.Errorf("the %s of a replayed code is still active", name)
		}
	}
}

// TestAuthorizationCodeDisabledUser: a code of a user disabled since
// signing in buys nothing.
func TestAuthorizationCodeDisabledUser(t *testing.T) {
	e := signinEnv(t, nil)
	code, verifier := e.signinCode(e.signinSignedIn())
	rs := e.signinRestart(func(c *Config) { c.Users = signinDisabled(t) })
	if r := rs.postForm("/token", signinRedeemForm(code, verifier), "", ""); r.status != http.StatusBadRequest || r.errorCode(t) != codeInvalidGrant {
		t.Errorf("a disabled user's code: %d %s", r.status, r.body)
	}
}
