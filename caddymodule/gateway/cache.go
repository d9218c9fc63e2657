package gateway

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache keeps verified tokens until they expire or are revoked, so
// the common request costs a hash and a map lookup instead of a
// signature check. It is bounded in entries; past the bound, a random
// half is dropped.
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cacheEntry
	byJTI   map[string][sha256.Size]byte
}

type cacheEntry struct {
	id    *Identity
	until time.Time
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		max = 10_000
	}
	return &tokenCache{max: max, entries: map[[sha256.Size]byte]cacheEntry{}, byJTI: map[string][sha256.Size]byte{}}
}

func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.id, true
}

func (c *tokenCache) put(key [sha256.Size]byte, id *Identity, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries { // map order is random: drops a random half
			if len(c.entries) < c.max/2 {
				break
			}
			c.drop(k, e)
		}
	}
	c.entries[key] = cacheEntry{id: id, until: until}
	if id.TokenID != "" {
		c.byJTI[id.TokenID] = key
	}
}

func (c *tokenCache) drop(k [sha256.Size]byte, e cacheEntry) {
	delete(c.entries, k)
	if e.id.TokenID != "" {
		delete(c.byJTI, e.id.TokenID)
	}
}

// evict forgets the tokens with these jtis.
func (c *tokenCache) evict(jtis []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, jti := range jtis {
		if k, ok := c.byJTI[jti]; ok {
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
