package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestClientCredentialsWithOAuth2Library is the product's first flow with
// golang.org/x/oauth2/clientcredentials as the client, authenticating in
// the header and in the body: a token verified against /jwks, introspected
// with every RFC 7662 member, revoked, and then only active:false.
func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	e := newEnv(t, nil)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(fmt.Sprint("auth style ", style), func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID: "svc", ClientSecret: "svc-secret", TokenURL: e.issuer + "/token",
				Scopes: []string{"read"}, AuthStyle: style,
				EndpointParams: url.Values{"resource": {"https://api.example.com"}},
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
				t.Errorf("token = %+v; want a Bearer token with an expiry and no refresh token (RFC 6749 §4.4.3)", tok)
			}
			if tok.Extra("scope") != "read" {
				t.Errorf("granted scope = %v; want read", tok.Extra("scope"))
			}
			_, c := e.svcVerifyJWT(tok.AccessToken)
			if c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "read" || c.ID == "" ||
				!slices.Equal(c.Audience, jwt.Audience{"https://api.example.com"}) || c.IssuedAt == nil || c.Expiry == nil {
				t.Errorf("claims = %+v", c)
			}
			if got := c.Expiry.Time().Sub(c.IssuedAt.Time()); got != time.Hour || c.IssuedAt.Time().Unix() != e.clock.Now().Unix() {
				t.Errorf("token issued at %v lives %v; want now on the clock and the default hour", c.IssuedAt.Time(), got)
			}

			in := e.svcIntrospect(tok.AccessToken)
			if in["active"] != true || in["client_id"] != "svc" || in["sub"] != "svc" || in["scope"] != "read" ||
				in["aud"] != "https://api.example.com" || in["iss"] != e.issuer || in["token_type"] != "Bearer" || in["jti"] != c.ID ||
				in["exp"] != float64(c.Expiry.Time().Unix()) || in["iat"] != float64(c.IssuedAt.Time().Unix()) {
				t.Errorf("introspection = %v", in)
			}

			r := e.postForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, "svc", "svc-secret")
			if r.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			if in := e.svcIntrospect(tok.AccessToken); len(in) != 1 || in["active"] != false {
				t.Errorf("after revocation introspection = %v; want only active:false", in)
			}
		})
	}
}

// TestClientCredentialsGrants: what a client credentials token is granted
// (RFC 6749 §4.4, RFC 8707): every allowed scope when none is asked, the
// asked ones otherwise; every audience of the client when no resource is
// named, the named ones otherwise, and the issuer for a client without
// audiences; the client's own lifetime if it has one.
func TestClientCredentialsGrants(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.Clients = append(cfg.Clients, &Client{ID: "brief", Secret: PlainSecret("brief-secret"), AccessTokenLifetime: time.Second})
	})
	both := []string{"https://api.example.com", "https://other.example.com"}
	for _, tt := range []struct {
		name, client, secret string
		form                 url.Values
		scope                string
		aud                  []string
		expiresIn            float64
	}{
		{"no scope, no resource", "svc", "svc-secret", nil, "read write", both, 3600},
		{"one scope", "svc", "svc-secret", url.Values{"scope": {"write"}}, "write", both, 3600},
		{"scopes in the asked order, once each", "svc", "svc-secret", url.Values{"scope": {"write read  write"}}, "write read", both, 3600},
		{"one resource", "svc", "svc-secret", url.Values{"resource": {"https://other.example.com"}}, "read write", []string{"https://other.example.com"}, 3600},
		{"several resources (RFC 8707 §2)", "svc", "svc-secret", url.Values{"resource": {"https://other.example.com", "https://api.example.com"}}, "read write",
			[]string{"https://other.example.com", "https://api.example.com"}, 3600},
		{"a resource twice", "svc", "svc-secret", url.Values{"resource": {"https://api.example.com", "https://api.example.com"}}, "read write", []string{"https://api.example.com"}, 3600},
		{"a client without audiences", "other", "other-secret", nil, "read", []string{e.issuer}, 3600},
		{"a client's own lifetime", "brief", "brief-secret", nil, "", []string{e.issuer}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {GrantClientCredentials}}
			for k, v := range tt.form {
				form[k] = v
			}
			r := e.postForm("/token", form, tt.client, tt.secret)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.json(t)
			if scope, _ := m["scope"].(string); scope != tt.scope || m["expires_in"] != tt.expiresIn || m["refresh_token"] != nil || m["id_token"] != nil {
				t.Errorf("response = %v; want scope %q, expires_in %v", m, tt.scope, tt.expiresIn)
			}
			_, c := e.svcVerifyJWT(m["access_token"].(string))
			if !slices.Equal(c.Audience, jwt.Audience(tt.aud)) || c.Scope != tt.scope || c.Subject != tt.client {
				t.Errorf("claims = %+v; want aud %v", c, tt.aud)
			}
		})
	}
}

