package authserver

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimiterConcurrentAttempts: attempts made at once cannot slip past
// the limit, as they could if checking and counting were two steps.
func TestLimiterConcurrentAttempts(t *testing.T) {
	p := pairLimiter{byName: newFailureLimiter(5, time.Minute), byAddr: newFailureLimiter(20, time.Minute)}
	now := time.Now()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := p.attempt("alice", "192.0.2.1", now); ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("%d of 200 concurrent attempts went through; want 5", allowed.Load())
	}
	// The window ends; nobody is locked out for good.
	if _, ok := p.attempt("alice", "192.0.2.1", now.Add(time.Minute)); !ok {
		t.Error("still blocked after the window")
	}
}

func TestLimiterSuccessAndAddresses(t *testing.T) {
	p := pairLimiter{byName: newFailureLimiter(3, time.Minute), byAddr: newFailureLimiter(3, time.Minute)}
	now := time.Now()
	// Many users behind one address sign in: successes are forgiven.
	for i := range 10 {
		name := fmt.Sprint("user", i)
		if _, ok := p.attempt(name, "198.51.100.7", now); !ok {
			t.Fatalf("sign-in %d from a shared address was blocked", i)
		}
		p.succeed(name, "198.51.100.7", now)
	}
	// IPv6 addresses of one /64 count together.
	for i := range 3 {
		p.attempt("", fmt.Sprintf("2001:db8::%x", i+1), now)
	}
	if _, ok := p.attempt("", "2001:db8::ffff", now); ok {
		t.Error("a fourth address of the same /64 was not limited")
	}
	if _, ok := p.attempt("", "2001:db8:0:1::1", now); !ok {
		t.Error("another /64 was limited")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newFailureLimiter(3, time.Hour)
	now := time.Now()
	for i := range maxLimiterKeys + 10 {
		l.attempt(fmt.Sprint("key", i), now)
	}
	if n := len(l.entries); n > maxLimiterKeys {
		t.Fatalf("%d entries; want at most %d", n, maxLimiterKeys)
	}
}
