package authserver

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// TestClientAuthentication: client authentication at the token endpoint
// (RFC 6749 §2.3): Basic with form-encoded credentials or
// client_secret_post, never both, never a Bearer token; every failure is
// 401 invalid_client with a Basic challenge, or 400 invalid_request for a
// malformed request; none of it disturbs a valid token.
func TestClientAuthentication(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.Clients = append(cfg.Clients,
			&Client{ID: "postonly", Secret: PlainSecret("postonly-secret"), AuthMethod: AuthMethodPost},
			&Client{ID: "basiconly", Secret: PlainSecret("basiconly-secret"), AuthMethod: AuthMethodBasic})
	})
	valid := e.svcToken("svc", "svc-secret", nil)
	svc := svcBasic("svc", "svc-secret")
	cc := "grant_type=client_credentials"
	raw := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	e.svcRun(t, []svcCase{
		{name: "Basic", path: "/token", contentType: svcFormType, auth: []string{svc}, body: cc, status: 200},
		{name: "Basic scheme in lower case", path: "/token", contentType: svcFormType, auth: []string{"basic " + strings.TrimPrefix(svc, "Basic ")}, body: cc, status: 200},
		{name: "Basic with the same client_id in the body", path: "/token", contentType: svcFormType, auth: []string{svc}, body: cc + "&client_id=svc", status: 200},
		{name: "client_secret_post", path: "/token", contentType: svcFormType, body: cc + "&client_id=svc&client_secret=svc-secret", status: 200},
		{name: "form-encoded special characters (Basic)", path: "/token", contentType: svcFormType, auth: []string{svcBasic("special", "p@ss:w%rd &x=")}, body: cc, status: 200},
		{name: "special characters (post)", path: "/token", contentType: svcFormType, body: cc + "&" + url.Values{"client_id": {"special"}, "client_secret": {"p@ss:w%rd &x="}}.Encode(), status: 200},
		{name: "special characters not form-encoded in Basic", path: "/token", contentType: svcFormType, auth: []string{raw("special:p@ss:w%rd &x=")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "no client authentication", path: "/token", contentType: svcFormType, body: cc, status: 401, code: codeInvalidClient},
		{name: "unknown client (Basic)", path: "/token", contentType: svcFormType, auth: []string{svcBasic("nobody", "x")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "unknown client (post)", path: "/token", contentType: svcFormType, body: cc + "&client_id=nobody&client_secret=x", status: 401, code: codeInvalidClient},
		{name: "a client_id too long to look up", path: "/token", contentType: svcFormType, body: cc + "&client_id=" + strings.Repeat("c", 2049) + "&client_secret=x", status: 401, code: codeInvalidClient},
		{name: "wrong secret (Basic)", path: "/token", contentType: svcFormType, auth: []string{svcBasic("svc", "wrong")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "wrong secret (post)", path: "/token", contentType: svcFormType, body: cc + "&client_id=svc&client_secret=wrong", status: 401, code: codeInvalidClient},
		{name: "secret without id (post)", path: "/token", contentType: svcFormType, body: cc + "&client_secret=svc-secret", status: 401, code: codeInvalidClient},
		{name: "confidential client without secret", path: "/token", contentType: svcFormType, body: cc + "&client_id=svc", status: 401, code: codeInvalidClient},
		{name: "confidential client with an empty secret (Basic)", path: "/token", contentType: svcFormType, auth: []string{svcBasic("svc", "")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "malformed Basic", path: "/token", contentType: svcFormType, auth: []string{"Basic !!!not-base64"}, body: cc, status: 401, code: codeInvalidClient},
		{name: "Basic without colon", path: "/token", contentType: svcFormType, auth: []string{raw("svc")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "Basic with an empty id", path: "/token", contentType: svcFormType, auth: []string{raw(":svc-secret")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "bad escape in the Basic secret", path: "/token", contentType: svcFormType, auth: []string{raw("svc:%zz")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "bad escape in the Basic id", path: "/token", contentType: svcFormType, auth: []string{raw("%zz:x")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "two auth methods", path: "/token", contentType: svcFormType, auth: []string{svc}, body: cc + "&client_secret=svc-secret", status: 400, code: codeInvalidRequest},
		{name: "Basic and another client_id", path: "/token", contentType: svcFormType, auth: []string{svc}, body: cc + "&client_id=other", status: 400, code: codeInvalidRequest},
		{name: "Bearer at the token endpoint", path: "/token", contentType: svcFormType, auth: []string{"Bearer " + valid}, body: cc, status: 401, code: codeInvalidClient},
		{name: "another scheme", path: "/token", contentType: svcFormType, auth: []string{"Digest username=svc"}, body: cc, status: 401, code: codeInvalidClient},
		{name: "repeated Authorization", path: "/token", contentType: svcFormType, auth: []string{svc, svc}, body: cc, status: 400, code: codeInvalidRequest},
		{name: "public client with a secret (post)", path: "/token", contentType: svcFormType, body: cc + "&client_id=spa&client_secret=x", status: 401, code: codeInvalidClient},
		{name: "public client with Basic", path: "/token", contentType: svcFormType, auth: []string{svcBasic("spa", "")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "client_secret_post client with Basic", path: "/token", contentType: svcFormType, auth: []string{svcBasic("postonly", "postonly-secret")}, body: cc, status: 401, code: codeInvalidClient},
		{name: "client_secret_post client in the body", path: "/token", contentType: svcFormType, body: cc + "&client_id=postonly&client_secret=postonly-secret", status: 200},
		{name: "client_secret_basic client in the body", path: "/token", contentType: svcFormType, body: cc + "&client_id=basiconly&client_secret=basiconly-secret", status: 401, code: codeInvalidClient},
		{name: "client_secret_basic client with Basic", path: "/token", contentType: svcFormType, auth: []string{svcBasic("basiconly", "basiconly-secret")}, body: cc, status: 200},
	})
	// A wrong secret's challenge names the issuer as realm.
	r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "svc", "wrong")
	if got, want := r.header.Get("WWW-Authenticate"), `Basic realm="`+e.issuer+`"`; got != want {
		t.Errorf("WWW-Authenticate = %q; want %q", got, want)
	}
	// None of it disturbed the valid token.
	if !e.svcActive(valid) {
		t.Error("the valid token became inactive")
	}
}

// TestClientAuthHashedSecrets: a client's secret may be configured as a
// bcrypt or argon2id hash; a correct secret is remembered for a while so
// that busy clients do not pay the hash each time, a wrong one never is.
func TestClientAuthHashedSecrets(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("some-salt-value!")
	argon := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("argon-secret"), salt, 1, 64, 1, 32))
	e := newEnv(t, func(cfg *Config) {
		for id, hash := range map[string]string{"hashed": string(bc), "argon": argon} {
			s, err := HashedSecret(hash)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Clients = append(cfg.Clients, &Client{ID: id, Secret: s})
		}
	})
	cached := func() int {
		e.srv.secretCache.mu.Lock()
		defer e.srv.secretCache.mu.Unlock()
		return len(e.srv.secretCache.entries)
	}
	for range 2 { // the second check is served from the cache
		e.svcToken("hashed", "hashed-secret", nil)
	}
	if n := cached(); n != 1 {
		t.Errorf("%d cached checks; want the one correct secret", n)
	}
	for _, tt := range []struct{ client, secret string }{{"hashed", "wrong"}, {"argon", "wrong"}, {"hashed", "argon-secret"}} {
		if r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, tt.client, tt.secret); r.status != http.StatusUnauthorized {
			t.Errorf("a wrong secret for %s: %d", tt.client, r.status)
		}
	}
	if n := cached(); n != 1 {
		t.Errorf("%d cached checks after wrong secrets; failures must not be remembered", n)
	}
	e.svcToken("argon", "argon-secret", nil)
	r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}, "client_id": {"argon"}, "client_secret": {"argon-secret"}}, "", "")
	if r.status != http.StatusOK {
		t.Errorf("client_secret_post with an argon2id hash: %d %s", r.status, r.body)
	}
	// A remembered check lapses: the hash is verified again, and still
	// accepts the right secret.
	e.clock.Advance(secretCacheTTL + time.Second)
	e.svcToken("hashed", "hashed-secret", nil)
	if _, err := HashedSecret("plaintext"); err == nil {
		t.Error("HashedSecret accepted a plaintext secret")
	}
}

// svcStrongSecret is a client secret as `openssl rand -base64 32` prints it.
const svcStrongSecret = "q3Zr8JYc1mWkP0tVfXo9LsE2bNdHu4ag7iCyTRe6KxM="

// TestClientAuthNoLockout: an attacker who guesses a client's secret
// wrong from one address, past every limit, is answered 429 and locks
// out only that address: the client from its own address still gets
// tokens, and a client with a high-entropy secret gets them even from
// the attacker's address (a NAT or proxy shared with the attacker). The
// limit lapses with its window.
func TestClientAuthNoLockout(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Addr") }
		cfg.Clients = append(cfg.Clients, &Client{ID: "strong", Secret: PlainSecret(svcStrongSecret),
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read"}})
	})
	const attacker, victim = "192.0.2.2", "192.0.2.1"
	post := func(src, client, secret string) response {
		t.Helper()
		return e.svcRequest(http.MethodPost, "/token", svcFormType, "grant_type=client_credentials",
			http.Header{"Authorization": {svcBasic(client, secret)}, "X-Test-Addr": {src}})
	}
	for _, client := range []string{"svc", "strong"} {
		var last response
		for range 60 { // past the per-client (20) and per-address (50) limits
			last = post(attacker, client, "wrong-guess")
		}
		svcWantError(t, last, http.StatusTooManyRequests, codeInvalidClient)
		if last.header.Get("Retry-After") == "" || !strings.HasPrefix(last.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: the 60th guess's headers: %v", client, last.header)
		}
	}
	for _, tt := range []struct {
		name, src, client, secret string
		want                      int
	}{
		{"right secret, victim's address", victim, "svc", "svc-secret", http.StatusOK},
		{"high-entropy secret, victim's address", victim, "strong", svcStrongSecret, http.StatusOK},
		{"high-entropy secret, attacker's address", attacker, "strong", svcStrongSecret, http.StatusOK},
		// A low-entropy secret stays limited at the guessing address.
		{"low-entropy secret, attacker's address", attacker, "svc", "svc-secret", http.StatusTooManyRequests},
		{"wrong secret, attacker's address", attacker, "strong", "another-guess", http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := post(tt.src, tt.client, tt.secret); r.status != tt.want {
				t.Fatalf("%d %s; want %d", r.status, r.body, tt.want)
			}
		})
	}
	e.clock.Advance(5*time.Minute + time.Second)
	if r := post(attacker, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Errorf("after the window: %d %s", r.status, r.body)
	}
}

