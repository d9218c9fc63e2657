package caddymodule

import (
	"net/http"

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

// setRoute sets the gateway's route label and starts its series at zero.
func (gc *GatewayConfig) setRoute(route string) {
	gc.route.Store(&route)
	if gc.metrics == nil {
		return
	}
	for _, outcome := range []string{decisionAllow, decisionUnauthorized, decisionForbidden, decisionRedirect} {
		gc.metrics.decisions.WithLabelValues(route, outcome)
	}
}

// countDecision counts one of the gateway's decisions.
func (gc *GatewayConfig) countDecision(d gateway.Decision) {
	route := gc.route.Load()
	if gc.metrics == nil || route == nil {
		return
	}
	gc.metrics.decisions.WithLabelValues(*route, decisionOutcome(d)).Inc()
}
