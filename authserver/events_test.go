package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// wantEvent is an event a step must hand to Config.Events: the fields
// given must match, and jti says whether JTI must be set. RemoteIP must
// be the test's loopback address unless noIP.
type wantEvent struct {
	Event
	jti, noIP bool
}

// eventsEnv is the server the event tests run: the sign-in tests'
// clients and users, the confidential device client cli, and open
// registration, with every event collected.
func eventsEnv(t *testing.T) (*mfaEnv, *eventLog) {
	t.Helper()
	events := new(eventLog)
	e := signinEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, &Client{ID: "cli", Secret: PlainSecret("cli-secret"),
			GrantTypes: []string{GrantDeviceCode}, Scopes: []string{"openid"}})
		svcOpenRegistration(c)
		c.Events = events.record
	})
	return &mfaEnv{testEnv: e, events: events}, events
}

// eventFlowState is what the steps of TestEvents pass on: tokens and
// codes of earlier steps.
type eventFlowState struct {
	code, verifier, refresh, access, svcToken string
	reg                                       svcRegistered
}

// TestEvents runs the security-relevant flows one after the other and
// checks the events each hands to Config.Events, in order, with their
// key fields; then that no field of any event holds a secret any flow
// used: passwords, client secrets, tokens, codes, user codes,
// registration access tokens, TOTP keys and codes.
func TestEvents(t *testing.T) {
	e, events := eventsEnv(t)
	var st eventFlowState
	// secrets collects every secret the flows used or were given.
	secrets := []string{alicePassword, "svc-secret", "rs-secret", "cli-secret"}
	keep := func(s ...string) {
		for _, v := range s {
			if v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	tokens := func(r response) map[string]any {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("token request: %d %s", r.status, r.body)
		}
		m := r.json(t)
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			s, _ := m[k].(string)
			keep(s)
		}
		return m
	}
	ctx := context.Background()
	const ip = "127.0.0.1"
	steps := []struct {
		name string
		run  func(t *testing.T)
		want []wantEvent
	}{
		{"wrong password", func(t *testing.T) {
			b := e.browser()
			r := b.signIn(b.get(signinAuthorizeURL()), "alice", "not-"+alicePassword)
			keep("not-" + alicePassword)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", r.status)
			}
		}, []wantEvent{{Event: Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPassword, Username: "alice", Client: "app", Error: "wrong_credentials"}}}},

		{"a password typed as the username", func(t *testing.T) {
			b := e.browser()
			keep("Typed-As-Username-9f3k")
			if r := b.signIn(b.get(signinAuthorizeURL()), "Typed-As-Username-9f3k", alicePassword); r.status != http.StatusUnauthorized {
				t.Fatalf("unknown user: %d", r.status)
			}
		}, []wantEvent{{Event: Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPassword, Client: "app", Error: "wrong_credentials"}}}},

		{"sign-in, consent, code", func(t *testing.T) {
			b := e.browser()
			st.verifier = oauth2.GenerateVerifier()
			keep(st.verifier)
			r := b.signIn(b.get(signinURL(signinParams(st.verifier), "scope", "openid offline_access")), "alice", alicePassword)
			st.code = e.callback(b.consent(r, "approve", true), signinRedirect).Get("code")
			keep(st.code)
		}, []wantEvent{
			{Event: Event{Name: EventSignIn, Outcome: OutcomeSuccess, Method: SignInPassword, Username: "alice", Subject: "alice", Client: "app"}},
			{Event: Event{Name: EventConsentGiven, Method: "remembered", Username: "alice", Subject: "alice", Client: "app"}},
		}},

		{"code redeemed", func(t *testing.T) {
			m := tokens(e.signinToken(signinRedeemForm(st.code, st.verifier)))
			st.refresh, st.access = m["refresh_token"].(string), m["access_token"].(string)
		}, []wantEvent{{Event: Event{Name: EventTokenIssued, Method: GrantAuthorizationCode, Client: "app", Subject: "alice"}, jti: true}}},

		{"code replayed", func(t *testing.T) {
			if r := e.signinToken(signinRedeemForm(st.code, st.verifier)); r.errorCode(t) != codeInvalidGrant {
				t.Fatalf("replay: %s", r.body)
			}
			old := st.refresh
			if r := e.signinRefresh("app", old, ""); r.errorCode(t) != codeInvalidGrant {
				t.Fatalf("the replay left the refresh token working: %s", r.body)
			}
		}, []wantEvent{
			{Event: Event{Name: EventCodeReplay, Client: "app", Subject: "alice"}},
			{Event: Event{Name: EventTokenError, Method: GrantAuthorizationCode, Client: "app", Error: codeInvalidGrant}},
			{Event: Event{Name: EventTokenError, Method: GrantRefreshToken, Client: "app", Error: codeInvalidGrant}},
		}},

		{"refresh, and a rotated refresh token reused", func(t *testing.T) {
			b := e.browser()
			code, verifier := e.signinCodeFor(b, "openid offline_access")
			keep(code, verifier)
			m := tokens(e.signinToken(signinRedeemForm(code, verifier)))
			first := m["refresh_token"].(string)
			m = tokens(e.signinRefresh("app", first, ""))
			st.refresh, st.access = m["refresh_token"].(string), m["access_token"].(string)
			if r := e.signinRefresh("app", first, ""); r.errorCode(t) != codeInvalidGrant {
				t.Fatalf("reuse: %s", r.body)
			}
		}, []wantEvent{
			{Event: Event{Name: EventSignIn, Outcome: OutcomeSuccess, Method: SignInPassword, Username: "alice", Subject: "alice", Client: "app"}},
			{Event: Event{Name: EventTokenIssued, Method: GrantAuthorizationCode, Client: "app", Subject: "alice"}, jti: true},
			{Event: Event{Name: EventTokenIssued, Method: GrantRefreshToken, Client: "app", Subject: "alice"}, jti: true},
			{Event: Event{Name: EventRefreshReuse, Client: "app", Subject: "alice"}},
			{Event: Event{Name: EventTokenError, Method: GrantRefreshToken, Client: "app", Error: codeInvalidGrant}},
		}},

		{"client credentials", func(t *testing.T) {
			st.svcToken = e.svcToken("svc", "svc-secret", nil)
			keep(st.svcToken)
		}, []wantEvent{{Event: Event{Name: EventTokenIssued, Method: GrantClientCredentials, Client: "svc", Subject: "svc"}, jti: true}}},

		{"wrong client secret, unknown grant type", func(t *testing.T) {
			keep("svc-secreT")
			if r := e.postForm("/token", url.Values{"grant_type": {GrantClientCredentials}}, "svc", "svc-secreT"); r.status != http.StatusUnauthorized {
				t.Fatalf("wrong secret: %d", r.status)
			}
			if r := e.postForm("/token", url.Values{"grant_type": {"urn:made:up"}}, "svc", "svc-secret"); r.errorCode(t) != codeUnsupportedGrantType {
				t.Fatalf("unknown grant type: %s", r.body)
			}
		}, []wantEvent{
			{Event: Event{Name: EventClientAuthFailure, Method: AuthMethodBasic, Client: "svc", Error: codeInvalidClient}},
			{Event: Event{Name: EventTokenError, Method: GrantClientCredentials, Error: codeInvalidClient}},
			{Event: Event{Name: EventTokenError, Client: "svc", Error: codeUnsupportedGrantType}},
		}},

		{"introspection", func(t *testing.T) {
			if !e.svcActive(st.svcToken) || e.svcActive("not-a-token") {
				t.Fatal("introspection answers wrong")
			}
		}, []wantEvent{
			{Event: Event{Name: EventIntrospection, Outcome: "active", Client: "rs"}, jti: true},
			{Event: Event{Name: EventIntrospection, Outcome: "inactive", Client: "rs"}},
		}},

		{"revocation", func(t *testing.T) {
			if r := e.postForm("/revoke", url.Values{"token": {st.refresh}, "client_id": {"app"}}, "", ""); r.status != http.StatusOK {
				t.Fatalf("revoking the refresh token: %d %s", r.status, r.body)
			}
			if r := e.postForm("/revoke", url.Values{"token": {st.svcToken}}, "other", "other-secret"); r.status == http.StatusOK {
				t.Fatalf("another client revoked svc's token")
			}
			if r := e.postForm("/revoke", url.Values{"token": {st.svcToken}}, "svc", "svc-secret"); r.status != http.StatusOK {
				t.Fatalf("revoking the access token: %d %s", r.status, r.body)
			}
		}, []wantEvent{
			{Event: Event{Name: EventTokenRevoked, Outcome: OutcomeSuccess, Method: "revocation_endpoint", Client: "app", Subject: "alice"}},
			{Event: Event{Name: EventTokenRevoked, Outcome: OutcomeFailure, Method: "revocation_endpoint", Client: "other", Error: codeUnauthorizedClient}},
			{Event: Event{Name: EventTokenRevoked, Outcome: OutcomeSuccess, Method: "revocation_endpoint", Client: "svc", Subject: "svc"}, jti: true},
		}},

		{"operator revocation", func(t *testing.T) {
			if _, err := e.srv.RevokeTokens(ctx, RevokeByClient, "svc"); err != nil {
				t.Fatal(err)
			}
		}, []wantEvent{{Event: Event{Name: EventTokenRevoked, Outcome: OutcomeSuccess, Method: "admin", Client: "svc"}, noIP: true}}},

		{"device", func(t *testing.T) {
			da := e.svcDeviceStart("openid")
			code, user := da["device_code"].(string), da["user_code"].(string)
			keep(code, user, strings.ReplaceAll(user, "-", ""))
			svcWantError(t, e.svcPoll(code, "tv", ""), http.StatusBadRequest, codeAuthorizationPending)
			if r := e.browser().svcDeviceDecide(user, "approve"); r.status != http.StatusOK {
				t.Fatalf("approve: %d %s", r.status, r.body)
			}
			e.clock.Advance(10 * time.Second)
			tokens(e.svcPoll(code, "tv", ""))
		}, []wantEvent{
			{Event: Event{Name: EventDeviceCode, Outcome: "issued", Client: "tv"}},
			{Event: Event{Name: EventTokenError, Method: GrantDeviceCode, Client: "tv", Error: codeAuthorizationPending}},
			{Event: Event{Name: EventSignIn, Outcome: OutcomeSuccess, Method: SignInPassword, Username: "alice", Subject: "alice"}},
			{Event: Event{Name: EventDeviceCode, Outcome: "approved", Client: "tv", Username: "alice", Subject: "alice"}},
			{Event: Event{Name: EventTokenIssued, Method: GrantDeviceCode, Client: "tv", Subject: "alice"}, jti: true},
		}},

		{"registration: create", func(t *testing.T) {
			st.reg = e.svcMustRegister(map[string]any{"grant_types": []string{"client_credentials"}, "scope": "openid", "client_name": "Service"})
			keep(st.reg.secret, st.reg.token)
		}, nil}, // the want is filled in below, once the ID is known

		{"registration: update, a wrong token, delete", func(t *testing.T) {
			upd := map[string]any{"client_id": st.reg.id, "client_name": "Service 2", "grant_types": []string{"client_credentials"}, "scope": "openid"}
			if r := e.svcManage(http.MethodPut, st.reg.uri, st.reg.token, upd); r.status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			keep("ag_rat_wrong")
			if r := e.svcManage(http.MethodGet, st.reg.uri, "ag_rat_wrong", nil); r.status != http.StatusUnauthorized {
				t.Fatalf("a wrong registration access token: %d", r.status)
			}
			if r := e.svcManage(http.MethodDelete, st.reg.uri, st.reg.token, nil); r.status != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
		}, nil},

		{"user administration", func(t *testing.T) {
			keep("dave-first-password", "dave-second-password")
			if _, err := e.srv.AddUser(ctx, NewUser{Username: "dave", Password: "dave-first-password"}); err != nil {
				t.Fatal(err)
			}
			for _, err := range []error{
				e.srv.SetUserPassword(ctx, "dave", "dave-second-password"),
				e.srv.SetUserDisabled(ctx, "dave", true),
				e.srv.SetUserDisabled(ctx, "dave", false),
				e.srv.DeleteUser(ctx, "dave"),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}, []wantEvent{
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeAdded, Username: "dave", Subject: "dave"}, noIP: true},
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangePassword, Username: "dave", Subject: "dave"}, noIP: true},
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeDisabled, Username: "dave", Subject: "dave"}, noIP: true},
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeEnabled, Username: "dave", Subject: "dave"}, noIP: true},
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeDeleted, Username: "dave", Subject: "dave"}, noIP: true},
		}},

		{"gateway session ended, once", func(t *testing.T) {
			id, err := e.srv.StartGatewaySession(ctx, "alice", "", e.clock.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			keep(id)
			for range 2 {
				if err := e.srv.EndGatewaySession(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
		}, []wantEvent{{Event: Event{Name: EventSessionEnded, Method: "gateway", Subject: "alice"}, noIP: true}}},

		{"TOTP: set up, a wrong code, the right one", func(t *testing.T) {
			secret := e.mfaEnrol("alice")
			keep(secret)
			b, verifier, r := e.mfaPassword("alice")
			keep(verifier)
			page := b.mfaFollow(r)
			code := e.mfaCode(secret, 0)
			keep(code, mfaWrong(code))
			if r := b.mfaSubmit(page, "code", mfaWrong(code)); r.status != http.StatusUnauthorized {
				t.Fatalf("a wrong code: %d", r.status)
			}
			tokens(e.signinToken(signinRedeemForm(e.callback(b.mfaSubmit(page, "code", code), signinRedirect).Get("code"), verifier)))
		}, []wantEvent{
			{Event: Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeTOTPAdded, Subject: "alice"}, noIP: true},
			{Event: Event{Name: EventSecondFactor, Outcome: OutcomeFailure, Method: SignInTOTP, Username: "alice", Subject: "alice", Error: "wrong_code"}},
			{Event: Event{Name: EventSecondFactor, Outcome: OutcomeSuccess, Method: SignInTOTP, Username: "alice", Subject: "alice"}},
			{Event: Event{Name: EventSignIn, Outcome: OutcomeSuccess, Method: SignInPassword, Username: "alice", Subject: "alice", Client: "app"}},
			{Event: Event{Name: EventTokenIssued, Method: GrantAuthorizationCode, Client: "app", Subject: "alice"}, jti: true},
		}},
	}
	var all []Event
	for _, step := range steps {
		events.take()
		failed := t.Failed()
		step.run(t)
		if !failed && t.Failed() {
			t.Fatalf("step %q failed", step.name)
		}
		got := events.take()
		all = append(all, got...)
		want := step.want
		switch step.name {
		case "registration: create":
			want = []wantEvent{{Event: Event{Name: EventClientRegistered, Client: st.reg.id}}}
		case "registration: update, a wrong token, delete":
			want = []wantEvent{
				{Event: Event{Name: EventClientUpdated, Client: st.reg.id}},
				{Event: Event{Name: EventClientAuthFailure, Method: "registration_access_token", Client: st.reg.id, Error: "invalid_token"}},
				{Event: Event{Name: EventClientDeleted, Client: st.reg.id}},
			}
		}
		if msg := matchEvents(got, want, ip); msg != "" {
			t.Errorf("%s: %s", step.name, msg)
		}
	}

	for _, ev := range all {
		for _, field := range []string{ev.Name, ev.Outcome, ev.Method, ev.Client, ev.Subject, ev.Username, ev.RemoteIP, ev.Error, ev.JTI, ev.KeyID} {
			for _, secret := range secrets {
				if strings.Contains(field, secret) {
					t.Errorf("event %+v holds the secret %q", ev, secret)
				}
			}
		}
	}
}

