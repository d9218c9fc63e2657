package authserver

import (
	"slices"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"read", []string{"read"}, true},
		{"read  write read", []string{"read", "write"}, true},
		{"read:api urn:x!#$%&'()*+,-./", []string{"read:api", "urn:x!#$%&'()*+,-./"}, true},
		{`a"b`, nil, false},
		{`a\b`, nil, false},
		{"caf\u00e9", nil, false},
		{"a\tb", nil, false},
	} {
		got, ok := parseScope(tt.in)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseScope(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidateIssuer(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://auth.example.com":      true,
		"https://auth.example.com/t/1":  true,
		"http://127.0.0.1:9000":         true,
		"http://localhost:9000":         true,
		"http://[::1]:9000":             true,
		"http://auth.example.com":       false,
		"auth.example.com":              false,
		"https://auth.example.com?x=1":  false,
		"https://auth.example.com#f":    false,
		"https://user@auth.example.com": false,
		"ftp://auth.example.com":        false,
		"https://auth.example.com/":     false,
		"http://127.evil.example":       false,
		"":                              false,
	} {
		if err := ValidateIssuer(issuer); (err == nil) != ok {
			t.Errorf("ValidateIssuer(%q) = %v; want ok=%v", issuer, err, ok)
		}
	}
}
