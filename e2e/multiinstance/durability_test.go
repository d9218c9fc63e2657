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

// durableStores are the stores the kill tests run on: each gives a
// storage line for a fresh store.
var durableStores = []struct {
	name    string
	storage func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite " + filepath.Join(t.TempDir(), "authgate.db") }},
	{"postgres", func(t *testing.T) string { return "postgres " + pgtest.FreshDB(t) }},
}

// TestKillDuringTokenLoad kills an instance with SIGKILL while eight
// clients request tokens as fast as it answers, starts it again on the
// same store, and checks that every token a client received is still
// active there: a token endpoint answers only after its token's record is
// durable, however the store commits (SQLite groups concurrent inserts
// into one transaction).
func TestKillDuringTokenLoad(t *testing.T) {
	for _, tc := range durableStores {
		t.Run(tc.name, func(t *testing.T) {
			storage := tc.storage(t)
			caddyBinary(t)
			// The issuer is an address of its own, so the restarted
			// instance, on other ports, is the same issuer.
			issuer := newBalancer(t).url
			first := startInstance(t, "first", issuer, storage)
			first.waitReady()

			var (
				mu       sync.Mutex
				received []string
			)
			loadUntilKilled(t, first, 8, 300, func(int) bool {
				tok, ok := requestToken(first.url)
				if ok {
					mu.Lock()
					received = append(received, tok)
					mu.Unlock()
				}
				return ok
			})
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

// TestKillDuringRefreshLoad kills an instance with SIGKILL while eight
// clients rotate their refresh tokens as fast as it answers, starts it
// again on the same store, and checks what each client saw: every access
// token it received is active, and every refresh token it spent to get
// the next one stays spent (a refresh spends the old token in the same
// commit that stores the new ones, before the client hears of them). The
// last refresh token a client received is active, unless the rotation
// it had in flight when the process died was committed unanswered.
func TestKillDuringRefreshLoad(t *testing.T) {
	for _, tc := range durableStores {
		t.Run(tc.name, func(t *testing.T) {
			storage := tc.storage(t)
			caddyBinary(t)
			lb := newBalancer(t)
			first := startInstance(t, "first", lb.url, storage)
			first.waitReady()

			const workers = 8
			// chains[w] is the refresh tokens worker w received, in order;
			// access[w] its access tokens. Each worker touches only its own.
			var chains, access [workers][]string
			for w := range workers {
				req := cliRequest()
				q := callback(t, signIn(t, newBrowser(t, lb), lb, first, req), lb.url)
				tk := decodeTokens(t, do(t, client, req.redeemRequest(t, first, q.Get("code"))))
				chains[w], access[w] = []string{tk.RefreshToken}, []string{tk.AccessToken}
			}
			loadUntilKilled(t, first, workers, 300, func(w int) bool {
				tk, ok := refresh(first.url, chains[w][len(chains[w])-1])
				if ok {
					chains[w] = append(chains[w], tk.RefreshToken)
					access[w] = append(access[w], tk.AccessToken)
				}
				return ok
			})

			second := startInstance(t, "second", lb.url, storage)
			second.waitReady()
			rotations, lostAccess, revived, lastActive := 0, 0, 0, 0
			for w := range workers {
				rotations += len(chains[w]) - 1
				for _, at := range access[w] {
					if !second.active(t, at) {
						lostAccess++
					}
				}
				for _, spent := range chains[w][:len(chains[w])-1] {
					if second.active(t, spent) {
						revived++
					}
				}
				if second.active(t, chains[w][len(chains[w])-1]) {
					lastActive++
				}
			}
			if rotations < 300 {
				t.Fatalf("only %d refreshes were answered before the kill; want at least 300", rotations)
			}
			if lostAccess > 0 || revived > 0 {
				t.Fatalf("after %d refreshes and a kill: %d access tokens clients received are not active, "+
					"and %d refresh tokens they spent are active again", rotations, lostAccess, revived)
			}
			t.Logf("%d refreshes answered before the kill: every access token active, every spent refresh token still spent; "+
				"%d of %d clients' last refresh tokens active (the others' rotation in flight was committed)", rotations, lastActive, workers)
		})
	}
}

// loadUntilKilled runs workers that call issue (with their number) as
// fast as in answers, until it stops answering; it kills in once at least
// after calls succeeded. issue reports whether its request succeeded.
func loadUntilKilled(t *testing.T, in *instance, workers, after int, issue func(worker int) bool) {
	t.Helper()
	var (
		issued atomic.Int64
		wg     sync.WaitGroup
		killed = make(chan struct{})
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if issue(w) {
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
}

// loadClient sends the load. It keeps no pool of connections to outlive
// the process beyond one per worker, as clients would.
var loadClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

// postToken posts form to base's token endpoint, with Basic
// authentication if user is not empty, and decodes a 200's tokens; ok is
// false for any other answer (the process was killed).
func postToken(base string, form url.Values, user, pass string) (tokens, bool) {
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := loadClient.Do(req)
	if err != nil {
		return tokens{}, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return tokens{}, false
	}
	var tk tokens
	if json.Unmarshal(body, &tk) != nil || tk.AccessToken == "" {
		return tokens{}, false
	}
	return tk, true
}

// requestToken asks for a client credentials token.
func requestToken(base string) (string, bool) {
	tk, ok := postToken(base, url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret")
	return tk.AccessToken, ok
}

// refresh rotates the public client cli's refresh token rt.
func refresh(base, rt string) (tokens, bool) {
	tk, ok := postToken(base, url.Values{"grant_type": {"refresh_token"}, "client_id": {"cli"}, "refresh_token": {rt}}, "", "")
	return tk, ok && tk.RefreshToken != ""
}
