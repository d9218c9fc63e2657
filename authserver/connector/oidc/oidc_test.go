package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// TestNew: New checks the configuration, fills in the defaults, and
// never reaches the provider.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// err is what the error says, or "" for a valid configuration.
		err string
	}{
		{name: "https issuer", cfg: Config{Issuer: "https://accounts.google.com", ClientID: "id"}},
		{name: "issuer with a path", cfg: Config{Issuer: "https://login.microsoftonline.com/tenant/v2.0", ClientID: "id"}},
		{name: "http on loopback", cfg: Config{Issuer: "http://127.0.0.1:8080", ClientID: "id"}},
		{name: "http on localhost", cfg: Config{Issuer: "http://localhost:5556/dex", ClientID: "id"}},
		{name: "http on IPv6 loopback", cfg: Config{Issuer: "http://[::1]:8080", ClientID: "id"}},
		{name: "no issuer", cfg: Config{ClientID: "id"}, err: "an issuer is required"},
		{name: "http elsewhere", cfg: Config{Issuer: "http://idp.example", ClientID: "id"}, err: "must use https"},
		{name: "relative issuer", cfg: Config{Issuer: "accounts.google.com", ClientID: "id"}, err: "absolute https URL"},
		{name: "other scheme", cfg: Config{Issuer: "ftp://idp.example", ClientID: "id"}, err: "absolute https URL"},
		{name: "issuer with a query", cfg: Config{Issuer: "https://idp.example?tenant=1", ClientID: "id"}, err: "query or fragment"},
		{name: "issuer with a fragment", cfg: Config{Issuer: "https://idp.example#x", ClientID: "id"}, err: "query or fragment"},
		{name: "issuer with user information", cfg: Config{Issuer: "https://user:pass@idp.example", ClientID: "id"}, err: "user information"},
		{name: "unparsable issuer", cfg: Config{Issuer: "https://idp.example/%zz", ClientID: "id"}, err: "issuer"},
		{name: "no client ID", cfg: Config{Issuer: "https://idp.example"}, err: "a client ID is required"},
		{name: "blank client ID", cfg: Config{Issuer: "https://idp.example", ClientID: " "}, err: "a client ID is required"},
		{name: "scope with a space", cfg: Config{Issuer: "https://idp.example", ClientID: "id", Scopes: []string{"openid email"}}, err: "invalid scope"},
		{name: "empty scope", cfg: Config{Issuer: "https://idp.example", ClientID: "id", Scopes: []string{"openid", ""}}, err: "invalid scope"},
		{name: "domain", cfg: Config{Issuer: "https://idp.example", ClientID: "id", AllowDomains: []string{" Example.COM "}}},
		{name: "address for a domain", cfg: Config{Issuer: "https://idp.example", ClientID: "id", AllowDomains: []string{"@example.com"}}, err: "not a domain name"},
		{name: "URL for a domain", cfg: Config{Issuer: "https://idp.example", ClientID: "id", AllowDomains: []string{"https://example.com"}}, err: "not a domain name"},
		{name: "empty domain", cfg: Config{Issuer: "https://idp.example", ClientID: "id", AllowDomains: []string{""}}, err: "not a domain name"},
		{name: "empty group", cfg: Config{Issuer: "https://idp.example", ClientID: "id", AllowGroups: []string{"admins", ""}}, err: "an allowed group is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HTTPClient = noNetwork(t)
			c, err := New(tc.cfg)
			if tc.err == "" {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v; want a connector", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New error = %v; want one saying %q", err, tc.err)
			}
		})
	}
}

