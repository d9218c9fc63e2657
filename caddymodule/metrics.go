package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/caddymodule/gateway"
)

// metricsNamespace prefixes every metric name.
const metricsNamespace = "authgate"

// Bucket bounds, in seconds.
var (
	// verifyBuckets span a local signature check (tens of microseconds)
	// to a slow introspection call.
	verifyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// endpointBuckets span a JWKS answer to a password hash on a busy
	// machine.
	endpointBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// lagBuckets span an own revocation (milliseconds) to a poll that
	// caught up after the store was unreachable.
	lagBuckets = []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300}
)

// metrics are the app's Prometheus metrics, on the metrics registry of
// the Caddy config that provisioned the app, which Caddy serves at the
// admin endpoint's /metrics and with the metrics handler. Each config
// load has its own registry, so the counters start again from zero after
// a reload, as Caddy's own do.
//
// No label takes a subject, username, token ID or address, and every
// label takes a bounded set of values: see metrics_labels.go.
type metrics struct {
	tokensIssued     *prometheus.CounterVec   // grant, client
	tokenErrors      *prometheus.CounterVec   // grant, error
	introspections   *prometheus.CounterVec   // active
	tokensRevoked    *prometheus.CounterVec   // method
	signIns          *prometheus.CounterVec   // outcome, method
	deviceCodes      *prometheus.CounterVec   // outcome
	registrations    *prometheus.CounterVec   // action
	events           *prometheus.CounterVec   // event
	decisions        *prometheus.CounterVec   // route, outcome
	cacheHits        *prometheus.CounterVec   // cache
	cacheMisses      *prometheus.CounterVec   // cache
	verifyDuration   *prometheus.HistogramVec // outcome
	endpointDuration *prometheus.HistogramVec // endpoint
	feedLag          prometheus.Histogram

	// The series the gateways count on every request, looked up once.
	hits, misses map[string]prometheus.Counter
	verified     map[string]prometheus.Observer

	labels metricLabels
}

// metricsSources are what the gauges read when scraped.
type metricsSources struct {
	// keyAge is the age of the signing key in use.
	keyAge func() float64
	// cacheEntries is how many entries the gateways' caches hold.
	cacheEntries func() (tokens, sessions int)
}

// newMetrics makes the metrics, registers them on reg and starts the
// series of the configured clients and of every fixed label value at
// zero, so they are there to see (and to alert on) before anything
// happened.
func newMetrics(reg prometheus.Registerer, clients []*authserver.Client, src metricsSources) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &metrics{
		tokensIssued: counter("tokens_issued_total",
			"Access tokens issued, by grant type and client (configured clients by ID, any other as \"other\").", "grant", "client"),
		tokenErrors: counter("token_errors_total",
			"Token endpoint error responses, by grant type and OAuth error code.", "grant", "error"),
		introspections: counter("introspections_total",
			"Token introspections, by whether the token was active.", "active"),
		tokensRevoked: counter("tokens_revoked_total",
			"Tokens revoked, by how (revocation_endpoint, admin, ...).", "method"),
		signIns: counter("signins_total",
			"Sign-ins at the authorization server, by outcome (success, failure) and method (password, passkey, provider:<name>, ...).", "outcome", "method"),
		deviceCodes: counter("device_codes_total",
			"Device authorization codes, by outcome (issued, approved, denied).", "outcome"),
		registrations: counter("client_registrations_total",
			"Dynamic client registration acts, by action (registered, updated, deleted).", "action"),
		events: counter("events_total",
			"Audit events, by event name (as in the audit log's event field).", "event"),
		decisions: counter("gateway_decisions_total",
			"Gateway decisions, by route (the gateway's name or first host) and outcome (allow, 401, 403, redirect, other).", "route", "outcome"),
		cacheHits: counter("gateway_cache_hits_total",
			"Gateway cache lookups answered from the cache, by cache (token: verified bearer tokens; session: checked session cookies).", "cache"),
		cacheMisses: counter("gateway_cache_misses_total",
			"Gateway cache lookups the cache could not answer, by cache.", "cache"),
		verifyDuration: histogram("token_verification_duration_seconds",
			"Time the gateway took to verify a bearer token its cache did not know, by outcome (valid, invalid, error).", verifyBuckets, "outcome"),
		endpointDuration: histogram("endpoint_duration_seconds",
			"Time the authorization server took to answer, by endpoint (its path below the issuer).", endpointBuckets, "endpoint"),
		feedLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: "revocation_feed_lag_seconds",
			Help: "Time from a revocation (its revoked_at) to this instance telling its gateways.", Buckets: lagBuckets}),
		labels: newMetricLabels(clients),
	}
	keyAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: "signing_key_age_seconds",
		Help: "Age of the key that signs new tokens."}, src.keyAge)
	cache := &cacheCollector{entries: src.cacheEntries, desc: prometheus.NewDesc(metricsNamespace+"_gateway_cache_entries",
		"Entries in the gateways' caches, by cache.", []string{"cache"}, nil)}
	collectors := []prometheus.Collector{m.tokensIssued, m.tokenErrors, m.introspections, m.tokensRevoked, m.signIns,
		m.deviceCodes, m.registrations, m.events, m.decisions, m.cacheHits, m.cacheMisses, m.verifyDuration,
		m.endpointDuration, m.feedLag, keyAge, cache}
	for _, c := range collectors {
		if err := register(reg, c); err != nil {
			return nil, err
		}
	}
	m.initSeries(clients)
	return m, nil
}

