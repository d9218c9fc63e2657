package authserver

import "testing"

// TestHighEntropySecret: only long, varied secrets pass the failure limit
// when correct; short, repeated or patterned ones stay within it.
func TestHighEntropySecret(t *testing.T) {
	for _, tt := range []struct {
		secret string
		strong bool
	}{
		{randomID(32), true}, // what registration and the gateway generate
		{"q3Zr8JYc1mWkP0tVfXo9LsE2bNdHu4ag7iCyTRe6KxM=", true},                     // openssl rand -base64 32
		{"4f1c9a7e2b6d08f35a9c1e7b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f", true}, // openssl rand -hex 32
		{"svc-secret", false},
		{"demo-service-secret", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"abababababababababababababababababababababab", false},
		{"passwordpasswordpasswordpassword", false},
		{"q3Zr8JYc1mWkP0tVfXo9LsE2bNd", false}, // random but short
	} {
		if got := PlainSecret(tt.secret).strong; got != tt.strong {
			t.Errorf("PlainSecret(%q).strong = %v; want %v", tt.secret, got, tt.strong)
		}
	}
	if h, err := HashedSecret("$2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue"); err != nil || h.strong {
		t.Errorf("a hashed secret counts as high-entropy: %v", err)
	}
}
