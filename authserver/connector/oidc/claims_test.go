package oidc

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/connector"
)

// with returns a copy of claims with changes; a nil value removes a claim.
func with(claims map[string]any, changes map[string]any) map[string]any {
	out := maps.Clone(claims)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// errAny stands for any error that is not a refusal.
var errAny = errors.New("any error")

// TestCallbackClaims: against a fake provider, the ID token is verified,
// its claims are read with the configured names and types providers
// really send, the userinfo endpoint fills in what the ID token lacks,
// and the domain allow-list follows hd and verified addresses.
func TestCallbackClaims(t *testing.T) {
	f := newFakeProvider(t)
	complete := map[string]any{
		"preferred_username": "jdoe", "email": "jdoe@corp.example", "email_verified": true,
		"name": "Jane Doe", "groups": []string{"eng", "ops"},
	}
	jane := connector.Identity{
		Subject: fakeSubject, Username: "jdoe", Email: "jdoe@corp.example", EmailVerified: true,
		Name: "Jane Doe", Groups: []string{"eng", "ops"},
	}
	unverified := jane
	unverified.EmailVerified = false
	allowCorp := func(c *Config) { c.AllowDomains = []string{"corp.example"} }
	tests := []struct {
		name      string
		configure func(*Config)
		// id are the ID token's claims besides the standard ones (nil:
		// no ID token); idToken, if set, makes the ID token instead.
		id      map[string]any
		idToken func(f *fakeProvider, accessToken string) string
		// userinfo is the userinfo answer; userinfoStatus its status
		// instead; tokenError the token endpoint's 400 body, with
		// {code} replaced by the code.
		userinfo       map[string]any
		userinfoStatus int
		tokenError     string

		want         connector.Identity
		wantUserinfo int
		// err is the error expected (errAny: any failure); errText
		// what its message says; refused the refusal's reason.
		err     error
		errText string
		refused string
	}{
		{name: "complete ID token, no userinfo request", id: complete, want: jane},
		{name: "email from userinfo", id: with(complete, map[string]any{"email": nil, "email_verified": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "email": "jdoe@corp.example", "email_verified": true},
			want:     jane, wantUserinfo: 1},
		{name: "email_verified from userinfo for the same address", id: with(complete, map[string]any{"email_verified": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "email": "JDOE@corp.example", "email_verified": true},
			want:     jane, wantUserinfo: 1},
		{name: "userinfo verifying another address", id: with(complete, map[string]any{"email_verified": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "email": "other@corp.example", "email_verified": true},
			want:     unverified, wantUserinfo: 1},
		{name: "the ID token wins over userinfo", id: with(complete, map[string]any{"groups": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "name": "Someone Else", "email": "else@corp.example", "groups": []string{"eng", "ops"}},
			want:     jane, wantUserinfo: 1},
		{name: "groups from userinfo as a string", id: with(complete, map[string]any{"groups": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "groups": "eng"},
			want:     with2(jane, func(i *connector.Identity) { i.Groups = []string{"eng"} }), wantUserinfo: 1},
		{name: "userinfo for another subject", id: with(complete, map[string]any{"email": nil}),
			userinfo: map[string]any{"sub": "u-someone-else", "email": "jdoe@corp.example", "email_verified": true},
			err:      errUserinfoSubject, wantUserinfo: 1},
		{name: "userinfo failing", id: with(complete, map[string]any{"groups": nil}), userinfoStatus: 500,
			err: errAny, errText: "userinfo", wantUserinfo: 1},
		{name: "email_verified as the string true", id: with(complete, map[string]any{"email_verified": "true"}), want: jane},
		{name: "email_verified as the string false", id: with(complete, map[string]any{"email_verified": "false"}), want: unverified},
		{name: "email_verified of another type", id: with(complete, map[string]any{"email_verified": 1}),
			userinfo: map[string]any{"sub": fakeSubject}, want: unverified, wantUserinfo: 1},
		{name: "groups as a string", id: with(complete, map[string]any{"groups": "eng"}),
			want: with2(jane, func(i *connector.Identity) { i.Groups = []string{"eng"} })},
		{name: "groups with other values", id: with(complete, map[string]any{"groups": []any{"eng", 7, "", nil, "ops"}}), want: jane},
		{name: "amr from the ID token", id: with(complete, map[string]any{"amr": []string{"pwd", "otp", "mfa"}}),
			want: with2(jane, func(i *connector.Identity) { i.AMR = []string{"pwd", "otp", "mfa"} })},
		{name: "amr never from userinfo", id: with(complete, map[string]any{"groups": nil}),
			userinfo: map[string]any{"sub": fakeSubject, "groups": []string{"eng", "ops"}, "amr": []string{"mfa"}},
			want:     jane, wantUserinfo: 1},
		{name: "claims mapping", configure: func(c *Config) {
			c.Claims = ClaimNames{Username: "upn", Email: "mail", Name: "display_name", Groups: "roles"}
		}, id: map[string]any{"upn": "jdoe", "mail": "jdoe@corp.example", "email_verified": true, "display_name": "Jane Doe",
			"roles": []string{"eng", "ops"}, "name": "Not This", "email": "not@this.example", "groups": []string{"not-this"}}, want: jane},
		{name: "hd admits an unverified address", configure: allowCorp,
			id: with(complete, map[string]any{"email_verified": false, "hd": "corp.example"}), want: unverified},
		{name: "hd admits without an address", configure: allowCorp,
			id:       with(complete, map[string]any{"email": nil, "email_verified": nil, "hd": "Corp.Example"}),
			userinfo: map[string]any{"sub": fakeSubject},
			want:     with2(unverified, func(i *connector.Identity) { i.Email = "" }), wantUserinfo: 1},
		{name: "verified address admits, any case", configure: func(c *Config) { c.AllowDomains = []string{"Corp.Example"} },
			id:   with(complete, map[string]any{"email": "jdoe@CORP.example"}),
			want: with2(jane, func(i *connector.Identity) { i.Email = "jdoe@CORP.example" })},
		{name: "unverified address refused", configure: allowCorp, id: with(complete, map[string]any{"email_verified": false}),
			refused: "The identity provider has not verified your email address at corp.example, so this account cannot sign in here."},
		{name: "hd of another domain refused", configure: allowCorp,
			id:      with(complete, map[string]any{"hd": "other.example", "email": "jdoe@other.example"}),
			refused: "Accounts from other.example cannot sign in here."},
		{name: "hd alone of another domain refused", configure: allowCorp,
			id:       with(complete, map[string]any{"hd": "other.example", "email": nil, "email_verified": nil}),
			userinfo: map[string]any{"sub": fakeSubject}, wantUserinfo: 1,
			refused: "Accounts from other.example cannot sign in here."},
		{name: "no address refused", configure: allowCorp, id: with(complete, map[string]any{"email": nil, "email_verified": nil}),
			userinfo: map[string]any{"sub": fakeSubject}, wantUserinfo: 1,
			refused: "This account has no email address, so it cannot sign in here."},
		{name: "no ID token", err: errNoIDToken},
		{name: "expired ID token", id: with(complete, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
			err: errAny, errText: "expired"},
		{name: "expired on the configured clock", configure: func(c *Config) {
			c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}, id: complete, err: errAny, errText: "expired"},
		{name: "ID token for another audience", id: with(complete, map[string]any{"aud": "someone-else"}), err: errAny, errText: "audience"},
		{name: "ID token of another issuer", id: with(complete, map[string]any{"iss": "https://idp.evil.example"}), err: errAny, errText: "issue"},
		{name: "ID token signed with an unknown key", idToken: func(f *fakeProvider, _ string) string {
			return f.sign(f.stranger, f.idClaims(complete))
		}, err: errAny, errText: "signature"},
		{name: "ID token without subject", id: with(complete, map[string]any{"sub": ""}), err: errNoSubject},
		{name: "ID token without nonce", id: with(complete, map[string]any{"nonce": ""}), err: errNonce},
		{name: "ID token with another nonce", id: with(complete, map[string]any{"nonce": "n-other"}), err: errNonce},
		{name: "ID token for another authorized party", id: with(complete, map[string]any{"aud": []string{rpClientID, "other"}, "azp": "other"}),
			err: errAuthorizedParty},
		{name: "ID token for us among others", id: with(complete, map[string]any{"aud": []string{"other", rpClientID}, "azp": rpClientID}),
			want: jane},
		{name: "at_hash of the access token", idToken: func(f *fakeProvider, at string) string {
			return f.sign(f.key, f.idClaims(with(complete, map[string]any{"at_hash": atHash(at)})))
		}, want: jane},
		{name: "at_hash of another access token", id: with(complete, map[string]any{"at_hash": atHash("at-other")}),
			err: errAny, errText: "at_hash"},
		{name: "token endpoint error echoing the code", id: complete,
			tokenError: `{"error":"invalid_grant","error_description":"no such code","echo":"{code} ` + rpSecret + `"}`,
			err:        errAny, errText: "invalid_grant: no such code"},
		{name: "token endpoint error without JSON", id: complete, tokenError: `oops {code}`,
			err: errAny, errText: "400 Bad Request"},
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
			makeIDToken := tc.idToken
			if makeIDToken == nil && tc.id != nil {
				makeIDToken = func(f *fakeProvider, _ string) string { return f.sign(f.key, f.idClaims(tc.id)) }
			}
			var idToken func(string) string
			if makeIDToken != nil {
				idToken = func(at string) string { return makeIDToken(f, at) }
			}
			g := f.grant(fakeGrant{userinfo: tc.userinfo, userinfoStatus: tc.userinfoStatus, tokenError: tc.tokenError}, idToken)
			before := f.count("userinfo")
			verifier := randomString() + randomString()
			id, err := c.Callback(context.Background(), rpCallback, url.Values{"code": {g.code}, "state": {"s"}}, fakeNonce, verifier)
			if got := f.count("userinfo") - before; got != tc.wantUserinfo {
				t.Errorf("%d userinfo requests; want %d", got, tc.wantUserinfo)
			}
			switch {
			case tc.refused != "":
				r, ok := connector.IsRefused(err)
				if !ok {
					t.Fatalf("Callback = %+v, %v; want refused", id, err)
				}
				if r.Reason != tc.refused {
					t.Errorf("reason = %q\nwant     %q", r.Reason, tc.refused)
				}
			case tc.err != nil:
				if err == nil {
					t.Fatalf("Callback = %+v; want an error", id)
				}
				t.Logf("err: %v", err)
				if tc.err != errAny && !errors.Is(err, tc.err) {
					t.Errorf("err = %v; want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err = %v; want one saying %q", err, tc.errText)
				}
				if _, refused := connector.IsRefused(err); refused {
					t.Errorf("err = %v is a refusal; want a failure", err)
				}
				checkNoSecrets(t, err, g.code, verifier, rpSecret, g.accessToken, g.idToken)
			default:
				if err != nil {
					t.Fatalf("Callback: %v", err)
				}
				if !reflect.DeepEqual(id, tc.want) {
					t.Errorf("identity = %+v\nwant       %+v", id, tc.want)
				}
			}
		})
	}
}

// with2 returns a copy of id changed by change.
func with2(id connector.Identity, change func(*connector.Identity)) connector.Identity {
	id.Groups = append([]string(nil), id.Groups...)
	change(&id)
	return id
}

// TestIssuerParameter: the iss of an authorization response must be the
// issuer when present, and present when the provider's metadata promises
// it (RFC 9207); a response failing this never reaches the token
// endpoint.
func TestIssuerParameter(t *testing.T) {
	tests := []struct {
		name      string
		supported bool
		iss       []string
		// ok says the callback succeeds; else it fails with err.
		ok  bool
		err error
	}{
		{name: "not promised, absent", ok: true},
		{name: "not promised, the issuer", iss: []string{"{issuer}"}, ok: true},
		{name: "not promised, another issuer", iss: []string{"https://idp.evil.example"}, err: errISSMismatch},
		{name: "not promised, empty", iss: []string{""}, err: errISSMismatch},
		{name: "promised, the issuer", supported: true, iss: []string{"{issuer}"}, ok: true},
		{name: "promised, absent", supported: true, err: errNoISS},
		{name: "promised, another issuer", supported: true, iss: []string{"https://idp.evil.example"}, err: errISSMismatch},
		{name: "promised, twice", supported: true, iss: []string{"{issuer}", "{issuer}"}, err: errISSMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProvider(t)
			f.meta["authorization_response_iss_parameter_supported"] = tc.supported
			c, err := New(Config{Issuer: f.issuer, ClientID: rpClientID, ClientSecret: rpSecret})
			if err != nil {
				t.Fatal(err)
			}
			g := f.grant(fakeGrant{userinfo: map[string]any{"sub": fakeSubject}}, func(string) string {
				return f.sign(f.key, f.idClaims(nil))
			})
			q := url.Values{"code": {g.code}, "state": {"s"}}
			for _, iss := range tc.iss {
				q.Add("iss", strings.ReplaceAll(iss, "{issuer}", f.issuer))
			}
			id, err := c.Callback(context.Background(), rpCallback, q, fakeNonce, "verifier-"+randomString())
			if tc.ok {
				if err != nil || id.Subject != fakeSubject {
					t.Fatalf("Callback = %+v, %v; want %s signed in", id, err, fakeSubject)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Callback = %+v, %v; want %v", id, err, tc.err)
			}
			if n := f.count("token"); n != 0 {
				t.Errorf("the code went to the token endpoint %d times", n)
			}
		})
	}
}