// register registers c. A collector already registered (the same one,
// as Caddy's own metrics allow for) is no error; any other clash is.
func register(reg prometheus.Registerer, c prometheus.Collector) error {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if err == nil || errors.As(err, &already) && already.ExistingCollector == c {
		return nil
	}
	return fmt.Errorf("registering metrics: %w", err)
}

// initSeries starts the series whose label values are known in advance.
func (m *metrics) initSeries(clients []*authserver.Client) {
	for _, c := range clients {
		for _, g := range c.GrantTypes {
			m.tokensIssued.WithLabelValues(m.labels.grant(g), m.labels.client(c.ID))
		}
	}
	for _, g := range grantLabels {
		m.tokenErrors.WithLabelValues(g, "invalid_grant")
		m.tokenErrors.WithLabelValues(g, "invalid_client")
	}
	m.introspections.WithLabelValues("true")
	m.introspections.WithLabelValues("false")
	m.tokensRevoked.WithLabelValues(m.labels.revokeMethods.value("revocation_endpoint"))
	for _, outcome := range []string{"success", "failure"} {
		m.signIns.WithLabelValues(m.labels.signInOutcomes.value(outcome), m.labels.signInMethods.value("password"))
	}
	for _, outcome := range []string{"issued", "approved", "denied"} {
		m.deviceCodes.WithLabelValues(m.labels.deviceOutcomes.value(outcome))
	}
	for _, action := range registrationActions {
		m.registrations.WithLabelValues(action)
	}
	for _, name := range eventNames {
		m.events.WithLabelValues(name)
	}
	m.hits, m.misses, m.verified = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}, map[string]prometheus.Observer{}
	for _, cache := range []string{gateway.CacheToken, gateway.CacheSession} {
		m.hits[cache] = m.cacheHits.WithLabelValues(cache)
		m.misses[cache] = m.cacheMisses.WithLabelValues(cache)
	}
	for _, outcome := range []string{gateway.VerifyValid, gateway.VerifyInvalid, gateway.VerifyError} {
		m.verified[outcome] = m.verifyDuration.WithLabelValues(outcome)
	}
}

// registrationActions label client_registrations_total, by event name.
var registrationActions = map[string]string{
	authserver.EventClientRegistered: "registered",
	authserver.EventClientUpdated:    "updated",
	authserver.EventClientDeleted:    "deleted",
}

// observe counts one event of the authorization server.
func (m *metrics) observe(e authserver.Event) {
	l := &m.labels
	m.events.WithLabelValues(l.event(e.Name)).Inc()
	switch e.Name {
	case authserver.EventTokenIssued:
		m.tokensIssued.WithLabelValues(l.grant(e.Method), l.client(e.Client)).Inc()
	case authserver.EventTokenError:
		m.tokenErrors.WithLabelValues(l.grant(e.Method), l.errorCodes.value(e.Error)).Inc()
	case authserver.EventIntrospection:
		m.introspections.WithLabelValues(strconv.FormatBool(e.Outcome == "active")).Inc()
	case authserver.EventTokenRevoked:
		m.tokensRevoked.WithLabelValues(l.revokeMethods.value(e.Method)).Add(float64(max(e.Count, 1)))
	case authserver.EventSignIn:
		m.signIns.WithLabelValues(l.signInOutcomes.value(e.Outcome), l.signInMethods.value(e.Method)).Inc()
	case authserver.EventDeviceCode:
		m.deviceCodes.WithLabelValues(l.deviceOutcomes.value(e.Outcome)).Inc()
	case authserver.EventClientRegistered, authserver.EventClientUpdated, authserver.EventClientDeleted:
		m.registrations.WithLabelValues(registrationActions[e.Name]).Inc()
	}
}

// endpoint returns the observer of an endpoint's answer times.
func (m *metrics) endpoint(name string) prometheus.Observer {
	return m.endpointDuration.WithLabelValues(name)
}

// revocationLag records a revocation's lag (see
// authserver.Server.ObserveRevocationLag).
func (m *metrics) revocationLag(d time.Duration) { m.feedLag.Observe(d.Seconds()) }

// CacheLookup counts a gateway cache lookup (gateway.Observer).
func (m *metrics) CacheLookup(cache string, hit bool) {
	counters, vec := m.misses, m.cacheMisses
	if hit {
		counters, vec = m.hits, m.cacheHits
	}
	if c, ok := counters[cache]; ok {
		c.Inc()
		return
	}
	vec.WithLabelValues(cache).Inc()
}

// Verified records a bearer token verification (gateway.Observer).
func (m *metrics) Verified(elapsed time.Duration, outcome string) {
	if o, ok := m.verified[outcome]; ok {
		o.Observe(elapsed.Seconds())
		return
	}
	m.verifyDuration.WithLabelValues(outcome).Observe(elapsed.Seconds())
}

// cacheCollector reports the sizes of the gateways' caches when scraped.
type cacheCollector struct {
	desc    *prometheus.Desc
	entries func() (tokens, sessions int)
}

// Describe sends the gauge's description.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends the sizes.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	tokens, sessions := c.entries()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(tokens), gateway.CacheToken)
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(sessions), gateway.CacheSession)
}

// Interface guards
var _ gateway.Observer = (*metrics)(nil)
