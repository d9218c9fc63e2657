package authserver

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// svcPoll makes one device token request as client (public if secret is
// empty).
func (e *testEnv) svcPoll(deviceCode, client, secret string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {deviceCode}}
	if secret == "" {
		f.Set("client_id", client)
		return e.postForm("/token", f, "", "")
	}
	return e.postForm("/token", f, client, secret)
}

// TestDeviceGrantPolling: the device polls (RFC 8628 §3.4, §3.5):
// authorization_pending until the user decides, slow_down for a poll
// within the interval, which grows by 5 seconds each time; once approved,
// an access token, a refresh token (offline_access) and an ID token for
// the user who approved; the device code is then spent.
func TestDeviceGrantPolling(t *testing.T) {
	e := svcDeviceEnv(t, nil)
	da := e.svcDeviceStart("openid profile offline_access")
	code := da["device_code"].(string)
	steps := []struct {
		wait time.Duration
		want string
	}{
		{0, codeAuthorizationPending},
		{0, codeSlowDown},               // at once: the interval becomes 10 s
		{6 * time.Second, codeSlowDown}, // within 10 s: it becomes 15 s
		{15 * time.Second, codeAuthorizationPending},
		{14 * time.Second, codeSlowDown}, // within 15 s: 20 s
		{20 * time.Second, codeAuthorizationPending},
	}
	for i, s := range steps {
		e.clock.Advance(s.wait)
		svcWantError(t, e.svcPoll(code, "tv", ""), http.StatusBadRequest, s.want)
		if t.Failed() {
			t.Fatalf("poll %d failed", i+1)
		}
	}
	if r := e.browser().svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	e.clock.Advance(20 * time.Second)
	r := e.svcPoll(code, "tv", "")
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("after approval: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["token_type"] != "Bearer" || m["scope"] != "openid profile offline_access" || m["refresh_token"] == nil || m["id_token"] == nil {
		t.Errorf("token response = %v", m)
	}
	id := e.verifyIDToken(m["id_token"].(string), "tv")
	if id.Subject != "alice" {
		t.Errorf("ID token sub = %q", id.Subject)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	if err := id.Claims(&claims); err != nil || !slices.Contains(claims.AMR, "pwd") {
		t.Errorf("amr = %v (%v); want the approving sign-in's", claims.AMR, err)
	}
	if in := e.svcIntrospect(m["access_token"].(string)); in["sub"] != "alice" || in["client_id"] != "tv" || in["aud"] != e.issuer {
		t.Errorf("introspection = %v", in)
	}
	// The refresh token works for the device client.
	rr := e.postForm("/token", url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {"tv"}}, "", "")
	if rr.status != http.StatusOK {
		t.Errorf("refresh: %d %s", rr.status, rr.body)
	}
	// The device code is single use.
	e.clock.Advance(time.Minute)
	svcWantError(t, e.svcPoll(code, "tv", ""), http.StatusBadRequest, codeInvalidGrant)
}

// TestDeviceGrantErrors: the device grant's other answers (RFC 8628
// §3.5): invalid_request without a device code, invalid_grant for an
// unknown code, another client's code or a user who can no longer sign
// in, access_denied after the user denied, and expired_token once the
// code's lifetime has passed on the clock.
func TestDeviceGrantErrors(t *testing.T) {
	e := svcDeviceEnv(t, nil)

	t.Run("no device code", func(t *testing.T) {
		r := e.postForm("/token", url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"tv"}}, "", "")
		svcWantError(t, r, http.StatusBadRequest, codeInvalidRequest)
	})
	t.Run("unknown device code", func(t *testing.T) {
		svcWantError(t, e.svcPoll("ag_dc_nothing", "tv", ""), http.StatusBadRequest, codeInvalidGrant)
	})
	t.Run("another client", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		svcWantError(t, e.svcPoll(da["device_code"].(string), "cli", "cli-secret"), http.StatusBadRequest, codeInvalidGrant)
		// The code is still the device's.
		svcWantError(t, e.svcPoll(da["device_code"].(string), "tv", ""), http.StatusBadRequest, codeAuthorizationPending)
	})
	t.Run("denied", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		if r := e.browser().svcDeviceDecide(da["user_code"].(string), "deny"); r.status != http.StatusOK {
			t.Fatalf("deny: %d %s", r.status, r.body)
		}
		svcWantError(t, e.svcPoll(da["device_code"].(string), "tv", ""), http.StatusBadRequest, codeAccessDenied)
	})
	t.Run("expired", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		code := da["device_code"].(string)
		e.clock.Advance(10*time.Minute - time.Second)
		svcWantError(t, e.svcPoll(code, "tv", ""), http.StatusBadRequest, codeAuthorizationPending)
		e.clock.Advance(time.Second)
		svcWantError(t, e.svcPoll(code, "tv", ""), http.StatusBadRequest, codeExpiredToken)
	})
	t.Run("approved but expired before redeemed", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		if r := e.browser().svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusOK {
			t.Fatalf("approve: %d", r.status)
		}
		e.clock.Advance(10 * time.Minute)
		svcWantError(t, e.svcPoll(da["device_code"].(string), "tv", ""), http.StatusBadRequest, codeExpiredToken)
	})
	t.Run("the user can no longer sign in", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		if r := e.browser().svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusOK {
			t.Fatalf("approve: %d", r.status)
		}
		restarted := e.svcRestart(func(cfg *Config) {
			cfg.Users = cfg.Users[1:]
			cfg.Clients = append(cfg.Clients, &Client{ID: "cli", Secret: PlainSecret("cli-secret"), GrantTypes: []string{GrantDeviceCode}})
		})
		req := svcFormRequest(t, e.issuer+"/token", url.Values{"grant_type": {GrantDeviceCode}, "device_code": {da["device_code"].(string)}, "client_id": {"tv"}}, "", "")
		svcWantError(t, svcServe(t, restarted, req), http.StatusBadRequest, codeInvalidGrant)
	})
}
