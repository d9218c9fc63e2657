package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestGatewayIntrospection verifies opaque tokens with RFC 7662 against an
// introspection endpoint, authenticating as a client, and caches answers.
func TestGatewayIntrospection(t *testing.T) {
	var calls atomic.Int32
	var app atomic.Value // the protected site's origin, the tokens' audience
	app.Store("")
	introspect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		user, pass, _ := r.BasicAuth()
		r.ParseForm()
		resp := map[string]any{"active": false}
		if user == "rs" && pass == "rs-secret" && r.PostForm.Get("token") == "opaque-good" {
			resp = map[string]any{"active": true, "sub": "worker", "client_id": "batch", "scope": "read", "exp": time.Now().Add(time.Hour).Unix(), "aud": app.Load()}
		}
		if user == "rs" && pass == "rs-secret" && r.PostForm.Get("token") == "opaque-elsewhere" {
			resp = map[string]any{"active": true, "sub": "worker", "scope": "read", "exp": time.Now().Add(time.Hour).Unix(), "aud": "https://elsewhere.example"}
		}
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(introspect.Close)
	g := startGateway(t, gatewayClients, fmt.Sprintf(`
			accept bearer
			introspection %s rs rs-secret
			require scope read
			strip_authorization`, introspect.URL), `accept session`)
	app.Store(g.app)
	for range 3 {
		r := g.call("GET", g.app+"/api/x", "opaque-good")
		if r.status != 200 || !strings.Contains(string(r.body), "sub=worker ") || !strings.Contains(string(r.body), "authz= ") {
			t.Fatalf("opaque token: %d %s", r.status, r.body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("introspected %d times; want once, then cached", n)
	}
	if r := g.call("GET", g.app+"/api/x", "opaque-bad"); r.status != 401 {
		t.Errorf("an inactive opaque token: %d", r.status)
	}
	if r := g.call("GET", g.app+"/api/x", "opaque-elsewhere"); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("an active opaque token for another resource: %d", r.status)
	}
	// JWTs still go to the bundled server.
	if r := g.call("GET", g.app+"/api/x", g.token("apisvc", "apisvc-secret", nil)); r.status != 200 {
		t.Errorf("a JWT next to introspection: %d", r.status)
	}
}

// TestGatewaySessionRefresh: an expired session is refreshed with its
// refresh token, without a new sign-in.
func TestGatewaySessionRefresh(t *testing.T) {
	g := startGateway(t, gatewayClients, `accept bearer`, `
			accept session
			session_lifetime 1s`)
	b := newBrowser(g.testCaddy)
	if r := b.signInThroughGateway(g.app + "/page"); r.status != 200 {
		t.Fatalf("sign-in: %d", r.status)
	}
	time.Sleep(1100 * time.Millisecond)
	r := b.get(g.app + "/page")
	if r.status != 200 || !strings.Contains(string(r.body), "sub=alice ") {
		t.Fatalf("after the session expired: %d %s", r.status, r.body)
	}
	if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "authgate_session_gw=") {
		t.Errorf("the refreshed session was not stored in a new cookie: %v", r.header)
	}
	// A page's parallel requests all carry the expired cookie: one refresh
	// serves them all (a second use of the refresh token would revoke the
	// grant), and the session keeps working afterwards.
	time.Sleep(1100 * time.Millisecond)
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, g.app+"/part", nil)
			req.Header.Set("Accept", "text/html")
			resp, err := b.client.Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("parallel request %d after expiry: %d", i, s)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	if r := b.get(g.app + "/page"); r.status != 200 {
		t.Errorf("after the parallel refresh, the next refresh failed: %d", r.status)
	}
}

// TestGatewayConfigErrors: bad gateway configs fail caddy validate with a
// clear message.
func TestGatewayConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, block, want string }{
		{"bad CEL", `allow expression "1 +"`, "expression"},
		{"non-bool CEL", `allow expression "sub"`, "bool"},
		{"unknown variable", `allow expression "nosuch == 1"`, "nosuch"},
		{"bad accept", `accept cookies`, "accept"},
		{"bad field", `header X-Who nickname`, "nickname"},
		{"relative path", `callback_path callback`, "callback_path"},
		{"external without client", "accept session\n\t\t\tissuer https://idp.example", "client_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("{\n\tstorage file_system %s\n\tauthgate {\n\t\tissuer https://a.example\n\t\tstorage sqlite %s/a.db\n\t}\n}\nhttps://a.example {\n\tauthgate {\n\t\t\t%s\n\t}\n}\n", t.TempDir(), t.TempDir(), tt.block)
			cfgJSON, err := adaptCaddyfile(t, text)
			if err != nil {
				if strings.Contains(err.Error(), tt.want) {
					return
				}
				t.Fatalf("adapt: %v", err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
				t.Fatal(err)
			}
			if err := caddy.Validate(&cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}
