package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestMFAGatewayConfig: require mfa in the authgate and authgate_verify
// directives, and the amr and acr header fields.
func TestMFAGatewayConfig(t *testing.T) {
	adapt := func(directive, block string) (map[string]any, error) {
		cf := ":8080 {\n\troute {\n\t\t" + directive + " {\n" + block + "\n\t\t}\n\t}\n}\n"
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		json.Unmarshal(cfg, &m) //nolint:errcheck
		var find func(v any) map[string]any
		find = func(v any) map[string]any {
			switch v := v.(type) {
			case map[string]any:
				if v["handler"] == directive {
					return v
				}
				for _, x := range v {
					if f := find(x); f != nil {
						return f
					}
				}
			case []any:
				for _, x := range v {
					if f := find(x); f != nil {
						return f
					}
				}
			}
			return nil
		}
		return find(m), nil
	}
	for _, directive := range []string{"authgate", "authgate_verify"} {
		for _, tt := range []struct{ block, want string }{
			{"require mfa", `{"mfa":true}`},
			{"require scope read\nrequire mfa\nrequire audience https://api.example", `{"audiences":["https://api.example"],"mfa":true,"scopes":["read"]}`},
		} {
			h, err := adapt(directive, tt.block)
			if err != nil {
				t.Fatalf("%s %q: %v", directive, tt.block, err)
			}
			if b, _ := json.Marshal(h["require"]); string(b) != tt.want {
				t.Errorf("%s %q: require %s, want %s", directive, tt.block, b, tt.want)
			}
		}
		h, err := adapt(directive, "require mfa\nheader X-Auth-Amr amr\nheader X-Auth-Acr acr")
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(h["headers"]); string(b) != `{"X-Auth-Acr":"acr","X-Auth-Amr":"amr"}` {
			t.Errorf("%s: headers %s", directive, b)
		}
		for _, bad := range []string{"require mfa now", "require mfa mfa", "require", "require mfas"} {
			if _, err := adapt(directive, bad); err == nil {
				t.Errorf("%s: %q adapted", directive, bad)
			}
		}
	}
	if _, err := adapt("authgate", "require mfa now"); err == nil || !strings.Contains(err.Error(), "require mfa takes no values") {
		t.Errorf("require mfa now: %v", err)
	}
}

// mfaProvider is a fake external provider that signs in with a second
// factor when the authorization request asks for one (acr_values=mfa)
// and mfa is set, as the bundled server will; otherwise with a password
// only.
func mfaProvider(t *testing.T) (p *fakeProvider, setMFA func(bool)) {
	p = newFakeProvider(t, true)
	mfa := true
	p.signInClaims = func(q url.Values) map[string]any {
		if mfa && strings.Contains(" "+q.Get("acr_values")+" ", " mfa ") {
			return map[string]any{"amr": []string{"pwd", "otp", "mfa"}, "acr": "mfa", "auth_time": 1}
		}
		return map[string]any{"amr": []string{"pwd"}, "auth_time": 1}
	}
	return p, func(on bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		mfa = on
	}
}

