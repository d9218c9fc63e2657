package multiinstance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// TestKillDuringTokenLoad kills an instance with SIGKILL while eight
// clients request tokens as fast as it answers, starts it again on the
// same store, and checks that every token a client received is still
// active there: a token endpoint answers only after its token's record is
// durable, however the store commits (SQLite groups concurrent inserts
// into one transaction).
func TestKillDuringTokenLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite " + filepath.Join(t.TempDir(), "authgate.db") }},
		{"postgres", func(t *testing.T) string { return "postgres " + pgtest.FreshDB(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := tc.storage(t)
			caddyBinary(t)
			// The issuer is an address of its own, so the restarted
			// instance, on other ports, is the same issuer.
			issuer := newBalancer(t).url
			first := startInstance(t, "first", issuer, storage)
			first.waitReady()

			received := loadUntilKilled(t, first, 8, 300)
			if len(received) < 300 {
				t.Fatalf("only %d tokens were issued before the kill; want at least 300", len(received))
			}

			second := startInstance(t, "second", issuer, storage)
			second.waitReady()
			lost := 0
			for _, tok := range received {
				if !second.active(t, tok) {
					lost++
				}
			}
			if lost > 0 {
				t.Fatalf("%d of the %d tokens clients received before the kill are not active after the restart", lost, len(received))
			}
			t.Logf("%d tokens received before the kill, all active after the restart", len(received))
		})
	}
}

// loadUntilKilled runs workers that request client credentials tokens
// from in until it stops answering, kills it once at least after tokens
// were issued, and returns every token a client received.
func loadUntilKilled(t *testing.T, in *instance, workers, after int) []string {
	t.Helper()
	var (
		mu       sync.Mutex
		received []string
		issued   atomic.Int64
		wg       sync.WaitGroup
		killed   = make(chan struct{})
	)
	// No keep-alive pool to outlive the process; each worker has one
	// connection, as a client would.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tok, ok := requestToken(c, in.url)
				if ok {
					mu.Lock()
					received = append(received, tok)
					mu.Unlock()
					issued.Add(1)
					continue
				}
				select {
				case <-killed:
					return
				default:
				}
				// A refusal before the kill is a failure of its own.
				t.Error("a token request failed before the kill")
				return
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for issued.Load() < int64(after) && time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	close(killed)
	in.kill()
	wg.Wait()
	return received
}

// requestToken asks for a client credentials token; ok is false for any
// answer but a 200 with an access token (the process was killed).
func requestToken(c *http.Client, base string) (string, bool) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret")
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &r) != nil || r.AccessToken == "" {
		return "", false
	}
	return r.AccessToken, true
}
