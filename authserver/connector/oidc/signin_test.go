package oidc

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
)

// withScopes sets the scopes the connector requests.
func withScopes(scopes ...string) func(*Config) {
	return func(c *Config) { c.Scopes = scopes }
}

// TestSignIn: the whole sign-in at a real OpenID provider, from AuthURL
// through the provider's sign-in and consent pages to Callback, with the
// claims mapping and the allow-lists.
func TestSignIn(t *testing.T) {
	up := newUpstream(t)
	alice := connector.Identity{
		Subject: "alice", Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"users", "admins"},
		AMR: []string{"pwd"}, // the upstream (this server) says she signed in with a password
	}
	aliceNoGroups := alice
	aliceNoGroups.Groups = nil
	tests := []struct {
		name      string
		configure func(*Config)
		user      string
		want      connector.Identity
		// refused, if not empty, is the reason the sign-in is refused.
		refused string
	}{
		{name: "full flow with groups", configure: withScopes("openid", "profile", "email", "groups"), user: "alice", want: alice},
		{name: "default scopes release no groups", user: "alice", want: aliceNoGroups},
		{name: "openid added to the scopes", configure: withScopes("profile", "email", "groups"), user: "alice", want: alice},
		{name: "claims mapping", configure: func(c *Config) {
			c.Scopes = []string{"openid", "profile", "email", "groups"}
			c.Claims = ClaimNames{Username: "email", Name: "preferred_username", Groups: "roles"}
		}, user: "alice", want: connector.Identity{
			Subject: "alice", Username: "alice@example.com", Email: "alice@example.com", EmailVerified: true, Name: "alice",
			AMR: []string{"pwd"},
		}},
		{name: "allowed domain, any case", configure: func(c *Config) { c.AllowDomains = []string{"EXAMPLE.com"} },
			user: "alice", want: aliceNoGroups},
		{name: "allowed domain among several", configure: func(c *Config) { c.AllowDomains = []string{"example.net", "example.com"} },
			user: "alice", want: aliceNoGroups},
		{name: "domain not allowed", configure: func(c *Config) { c.AllowDomains = []string{"example.com"} },
			user: "carol", refused: "Accounts from example.org cannot sign in here."},
		{name: "allowed group", configure: func(c *Config) {
			c.Scopes = []string{"openid", "profile", "email", "groups"}
			c.AllowGroups = []string{"staff", "admins"}
		}, user: "alice", want: alice},
		{name: "in no allowed group", configure: func(c *Config) {
			c.Scopes = []string{"openid", "profile", "email", "groups"}
			c.AllowGroups = []string{"admins"}
		}, user: "carol", refused: "This account is not in a group that can sign in here."},
		{name: "groups not released", configure: func(c *Config) { c.AllowGroups = []string{"admins"} },
			user: "alice", refused: "This account is not in a group that can sign in here."},
		{name: "allowed domain and group", configure: func(c *Config) {
			c.Scopes = []string{"openid", "profile", "email", "groups"}
			c.AllowDomains = []string{"example.com"}
			c.AllowGroups = []string{"users"}
		}, user: "alice", want: alice},
		{name: "allowed group, domain not allowed", configure: func(c *Config) {
			c.Scopes = []string{"openid", "profile", "email", "groups"}
			c.AllowDomains = []string{"example.net"}
			c.AllowGroups = []string{"users"}
		}, user: "alice", refused: "Accounts from example.com cannot sign in here."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := up.connector(tc.configure)
			s := newSignIn()
			q := up.start(c, s, tc.user, "approve")
			if q.Get("iss") != up.issuer {
				t.Errorf("callback iss = %q; want %q", q.Get("iss"), up.issuer)
			}
			id, err := c.Callback(context.Background(), rpCallback, q, s.nonce, s.verifier)
			if tc.refused != "" {
				r, ok := connector.IsRefused(err)
				if !ok {
					t.Fatalf("Callback = %+v, %v; want refused: %s", id, err, tc.refused)
				}
				if r.Reason != tc.refused {
					t.Errorf("reason = %q; want %q", r.Reason, tc.refused)
				}
				if id.Subject != "" {
					t.Errorf("a refused sign-in returned %+v", id)
				}
				return
			}
			if err != nil {
				t.Fatalf("Callback: %v", err)
			}
			if !reflect.DeepEqual(id, tc.want) {
				t.Errorf("identity = %+v\nwant       %+v", id, tc.want)
			}
		})
	}
}

