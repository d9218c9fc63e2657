package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// TestPARPush: a pushed request is answered 201 with a one-time
// request_uri of this server and its lifetime, not cached (RFC 9126
// §2.2); a confidential client authenticates, and its secret is not kept
// with the request.
func TestPARPush(t *testing.T) {
	e := signinEnv(t, nil)
	for _, tt := range []struct {
		name       string
		form       url.Values
		user, pass string
	}{
		{"public client", url.Values{"client_id": {"pushy"}, "redirect_uri": {signinRedirect}}, "", ""},
		{"client_secret_basic", url.Values{"redirect_uri": {"https://webapp.example/cb"}}, "webapp", "webapp-secret"},
		{"client_secret_post", url.Values{"client_id": {"webapp"}, "client_secret": {"webapp-secret"}, "redirect_uri": {"https://webapp.example/cb"}}, "", ""},
	} {
		f := url.Values{"response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		for k, v := range tt.form {
			f[k] = v
		}
		r := e.postForm("/par", f, tt.user, tt.pass)
		if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s", tt.name, r.status, r.body)
		}
		m := r.json(t)
		uri, _ := m["request_uri"].(string)
		ref, ok := strings.CutPrefix(uri, "urn:ietf:params:oauth:request_uri:")
		if !ok || len(ref) < 40 || m["expires_in"] != float64(60) {
			t.Errorf("%s: %v", tt.name, m)
		}
		rec, err := e.store.GetToken(context.Background(), store.PushedRequest, hashID(ref))
		if err != nil {
			t.Fatalf("%s: the pushed request is not stored: %v", tt.name, err)
		}
		if strings.Contains(string(rec.Data), "webapp-secret") || strings.Contains(string(rec.Data), "client_secret") {
			t.Errorf("%s: the client's secret is kept with the request: %s", tt.name, rec.Data)
		}
	}
}

// TestPARErrors: PAR checks a request as /authorize would and answers in
// JSON with the RFC 6749 §5.2 / RFC 9126 §2.3 error code and status; the
// client authenticates as at the token endpoint.
func TestPARErrors(t *testing.T) {
	e := signinEnv(t, nil)
	valid := func(changes ...string) url.Values {
		f := url.Values{"client_id": {"pushy"}, "response_type": {"code"}, "redirect_uri": {signinRedirect}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(changes); i += 2 {
			if changes[i+1] == "-" {
				f.Del(changes[i])
			} else {
				f.Set(changes[i], changes[i+1])
			}
		}
		return f
	}
	for _, tt := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{name: "bad redirect", form: valid("redirect_uri", "https://evil.example/"), status: 400, code: codeInvalidRequest},
		{name: "no redirect in an OpenID request", form: valid("redirect_uri", "-"), status: 400, code: codeInvalidRequest},
		{name: "pushing a request_uri", form: valid("request_uri", parRequestURIPrefix+"x"), status: 400, code: codeInvalidRequest},
		{name: "implicit", form: valid("response_type", "token"), status: 400, code: codeUnsupportedResponseType},
		{name: "scope not allowed", form: valid("scope", "openid admin"), status: 400, code: codeInvalidScope},
		{name: "resource not allowed", form: valid("resource", "https://evil.example"), status: 400, code: codeInvalidTarget},
		{name: "no PKCE", form: valid("code_challenge", "-", "code_challenge_method", "-"), status: 400, code: codeInvalidRequest},
		{name: "plain PKCE", form: valid("code_challenge_method", "plain"), status: 400, code: codeInvalidRequest},
		{name: "request object", form: valid("request", "eyJ.x.y"), status: 400, code: "request_not_supported"},
		{name: "bad prompt", form: valid("prompt", "sideways"), status: 400, code: codeInvalidRequest},
		{name: "client without the code grant", form: valid("client_id", "nocode", "scope", "-"), status: 400, code: codeUnauthorizedClient},
		{name: "unknown client", form: valid("client_id", "nobody"), status: 401, code: codeInvalidClient},
		{name: "no client", form: valid("client_id", "-"), status: 401, code: codeInvalidClient},
		{name: "wrong secret", form: valid("client_id", "-", "redirect_uri", "https://webapp.example/cb"), user: "webapp", pass: "nope",
			status: 401, code: codeInvalidClient},
		{name: "confidential client without its secret", form: valid("client_id", "webapp", "redirect_uri", "https://webapp.example/cb"),
			status: 401, code: codeInvalidClient},
		{name: "client_id differs from Basic", form: valid("redirect_uri", "https://webapp.example/cb"), user: "webapp", pass: "webapp-secret",
			status: 400, code: codeInvalidRequest},
	} {
		r := e.postForm("/par", tt.form, tt.user, tt.pass)
		if r.status != tt.status || r.errorCode(t) != tt.code || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s; want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}

	// Repeated parameters, another content type and GET are refused too.
	req, _ := http.NewRequest(http.MethodPost, e.url("/par"), strings.NewReader(valid().Encode()+"&scope=openid"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := e.do(nil, req); r.status != 400 || r.errorCode(t) != codeInvalidRequest {
		t.Errorf("a repeated parameter: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPost, e.url("/par"), strings.NewReader(valid().Encode()))
	req.Header.Set("Content-Type", "application/json")
	if r := e.do(nil, req); r.status != 400 || r.errorCode(t) != codeInvalidRequest {
		t.Errorf("another content type: %d %s", r.status, r.body)
	}
	if r := e.get("/par?"+valid().Encode(), nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /par: %d %v", r.status, r.header)
	}
}
