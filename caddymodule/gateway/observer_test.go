package gateway

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// recordingObserver counts what it is told.
type recordingObserver struct {
	mu       sync.Mutex
	lookups  map[string]int // cache + " hit" or " miss"
	verified map[string]int
}

func (o *recordingObserver) CacheLookup(cache string, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hit {
		o.lookups[cache+" hit"]++
	} else {
		o.lookups[cache+" miss"]++
	}
}

func (o *recordingObserver) Verified(_ time.Duration, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.verified[outcome]++
}

// TestObserver: the first presentation of a token is a cache miss and a
// verification, later ones hits, a refused token's repeats hits too.
func TestObserver(t *testing.T) {
	o := &recordingObserver{lookups: map[string]int{}, verified: map[string]int{}}
	g, err := New(Config{AcceptBearer: true, Verifier: &fixedVerifier{}, Hosts: []string{"a.example"},
		Audiences: []string{"https://api.example"}, Observer: o})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"good", "good", "good", "forged", "forged"} {
		g.Decide(context.Background(), &Request{Method: "GET", Scheme: "https", Host: "a.example", Path: "/",
			Header: http.Header{"Authorization": {"Bearer " + tok}}})
	}
	wantLookups := map[string]int{"token miss": 2, "token hit": 3}
	for k, want := range wantLookups {
		if o.lookups[k] != want {
			t.Errorf("lookups[%q] = %d; want %d (all: %v)", k, o.lookups[k], want, o.lookups)
		}
	}
	if o.verified[VerifyValid] != 1 || o.verified[VerifyInvalid] != 1 || len(o.verified) != 2 {
		t.Errorf("verified %v; want one valid, one invalid", o.verified)
	}
	if tokens, sessions := g.CacheEntries(); tokens != 1 || sessions != 0 {
		t.Errorf("CacheEntries() = %d, %d; want 1, 0", tokens, sessions)
	}
}
