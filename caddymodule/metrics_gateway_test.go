package caddymodule

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/caddymodule/gateway"
)

func TestDecisionOutcome(t *testing.T) {
	for _, tt := range []struct {
		d    gateway.Decision
		want string
	}{
		{gateway.Decision{Allowed: true}, decisionAllow},
		{gateway.Decision{Status: http.StatusUnauthorized}, decisionUnauthorized},
		{gateway.Decision{Status: http.StatusForbidden}, decisionForbidden},
		{gateway.Decision{Status: http.StatusFound}, decisionRedirect},
		{gateway.Decision{Status: http.StatusTemporaryRedirect}, decisionRedirect},
		{gateway.Decision{Status: http.StatusOK}, decisionOther}, // metadata, preflight
		{gateway.Decision{Status: http.StatusBadRequest}, decisionOther},
		{gateway.Decision{Status: http.StatusServiceUnavailable}, decisionOther},
	} {
		if got := decisionOutcome(tt.d); got != tt.want {
			t.Errorf("decisionOutcome(%d, allowed %v) = %q; want %q", tt.d.Status, tt.d.Allowed, got, tt.want)
		}
	}
}

func TestRouteLabel(t *testing.T) {
	for _, tt := range []struct {
		gc         *GatewayConfig
		hosts      []string
		middleware bool
		want       string
	}{
		{&GatewayConfig{Name: "Grafana", ResourcePath: "/api"}, []string{"grafana.example.com"}, true, "Grafana"},
		{&GatewayConfig{ResourcePath: "/api"}, []string{"app.example.com", "www.example.com"}, true, "app.example.com/api"},
		{&GatewayConfig{}, []string{"app.example.com"}, true, "app.example.com"},
		{&GatewayConfig{ResourcePath: "/mcp"}, nil, true, "/mcp"},
		{&GatewayConfig{}, nil, true, "default"},
		{&GatewayConfig{}, nil, false, "verify"},
	} {
		if got := tt.gc.routeLabel(tt.hosts, tt.middleware); got != tt.want {
			t.Errorf("routeLabel(name %q resource_path %q, %v) = %q; want %q", tt.gc.Name, tt.gc.ResourcePath, tt.hosts, got, tt.want)
		}
	}
}
