package caddymodule

import (
	"time"

	"github.com/authgate/authgate/authserver/keys"
)

// currentKey is the key that signs at now: of the keys that have begun
// signing, the newest. Zero if none has.
func currentKey(infos []keys.KeyInfo, now time.Time) keys.KeyInfo {
	var current keys.KeyInfo
	for _, k := range infos {
		if !k.SignFrom.After(now) && (current.ID == "" || k.SignFrom.After(current.SignFrom)) {
			current = k
		}
	}
	return current
}

// signingKeyAge is how long the current signing key has been signing, in
// seconds; 0 before there is one.
func (a *App) signingKeyAge() float64 {
	if a.keys == nil {
		return 0
	}
	now := time.Now()
	current := currentKey(a.keys.Info(), now)
	if current.ID == "" {
		return 0
	}
	return now.Sub(current.SignFrom).Seconds()
}

// cacheEntries sums the entries of the gateways' caches.
func (a *App) cacheEntries() (tokens, sessions int) {
	a.gateways.mu.Lock()
	defer a.gateways.mu.Unlock()
	for _, gc := range a.gateways.list {
		if gc.gw != nil {
			t, s := gc.gw.CacheEntries()
			tokens += t
			sessions += s
		}
	}
	return tokens, sessions
}