// TestClientCredentialsErrors: the grant's refusals (RFC 6749 §4.4, §5.2;
// RFC 8707 §2): invalid_scope, invalid_target, and unauthorized_client
// for public clients and clients not given the grant.
func TestClientCredentialsErrors(t *testing.T) {
	e := newEnv(t, nil)
	svc := []string{svcBasic("svc", "svc-secret")}
	cc := "grant_type=client_credentials"
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	e.svcRun(t, []svcCase{
		{name: "scope not allowed", path: "/token", contentType: svcFormType, auth: []string{svcBasic("other", "other-secret")}, body: cc + "&scope=write", status: 400, code: codeInvalidScope},
		{name: "one scope of two not allowed", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=read+admin", status: 400, code: codeInvalidScope},
		{name: "scope with bad characters", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=" + url.QueryEscape(`read "x"`), status: 400, code: codeInvalidScope},
		{name: "scope with a backslash", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=" + url.QueryEscape(`re\ad`), status: 400, code: codeInvalidScope},
		{name: "scope with a non-ASCII character", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=" + url.QueryEscape("réad"), status: 400, code: codeInvalidScope},
		{name: "huge scope", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=" + strings.Repeat("abc+", 15000), status: 400, code: codeInvalidScope},
		{name: "too many scopes", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&scope=" + strings.Join(many, "+"), status: 400, code: codeInvalidScope},
		{name: "resource not allowed", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&resource=" + url.QueryEscape("https://evil.example"), status: 400, code: codeInvalidTarget},
		{name: "one resource of two not allowed", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&resource=" + url.QueryEscape("https://api.example.com") + "&resource=" + url.QueryEscape("https://evil.example"), status: 400, code: codeInvalidTarget},
		{name: "relative resource", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&resource=/api", status: 400, code: codeInvalidTarget},
		{name: "resource with a fragment", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&resource=" + url.QueryEscape("https://api.example.com#x"), status: 400, code: codeInvalidTarget},
		{name: "resource with an empty fragment", path: "/token", contentType: svcFormType, auth: svc, body: cc + "&resource=" + url.QueryEscape("https://api.example.com#"), status: 400, code: codeInvalidTarget},
		{name: "a resource for a client without audiences", path: "/token", contentType: svcFormType, auth: []string{svcBasic("other", "other-secret")}, body: cc + "&resource=" + url.QueryEscape(e.issuer), status: 400, code: codeInvalidTarget},
		{name: "public client", path: "/token", contentType: svcFormType, body: cc + "&client_id=spa", status: 400, code: codeUnauthorizedClient},
		{name: "public device client", path: "/token", contentType: svcFormType, body: cc + "&client_id=tv", status: 400, code: codeUnauthorizedClient},
		{name: "confidential client without the grant", path: "/token", contentType: svcFormType, auth: []string{svcBasic("webapp", "webapp-secret")}, body: cc, status: 400, code: codeUnauthorizedClient},
	})
}
