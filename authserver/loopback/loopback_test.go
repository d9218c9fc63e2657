package loopback

import "testing"

// TestIsHost: loopback addresses and localhost names are loopback; look-
// alikes are not.
func TestIsHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":         true,
		"LOCALHOST":         true,
		"app.localhost":     true,
		"127.0.0.1":         true,
		"127.1.2.3":         true,
		"::1":               true,
		"[::1]":             true,
		"::ffff:127.0.0.1":  true,
		"":                  false,
		"localhost.example": false,
		"127.evil.example":  false,
		"evil-localhost":    false,
		"10.0.0.1":          false,
		"::ffff:10.0.0.1":   false,
		"0.0.0.0":           false,
		"localhost:8080":    false,
		"127.0.0.1.nip.io":  false,
		"[fe80::1]":         false,
	} {
		if got := IsHost(host); got != want {
			t.Errorf("IsHost(%q) = %v; want %v", host, got, want)
		}
	}
}
