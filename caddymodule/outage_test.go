package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// Phases of the outage test.
const (
	beforeCut = iota
	duringCut
	afterCut
)

// outageAnswer is one token request of the outage test's load.
type outageAnswer struct {
	worker       int
	startPhase   int
	endPhase     int
	status       int
	retryAfter   string
	code, token  string
	transportErr error
}

// TestStoreOutagePostgres runs Caddy on a PostgreSQL store reached
// through a proxy that the test cuts for a few seconds under a load of
// four clients asking for tokens, as a database restart or a network
// failure would: no answer is a 500; while the database is away the token
// endpoint answers 200 or 503 temporarily_unavailable with Retry-After,
// and both health checks say the store is unavailable; the gateway keeps
// serving a token it verified before the cut and answers 503 (never 2xx)
// for one it cannot check; once the database is back every request
// succeeds, and every token a client was given introspects active. Then
// the proxy holds the database's traffic without closing anything: a
// token request ends with a 503 when the store's bound runs out, rather
// than waiting for TCP to give up.
func TestStoreOutagePostgres(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.FreshDB(t))
	dsn, password := pgtest.WithPassword(dsn)
	// A short connect_timeout bounds each store operation to 2 s, for
	// the hold at the end.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	dsn = u.String()
	t.Setenv("AUTHGATE_TEST_DSN", dsn)
	tc := newTestCaddy(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := strings.Replace(tc.globalOptions(defaultClients), "storage sqlite "+filepath.Join(tc.dataDir, "authgate.db"), "storage postgres {env.AUTHGATE_TEST_DSN}", 1)
	global = strings.Replace(global, "persist_config off", "persist_config off\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel INFO\n\t}", 1)
	caddyfile := global + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_health /healthz
	authgate_server
	respond "site content" 404
}

