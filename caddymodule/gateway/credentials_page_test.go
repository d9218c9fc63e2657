package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBrowserOnBearerRoute: a browser (Accept: text/html, no JSON) that
// gets a 401 on a bearer-only route is shown a page saying, in plain
// words and with the site's name, that it needs an access token: the
// same status and WWW-Authenticate an API client gets, which still gets
// JSON; a bad token is answered the same way.
func TestBrowserOnBearerRoute(t *testing.T) {
	g, err := New(Config{AcceptBearer: true, Verifier: &fixedVerifier{}, Hosts: []string{"api.example"}, Name: "Metrics API"})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(method, accept, authorization string) Decision {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		return g.Decide(context.Background(), &Request{Method: method, Scheme: "https", Host: "api.example", Path: "/v1/x", Header: h})
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tt := range []struct {
		name                  string
		method, accept, authz string
		page                  bool
		says                  string
	}{
		{"a browser", "GET", browser, "", true, "Metrics API (api.example) is an API for applications: it needs an access token"},
		{"a browser's POST", "POST", "text/html", "", true, "needs an access token"},
		{"a browser with a bad token", "GET", browser, "Bearer bad", true, "The access token sent to Metrics API (api.example) is not valid here"},
		{"an API client", "GET", "application/json", "", false, ""},
		{"an API client that takes anything", "GET", "*/*", "", false, ""},
		{"no Accept", "GET", "", "", false, ""},
		{"JSON or HTML", "GET", "application/json, text/html", "", false, ""},
		{"an API client with a bad token", "GET", "", "Bearer bad", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.method, tt.accept, tt.authz)
			api := decide(tt.method, "application/json", tt.authz)
			if d.Allowed || d.Status != http.StatusUnauthorized || api.Status != d.Status {
				t.Fatalf("status %d (API client: %d); want 401", d.Status, api.Status)
			}
			if got, want := d.Header.Get("WWW-Authenticate"), api.Header.Get("WWW-Authenticate"); got != want || !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate %q; the API client's %q", got, want)
			}
			body := string(d.Body)
			if !tt.page {
				var m map[string]string
				if d.Header.Get("Content-Type") != "application/json" || json.Unmarshal(d.Body, &m) != nil {
					t.Errorf("not JSON: %s %q", d.Header.Get("Content-Type"), body)
				}
				return
			}
			if !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, tt.says) || !strings.Contains(body, `<html lang="en">`) {
				t.Errorf("page %s: %q", d.Header.Get("Content-Type"), body)
			}
			if d.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(d.Header.Get("Content-Security-Policy"), "default-src 'none'") || d.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("page headers: %v", d.Header)
			}
			for _, jargon := range []string{"invalid_token", "Bearer", "WWW-Authenticate"} {
				if strings.Contains(body, jargon) {
					t.Errorf("the page says %q: %s", jargon, body)
				}
			}
		})
	}
}
