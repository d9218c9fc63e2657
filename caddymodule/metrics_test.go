package caddymodule

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/authgate/authgate/authserver"
)

// testMetrics registers the metrics on a fresh registry, with the
// configured clients svc (client_credentials) and app (no grant types
// given).
func testMetrics(t *testing.T) (*metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	clients := []*authserver.Client{
		{ID: "svc", GrantTypes: []string{authserver.GrantClientCredentials}},
		{ID: "app"},
	}
	m, err := newMetrics(reg, clients, metricsSources{
		keyAge:       func() float64 { return 42 },
		cacheEntries: func() (int, int) { return 3, 4 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestMetricsEvents is the table of events and the series they count.
func TestMetricsEvents(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []authserver.Event
		series func(*metrics) prometheus.Collector
		want   float64
	}{
		{"token issued to a configured client", []authserver.Event{{Name: authserver.EventTokenIssued, Method: authserver.GrantClientCredentials, Client: "svc", Subject: "svc", JTI: "j1"}},
			func(m *metrics) prometheus.Collector {
				return m.tokensIssued.WithLabelValues(authserver.GrantClientCredentials, "svc")
			}, 1},
		{"token issued to a registered client", []authserver.Event{
			{Name: authserver.EventTokenIssued, Method: authserver.GrantAuthorizationCode, Client: "dyn-8f3a"},
			{Name: authserver.EventTokenIssued, Method: authserver.GrantAuthorizationCode, Client: "https://app.example/client.json"},
		}, func(m *metrics) prometheus.Collector {
			return m.tokensIssued.WithLabelValues(authserver.GrantAuthorizationCode, otherLabel)
		}, 2},
		{"token issued to the gateway", []authserver.Event{{Name: authserver.EventTokenIssued, Method: authserver.GrantRefreshToken, Client: authserver.GatewayClientID}},
			func(m *metrics) prometheus.Collector {
				return m.tokensIssued.WithLabelValues(authserver.GrantRefreshToken, authserver.GatewayClientID)
			}, 1},
		{"device grant", []authserver.Event{{Name: authserver.EventTokenIssued, Method: authserver.GrantDeviceCode, Client: "app"}},
			func(m *metrics) prometheus.Collector {
				return m.tokensIssued.WithLabelValues(authserver.GrantDeviceCode, "app")
			}, 1},
		{"token error", []authserver.Event{{Name: authserver.EventTokenError, Method: authserver.GrantClientCredentials, Client: "svc", Error: "invalid_client", RemoteIP: "192.0.2.1"}},
			func(m *metrics) prometheus.Collector {
				return m.tokenErrors.WithLabelValues(authserver.GrantClientCredentials, "invalid_client")
			}, 1},
		{"token error for an unsupported grant type", []authserver.Event{{Name: authserver.EventTokenError, Method: "password", Error: "unsupported_grant_type"}},
			func(m *metrics) prometheus.Collector {
				return m.tokenErrors.WithLabelValues(otherLabel, "unsupported_grant_type")
			}, 1},
		{"token error with a free-text reason", []authserver.Event{{Name: authserver.EventTokenError, Method: authserver.GrantRefreshToken, Error: "Refresh token reused by 192.0.2.1"}},
			func(m *metrics) prometheus.Collector {
				return m.tokenErrors.WithLabelValues(authserver.GrantRefreshToken, otherLabel)
			}, 1},
		{"introspection, active", []authserver.Event{{Name: authserver.EventIntrospection, Client: "rs", Outcome: "active"}},
			func(m *metrics) prometheus.Collector { return m.introspections.WithLabelValues("true") }, 1},
		{"introspection, inactive", []authserver.Event{{Name: authserver.EventIntrospection, Client: "rs", Outcome: "inactive"}},
			func(m *metrics) prometheus.Collector { return m.introspections.WithLabelValues("false") }, 1},
		{"revocations count every token", []authserver.Event{
			{Name: authserver.EventTokenRevoked, Method: "revocation_endpoint", JTI: "j"},
			{Name: authserver.EventTokenRevoked, Method: "revocation_endpoint", Count: 4},
		}, func(m *metrics) prometheus.Collector { return m.tokensRevoked.WithLabelValues("revocation_endpoint") }, 5},
		{"sign-in failure", []authserver.Event{{Name: authserver.EventSignIn, Outcome: "failure", Method: "password", Username: "mallory", RemoteIP: "192.0.2.9"}},
			func(m *metrics) prometheus.Collector { return m.signIns.WithLabelValues("failure", "password") }, 1},
		{"sign-in with a provider", []authserver.Event{{Name: authserver.EventSignIn, Outcome: "success", Method: "provider:corp", Subject: "s"}},
			func(m *metrics) prometheus.Collector { return m.signIns.WithLabelValues("success", "provider:corp") }, 1},
		{"device code", []authserver.Event{{Name: authserver.EventDeviceCode, Outcome: "approved", Client: "tv"}},
			func(m *metrics) prometheus.Collector { return m.deviceCodes.WithLabelValues("approved") }, 1},
		{"registration", []authserver.Event{{Name: authserver.EventClientRegistered, Client: "dyn-1"}},
			func(m *metrics) prometheus.Collector { return m.registrations.WithLabelValues("registered") }, 1},
		{"client deleted", []authserver.Event{{Name: authserver.EventClientDeleted, Client: "dyn-1"}},
			func(m *metrics) prometheus.Collector { return m.registrations.WithLabelValues("deleted") }, 1},
		{"every event by name", []authserver.Event{{Name: authserver.EventRefreshReuse, Client: "app"}},
			func(m *metrics) prometheus.Collector { return m.events.WithLabelValues(authserver.EventRefreshReuse) }, 1},
		{"an unknown event name", []authserver.Event{{Name: "something.new"}},
			func(m *metrics) prometheus.Collector { return m.events.WithLabelValues(otherLabel) }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := testMetrics(t)
			for _, e := range tt.events {
				m.observe(e)
			}
			if got := sampleValue(t, tt.series(m)); got != tt.want {
				t.Errorf("series = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestMetricsNoSecretLabels: whatever an event carries, no label value
// is a subject, username, address, token ID or client-supplied text.
func TestMetricsNoSecretLabels(t *testing.T) {
	m, reg := testMetrics(t)
	secrets := []string{"alice-subject", "alice", "192.0.2.7", "jti-secret", "dyn-secret-client"}
	for _, name := range eventNames {
		m.observe(authserver.Event{Name: name, Outcome: "success", Method: "password", Client: "dyn-secret-client",
			Subject: "alice-subject", Username: "alice", RemoteIP: "192.0.2.7", Error: "invalid_grant", JTI: "jti-secret"})
	}
	text := gatherText(t, reg)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%q is in the metrics", s)
		}
	}
}

// TestMetricsCardinality: however many clients, grant types, error
// texts and methods the events name, each label keeps few values.
func TestMetricsCardinality(t *testing.T) {
	m, _ := testMetrics(t)
	for i := range 2000 {
		m.observe(authserver.Event{Name: authserver.EventTokenIssued, Method: authserver.GrantAuthorizationCode, Client: fmt.Sprintf("registered-%d", i)})
		m.observe(authserver.Event{Name: authserver.EventTokenError, Method: fmt.Sprintf("grant-%d", i), Error: fmt.Sprintf("code_%d", i)})
		m.observe(authserver.Event{Name: authserver.EventSignIn, Outcome: fmt.Sprintf("o%d", i), Method: fmt.Sprintf("provider:p%d", i)})
		m.observe(authserver.Event{Name: fmt.Sprintf("event.%d", i)})
	}
	for _, tt := range []struct {
		name string
		c    prometheus.Collector
		max  int
	}{
		// svc's client_credentials, authorization_code for every other
		// client.
		{"tokens issued", m.tokensIssued, 2},
		// The initial invalid_grant and invalid_client series of the
		// four grants, and "other" by up to maxErrorCodes codes.
		{"token errors", m.tokenErrors, 8 + maxErrorCodes + 1},
		{"sign-ins", m.signIns, (maxOutcomes + 1) * (maxMethods + 1)},
		{"events", m.events, len(eventNames) + 1},
	} {
		if n := seriesCount(tt.c); n > tt.max {
			t.Errorf("%s: %d series; want at most %d", tt.name, n, tt.max)
		}
	}
}

// TestMetricsReregister: registering the same collectors again (Caddy
// allows it) is no error, another collector of the same name is.
func TestMetricsReregister(t *testing.T) {
	m, reg := testMetrics(t)
	if err := register(reg, m.tokensIssued); err != nil {
		t.Errorf("registering the same collector again: %v", err)
	}
	if _, err := newMetrics(reg, nil, metricsSources{keyAge: func() float64 { return 0 }, cacheEntries: func() (int, int) { return 0, 0 }}); err == nil {
		t.Error("a second set of metrics of the same names was registered")
	}
}

// sampleValue is the value of one counter or gauge series.
func sampleValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	m, ok := c.(prometheus.Metric)
	if !ok {
		t.Fatalf("%T is not one series", c)
	}
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("%T is neither a counter nor a gauge", c)
	return 0
}

// seriesCount is how many series a collector has.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}

// gatherText is the registry's metrics in the text exposition format.
func gatherText(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		fmt.Fprintln(&b, f.String())
	}
	return b.String()
}

// scrape reads the admin endpoint's /metrics: each authgate_ sample by
// its series as written (name{labels}), and the names that have a HELP
// line.
func (tc *testCaddy) scrape() (samples map[string]float64, described map[string]bool) {
	tc.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+tc.admin+"/metrics", nil)
	r := do(tc.t, req)
	if r.status != http.StatusOK {
		tc.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	samples, described = map[string]float64{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ = strings.Cut(name, " ")
			described[name] = true
			continue
		}
		if !strings.HasPrefix(line, metricsNamespace+"_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			tc.t.Fatalf("bad sample %q", line)
		}
		samples[line[:i]] = v
	}
	return samples, described
}

// TestMetricsEndToEnd: a real Caddy's admin endpoint serves the metrics,
// counting token requests, gateway decisions, the cache, verification,
// a revocation's lag and the key's age, and again after a reload.
func TestMetricsEndToEnd(t *testing.T) {
	g := startGateway(t, gatewayClients, `
			name API
			accept bearer
			require scope read
			require audience https://api.example.com`, `accept session`)
	api := g.app + "/api/things"
	tok := g.token("svc", "svc-secret", url.Values{"scope": {"read"}, "resource": {"https://api.example.com"}})
	if r := g.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d %s", r.status, r.body)
	}
	for range 2 {
		if r := g.call("GET", api, tok); r.status != http.StatusOK {
			t.Fatalf("a valid token: %d %s", r.status, r.body)
		}
	}
	if r := g.call("GET", api, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.status)
	}
	if r := g.call("GET", api, "forged"); r.status != http.StatusUnauthorized {
		t.Fatalf("a forged token: %d", r.status)
	}
	browser, _ := http.NewRequest(http.MethodGet, g.app+"/", nil)
	browser.Header.Set("Accept", "text/html")
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r := doWith(t, noRedirects, browser); r.status < 300 || r.status > 399 {
		t.Fatalf("a browser without a session: %d", r.status)
	}

	samples, described := g.scrape()
	for series, want := range map[string]float64{
		`authgate_gateway_decisions_total{outcome="allow",route="API"}`:            2,
		`authgate_gateway_decisions_total{outcome="401",route="API"}`:              2,
		`authgate_gateway_decisions_total{outcome="403",route="API"}`:              0,
		`authgate_gateway_decisions_total{outcome="redirect",route="127.0.0.1"}`:   1,
		`authgate_gateway_cache_misses_total{cache="token"}`:                       2,
		`authgate_gateway_cache_hits_total{cache="token"}`:                         1,
		`authgate_gateway_cache_entries{cache="token"}`:                            1,
		`authgate_token_verification_duration_seconds_count{outcome="valid"}`:      1,
		`authgate_token_verification_duration_seconds_count{outcome="invalid"}`:    1,
		`authgate_endpoint_duration_seconds_count{endpoint="/token"}`:              2,
		`authgate_tokens_issued_total{client="apisvc",grant="client_credentials"}`: 0,
		`authgate_introspections_total{active="true"}`:                             0,
	} {
		if got, ok := samples[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v); want %v", series, got, ok, want)
		}
	}
	for _, series := range []string{`authgate_events_total{event="token.issued"}`,
		`authgate_token_errors_total{error="invalid_client",grant="client_credentials"}`, `authgate_signins_total{method="password",outcome="failure"}`} {
		if _, ok := samples[series]; !ok {
			t.Errorf("%s is not exposed", series)
		}
	}
	if age, ok := samples["authgate_signing_key_age_seconds"]; !ok || age < 0 {
		t.Errorf("authgate_signing_key_age_seconds = %v (present %v)", age, ok)
	}
	for _, name := range []string{"authgate_tokens_issued_total", "authgate_token_errors_total", "authgate_introspections_total",
		"authgate_tokens_revoked_total", "authgate_signins_total", "authgate_device_codes_total", "authgate_client_registrations_total",
		"authgate_events_total", "authgate_revocation_feed_lag_seconds"} {
		if !described[name] {
			t.Errorf("%s is not exposed", name)
		}
	}

	// Revoking the token here announces it at once: one lag observed, and
	// the gateway refuses it.
	if r := g.postForm("/revoke", url.Values{"token": {tok}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatalf("revoking: %d %s", r.status, r.body)
	}
	if r := g.call("GET", api, tok); r.status != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", r.status)
	}
	samples, _ = g.scrape()
	if n := samples["authgate_revocation_feed_lag_seconds_count"]; n != 1 {
		t.Errorf("revocation feed lag count %v; want 1", n)
	}
	if n := samples[`authgate_endpoint_duration_seconds_count{endpoint="/revoke"}`]; n != 1 {
		t.Errorf("/revoke duration count %v; want 1", n)
	}

	// A reload registers the metrics on the new config's registry.
	g.load()
	samples, _ = g.scrape()
	if _, ok := samples[`authgate_gateway_decisions_total{outcome="allow",route="API"}`]; !ok {
		t.Error("after a reload, the decisions are not exposed")
	}
	if _, ok := samples["authgate_signing_key_age_seconds"]; !ok {
		t.Error("after a reload, the key age is not exposed")
	}
}