%s {
	bind 127.0.0.1
	route {
		authgate {
			accept bearer
			require audience https://api.example.com
		}
		respond "api ok" 200
	}
}
`, tc.site, api)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck

	checkHealth(t, tc, true, "ok")
	forAPI := url.Values{"resource": {"https://api.example.com"}}
	seen := tc.token("svc", "svc-secret", forAPI)   // verified by the gateway before the cut
	unseen := tc.token("svc", "svc-secret", forAPI) // first shown to it during the cut
	callAPI := func(token string) response {
		req, _ := http.NewRequest(http.MethodGet, api+"/things", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return do(t, req)
	}
	if r := callAPI(seen); r.status != http.StatusOK {
		t.Fatalf("the gateway refused a fresh token: %d %s", r.status, r.body)
	}

	// The load: four clients asking for tokens as fast as they are answered.
	var phase atomic.Int32
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	stop := make(chan struct{})
	var mu sync.Mutex
	var answers []outageAnswer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := outageAnswer{worker: w, startPhase: int(phase.Load())}
				req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("svc", "svc-secret")
				resp, err := client.Do(req)
				if err != nil {
					a.transportErr = err
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
					var m struct {
						Error       string `json:"error"`
						AccessToken string `json:"access_token"`
					}
					json.Unmarshal(body, &m) //nolint:errcheck // checked through the fields
					a.code, a.token = m.Error, m.AccessToken
				}
				a.endPhase = int(phase.Load())
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			}
		})
	}

	time.Sleep(time.Second)
	phase.Store(duringCut)
	proxy.Cut()
	cutAt := time.Now()
	time.Sleep(500 * time.Millisecond)
	checkUnavailableHealth(t, tc)
	if r := callAPI(seen); r.status != http.StatusOK {
		t.Errorf("during the cut the gateway refused a token it had verified: %d %s", r.status, r.body)
	}
	r := callAPI(unseen)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("during the cut a token the gateway cannot check = %d (Retry-After %q) %s; want 503 with Retry-After",
			r.status, r.header.Get("Retry-After"), r.body)
	}
	// A token that is not the server's is refused without the store (its
	// signature is checked against keys in memory): 401, not 503.
	if r := callAPI(seen[:len(seen)-4] + "AAAA"); r.status != http.StatusUnauthorized {
		t.Errorf("during the cut a forged token = %d %s; want 401", r.status, r.body)
	}
	time.Sleep(time.Until(cutAt.Add(3 * time.Second)))
	phase.Store(afterCut)
	proxy.Restore()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	// Tally and check the answers.
	counts := [3]map[int]int{{}, {}, {}}
	settled := [4]bool{}
	unsettled := 0
	var tokens []string
	for _, a := range answers {
		if a.transportErr != nil {
			t.Errorf("worker %d, phase %d: %v", a.worker, a.startPhase, a.transportErr)
			continue
		}
		p := max(a.startPhase, a.endPhase)
		if a.startPhase == afterCut {
			p = afterCut
		} else if a.startPhase == duringCut || a.endPhase == duringCut {
			p = duringCut
		}
		counts[p][a.status]++
		switch a.status {
		case http.StatusOK:
			if a.token == "" {
				t.Errorf("a 200 without an access token")
			}
			tokens = append(tokens, a.token)
		case http.StatusServiceUnavailable:
			if a.code != "temporarily_unavailable" || a.retryAfter == "" {
				t.Errorf("a 503 with error %q and Retry-After %q; want temporarily_unavailable with Retry-After", a.code, a.retryAfter)
			}
		default:
			t.Errorf("phase %d: token request answered %d %s", p, a.status, a.code)
		}
		if p == afterCut {
			if settled[a.worker] && a.status != http.StatusOK {
				t.Errorf("worker %d: %d %s after the database was back and had answered", a.worker, a.status, a.code)
			}
			if a.status == http.StatusOK {
				settled[a.worker] = true
			} else {
				unsettled++
			}
		}
	}
	t.Logf("answers before the cut %v, during %v, after %v (%d errors after the restore before a worker's first 200)",
		counts[beforeCut], counts[duringCut], counts[afterCut], unsettled)
	if counts[duringCut][http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 during the cut: the cut did not reach the store")
	}
	for w, ok := range settled {
		if !ok {
			t.Errorf("worker %d got no token after the database was back", w)
		}
	}

	checkHealth(t, tc, true, "ok")

	// A database that stops answering without closing anything: the
	// store's bound ends the wait with a 503, and once it answers again
	// tokens are issued.
	proxy.Hold()
	if r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret"); r.status != http.StatusServiceUnavailable ||
		r.header.Get("Retry-After") == "" || r.json(t)["error"] != "temporarily_unavailable" {
		t.Errorf("a token request while the database does not answer = %d (Retry-After %q) %s; want 503 temporarily_unavailable",
			r.status, r.header.Get("Retry-After"), r.body)
	}
	checkUnavailableHealth(t, tc)
	proxy.Restore()
	tokens = append(tokens, tc.token("svc", "svc-secret", nil))
	if r := callAPI(unseen); r.status != http.StatusOK {
		t.Errorf("after the cut the gateway refused a good token: %d %s", r.status, r.body)
	}
	// No token a client was given is lost.
	lost := make(chan string, len(tokens))
	jobs := make(chan string)
	var iw sync.WaitGroup
	for range 4 {
		iw.Go(func() {
			for tok := range jobs {
				req, _ := http.NewRequest(http.MethodPost, tc.issuer+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("rs", "rs-secret")
				resp, err := client.Do(req)
				if err != nil {
					lost <- err.Error()
					continue
				}
				var m struct {
					Active bool `json:"active"`
				}
				err = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !m.Active {
					lost <- fmt.Sprintf("introspection %d active=%v", resp.StatusCode, m.Active)
				}
			}
		})
	}
	for _, tok := range tokens {
		jobs <- tok
	}
	close(jobs)
	iw.Wait()
	close(lost)
	n := 0
	for why := range lost {
		if n++; n <= 5 {
			t.Errorf("a token a client received is lost: %s", why)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d tokens clients received are lost", n, len(tokens))
	}
	checkOutageLog(t, logFile, password)
}

// checkOutageLog checks the log of the outage: the store's failures are
// warnings, not errors, and the DSN's password never shows.
func checkOutageLog(t *testing.T, logFile, password string) {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if password != "" && strings.Contains(string(b), password) {
		t.Error("the log shows the DSN's password")
	}
	warnings := 0
	for _, line := range strings.Split(string(b), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch m["level"] {
		case "error":
			t.Errorf("logged at error during the outage: %s", line)
		case "warn":
			if msg, _ := m["msg"].(string); strings.Contains(msg, "unavailable") {
				warnings++
			}
		}
	}
	if warnings == 0 {
		t.Error("the outage left no warning in the log")
	}
}

// checkUnavailableHealth checks that both health checks answer 503 and
// name the store as what is unavailable.
func checkUnavailableHealth(t *testing.T, tc *testCaddy) {
	t.Helper()
	for _, u := range []string{tc.issuer + "/healthz", "http://" + tc.admin + "/authgate/health"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		r := do(t, req)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s during the cut = %d %s; want 503", u, r.status, r.body)
			continue
		}
		body := r.json(t)
		if body["status"] != "unavailable" || body["store"] == "ok" || body["store"] == nil {
			t.Errorf("GET %s during the cut = %s; want the store named unavailable", u, r.body)
		}
	}
}