// matchEvents says how got differs from want, or "" if it does not.
func matchEvents(got []Event, want []wantEvent, ip string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d events; want %d:\n got %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := w.Event
		g.JTI, g.RemoteIP = got[i].JTI, got[i].RemoteIP
		if !w.noIP {
			if got[i].RemoteIP != ip {
				return fmt.Sprintf("event %d %s: remote IP %q; want %s", i, got[i].Name, got[i].RemoteIP, ip)
			}
		} else if got[i].RemoteIP != "" {
			return fmt.Sprintf("event %d %s: remote IP %q; want none", i, got[i].Name, got[i].RemoteIP)
		}
		if w.jti != (got[i].JTI != "") {
			return fmt.Sprintf("event %d %s: jti %q; want one: %v", i, got[i].Name, got[i].JTI, w.jti)
		}
		if g != got[i] {
			return fmt.Sprintf("event %d:\n got %+v\nwant %+v", i, got[i], w.Event)
		}
	}
	return ""
}

// signinCodeFor signs alice in with b for app's request of scope (her
// consent remembered) and returns the code and the PKCE verifier.
func (e *testEnv) signinCodeFor(b *browser, scope string) (code, verifier string) {
	e.t.Helper()
	verifier = oauth2.GenerateVerifier()
	r := b.get(signinURL(signinParams(verifier), "scope", scope))
	if isSignInPage(r) {
		r = b.signIn(r, "alice", alicePassword)
	}
	return e.callback(r, signinRedirect).Get("code"), verifier
}

// TestSignInMethod: a sign-in's method is named from its provider and
// authentication methods.
func TestSignInMethod(t *testing.T) {
	for _, tc := range []struct {
		provider string
		amr      []string
		want     string
	}{
		{"", amrPassword, SignInPassword},
		{"", withAMR(amrPassword, amrTOTP...), SignInPassword},
		{"", withAMR(amrPassword, amrHWK, amrMFA), SignInPassword}, // a passkey as the second factor
		{"", []string{amrHWK, amrMFA}, SignInPasskey},
		{"", []string{amrSWK, amrMFA}, SignInPasskey},
		{"github", nil, "provider:github"},
		{"corp", amrPassword, "provider:corp"},
	} {
		if got := signInMethod(tc.provider, tc.amr); got != tc.want {
			t.Errorf("signInMethod(%q, %v) = %q; want %q", tc.provider, tc.amr, got, tc.want)
		}
	}
}
