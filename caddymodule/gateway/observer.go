package gateway

import "time"

// Cache names an Observer is told about.
const (
	// CacheToken is the cache of verified bearer tokens.
	CacheToken = "token"
	// CacheSession is the cache of checked session cookies.
	CacheSession = "session"
)

// Verification outcomes an Observer is told about.
const (
	VerifyValid   = "valid"   // the verifier accepted the token
	VerifyInvalid = "invalid" // it refused the token (ErrInvalidToken)
	VerifyError   = "error"   // it could not tell (its provider unreachable, say)
)

// Observer is told what a gateway does, for metrics. Its methods are
// called on the request path: they must be quick and safe for concurrent
// use.
type Observer interface {
	// CacheLookup reports a lookup in one of the caches (CacheToken or
	// CacheSession), and whether it answered (a hit: a cached identity or
	// a cached refusal).
	CacheLookup(cache string, hit bool)
	// Verified reports a bearer token verification the cache did not
	// answer: how long the verifier took, and its outcome (VerifyValid,
	// VerifyInvalid or VerifyError).
	Verified(elapsed time.Duration, outcome string)
}

// nopObserver is the Observer of a gateway configured without one.
type nopObserver struct{}

func (nopObserver) CacheLookup(string, bool)       {}
func (nopObserver) Verified(time.Duration, string) {}

// CacheEntries returns how many entries each cache holds.
func (g *Gateway) CacheEntries() (tokens, sessions int) {
	return g.tokens.len(), g.sessions.len()
}
