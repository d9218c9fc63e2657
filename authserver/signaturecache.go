package authserver

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxCachedSignatures bounds the signature cache: about 400 bytes an
// entry, 4 MB in all.
const maxCachedSignatures = 10000

// signatureCache remembers access tokens whose signature this server
// verified, by bearer.CacheKey (every base64url spelling of a token is
// one entry), with their claims and the ID of the key that signed them.
// It saves only the signature check: whether a token is still active
// always comes from its record, so a revocation takes effect at once, and
// an entry counts only while its key is still published. Entries go at
// the token's expiry; when the cache is full, expired entries go first,
// then arbitrary ones.
type signatureCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]signatureEntry
}

// signatureEntry is one verified token. claims is never modified after
// it is cached; get hands out copies.
type signatureEntry struct {
	claims *AccessTokenClaims
	kid    string
	until  time.Time
}

// get returns a copy of the cached claims of key and the ID of the key
// that signed them.
func (c *signatureCache) get(key [sha256.Size]byte) (*AccessTokenClaims, string, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	claims := *e.claims
	claims.Audience = append(claims.Audience[:0:0], claims.Audience...)
	claims.AMR = append(claims.AMR[:0:0], claims.AMR...)
	return &claims, e.kid, true
}

// put caches verified claims until the token expires, if it has not.
func (c *signatureCache) put(key [sha256.Size]byte, claims *AccessTokenClaims, kid string, until, now time.Time) {
	if !until.After(now) {
		return
	}
	cached := *claims
	cached.Audience = append(cached.Audience[:0:0], cached.Audience...)
	cached.AMR = append(cached.AMR[:0:0], cached.AMR...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]signatureEntry{}
	}
	if len(c.entries) >= maxCachedSignatures {
		c.makeRoom(now)
	}
	c.entries[key] = signatureEntry{claims: &cached, kid: kid, until: until}
}

// remove forgets key.
func (c *signatureCache) remove(key [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// makeRoom drops expired entries, and if that freed less than a tenth of
// the cache, arbitrary ones up to a tenth.
func (c *signatureCache) makeRoom(now time.Time) {
	for k, e := range c.entries {
		if !e.until.After(now) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < maxCachedSignatures*9/10 {
			return
		}
		delete(c.entries, k)
	}
}
