package caddymodule

import (
	"net/http"
	"testing"
)

// TestRegistrationApplicationType: application_type (web or native) is
// accepted, stored and returned, as the MCP authorization specification
// asks clients to declare it; only a native client may register a
// private-use scheme.
func TestRegistrationApplicationType(t *testing.T) {
	tc := startCaddy(t, openRegistration)
	for _, tt := range []struct {
		name, appType, redirect string
		status                  int
		code                    string
	}{
		{"native with a private-use scheme", "native", "com.example.agent:/cb", http.StatusCreated, ""},
		{"native on loopback", "native", "http://127.0.0.1:33418/cb", http.StatusCreated, ""},
		{"web over https", "web", "https://agent.example/cb", http.StatusCreated, ""},
		{"undeclared, private-use scheme", "", "com.example.agent:/cb", http.StatusCreated, ""},
		{"web with a private-use scheme", "web", "com.example.agent:/cb", http.StatusBadRequest, "invalid_redirect_uri"},
		{"an unknown type", "desktop", "http://127.0.0.1:33418/cb", http.StatusBadRequest, "invalid_client_metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"redirect_uris": []string{tt.redirect}, "token_endpoint_auth_method": "none"}
			if tt.appType != "" {
				body["application_type"] = tt.appType
			}
			r := tc.register(body, "")
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.json(t)
			if tt.code != "" {
				if m["error"] != tt.code {
					t.Errorf("error %v, want %s", m["error"], tt.code)
				}
				return
			}
			if tt.appType != "" && m["application_type"] != tt.appType {
				t.Errorf("application_type %v, want %s", m["application_type"], tt.appType)
			}
			// Stored: the RFC 7592 read returns it.
			read := tc.manage(http.MethodGet, m["registration_client_uri"].(string), m["registration_access_token"].(string), nil)
			if got, _ := read.json(t)["application_type"].(string); got != tt.appType {
				t.Errorf("read back application_type %q, want %q", got, tt.appType)
			}
		})
	}
}
