package authserver

import (
	"sync"
	"time"
)

// failureLimiter counts failures per key (a username, a client, an
// address). A key with max failures within window is blocked for the
// rest of the window; the count then starts over, so nobody is locked out
// for good. It is in memory, per instance.
type failureLimiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	entries map[string]*failureCount
}

type failureCount struct {
	n     int
	since time.Time
}

// maxLimiterKeys bounds memory; past it, expired entries are dropped and,
// if that is not enough, everything is.
const maxLimiterKeys = 100_000

func newFailureLimiter(max int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, entries: make(map[string]*failureCount)}
}

// blocked reports whether key is blocked at now and for how long.
func (l *failureLimiter) blocked(key string, now time.Time) (time.Duration, bool) {
	if l == nil || l.max <= 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok {
		return 0, false
	}
	if end := e.since.Add(l.window); !now.Before(end) {
		delete(l.entries, key)
		return 0, false
	} else if e.n >= l.max {
		return end.Sub(now), true
	}
	return 0, false
}

// fail counts a failure for key.
func (l *failureLimiter) fail(key string, now time.Time) {
	if l == nil || l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok || !now.Before(e.since.Add(l.window)) {
		if len(l.entries) >= maxLimiterKeys {
			l.prune(now)
		}
		e = &failureCount{since: now}
		l.entries[key] = e
	}
	e.n++
}

// reset forgets key's failures.
func (l *failureLimiter) reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

func (l *failureLimiter) prune(now time.Time) {
	for k, e := range l.entries {
		if !now.Before(e.since.Add(l.window)) {
			delete(l.entries, k)
		}
	}
	if len(l.entries) >= maxLimiterKeys {
		clear(l.entries)
	}
}

// pairLimiter limits failures per name (a user or client) and per client
// address at once.
type pairLimiter struct {
	byName, byAddr *failureLimiter
}

func (p pairLimiter) blocked(name, addr string, now time.Time) (time.Duration, bool) {
	d1, b1 := p.byName.blocked(name, now)
	d2, b2 := p.byAddr.blocked(addr, now)
	return max(d1, d2), b1 || b2
}

func (p pairLimiter) fail(name, addr string, now time.Time) {
	p.byName.fail(name, now)
	p.byAddr.fail(addr, now)
}

// succeed clears the name's failures; the address keeps its count, so
// one good account cannot launder guesses at others.
func (p pairLimiter) succeed(name string) { p.byName.reset(name) }