// TestNewDefaults: the scopes, claim names and HTTP client default, and
// openid is always requested.
func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		want   []string
	}{
		{name: "default", want: []string{"openid", "profile", "email"}},
		{name: "openid added", scopes: []string{"email", "groups"}, want: []string{"openid", "email", "groups"}},
		{name: "duplicates dropped", scopes: []string{"email", "openid", "email"}, want: []string{"email", "openid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{Issuer: "https://idp.example", ClientID: "id", Scopes: tc.scopes})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.cfg.Scopes, tc.want) {
				t.Errorf("scopes = %q; want %q", c.cfg.Scopes, tc.want)
			}
			want := ClaimNames{Username: "preferred_username", Email: "email", Name: "name", Groups: "groups"}
			if c.cfg.Claims != want {
				t.Errorf("claims = %+v; want %+v", c.cfg.Claims, want)
			}
			if c.client == nil || c.client.Timeout == 0 {
				t.Errorf("the default HTTP client has no timeout")
			}
		})
	}
}

// TestAuthURL: the authorization URL asks for the code flow with PKCE
// S256, state, nonce and the scopes, and for one allowed domain carries
// Google's hd hint.
func TestAuthURL(t *testing.T) {
	f := newFakeProvider(t)
	tests := []struct {
		name      string
		configure func(*Config)
		scope     string
		hd        string
	}{
		{name: "defaults", scope: "openid profile email"},
		{name: "configured scopes", configure: func(c *Config) { c.Scopes = []string{"openid", "groups"} }, scope: "openid groups"},
		{name: "one domain", configure: func(c *Config) { c.AllowDomains = []string{"Corp.Example"} }, scope: "openid profile email", hd: "corp.example"},
		{name: "two domains", configure: func(c *Config) { c.AllowDomains = []string{"corp.example", "corp2.example"} }, scope: "openid profile email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Issuer: f.issuer, ClientID: rpClientID, ClientSecret: rpSecret}
			if tc.configure != nil {
				tc.configure(&cfg)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := newSignIn()
			raw, err := c.AuthURL(context.Background(), rpCallback, s.state, s.nonce, s.verifier)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != f.issuer+"/authorize" {
				t.Errorf("endpoint = %s; want the provider's authorization endpoint", got)
			}
			sum := sha256.Sum256([]byte(s.verifier))
			want := url.Values{
				"response_type": {"code"}, "client_id": {rpClientID}, "redirect_uri": {rpCallback},
				"scope": {tc.scope}, "state": {s.state}, "nonce": {s.nonce},
				"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			}
			if tc.hd != "" {
				want.Set("hd", tc.hd)
			}
			if got := u.Query(); !reflect.DeepEqual(got, want) {
				t.Errorf("query = %v\nwant    %v", got, want)
			}
			if strings.Contains(raw, s.verifier) || strings.Contains(raw, rpSecret) {
				t.Errorf("the authorization URL %s carries the verifier or the secret", raw)
			}
		})
	}
	t.Run("missing values", func(t *testing.T) {
		c, err := New(Config{Issuer: f.issuer, ClientID: rpClientID})
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][3]string{{"", "n", "v"}, {"s", "", "v"}, {"s", "n", ""}} {
			if u, err := c.AuthURL(context.Background(), rpCallback, args[0], args[1], args[2]); err == nil {
				t.Errorf("AuthURL(state %q, nonce %q, verifier %q) = %s; want an error", args[0], args[1], args[2], u)
			}
		}
	})
}