// TestMetricsEndpointCardinality: a scanner's paths under the issuer
// add no endpoint label values.
func TestMetricsEndpointCardinality(t *testing.T) {
	tc := startCaddy(t, defaultClients+"\n\t\tregistration open")
	for i := range 100 {
		for _, p := range []string{"/register/client-%d", "/login/provider-%d", "/login/provider-%d/callback", "/x%d", "/token/%d"} {
			tc.get(fmt.Sprintf(p, i))
		}
	}
	tc.get("/.well-known/openid-configuration")
	samples, _ := tc.scrape()
	endpoints := map[string]bool{}
	for series := range samples {
		if rest, ok := strings.CutPrefix(series, "authgate_endpoint_duration_seconds_count{endpoint="); ok {
			endpoints[rest] = true
		}
	}
	if len(endpoints) != 2 || !endpoints[`"/register/{client_id}"}`] || !endpoints[`"/.well-known/openid-configuration"}`] {
		t.Errorf("endpoint labels %v; want /register/{client_id} and the metadata", endpoints)
	}
}

// TestMetricsDemo runs Caddyfile.example as the README's Metrics section
// does: after a token request, a refused one, gateway requests and a
// sign-in, the admin endpoint's /metrics has the authgate_ series.
func TestMetricsDemo(t *testing.T) {
	text, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	local, ports := localExample(t, string(text))
	admin := regexp.MustCompile(`\badmin (\S+)`).FindStringSubmatch(local)
	if admin == nil {
		t.Fatal("no admin address in the local example")
	}
	cfgJSON, err := adaptCaddyfile(t, local)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("running Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	tc := &testCaddy{t: t, issuer: "http://" + ports["9000"], admin: admin[1]}
	g := &gatewaySetup{testCaddy: tc}
	tok := tc.token("demo-service", "demo-service-secret", url.Values{"scope": {"read"}})
	if r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "demo-service", "wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d", r.status)
	}
	api := "http://" + ports["9001"] + "/api/hello"
	if r := g.call("GET", api, tok); r.status != http.StatusOK {
		t.Fatalf("the API with a token: %d", r.status)
	}
	if r := g.call("GET", api, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("the API without a token: %d", r.status)
	}
	app := "http://" + ports["9001"]
	b := newBrowser(tc)
	if r, at := b.follow(tc.issuer+"/login", b.passwordSignIn(app+"/", "demo", "demo-password")); r.status != http.StatusOK || at != app+"/" {
		t.Fatalf("demo's sign-in: %d at %s", r.status, at)
	}

	samples, described := tc.scrape()
	sum := func(prefix, contains string) float64 {
		total := 0.0
		for series, v := range samples {
			if strings.HasPrefix(series, prefix) && strings.Contains(series, contains) {
				total += v
			}
		}
		return total
	}
	for _, tt := range []struct {
		prefix, contains string
		min              float64
	}{
		// The gateway redeems its sign-in's code in-process, not at /token.
		{"authgate_endpoint_duration_seconds_count{", `endpoint="/token"`, 2},
		{"authgate_endpoint_duration_seconds_count{", `endpoint="/authorize"`, 1},
		{"authgate_endpoint_duration_seconds_count{", `endpoint="/login"`, 1},
		{"authgate_gateway_decisions_total{", `outcome="allow"`, 2},
		{"authgate_gateway_decisions_total{", `outcome="401"`, 1},
		{"authgate_gateway_decisions_total{", `outcome="redirect"`, 1},
		{"authgate_gateway_cache_misses_total{", `cache="token"`, 1},
		{"authgate_gateway_cache_misses_total{", `cache="session"`, 1},
		{"authgate_token_verification_duration_seconds_count{", `outcome="valid"`, 1},
		// Counted from the authorization server's events.
		{"authgate_tokens_issued_total{", `client="demo-service"`, 1},
		{"authgate_tokens_issued_total{", `grant="client_credentials"`, 1},
		{"authgate_token_errors_total{", `error="invalid_client"`, 1},
		{"authgate_signins_total{", `outcome="success"`, 1},
		{"authgate_signins_total{", `method="password"`, 1},
		{"authgate_events_total{", `event="token.issued"`, 1},
	} {
		if got := sum(tt.prefix, tt.contains); got < tt.min {
			t.Errorf("%s%s…: %v; want at least %v", tt.prefix, tt.contains, got, tt.min)
		}
	}
	reg := &describingRegisterer{names: map[string]bool{}}
	if _, err := newMetrics(reg, nil, metricsSources{keyAge: func() float64 { return 0 }, cacheEntries: func() (int, int) { return 0, 0 }}); err != nil {
		t.Fatal(err)
	}
	for name := range reg.names {
		if !described[name] {
			t.Errorf("%s is not on the demo's /metrics", name)
		}
	}
	if testing.Verbose() {
		for series, v := range samples {
			if !strings.Contains(series, "_bucket") {
				t.Logf("%s %v", series, v)
			}
		}
	}
}