// TestCallbackRejects: a callback whose nonce, verifier, issuer or code
// is not the sign-in's fails, and the error names no code or secret.
func TestCallbackRejects(t *testing.T) {
	up := newUpstream(t)
	tests := []struct {
		name   string
		tamper func(q url.Values, s *signIn)
		// want is the error, or nil for the token endpoint's refusal
		// whose message contains text.
		want error
		text string
	}{
		{name: "nonce mismatch", tamper: func(_ url.Values, s *signIn) { s.nonce = "n-someone-else" }, want: errNonce},
		{name: "wrong verifier", tamper: func(_ url.Values, s *signIn) { s.verifier = oauth2.GenerateVerifier() }, text: "invalid_grant"},
		{name: "wrong code", tamper: func(q url.Values, _ *signIn) { q.Set("code", "not-a-code") }, text: "invalid_grant"},
		{name: "no code", tamper: func(q url.Values, _ *signIn) { q.Del("code") }, want: errNoCode},
		{name: "iss of another issuer", tamper: func(q url.Values, _ *signIn) { q.Set("iss", "https://idp.evil.example") }, want: errISSMismatch},
		{name: "iss with a trailing slash", tamper: func(q url.Values, _ *signIn) { q.Set("iss", up.issuer+"/") }, want: errISSMismatch},
		{name: "iss twice", tamper: func(q url.Values, _ *signIn) { q.Add("iss", up.issuer) }, want: errISSMismatch},
		{name: "iss missing, though the provider promises it", tamper: func(q url.Values, _ *signIn) { q.Del("iss") }, want: errNoISS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := up.connector(nil)
			s := newSignIn()
			q := up.start(c, s, "alice", "approve")
			code := q.Get("code")
			tc.tamper(q, &s)
			id, err := c.Callback(context.Background(), rpCallback, q, s.nonce, s.verifier)
			if err == nil {
				t.Fatalf("Callback = %+v; want an error", id)
			}
			t.Logf("err: %v", err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v; want %v", err, tc.want)
			}
			if tc.want == nil && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want one saying %s", err, tc.text)
			}
			if _, refused := connector.IsRefused(err); refused {
				t.Errorf("err = %v is a refusal; want a failure", err)
			}
			checkNoSecrets(t, err, code, s.verifier, rpSecret)
		})
	}
}

// TestCodeReplay: the code redeems once; a replayed callback fails.
func TestCodeReplay(t *testing.T) {
	up := newUpstream(t)
	c := up.connector(nil)
	s := newSignIn()
	q := up.start(c, s, "alice", "approve")
	if _, err := c.Callback(context.Background(), rpCallback, q, s.nonce, s.verifier); err != nil {
		t.Fatalf("first Callback: %v", err)
	}
	if id, err := c.Callback(context.Background(), rpCallback, q, s.nonce, s.verifier); err == nil {
		t.Fatalf("replayed Callback = %+v; want an error", id)
	}
}

// TestProviderError: an error the provider sends to the callback, such as
// access_denied when the person declines, is a *connector.ProviderError,
// reported before any request to the provider.
func TestProviderError(t *testing.T) {
	up := newUpstream(t)
	offline, err := New(Config{Issuer: "https://idp.invalid", ClientID: "rp", HTTPClient: noNetwork(t)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		c     *Connector
		query func() url.Values
		want  connector.ProviderError
	}{
		{name: "declined at the provider's consent page", c: up.connector(nil), query: func() url.Values {
			s := newSignIn()
			return up.start(up.connector(nil), s, "alice", "deny")
		}, want: connector.ProviderError{Code: "access_denied"}},
		{name: "error with a description", c: offline, query: func() url.Values {
			return url.Values{"error": {"temporarily_unavailable"}, "error_description": {"try later"}, "state": {"s"}}
		}, want: connector.ProviderError{Code: "temporarily_unavailable", Description: "try later"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.query()
			_, err := tc.c.Callback(context.Background(), rpCallback, q, "n", "v")
			var pe *connector.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v; want a *connector.ProviderError", err)
			}
			if pe.Code != tc.want.Code {
				t.Errorf("error = %+v; want %+v", *pe, tc.want)
			}
			if tc.want.Description != "" && pe.Description != tc.want.Description {
				t.Errorf("description = %q; want %q", pe.Description, tc.want.Description)
			}
		})
	}
}

// checkNoSecrets fails if err's message contains one of the secrets.
func checkNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error %q contains the secret %q", err, s)
		}
	}
}