// TestClientAuthGatewayClient: the built-in gateway client, even with its
// right secret, cannot authenticate over the network at any endpoint
// that authenticates clients, in the header or the body; inside the
// process (InProcessContext, as the gateway's transport marks its
// requests) it can.
func TestClientAuthGatewayClient(t *testing.T) {
	e := newEnv(t, nil)
	secret := e.srv.gatewaySecret
	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{"/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {"x"}}},
		{"/token", url.Values{"grant_type": {GrantAuthorizationCode}, "code": {"x"}, "redirect_uri": {"https://app.example/.authgate/callback"}, "code_verifier": {strings.Repeat("v", 43)}}},
		{"/par", url.Values{"response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}},
		{"/introspect", url.Values{"token": {"x"}}},
		{"/revoke", url.Values{"token": {"x"}}},
		{"/device/code", url.Values{"scope": {"openid"}}},
	} {
		t.Run(tt.path+" "+tt.form.Get("grant_type"), func(t *testing.T) {
			svcWantError(t, e.postForm(tt.path, tt.form, GatewayClientID, secret), http.StatusUnauthorized, codeInvalidClient)
			post := url.Values{"client_id": {GatewayClientID}, "client_secret": {secret}}
			for k, v := range tt.form {
				post[k] = v
			}
			svcWantError(t, e.postForm(tt.path, post, "", ""), http.StatusUnauthorized, codeInvalidClient)
		})
	}
	// The in-process mark cannot come from the network, but in-process
	// requests authenticate.
	for _, path := range []string{"/introspect", "/revoke"} {
		req := svcFormRequest(t, e.issuer+path, url.Values{"token": {"x"}}, GatewayClientID, secret)
		req = req.WithContext(InProcessContext(req.Context()))
		if r := svcServe(t, e.srv, req); r.status != http.StatusOK {
			t.Errorf("in-process %s as the gateway: %d %s", path, r.status, r.body)
		}
		req = svcFormRequest(t, e.issuer+path, url.Values{"token": {"x"}}, GatewayClientID, "wrong")
		req = req.WithContext(InProcessContext(req.Context()))
		if r := svcServe(t, e.srv, req); r.status != http.StatusUnauthorized {
			t.Errorf("in-process %s with a wrong secret: %d %s", path, r.status, r.body)
		}
	}
	if inProcess(context.Background()) || !inProcess(InProcessContext(context.Background())) {
		t.Error("InProcessContext does not mark exactly its contexts")
	}
}

// TestClientConfigRules: the rules every configured client passes
// through New (checkClient): the defaults for name and grant types, and
// each refusal with a message naming the problem.
func TestClientConfigRules(t *testing.T) {
	secret := PlainSecret("s")
	for _, tt := range []struct {
		name   string
		client *Client
		// want is the error's text, or "" for a client New accepts.
		want string
		// grants and clientName are the defaults expected when accepted.
		grants     []string
		clientName string
	}{
		{name: "a service", client: &Client{ID: "c", Secret: secret}, grants: []string{GrantClientCredentials}, clientName: "c"},
		{name: "a confidential client with redirect URIs", client: &Client{ID: "c", Secret: secret, RedirectURIs: []string{"https://a.example/cb"}},
			grants: []string{GrantAuthorizationCode, GrantRefreshToken}},
		{name: "a public client", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"https://a.example/cb"}},
			grants: []string{GrantAuthorizationCode, GrantRefreshToken}},
		{name: "a name of its own", client: &Client{ID: "c", Name: "The C", Secret: secret}, clientName: "The C"},
		{name: "grant types of its own", client: &Client{ID: "c", Public: true, GrantTypes: []string{GrantDeviceCode}}, grants: []string{GrantDeviceCode}},
		{name: "loopback redirect URIs", client: &Client{ID: "c", Public: true,
			RedirectURIs: []string{"http://127.0.0.1/cb", "http://localhost:8080/cb", "http://[::1]/cb"}}},
		{name: "a private-use scheme", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"com.example.app:/cb"}}},
		{name: "the none method for a public client", client: &Client{ID: "c", Public: true, AuthMethod: AuthMethodNone, GrantTypes: []string{GrantDeviceCode}}},
		{name: "client_secret_post", client: &Client{ID: "c", Secret: secret, AuthMethod: AuthMethodPost}},

		{name: "nil", client: nil, want: "a client is nil"},
		{name: "no id", client: &Client{Secret: secret}, want: "a client has no id"},
		{name: "a public client with a secret", client: &Client{ID: "c", Public: true, Secret: secret, RedirectURIs: []string{"https://a.example/cb"}}, want: "public client cannot have a secret"},
		{name: "a confidential client without a secret", client: &Client{ID: "c"}, want: "needs a secret"},
		{name: "a public client with a secret method", client: &Client{ID: "c", Public: true, AuthMethod: AuthMethodBasic, RedirectURIs: []string{"https://a.example/cb"}}, want: "authenticates with none"},
		{name: "an unsupported method", client: &Client{ID: "c", Secret: secret, AuthMethod: "private_key_jwt"}, want: "unsupported authentication method"},
		{name: "the none method for a confidential client", client: &Client{ID: "c", Secret: secret, AuthMethod: AuthMethodNone}, want: "unsupported authentication method"},
		{name: "authorization_code without redirect URIs", client: &Client{ID: "c", Secret: secret, GrantTypes: []string{GrantAuthorizationCode}}, want: "needs redirect URIs"},
		{name: "a public client without redirect URIs", client: &Client{ID: "c", Public: true}, want: "needs redirect URIs"},
		{name: "an unknown grant type", client: &Client{ID: "c", Secret: secret, GrantTypes: []string{"implicit"}}, want: `unknown grant type "implicit"`},
		{name: "the device grant by its short name", client: &Client{ID: "c", Secret: secret, GrantTypes: []string{"device_code"}}, want: "unknown grant type"},
		{name: "a public client with client_credentials", client: &Client{ID: "c", Public: true, GrantTypes: []string{GrantClientCredentials}}, want: "cannot use client_credentials"},
		{name: "a relative audience", client: &Client{ID: "c", Secret: secret, Audiences: []string{"/api"}}, want: "absolute URI without a fragment"},
		{name: "an audience with a fragment", client: &Client{ID: "c", Secret: secret, Audiences: []string{"https://api.example#x"}}, want: "absolute URI without a fragment"},
		{name: "a relative redirect URI", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"/cb"}}, want: "must be absolute and have no fragment"},
		{name: "a redirect URI with a fragment", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"https://a.example/cb#x"}}, want: "no fragment"},
		{name: "a redirect URI with an empty fragment", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"https://a.example/cb#"}}, want: "no fragment"},
		{name: "an http redirect URI off loopback", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"http://a.example/cb"}}, want: "must use https"},
		{name: "an http logout redirect off loopback", client: &Client{ID: "c", Public: true, RedirectURIs: []string{"https://a.example/cb"},
			PostLogoutRedirectURIs: []string{"http://a.example/bye"}}, want: "must use https"},
		{name: "the gateway's id", client: &Client{ID: GatewayClientID, Secret: secret}, want: "reserved for the gateway"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := svcConfig(t)
			cfg.Clients = []*Client{tt.client}
			var wantName string
			var wantGrants int
			if tt.client != nil {
				wantName, wantGrants = tt.client.Name, len(tt.client.GrantTypes)
			}
			srv, err := New(context.Background(), cfg)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("New = %v; want an error mentioning %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			c := srv.clients[tt.client.ID]
			if tt.grants != nil && strings.Join(c.GrantTypes, " ") != strings.Join(tt.grants, " ") {
				t.Errorf("grant types = %v; want %v", c.GrantTypes, tt.grants)
			}
			if tt.clientName != "" && c.Name != tt.clientName {
				t.Errorf("name = %q; want %q", c.Name, tt.clientName)
			}
			if c == tt.client || tt.client.Name != wantName || len(tt.client.GrantTypes) != wantGrants {
				t.Errorf("New changed the configured client instead of a copy: %+v", tt.client)
			}
		})
	}
}

