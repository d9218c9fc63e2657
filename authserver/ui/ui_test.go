package ui

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBrand: accent colors are exactly #rrggbb, the text on them is black
// on a light accent and white on a dark one, and the pages'
// Content-Security-Policy lets images load from an https logo's origin
// and otherwise only from the page's own.
func TestBrand(t *testing.T) {
	for c, ok := range map[string]bool{"#1f5fbf": true, "#FFCC00": true, "#abc": false, "1f5fbf": false, "#1f5fbg": false, "#1f5fbf;": false, "": false} {
		if ValidColor(c) != ok {
			t.Errorf("ValidColor(%q) = %v", c, !ok)
		}
	}
	for c, text := range map[string]string{"#1f5fbf": "#fff", "#ffcc00": "#000", "#ffffff": "#000", "#000000": "#fff", "#0b7a3e": "#fff", "bad": "#fff"} {
		if got := (Brand{AccentColor: c}).AccentTextCSS(); string(got) != text {
			t.Errorf("text on %s = %s; want %s", c, got, text)
		}
	}
	if got := (Brand{AccentColor: "red;}"}).AccentCSS(); got != DefaultAccentColor {
		t.Errorf("an invalid accent gives %q", got)
	}
	tpl, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for logo, imgSrc := range map[string]string{"": "img-src 'self' data:;", "/static/logo.png": "img-src 'self' data:;",
		"https://cdn.example.net/a/logo.svg": "img-src 'self' data: https://cdn.example.net;"} {
		tpl.SetBrand(Brand{ProductName: "Example", LogoURL: logo, AccentColor: "#123456"})
		w := httptest.NewRecorder()
		tpl.Render(w, "landing", 200, Page{Title: "Home"})
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, imgSrc) || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("logo %q: Content-Security-Policy %q", logo, csp)
		}
		if body := w.Body.String(); !strings.Contains(body, "<title>Home · Example</title>") || !strings.Contains(body, "--accent: #123456") {
			t.Errorf("logo %q: %s", logo, body)
		}
	}
}