// TestDiscovery: discovery waits for first use, happens once, is tried
// again after a failure, and checks what it finds.
func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	newConnector := func(t *testing.T, issuer string) *Connector {
		t.Helper()
		c, err := New(Config{Issuer: issuer, ClientID: rpClientID, ClientSecret: rpSecret})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("failure then success on retry", func(t *testing.T) {
		f := newFakeProvider(t)
		f.discoveryFailures = 1
		c := newConnector(t, f.issuer)
		if n := f.count("discovery"); n != 0 {
			t.Fatalf("New made %d discovery requests; want none", n)
		}
		s := newSignIn()
		if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err == nil || !strings.Contains(err.Error(), f.issuer) {
			t.Fatalf("AuthURL with the provider down: %v; want a discovery error naming the issuer", err)
		}
		if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err != nil {
			t.Fatalf("AuthURL after the provider is back: %v", err)
		}
		g := f.grant(fakeGrant{userinfo: map[string]any{"sub": fakeSubject}}, func(string) string { return f.sign(f.key, f.idClaims(nil)) })
		if _, err := c.Callback(ctx, rpCallback, url.Values{"code": {g.code}}, fakeNonce, s.verifier); err != nil {
			t.Fatalf("Callback: %v", err)
		}
		if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err != nil {
			t.Fatal(err)
		}
		if n := f.count("discovery"); n != 2 {
			t.Errorf("%d discovery requests; want 2 (the failed one and one success)", n)
		}
	})

	t.Run("once under concurrent first use", func(t *testing.T) {
		f := newFakeProvider(t)
		c := newConnector(t, f.issuer)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				s := newSignIn()
				_, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n := f.count("discovery"); n != 1 {
			t.Errorf("%d discovery requests; want 1", n)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		f := newFakeProvider(t)
		c := newConnector(t, f.issuer)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		s := newSignIn()
		if _, err := c.AuthURL(cctx, rpCallback, s.state, s.nonce, s.verifier); !errors.Is(err, context.Canceled) {
			t.Errorf("AuthURL with a cancelled context: %v; want context.Canceled", err)
		}
		if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err != nil {
			t.Errorf("AuthURL afterwards: %v", err)
		}
	})

	t.Run("issuer mismatch", func(t *testing.T) {
		f := newFakeProvider(t)
		c := newConnector(t, f.issuer+"/")
		s := newSignIn()
		_, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier)
		var mismatch *gooidc.IssuerMismatchError
		if !errors.As(err, &mismatch) {
			t.Errorf("AuthURL with the issuer misspelt: %v; want an issuer mismatch", err)
		}
	})

	for _, missing := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri"} {
		t.Run("no "+missing, func(t *testing.T) {
			f := newFakeProvider(t)
			f.meta[missing] = nil
			c := newConnector(t, f.issuer)
			s := newSignIn()
			if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err == nil {
				t.Errorf("AuthURL with a discovery document without %s succeeded", missing)
			}
		})
	}

	t.Run("no such provider", func(t *testing.T) {
		f := newFakeProvider(t)
		c := newConnector(t, f.issuer+"/nothing-here")
		s := newSignIn()
		if _, err := c.AuthURL(ctx, rpCallback, s.state, s.nonce, s.verifier); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("AuthURL: %v; want the discovery's 404", err)
		}
	})
}

// TestTokenAuthMethod: the client authenticates at the token endpoint
// with client_secret_basic unless the provider lists only
// client_secret_post.
func TestTokenAuthMethod(t *testing.T) {
	tests := []struct {
		name    string
		methods any
		want    string
		// failure, if set, is what discovery's error says.
		failure string
	}{
		{name: "none listed", want: "client_secret_basic"},
		{name: "both", methods: []string{"client_secret_post", "client_secret_basic"}, want: "client_secret_basic"},
		{name: "post only", methods: []string{"client_secret_post"}, want: "client_secret_post"},
		{name: "neither", methods: []string{"private_key_jwt"}, failure: "private_key_jwt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProvider(t)
			f.meta["token_endpoint_auth_methods_supported"] = tc.methods
			c, err := New(Config{Issuer: f.issuer, ClientID: rpClientID, ClientSecret: rpSecret})
			if err != nil {
				t.Fatal(err)
			}
			g := f.grant(fakeGrant{userinfo: map[string]any{"sub": fakeSubject}}, func(string) string { return f.sign(f.key, f.idClaims(nil)) })
			_, err = c.Callback(context.Background(), rpCallback, url.Values{"code": {g.code}}, fakeNonce, "v-"+randomString())
			if tc.failure != "" {
				if err == nil || !strings.Contains(err.Error(), tc.failure) {
					t.Fatalf("Callback: %v; want an error naming %s", err, tc.failure)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !reflect.DeepEqual(f.authMethods, []string{tc.want}) {
				t.Errorf("token requests authenticated with %v; want [%s]", f.authMethods, tc.want)
			}
		})
	}
}