// TestServerConfigRules: New refuses a configuration with a client or a
// user defined twice, a user without a password hash, an issuer that is
// not one, no store, too quick a device poll interval, or an unknown
// registration mode.
func TestServerConfigRules(t *testing.T) {
	secret := PlainSecret("s")
	for _, tt := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"a client twice", func(c *Config) {
			c.Clients = []*Client{{ID: "c", Secret: secret}, {ID: "c", Secret: secret}}
		}, `client "c" is defined twice`},
		{"a user twice", func(c *Config) { c.Users = append(c.Users, c.Users[0]) }, "is defined twice"},
		{"a user without a password", func(c *Config) { c.Users = append(c.Users, &User{Username: "carol"}) }, "needs a username (without a colon) and a password hash"},
		{"a username with a colon", func(c *Config) {
			c.Users = append(c.Users, &User{Username: "github:carol", Password: c.Users[0].Password})
		}, "without a colon"},
		{"a configured user with another ID", func(c *Config) {
			c.Users = append(c.Users, &User{ID: "x", Username: "carol", Password: c.Users[0].Password})
		}, "a configured user's ID is its username"},
		{"an issuer with a slash at the end", func(c *Config) { c.Issuer += "/" }, "must not end with a slash"},
		{"an http issuer off loopback", func(c *Config) { c.Issuer = "http://auth.example" }, "must use https"},
		{"no store", func(c *Config) { c.Store = nil }, "a store and a key manager are required"},
		{"a device poll interval under a second", func(c *Config) { c.DevicePollInterval = time.Millisecond }, "at least a second"},
		{"an unknown registration mode", func(c *Config) { c.Registration.Mode = "sometimes" }, `registration mode "sometimes"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := svcConfig(t)
			tt.change(&cfg)
			if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestClientAuthConcurrentRightSecrets: a busy client is never refused
// for its own concurrency. Many requests at once with a right secret, a
// low-entropy one kept as a digest or a bcrypt one already passed, all
// get tokens (the limit counts failures, not requests in flight), while
// wrong guesses at the same time are still limited.
func TestClientAuthConcurrentRightSecrets(t *testing.T) {
	t.Run("cold bcrypt", testColdHashBurst)
	bc, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(cfg *Config) {
		s, err := HashedSecret(string(bc))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Clients = append(cfg.Clients, &Client{ID: "hashed", Secret: s, GrantTypes: []string{GrantClientCredentials}})
	})
	e.svcToken("hashed", "hashed-secret", nil) // the hash passed once
	for _, tt := range []struct{ client, secret string }{{"svc", "svc-secret"}, {"hashed", "hashed-secret"}} {
		t.Run(tt.client, func(t *testing.T) {
			const workers, each = 64, 5
			statuses := make(chan int, workers*each)
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						statuses <- e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, tt.client, tt.secret).status
					}
				}()
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				if s != http.StatusOK {
					t.Fatalf("a right secret among %d concurrent requests got %d", workers*each, s)
				}
			}
		})
	}
	var last response
	for range 60 {
		last = e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "svc", "wrong-guess")
	}
	svcWantError(t, last, http.StatusTooManyRequests, codeInvalidClient)
}

// testColdHashBurst: before a bcrypt secret is remembered (at start-up,
// and after the remembered check lapses), a client's burst of 64
// concurrent requests with the right secret waits for one hash check and
// is counted once: none is answered 429. A reviewer saw 44 of 64 refused
// at bcrypt's default cost before the checks were shared.
func testColdHashBurst(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(cfg *Config) {
		s, err := HashedSecret(string(bc))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Clients = append(cfg.Clients, &Client{ID: "hashed", Secret: s, GrantTypes: []string{GrantClientCredentials}})
	})
	burst := func(when string) {
		t.Helper()
		const workers = 64
		statuses := make(chan int, workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "hashed", "hashed-secret").status
			}()
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		if counts[http.StatusOK] != workers {
			t.Errorf("%s: %v; want all %d answered 200", when, counts, workers)
		}
	}
	burst("at start-up")
	e.clock.Advance(secretCacheTTL + time.Second)
	burst("after the remembered check lapsed")
	// The same wrong secret sent at once is one guess, and still limited.
	var last response
	for range 60 {
		last = e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "hashed", "wrong-guess")
	}
	svcWantError(t, last, http.StatusTooManyRequests, codeInvalidClient)
}
