package gateway

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache keeps verified tokens until they expire or are revoked, so
// the common request costs a hash and a map lookup instead of a
// signature check, and refused tokens briefly, so presenting a revoked or
// forged token over and over costs no verification either. It remembers
// recently revoked token IDs, so a revocation that arrives while a token
// is being verified still keeps it out. All three are bounded; past a
// bound, a random half is dropped.
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cacheEntry
	// byJTI finds every entry of a token ID (a jti, or a session ID):
	// each spelling of a session cookie is an entry of its own.
	byJTI   map[string][][sha256.Size]byte
	refused map[[sha256.Size]byte]time.Time
	revoked map[string]time.Time
}

type cacheEntry struct {
	id    *Identity
	until time.Time
}

const (
	// refusalTTL is how long a refused token is remembered.
	refusalTTL = 30 * time.Second
	// revokedTTL is how long a revoked token ID is remembered: longer than
	// a verification can take.
	revokedTTL = 10 * time.Minute
)

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		max = 10_000
	}
	return &tokenCache{max: max, entries: map[[sha256.Size]byte]cacheEntry{}, byJTI: map[string][][sha256.Size]byte{},
		refused: map[[sha256.Size]byte]time.Time{}, revoked: map[string]time.Time{}}
}

// get returns a cached identity, or refused if the token was refused
// lately.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (id *Identity, refused, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, hit := c.entries[key]; hit && now.Before(e.until) {
		if e.id.TokenID != "" {
			if _, gone := c.revoked[e.id.TokenID]; gone {
				return nil, true, true
			}
		}
		return e.id, false, true
	}
	if until, hit := c.refused[key]; hit && now.Before(until) {
		return nil, true, true
	}
	return nil, false, false
}

// put caches a verified identity unless its token was revoked meanwhile,
// which it reports.
func (c *tokenCache) put(key [sha256.Size]byte, id *Identity, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id.TokenID != "" {
		if _, gone := c.revoked[id.TokenID]; gone {
			return false
		}
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries { // map order is random: drops a random half
			if len(c.entries) < c.max/2 {
				break
			}
			c.drop(k, e)
		}
	}
	if old, ok := c.entries[key]; ok {
		c.drop(key, old)
	}
	c.entries[key] = cacheEntry{id: id, until: until}
	if id.TokenID != "" {
		c.byJTI[id.TokenID] = append(c.byJTI[id.TokenID], key)
	}
	return true
}

// refuse remembers a refused token for a while.
func (c *tokenCache) refuse(key [sha256.Size]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.refused) >= c.max {
		clear(c.refused)
	}
	c.refused[key] = now.Add(refusalTTL)
}

func (c *tokenCache) drop(k [sha256.Size]byte, e cacheEntry) {
	delete(c.entries, k)
	if e.id.TokenID == "" {
		return
	}
	keys := c.byJTI[e.id.TokenID]
	for i, other := range keys {
		if other == k {
			keys = append(keys[:i], keys[i+1:]...)
			break
		}
	}
	if len(keys) == 0 {
		delete(c.byJTI, e.id.TokenID)
	} else {
		c.byJTI[e.id.TokenID] = keys
	}
}

// evict forgets the tokens with these jtis and remembers that they were
// revoked.
func (c *tokenCache) evict(jtis []string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.revoked)+len(jtis) > 10*c.max {
		// Only what has expired goes: a revocation is never forgotten
		// while a verification that began before it may still finish.
		for j, until := range c.revoked {
			if now.After(until) {
				delete(c.revoked, j)
			}
		}
	}
	for _, jti := range jtis {
		c.revoked[jti] = now.Add(revokedTTL)
		for _, k := range append([][sha256.Size]byte(nil), c.byJTI[jti]...) {
			c.drop(k, c.entries[k])
		}
	}
}

// forget drops one entry.
func (c *tokenCache) forget(key [sha256.Size]byte) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.drop(key, e)
	}
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
