package gateway

import (
	"testing"
)

func TestHostList(t *testing.T) {
	l, err := NewHostList([]string{"App.Example.com", "*.corp.example", "127.0.0.1", "[::1]", "localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"app.example.com": true, "APP.example.com:443": true, "app.example.com.": false,
		"evil.example": false, "app.example.com.evil.example": false, "xapp.example.com": false,
		"wiki.corp.example": true, "a.b.corp.example": false, "corp.example": false,
		"127.0.0.1:9001": true, "[::1]:80": true, "localhost": true, "127.0.0.2": false,
		"": false, "app.example.com/x": false, "app.example.com@evil": false,
	} {
		if got := l.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"*", "*.com", "a b", "evil/x", "x*.example.com", "-a.example"} {
		if _, err := NewHostList([]string{bad}); err == nil {
			t.Errorf("NewHostList(%q) accepted", bad)
		}
	}
	if (*HostList)(nil).Allows("a.example") {
		t.Error("a nil list allows a host")
	}
}

func TestSecureOrigin(t *testing.T) {
	for _, tt := range []struct {
		scheme, host string
		want         bool
	}{
		{"https", "app.example", true},
		{"http", "app.example", false},
		{"http", "127.0.0.1:9001", true},
		{"http", "localhost", true},
		{"http", "[::1]:80", true},
		{"http", "127.0.0.1.evil.example", false},
		{"gopher", "127.0.0.1", false},
	} {
		if got := SecureOrigin(tt.scheme, tt.host); got != tt.want {
			t.Errorf("SecureOrigin(%s, %s) = %v", tt.scheme, tt.host, got)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"/admin": "/admin", "//admin": "/admin", "/./admin": "/admin", "/x/../admin": "/admin",
		"/admin/": "/admin/", "/a//b/": "/a/b/", "/../../admin": "/admin", "": "/", "admin": "/admin",
		"/Admin": "/Admin", "/x/..": "/",
	} {
		if got := CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameResource(t *testing.T) {
	for _, tt := range []struct {
		aud, resource string
		want          bool
	}{
		{"https://app.example", "https://app.example", true},
		{"https://app.example/", "https://app.example", true},
		{"HTTPS://APP.example:443", "https://app.example", true},
		{"https://app.example/api", "https://app.example/api", true},
		{"https://app.example/api", "https://app.example", false},
		{"https://app.example:8443", "https://app.example", false},
		{"http://app.example", "https://app.example", false},
		{"https://app.example.evil", "https://app.example", false},
		{"https://user@app.example", "https://app.example", false},
		{"https://app.example?x", "https://app.example", false},
		{"app.example", "https://app.example", false},
	} {
		if got := sameResource(tt.aud, tt.resource); got != tt.want {
			t.Errorf("sameResource(%q, %q) = %v", tt.aud, tt.resource, got)
		}
	}
}

// TestTokenKeySpellings: every base64url spelling of a JWT is one cache
// entry; different tokens are different entries.
func TestTokenKeySpellings(t *testing.T) {
	if tokenKey("a.b.c") == tokenKey("a.b.cA") {
		t.Error("different tokens share a key")
	}
	sig := "AAB" // 3 characters: 18 bits for 2 bytes, 2 spare bits
	a := "eyJhIjoxfQ.eyJiIjoxfQ." + sig
	b := "eyJhIjoxfQ.eyJiIjoxfQ.AAC" // B and C differ only in the spare bits
	if tokenKey(a) != tokenKey(b) {
		t.Error("two spellings of one token have different keys")
	}
	if tokenKey(a) == tokenKey("eyJhIjoxfQ.eyJiIjoxfQ.AAE") {
		t.Error("a different signature has the same key")
	}
}
