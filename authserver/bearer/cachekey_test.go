package bearer

import "testing"

// TestCacheKeySpellings: every base64url spelling of a JWT is one cache
// entry; different tokens are different entries.
func TestCacheKeySpellings(t *testing.T) {
	sig := "AAB" // 3 characters: 18 bits for 2 bytes, 2 spare bits
	a := "eyJhIjoxfQ.eyJiIjoxfQ." + sig
	for _, tt := range []struct {
		name string
		x, y string
		same bool
	}{
		{"different tokens", "a.b.c", "a.b.cA", false},
		{"spellings differing in the spare bits", a, "eyJhIjoxfQ.eyJiIjoxfQ.AAC", true},
		{"a different signature", a, "eyJhIjoxfQ.eyJiIjoxfQ.AAE", false},
		{"segments moved across a dot", "eyJhIjoxfQ.eyJiIjoxfQ.AAB", "eyJhIjoxfQeyJi.IjoxfQ.AAB", false},
		{"not a JWT", "opaque-token", "opaque-token", true},
		{"two opaque tokens", "opaque-token", "opaque-tokem", false},
	} {
		if got := CacheKey(tt.x) == CacheKey(tt.y); got != tt.same {
			t.Errorf("%s: CacheKey(%q) == CacheKey(%q) is %v; want %v", tt.name, tt.x, tt.y, got, tt.same)
		}
	}
}
