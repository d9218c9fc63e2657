package authserver

import (
	"crypto/sha256"
	"net"
	"sync"
	"time"
)

// failureLimiter counts attempts per key (a username, a client, an
// address). A key with max attempts within window is blocked for the rest
// of the window; the count then starts over, so nobody is locked out for
// good. It is in memory, per instance. Keys are kept as hashes, so long
// keys cost no memory.
type failureLimiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*failureCount
}

type failureCount struct {
	n     int
	since time.Time
}

// maxLimiterKeys bounds memory (about 100 bytes a key); past it, expired
// entries are dropped and, if that is not enough, half of the rest.
const maxLimiterKeys = 100_000

func newFailureLimiter(max int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, entries: make(map[[sha256.Size]byte]*failureCount)}
}

// entry returns key's live entry, making one if create is set. It must
// be called with l.mu held.
func (l *failureLimiter) entry(key string, now time.Time, create bool) *failureCount {
	k := sha256.Sum256([]byte(key))
	e, ok := l.entries[k]
	if ok && !now.Before(e.since.Add(l.window)) {
		delete(l.entries, k)
		ok = false
	}
	if !ok && create {
		if len(l.entries) >= maxLimiterKeys {
			l.prune(now)
		}
		e = &failureCount{since: now}
		l.entries[k] = e
		ok = true
	}
	if !ok {
		return nil
	}
	return e
}

// attempt counts an attempt for key unless key is blocked, in one step,
// so that concurrent attempts cannot all slip past the check.
func (l *failureLimiter) attempt(key string, now time.Time) (time.Duration, bool) {
	if l == nil || l.max <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now, true)
	if e.n >= l.max {
		return e.since.Add(l.window).Sub(now), false
	}
	e.n++
	return 0, true
}

// blocked reports whether key has had max attempts within the window, and
// for how much longer, without counting one.
func (l *failureLimiter) blocked(key string, now time.Time) (time.Duration, bool) {
	if l == nil || l.max <= 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entry(key, now, false); e != nil && e.n >= l.max {
		return e.since.Add(l.window).Sub(now), true
	}
	return 0, false
}

// forgive takes back one counted attempt, for an attempt that succeeded.
func (l *failureLimiter) forgive(key string, now time.Time) {
	if l == nil || l.max <= 0 {
		return
	}
	l.mu.Lock()
	if e := l.entry(key, now, false); e != nil && e.n > 0 {
		e.n--
	}
	l.mu.Unlock()
}

// reset forgets key's attempts.
func (l *failureLimiter) reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.entries, sha256.Sum256([]byte(key)))
	l.mu.Unlock()
}

func (l *failureLimiter) prune(now time.Time) {
	for k, e := range l.entries {
		if !now.Before(e.since.Add(l.window)) {
			delete(l.entries, k)
		}
	}
	for k := range l.entries { // map order is random: this drops a random half
		if len(l.entries) < maxLimiterKeys/2 {
			break
		}
		delete(l.entries, k)
	}
}

// pairLimiter limits attempts per name (a known user or client) and per
// client address at once.
type pairLimiter struct {
	byName, byAddr *failureLimiter
}

// attempt counts an attempt for name (if not empty) and for the address,
// unless either is blocked. Local sign-ins name only users that exist;
// directory sign-ins name whatever was typed (only the directory knows
// who exists), which the address's limit slows and maxLimiterKeys
// bounds.
func (p pairLimiter) attempt(name, addr string, now time.Time) (time.Duration, bool) {
	addr = addressKey(addr)
	if d, ok := p.byAddr.attempt(addr, now); !ok {
		return d, false
	}
	if name != "" {
		if d, ok := p.byName.attempt(name, now); !ok {
			p.byAddr.forgive(addr, now)
			return d, false
		}
	}
	return 0, true
}

// blocked reports whether name (if not empty) or the address is blocked,
// without counting an attempt.
func (p pairLimiter) blocked(name, addr string, now time.Time) (time.Duration, bool) {
	if d, blocked := p.byAddr.blocked(addressKey(addr), now); blocked {
		return d, true
	}
	if name != "" {
		return p.byName.blocked(name, now)
	}
	return 0, false
}

// forget clears name's count, for a right attempt that was not counted.
func (p pairLimiter) forget(name string) {
	if name != "" {
		p.byName.reset(name)
	}
}

// forgive takes back one attempt of name and address, for an attempt
// that turned out right.
func (p pairLimiter) forgive(name, addr string, now time.Time) {
	p.byName.forgive(name, now)
	p.byAddr.forgive(addressKey(addr), now)
}

// succeed clears the name's count and takes back the address's attempt,
// so that many users behind one address can sign in.
func (p pairLimiter) succeed(name, addr string, now time.Time) {
	p.byName.reset(name)
	p.byAddr.forgive(addressKey(addr), now)
}

// addressKey groups IPv6 addresses by /64, which one host usually has
// whole.
func addressKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
