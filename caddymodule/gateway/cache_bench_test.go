package gateway

// The memory of the verified-token cache (issue 16):
//
//	go test -run '^$' -bench TokenCacheMemory -benchtime 1x ./caddymodule/gateway
//
// bench/cache-rss.sh measures the same in a running Caddy.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/bearer"
)

// cacheFill is how many tokens BenchmarkTokenCacheMemory caches.
const cacheFill = 100_000

// bundledIdentity is an identity as a verifier makes it of the bundled
// server's client credentials token: the claims decoded from the token's
// JSON (as OIDCVerifier does; caddymodule's localVerifier builds the same
// map from the claims it decoded), each entry with strings of its own, as
// after a real verification.
func bundledIdentity(b *testing.B, i int, now time.Time) *Identity {
	payload := fmt.Sprintf(`{"iss":"http://127.0.0.1:9000","sub":"bench-service","client_id":"bench-service","scope":"read",`+
		`"jti":%q,"iat":%d,"exp":%d,"aud":["http://127.0.0.1:9000"]}`, random(16), now.Unix(), now.Add(time.Hour).Unix())
	var claims map[string]any
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		b.Fatalf("entry %d: %v", i, err)
	}
	id := IdentityFromClaims(claims, AuthBearer)
	// What a request does with a cached identity once: the joined header
	// values and the normalized audiences are kept with it.
	id.joined()
	id.resourceAudiences()
	return id
}

// BenchmarkTokenCacheMemory fills the verified-token cache with 100,000
// identities of ES256 client credentials tokens and reports the live heap
// it holds per entry, after a GC: the identity, its claims, the map entry
// and the revocation index.
func BenchmarkTokenCacheMemory(b *testing.B) {
	now := time.Now()
	var perEntry float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newTokenCache(2 * cacheFill)
		for i := range cacheFill {
			id := bundledIdentity(b, i, now)
			if !c.put(bearer.CacheKey(fmt.Sprintf("token-%d", i)), id, now.Add(time.Hour)) {
				b.Fatalf("entry %d was not cached", i)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := c.len(); n != cacheFill {
			b.Fatalf("%d entries; want %d", n, cacheFill)
		}
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / cacheFill
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perEntry, "B/entry")
	b.ReportMetric(perEntry*cacheFill/1e6, "MB/100k")
}
