package gateway

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/authgate/authgate/policy"
)

func TestHostList(t *testing.T) {
	l, err := NewHostList([]string{"App.Example.com", "*.corp.example", "127.0.0.1", "[::1]", "localhost:8080", "api.example.com:8443"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host, scheme, local string
		want                bool
	}{
		{"app.example.com", "https", "", true},
		{"APP.example.com:443", "https", "", true},
		{"app.example.com:80", "http", "", true},
		{"app.example.com:8443", "https", "", false}, // another port: someone else's
		{"app.example.com:8443", "https", "8443", true},
		{"app.example.com:8443", "https", "443", false},
		{"app.example.com:abc", "https", "", false},
		{"app.example.com:0443", "https", "", false},
		{"app.example.com:", "https", "", false},
		{"app.example.com.", "https", "", false},
		{"evil.example", "https", "", false},
		{"app.example.com.evil.example", "https", "", false},
		{"xapp.example.com", "https", "", false},
		{"wiki.corp.example", "https", "", true},
		{"wiki.corp.example:444", "https", "", false},
		{"a.b.corp.example", "https", "", false},
		{"corp.example", "https", "", false},
		{"127.0.0.1:9001", "http", "9001", true},
		{"127.0.0.1:9001", "http", "", false},
		{"[::1]:80", "http", "", true},
		{"::1", "http", "", false},
		{"localhost:8080", "http", "", true},
		{"localhost", "http", "", true},
		{"localhost:8081", "http", "", false},
		{"api.example.com:8443", "https", "", true},
		{"127.0.0.2", "http", "", false},
		{"", "https", "", false},
		{"app.example.com/x", "https", "", false},
		{"app.example.com@evil", "https", "", false},
	} {
		if got := l.Allows(tt.host, tt.scheme, tt.local); got != tt.want {
			t.Errorf("Allows(%q, %s, %q) = %v, want %v", tt.host, tt.scheme, tt.local, got, tt.want)
		}
	}
	for _, bad := range []string{"*", "*.com", "a b", "evil/x", "x*.example.com", "-a.example", "a.example:0", "a.example:99999", "a.example:x"} {
		if _, err := NewHostList([]string{bad}); err == nil {
			t.Errorf("NewHostList(%q) accepted", bad)
		}
	}
	if (*HostList)(nil).Allows("a.example", "https", "") {
		t.Error("a nil list allows a host")
	}
	if !l.AllowsName("app.example.com:1234") || l.AllowsName("evil.example") {
		t.Error("AllowsName")
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
		"/Admin": "/Admin", "/x/..": "/", "/api/x/..\\admin": "/api/admin", "\\admin": "/admin",
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

// TestCacheEvictsEverySpelling: entries of one token ID under several
// keys (spellings of one session cookie) all go when it is revoked, and
// a revocation is remembered however many others follow.
func TestCacheEvictsEverySpelling(t *testing.T) {
	c := newTokenCache(4)
	now := time.Now()
	id := &Identity{Identity: policy.Identity{Subject: "alice"}, TokenID: "s1"}
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	c.put(a, id, now.Add(time.Hour))
	c.put(b, id, now.Add(time.Hour))
	c.evict([]string{"s1"})
	for _, k := range [][sha256.Size]byte{a, b} {
		if got, _, ok := c.get(k, now); ok && got != nil {
			t.Error("an evicted spelling is still served")
		}
	}
	var many []string
	for i := range 200 {
		many = append(many, "other-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	c.evict(many)
	if c.put(a, id, now.Add(time.Hour)) {
		t.Error("a revocation was forgotten after many others")
	}
}