// TestGatewayExternalStepUp runs require mfa in a real Caddy against an
// external provider (the fake one: the other authgate the tests start as
// an issuer has no second factors):
//   - a browser signed in with a password only, on a route that requires
//     a second factor, is sent back to the provider with acr_values=mfa,
//     returns with amr mfa to the page it asked for, and the upstream
//     gets the identity and its amr; routes without the requirement keep
//     working with either session;
//   - if the provider signs in without the factor, the browser gets the
//     loop guard's 403 page, not another redirect;
//   - bearer tokens without amr mfa get 401 with the RFC 9470 challenge,
//     with it pass;
//   - the verify endpoint (forward_auth) decides the same, never 2xx for
//     an identity without the factor.
func TestGatewayExternalStepUp(t *testing.T) {
	p, setMFA := mfaProvider(t)
	tc := newTestCaddy(t)
	app := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	fwdPort := freePort(t)
	fwd := fmt.Sprintf("http://localhost:%d", fwdPort)
	external := "issuer " + p.URL() + "\n\t\t\tclient_id " + fakeClientID + "\n\t\t\tclient_secret " + fakeClientSecret + "\n\t\t\theader X-Auth-Amr amr\n\t\t\theader X-Auth-Acr acr"
	const echoMFA = `respond "sub={http.request.header.X-Auth-Subject} email={http.request.header.X-Auth-Email} amr={http.request.header.X-Auth-Amr} acr={http.request.header.X-Auth-Acr} ph={authgate.amr}" 200`
	caddyfile := tc.globalOptions("") + fmt.Sprintf(`
%[1]s {
	bind 127.0.0.1
	authgate_server
	respond "issuer site" 404
}

%[2]s {
	bind 127.0.0.1
	handle /verify* {
		authgate_verify {
			%[3]s
			require mfa
			hosts localhost:%[5]d
		}
	}
	route /api/* {
		authgate {
			accept bearer
			%[3]s
			require mfa
		}
		%[4]s
	}
	route /admin/* {
		authgate {
			accept session
			%[3]s
			require mfa
		}
		%[4]s
	}
	route {
		authgate {
			accept session
			%[3]s
		}
		%[4]s
	}
}

%[6]s {
	bind 127.0.0.1
	forward_auth %[7]s {
		uri /verify
		header_up Host {upstream_hostport}
		copy_headers X-Auth-Subject X-Auth-Email X-Auth-Amr X-Auth-Acr
	}
	%[4]s
}
`, tc.issuer, app, external, echoMFA, fwdPort, fwd, strings.TrimPrefix(app, "http://"))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	// askedMFA reports whether the provider's latest authorization
	// request asked for a second factor.
	askedMFA := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.asked) > 0 && p.asked[len(p.asked)-1].Get("acr_values") == "mfa"
	}
	// toProvider checks that r sends the browser to the provider, asking
	// for a second factor or not.
	toProvider := func(what string, r response, mfa bool) {
		t.Helper()
		loc := r.header.Get("Location")
		if r.status != http.StatusFound || !strings.HasPrefix(loc, p.URL()+"/authorize?") {
			t.Fatalf("%s: %d %q %s", what, r.status, loc, r.body)
		}
		if asks := mustParse(t, loc).Query().Get("acr_values") == "mfa"; asks != mfa {
			t.Fatalf("%s: acr_values=mfa asked: %v, want %v (%s)", what, asks, mfa, loc)
		}
	}
	passwordSession := func(origin string) *browser {
		t.Helper()
		b := newBrowser(tc)
		r := b.get(origin + "/")
		toProvider("sign-in", r, false)
		r, trail := b.visit(origin + "/")
		if r.status != 200 || !strings.Contains(string(r.body), "sub=erin ") || !strings.Contains(string(r.body), "amr=pwd ") {
			t.Fatalf("password sign-in: %d %s\n%v", r.status, r.body, trail)
		}
		return b
	}

	t.Run("step-up of a password session", func(t *testing.T) {
		b := passwordSession(app)
		r := b.get(app + "/admin/page?x=1")
		toProvider("the page that needs a second factor", r, true)
		r, trail := b.visit(app + "/admin/page?x=1")
		if r.status != 200 || trail[len(trail)-1] != app+"/admin/page?x=1" {
			t.Fatalf("after the step-up: %d %s\n%v", r.status, r.body, trail)
		}
		for _, want := range []string{"sub=erin ", "email=erin@fake.example ", "amr=pwd,otp,mfa ", "acr=mfa ", "ph=pwd,otp,mfa"} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("the upstream lacks %q: %s", want, r.body)
			}
		}
		if !askedMFA() {
			t.Error("the provider was not asked for a second factor")
		}
		// The session with the second factor serves every route, and the
		// page asks for nothing more.
		if r := b.get(app + "/other"); r.status != 200 || !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") {
			t.Errorf("another route: %d %s", r.status, r.body)
		}
		if r := b.get(app + "/admin/again"); r.status != 200 {
			t.Errorf("the route again: %d %s", r.status, r.body)
		}
	})

	t.Run("first sign-in asks at once", func(t *testing.T) {
		b := newBrowser(tc)
		toProvider("not signed in", b.get(app+"/admin/x"), true)
		if r, trail := b.visit(app + "/admin/x"); r.status != 200 || !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") || len(trail) != 4 {
			t.Fatalf("sign-in: %d %s\n%v", r.status, r.body, trail)
		}
	})

	t.Run("no second factor: no loop", func(t *testing.T) {
		setMFA(false)
		defer setMFA(true)
		b := passwordSession(app)
		r, trail := b.visit(app + "/admin/page")
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "Second factor required") ||
			!strings.Contains(string(r.body), "Add one to your account at your sign-in provider") {
			t.Fatalf("a provider that gives no second factor: %d %s\n%v", r.status, r.body, trail)
		}
		if !strings.Contains(trail[len(trail)-1], "/.authgate/callback") || len(trail) != 3 {
			t.Errorf("the browser went %v", trail)
		}
		// The session stands for the pages that need no second factor.
		if r := b.get(app + "/other"); r.status != 200 || !strings.Contains(string(r.body), "amr=pwd ") {
			t.Errorf("another route: %d %s", r.status, r.body)
		}
		// Once the account has a factor, opening the page again steps up.
		setMFA(true)
		if r, trail := b.visit(app + "/admin/page"); r.status != 200 || !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") {
			t.Errorf("opened again: %d %s\n%v", r.status, r.body, trail)
		}
	})

	t.Run("a session without the factor, not a page load", func(t *testing.T) {
		b := passwordSession(app)
		req, _ := http.NewRequest(http.MethodGet, app+"/admin/api", nil)
		req.Header.Set("Accept", "application/json")
		r := b.do(req)
		checkStepUp(t, "fetch", r)
	})

	bearer := func(u, token string, extra ...string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		return doWith(t, noRedirects, req)
	}
	token := func(aud string, kv ...any) string {
		c := map[string]any{"sub": "erin", "aud": aud, "client_id": "cli", "scope": "read", "jti": randomString()}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return p.sign("at+jwt", c)
	}

	t.Run("bearer tokens", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token string
			ok    bool
		}{
			{"no amr", token(app), false},
			{"amr pwd", token(app, "amr", []string{"pwd"}), false},
			{"amr pwd otp", token(app, "amr", []string{"pwd", "otp"}), false},
			{"amr mfa", token(app, "amr", []string{"pwd", "otp", "mfa"}), true},
			{"acr mfa", token(app, "acr", "mfa"), true},
		} {
			r := bearer(app+"/api/x", tt.token)
			if !tt.ok {
				checkStepUp(t, tt.name, r)
				continue
			}
			if r.status != 200 || !strings.Contains(string(r.body), "sub=erin ") {
				t.Errorf("%s: %d %s", tt.name, r.status, r.body)
			}
		}
		r := bearer(app+"/api/x", token(app, "amr", []string{"hwk", "mfa"}, "acr", "mfa"))
		if !strings.Contains(string(r.body), "amr=hwk,mfa acr=mfa ") {
			t.Errorf("the upstream: %s", r.body)
		}
	})

	t.Run("verify endpoint", func(t *testing.T) {
		// Tokens: the same answers, passed on by forward_auth.
		checkStepUp(t, "a password token", bearer(fwd+"/x", token(fwd, "amr", []string{"pwd"})))
		checkStepUp(t, "a password token, from a browser", bearer(fwd+"/x", token(fwd, "amr", []string{"pwd"}), "Accept", "text/html"))
		if r := bearer(fwd+"/x", token(fwd, "amr", []string{"pwd", "otp", "mfa"})); r.status != 200 || !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") {
			t.Errorf("an mfa token: %d %s", r.status, r.body)
		}

		// A browser: the provider gives no second factor, so the sign-in
		// ends on the loop guard's page, with a password session.
		setMFA(false)
		b := newBrowser(tc)
		toProvider("not signed in", b.get(fwd+"/page?y=2"), true)
		r, trail := b.visit(fwd + "/page?y=2")
		setMFA(true)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "Second factor required") {
			t.Fatalf("without a second factor: %d %s\n%v", r.status, r.body, trail)
		}
		if b.cookieValue(fwd, "authgate_session_gw") == "" {
			t.Fatal("no password session")
		}
		// That session is never let through, to an API client…
		req, _ := http.NewRequest(http.MethodGet, fwd+"/page", nil)
		req.Header.Set("Accept", "application/json")
		checkStepUp(t, "a password session's fetch", b.do(req))
		// …and a browser steps up, back to where it was going.
		toProvider("the password session", b.get(fwd+"/page?y=2"), true)
		r, trail = b.visit(fwd + "/page?y=2")
		if r.status != 200 || !strings.Contains(string(r.body), "sub=erin ") || !strings.Contains(string(r.body), "amr=pwd,otp,mfa ") ||
			trail[len(trail)-1] != fwd+"/page?y=2" {
			t.Fatalf("step-up through the verify endpoint: %d %s\n%v", r.status, r.body, trail)
		}
	})
}

// checkStepUp checks an RFC 9470 answer: 401 with
// error="insufficient_user_authentication" and acr_values="mfa".
func checkStepUp(t *testing.T, what string, r response) {
	t.Helper()
	c := r.header.Get("WWW-Authenticate")
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(c, "Bearer ") ||
		!strings.Contains(c, `error="insufficient_user_authentication"`) || !strings.Contains(c, `acr_values="mfa"`) {
		t.Errorf("%s: %d %q %s", what, r.status, c, r.body)
	}
	if strings.Contains(string(r.body), "sub=") {
		t.Errorf("%s: the upstream was reached: %s", what, r.body)
	}
}
