package caddymodule

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/caddymodule/gateway"
)

// Outcomes of authgate_gateway_decisions_total.
const (
	decisionAllow        = "allow"
	decisionUnauthorized = "401"
	decisionForbidden    = "403"
	decisionRedirect     = "redirect"
	// decisionOther: the gateway answered itself otherwise: its metadata,
	// a CORS preflight, a bad request, a verifier it could not reach.
	decisionOther = "other"
)

// decisionOutcome is a decision's outcome label.
func decisionOutcome(d gateway.Decision) string {
	switch {
	case d.Allowed:
		return decisionAllow
	case d.Status == http.StatusUnauthorized:
		return decisionUnauthorized
	case d.Status == http.StatusForbidden:
		return decisionForbidden
	case d.Status >= 300 && d.Status < 400:
		return decisionRedirect
	}
	return decisionOther
}

// routeLabel names a gateway in authgate_gateway_decisions_total, from
// its configuration only: its name; else its first host, followed by
// its resource path; else its resource path; else "verify" for the
// verify endpoint and "default" for a middleware. Gateways that share a
// label share its series.
func (gc *GatewayConfig) routeLabel(hosts []string, middleware bool) string {
	switch {
	case gc.Name != "":
		return gc.Name
	case len(hosts) > 0:
		return hosts[0] + gc.ResourcePath
	case gc.ResourcePath != "":
		return gc.ResourcePath
	case middleware:
		return "default"
	}
	return "verify"
}

// decisionOutcomes are the outcome label's values.
var decisionOutcomes = []string{decisionAllow, decisionUnauthorized, decisionForbidden, decisionRedirect, decisionOther}

// routeDecisions are a route's decision counters.
type routeDecisions struct {
	// byOutcome are looked up once rather than on every request; nil
	// until the route label is final.
	byOutcome map[string]prometheus.Counter
	// route makes the counters of an outcome not in byOutcome.
	route *prometheus.CounterVec
}

// setRoute makes the gateway count its decisions under a route label.
// final starts the route's series at zero; the label a gateway has
// before the app knows its hosts is not final, and gets series only if
// a decision is counted under it.
func (gc *GatewayConfig) setRoute(route string, final bool) {
	if gc.metrics == nil {
		return
	}
	rd := &routeDecisions{route: gc.metrics.decisions.MustCurryWith(prometheus.Labels{"route": route})}
	if final {
		rd.byOutcome = map[string]prometheus.Counter{}
		for _, outcome := range decisionOutcomes {
			rd.byOutcome[outcome] = rd.route.WithLabelValues(outcome)
		}
	}
	gc.decisions.Store(rd)
}

// countDecision counts one of the gateway's decisions.
func (gc *GatewayConfig) countDecision(d gateway.Decision) {
	rd := gc.decisions.Load()
	if rd == nil {
		return
	}
	outcome := decisionOutcome(d)
	if c, ok := rd.byOutcome[outcome]; ok {
		c.Inc()
		return
	}
	rd.route.WithLabelValues(outcome).Inc()
}
