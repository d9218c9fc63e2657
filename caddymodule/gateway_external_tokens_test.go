package caddymodule

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
)

// TestGatewayExternalOnlyAccessTokens presents an external issuer's JWTs
// as bearer tokens. All are signed with the issuer's key, so only their
// type tells them apart: an ID token (or any JWT not typed at+jwt) is not
// an access token and gets 401 invalid_token, even where its audience is
// one the route accepts (here "gw", the client the ID tokens are for, as
// when an API and a web app share one registration). A route with
// allow_plain_jwt also takes access tokens typed JWT or not typed, but
// never an ID token.
func TestGatewayExternalOnlyAccessTokens(t *testing.T) {
	p := newFakeProvider(t, true)
	_, app := startExternalGateway(t, [][2]string{
		{"/api/*", "accept bearer\nissuer " + p.URL() + "\nrequire audience " + fakeClientID},
		{"/plain/*", "accept bearer\nissuer " + p.URL() + "\nallow_plain_jwt\nrequire audience " + fakeClientID},
	})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	access := map[string]any{"sub": "machine", "aud": app, "client_id": "machine", "scope": "read", "jti": "a1"}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	// An ID token as the provider issues it at sign-in.
	idToken := map[string]any{"sub": "erin", "aud": fakeClientID, "azp": fakeClientID, "nonce": "n-0S6", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "auth_time": 1, "email": "erin@fake.example"}
	idNoNonce := map[string]any{"sub": "erin", "aud": fakeClientID, "azp": fakeClientID, "auth_time": 1, "email": "erin@fake.example"}

	for _, c := range []struct {
		name     string
		token    string
		strict   int // status on the at+jwt-only route
		plain    int // status on the allow_plain_jwt route
		upstream string
	}{
		{"at+jwt access token", p.sign("at+jwt", access), 200, 200, "sub=machine "},
		{"application/AT+JWT, any case", p.sign("application/AT+JWT", access), 200, 200, "client=machine "},
		{"at+jwt for the shared audience", p.sign("at+jwt", with(access, "aud", fakeClientID)), 200, 200, "scopes=read"},
		{"ID token (typ JWT)", p.sign("JWT", idToken), 401, 401, ""},
		{"ID token, no typ", p.sign("", idToken), 401, 401, ""},
		{"ID token without nonce or at_hash", p.sign("JWT", idNoNonce), 401, 401, ""},
		{"ID token with a scope claim but a nonce", p.sign("JWT", with(idToken, "scope", "openid")), 401, 401, ""},
		{"ID token typed at+jwt by its issuer is trusted as one", p.sign("at+jwt", with(idNoNonce, "scope", "openid")), 200, 200, "sub=erin "},
		{"plain JWT access token", p.sign("JWT", access), 401, 200, "sub=machine "},
		{"untyped access token with scp", p.sign("", with(access, "scope", nil, "client_id", nil, "scp", []string{"read"})), 401, 200, "sub=machine "},
		{"Keycloak-style ID token (typ claim ID)", p.sign("JWT", with(access, "typ", "ID")), 401, 401, ""},
		{"Keycloak-style access token (typ claim Bearer)", p.sign("JWT", with(access, "typ", "Bearer")), 401, 200, "sub=machine "},
		{"ID token typed id_token+jwt", p.sign("id_token+jwt", idToken), 401, 401, ""},
		{"logout token", p.sign("logout+jwt", map[string]any{"sub": "erin", "aud": fakeClientID, "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}), 401, 401, ""},
		{"DPoP-bound access token", p.sign("at+jwt", with(access, "cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})), 401, 401, ""},
		{"access token without sub", p.sign("at+jwt", with(access, "sub", nil)), 401, 401, ""},
		{"access token for another resource", p.sign("at+jwt", with(access, "aud", "https://other.example")), 401, 401, ""},
		{"access token signed by another key", p.signWith(other, "at+jwt", access), 401, 401, ""},
		{"expired access token", p.sign("at+jwt", with(access, "exp", 1)), 401, 401, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, route := range []struct {
				path string
				want int
			}{{"/api/x", c.strict}, {"/plain/x", c.plain}} {
				req, _ := http.NewRequest(http.MethodGet, app+route.path, nil)
				req.Header.Set("Authorization", "Bearer "+c.token)
				r := do(t, req)
				if r.status != route.want {
					t.Errorf("%s: %d, want %d: %s", route.path, r.status, route.want, r.body)
					continue
				}
				if r.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s: challenge %q", route.path, r.header.Get("WWW-Authenticate"))
				}
				if r.status == 200 && !strings.Contains(string(r.body), c.upstream) {
					t.Errorf("%s: upstream saw %s", route.path, r.body)
				}
			}
		})
	}
}
