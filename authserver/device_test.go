package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// svcDeviceEnv is a test server with a confidential device client, cli,
// besides the public tv.
func svcDeviceEnv(t *testing.T, configure func(*Config)) *testEnv {
	return newEnv(t, func(cfg *Config) {
		cfg.Clients = append(cfg.Clients, &Client{ID: "cli", Secret: PlainSecret("cli-secret"),
			GrantTypes: []string{GrantDeviceCode}, Scopes: []string{"openid"}})
		if configure != nil {
			configure(cfg)
		}
	})
}

// svcDeviceStart asks for a device authorization for tv with scope and
// returns the response.
func (e *testEnv) svcDeviceStart(scope string) map[string]any {
	e.t.Helper()
	r := e.postForm("/device/code", url.Values{"client_id": {"tv"}, "scope": {scope}}, "", "")
	if r.status != http.StatusOK {
		e.t.Fatalf("/device/code: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// svcDeviceDecide plays the user at the verification page: signs in as
// alice if the browser is not signed in, enters userCode, and, unless
// decision is "", answers the approval page with it. It returns the last
// page.
func (b *browser) svcDeviceDecide(userCode, decision string) response {
	b.e.t.Helper()
	r := b.get("/device")
	if r.status == http.StatusSeeOther {
		r = b.signIn(b.get(r.header.Get("Location")), "alice", alicePassword)
		if r.status != http.StatusSeeOther {
			b.e.t.Fatalf("sign-in for the device page: %d %s", r.status, r.body)
		}
		r = b.get(r.header.Get("Location"))
	}
	f := fields(r)
	f.Set("user_code", userCode)
	f.Set("decision", "lookup")
	r = b.post("/device", f)
	if decision == "" || r.status != http.StatusOK {
		return r
	}
	f = fields(r)
	f.Set("decision", decision)
	return b.post("/device", f)
}

// TestDeviceAuthorization: the device authorization endpoint (RFC 8628
// §3.1, §3.2) answers a device client, public or confidential, with a
// device code, a user code of eight consonants shown as XXXX-XXXX, the
// verification URIs, the lifetime and the polling interval, uncached;
// also at the /device-authorization spelling of the product's first
// specification and with a trailing slash.
func TestDeviceAuthorization(t *testing.T) {
	e := svcDeviceEnv(t, nil)
	for _, tt := range []struct {
		name, path, user, pass string
		form                   url.Values
	}{
		{"public", "/device/code", "", "", url.Values{"client_id": {"tv"}, "scope": {"openid profile"}}},
		{"trailing slash", "/device/code/", "", "", url.Values{"client_id": {"tv"}}},
		{"first spelling", "/device-authorization", "", "", url.Values{"client_id": {"tv"}, "scope": {"openid profile"}}},
		{"first spelling, trailing slash", "/device-authorization/", "", "", url.Values{"client_id": {"tv"}, "scope": {"openid profile"}}},
		{"confidential", "/device/code", "cli", "cli-secret", url.Values{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postForm(tt.path, tt.form, tt.user, tt.pass)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
			m := r.json(t)
			dc, _ := m["device_code"].(string)
			uc, _ := m["user_code"].(string)
			if !strings.HasPrefix(dc, "ag_dc_") || len(uc) != 9 || uc[4] != '-' || strings.Trim(strings.Replace(uc, "-", "", 1), userCodeAlphabet) != "" {
				t.Errorf("device_code %q, user_code %q", dc, uc)
			}
			if m["verification_uri"] != e.issuer+"/device" || m["verification_uri_complete"] != e.issuer+"/device?user_code="+uc ||
				m["expires_in"] != float64(600) || m["interval"] != float64(5) {
				t.Errorf("response = %v", m)
			}
		})
	}
	// The lifetime and interval come from the configuration.
	e = svcDeviceEnv(t, func(cfg *Config) { cfg.DeviceCodeLifetime, cfg.DevicePollInterval = 2*time.Minute, 3*time.Second })
	if m := e.svcDeviceStart("openid"); m["expires_in"] != float64(120) || m["interval"] != float64(3) {
		t.Errorf("configured lifetime and interval: %v", m)
	}
}

// TestDeviceAuthorizationErrors: the device authorization endpoint's
// refusals (RFC 8628 §3.2, RFC 6749 §5.2, RFC 8707 §2).
func TestDeviceAuthorizationErrors(t *testing.T) {
	e := svcDeviceEnv(t, nil)
	e.svcRun(t, []svcCase{
		{name: "GET", method: http.MethodGet, path: "/device/code", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "GET at the first spelling", method: http.MethodGet, path: "/device-authorization", status: 405, code: codeInvalidRequest, allow: "POST"},
		{name: "a client without the device grant", path: "/device/code", contentType: svcFormType, body: "client_id=app", status: 400, code: codeUnauthorizedClient},
		{name: "a service without the device grant", path: "/device/code", contentType: svcFormType, auth: []string{svcBasic("svc", "svc-secret")}, body: "", status: 400, code: codeUnauthorizedClient},
		{name: "a scope not allowed", path: "/device/code", contentType: svcFormType, body: "client_id=tv&scope=admin", status: 400, code: codeInvalidScope},
		{name: "a malformed scope", path: "/device/code", contentType: svcFormType, body: "client_id=tv&scope=" + url.QueryEscape(`"x"`), status: 400, code: codeInvalidScope},
		{name: "a resource not allowed", path: "/device/code", contentType: svcFormType, body: "client_id=tv&resource=" + url.QueryEscape("https://api.example.com"), status: 400, code: codeInvalidTarget},
		{name: "a relative resource", path: "/device/code", contentType: svcFormType, body: "client_id=tv&resource=/api", status: 400, code: codeInvalidTarget},
		{name: "a confidential client without its secret", path: "/device/code", contentType: svcFormType, body: "client_id=cli", status: 401, code: codeInvalidClient},
		{name: "an unknown client", path: "/device/code", contentType: svcFormType, body: "client_id=nobody", status: 401, code: codeInvalidClient},
		{name: "no client", path: "/device/code", contentType: svcFormType, body: "scope=openid", status: 401, code: codeInvalidClient},
		{name: "a JSON body", path: "/device/code", contentType: "application/json", body: `{"client_id":"tv"}`, status: 400, code: codeInvalidRequest},
	})
}

// TestDeviceVerificationPage: the verification page (RFC 8628 §3.3) asks
// a user who is not signed in to sign in and comes back with the code
// prefilled; it finds a code however it is typed, shows the client and
// scopes, records approval or denial once, refuses codes that are
// unknown, expired or decided, limits wrong guesses per session (RFC 8628
// §5.1), and refuses a forged form (CSRF).
func TestDeviceVerificationPage(t *testing.T) {
	e := svcDeviceEnv(t, nil)

	t.Run("sign in first", func(t *testing.T) {
		da := e.svcDeviceStart("openid profile")
		b := e.browser()
		r := b.get(da["verification_uri_complete"].(string))
		loc := r.header.Get("Location")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("not signed in: %d %q", r.status, loc)
		}
		u, _ := url.Parse(loc)
		if u.Query().Get("return_to") != "/device?user_code="+da["user_code"].(string) {
			t.Errorf("return_to = %q", u.Query().Get("return_to"))
		}
		r = b.signIn(b.get(loc), "alice", alicePassword)
		if r.status != http.StatusSeeOther {
			t.Fatalf("sign-in: %d %s", r.status, r.body)
		}
		r = b.get(r.header.Get("Location"))
		if !isPage(r, "Connect a device") || !strings.Contains(string(r.body), `value="`+da["user_code"].(string)+`"`) {
			t.Errorf("the code is not prefilled: %d %s", r.status, r.body)
		}
		// An overlong code is not echoed.
		if r := b.get("/device?user_code=" + strings.Repeat("B", 33)); !isPage(r, "Connect a device") || strings.Contains(string(r.body), strings.Repeat("B", 33)) {
			t.Errorf("an overlong code: %d", r.status)
		}
	})

	t.Run("lookup shows the client and scopes", func(t *testing.T) {
		da := e.svcDeviceStart("openid profile offline_access")
		r := e.browser().svcDeviceDecide(da["user_code"].(string), "")
		body := string(r.body)
		if r.status != http.StatusOK || !strings.Contains(body, `<span class="client">tv</span>`) ||
			!strings.Contains(body, `value="approve"`) || !strings.Contains(body, "Stay connected") {
			t.Errorf("approval page: %d %s", r.status, body)
		}
	})

	t.Run("typed in lower case with a space", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		typed := strings.ToLower(strings.Replace(da["user_code"].(string), "-", " ", 1))
		r := e.browser().svcDeviceDecide(typed, "deny")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "denied") {
			t.Fatalf("deny: %d %s", r.status, r.body)
		}
	})

	t.Run("approve once", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		b := e.browser()
		if r := b.svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusOK || !strings.Contains(string(r.body), "connected") {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
		if r := b.svcDeviceDecide(da["user_code"].(string), ""); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "not valid") {
			t.Errorf("a decided code: %d %s", r.status, r.body)
		}
	})

	t.Run("unknown and malformed codes", func(t *testing.T) {
		b := e.browser()
		for _, code := range []string{"BCDF-GHJK", "AEIO-UY01", "BCD", strings.Repeat("B", 40)} {
			if r := b.svcDeviceDecide(code, "approve"); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "not valid") {
				t.Errorf("%q: %d %s", code, r.status, r.body)
			}
		}
	})

	t.Run("expired", func(t *testing.T) {
		e := svcDeviceEnv(t, nil)
		da := e.svcDeviceStart("openid")
		b := e.browser()
		b.svcDeviceDecide("BCDF-GHJK", "") // signs in
		e.clock.Advance(10 * time.Minute)
		if r := b.svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusBadRequest {
			t.Errorf("approving an expired code: %d", r.status)
		}
	})

	t.Run("wrong guesses are limited per session", func(t *testing.T) {
		e := svcDeviceEnv(t, nil)
		da := e.svcDeviceStart("openid")
		attacker := e.browser()
		var last response
		for range 11 {
			last = attacker.svcDeviceDecide("BCDF-GHJK", "")
		}
		if last.status != http.StatusTooManyRequests || !strings.Contains(string(last.body), "Too many wrong codes") {
			t.Errorf("after 11 wrong codes: %d", last.status)
		}
		// Even the right code waits for the window's end.
		if r := attacker.svcDeviceDecide(da["user_code"].(string), ""); r.status != http.StatusTooManyRequests {
			t.Errorf("the right code while limited: %d", r.status)
		}
		// Another user's session is not limited.
		if r := e.browser().svcDeviceDecide(da["user_code"].(string), ""); r.status != http.StatusOK {
			t.Errorf("another session: %d", r.status)
		}
		e.clock.Advance(15 * time.Minute)
		da = e.svcDeviceStart("openid")
		if r := attacker.svcDeviceDecide(da["user_code"].(string), "approve"); r.status != http.StatusOK {
			t.Errorf("after the window: %d %s", r.status, r.body)
		}
	})

	t.Run("a right code does not count", func(t *testing.T) {
		e := svcDeviceEnv(t, nil)
		b := e.browser()
		for range 9 {
			b.svcDeviceDecide("BCDF-GHJK", "")
		}
		for range 3 {
			if r := b.svcDeviceDecide(e.svcDeviceStart("openid")["user_code"].(string), ""); r.status != http.StatusOK {
				t.Fatalf("a right code after 9 wrong ones: %d", r.status)
			}
		}
		if r := b.svcDeviceDecide("BCDF-GHJK", ""); r.status != http.StatusBadRequest {
			t.Errorf("the 10th wrong code: %d; want 400", r.status)
		}
		if r := b.svcDeviceDecide("BCDF-GHJK", ""); r.status != http.StatusTooManyRequests {
			t.Errorf("the 11th wrong code: %d; want 429", r.status)
		}
	})

	t.Run("forged form", func(t *testing.T) {
		da := e.svcDeviceStart("openid")
		b := e.browser()
		b.svcDeviceDecide("BCDF-GHJK", "") // signs in
		f := url.Values{"user_code": {da["user_code"].(string)}, "decision": {"approve"}, "csrf_token": {"forged"}}
		if r := b.post("/device", f); r.status != http.StatusForbidden {
			t.Errorf("forged CSRF token: %d", r.status)
		}
		f.Del("csrf_token")
		if r := b.post("/device", f); r.status != http.StatusForbidden {
			t.Errorf("no CSRF token: %d", r.status)
		}
		// The code is still pending.
		if r := b.svcDeviceDecide(da["user_code"].(string), ""); r.status != http.StatusOK {
			t.Errorf("after forged forms the code is: %d", r.status)
		}
	})

	t.Run("methods", func(t *testing.T) {
		if r := e.svcRequest(http.MethodPut, "/device", "", "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("PUT /device: %d %v", r.status, r.header)
		}
	})
}
