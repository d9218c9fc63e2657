package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestMain keeps Caddy's files (autosave, data directory) in a temporary
// directory and stops whatever config a test left running.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authgate-caddymodule-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	caddy.ConfigAutosavePath = filepath.Join(dir, "autosave.json")
	code := m.Run()
	caddy.Stop() //nolint:errcheck
	os.RemoveAll(dir)
	os.Exit(code)
}

// handedOut remembers the ports freePort returned, so that one test's
// sites never get the same port twice.
var handedOut sync.Map

// freePort returns a loopback port that was free a moment ago and that
// this test process has not handed out before. It comes from below the
// system's ephemeral range when there is room there: a port from that
// range, free when checked, can be taken by any outgoing connection (of
// this or a parallel test package) before Caddy binds it.
func freePort(t *testing.T) int {
	t.Helper()
	low, high := 10000, ephemeralLow()-1
	for range 200 {
		var port int
		if high-low >= 1000 {
			port = low + rand.IntN(high-low)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			l.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
	t.Fatal("no free port that was not handed out before")
	return 0
}

// ephemeralLow is the first port of the system's ephemeral range (32768
// where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// testCaddy is one running Caddy with the authgate app.
type testCaddy struct {
	t       *testing.T
	issuer  string
	site    string // the site address; the issuer unless set
	admin   string
	dataDir string
	port    int
	config  []byte
}

// defaultClients are the clients most tests use.
const defaultClients = `
		client svc {
			secret svc-secret
			grant_types client_credentials
			scopes read write
			audiences https://api.example.com https://other.example.com
		}
		client other {
			secret other-secret
			scopes read
		}
		client rs {
			secret rs-secret
			introspect_any
		}
		client special {
			secret "p@ss:w%rd &x="
			scopes read
		}
		client spa {
			public
			redirect_uris http://127.0.0.1:9999/cb
		}
`

// startCaddy runs Caddy with an authgate app configured by options (lines
// for inside the authgate block) on free ports, with its SQLite store in a
// temporary directory. The config is stopped when the test ends.
func startCaddy(t *testing.T, options string) *testCaddy {
	t.Helper()
	tc := newTestCaddy(t)
	tc.config = tc.adapt(options)
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	return tc
}

// newTestCaddy picks free ports and a data directory for a Caddy whose
// issuer is its first site.
func newTestCaddy(t *testing.T) *testCaddy {
	tc := &testCaddy{t: t, port: freePort(t), dataDir: t.TempDir()}
	tc.issuer = fmt.Sprintf("http://127.0.0.1:%d", tc.port)
	tc.site = tc.issuer
	tc.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return tc
}

// globalOptions is the Caddyfile's global block: admin, storage and the
// authgate app with options (lines for inside the authgate block).
func (tc *testCaddy) globalOptions(options string) string {
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	storage file_system %s
	authgate {
		issuer %s
		storage sqlite %s
		%s
	}
}
`, tc.admin, filepath.Join(tc.dataDir, "caddy"), tc.issuer, filepath.Join(tc.dataDir, "authgate.db"), options)
}

func (tc *testCaddy) adapt(options string) []byte {
	tc.t.Helper()
	caddyfile := tc.globalOptions(options) + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	respond "site content" 404
}
`, tc.site)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		tc.t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			tc.t.Logf("adapt warning: %s", w)
		}
	}
	return cfg
}

func (tc *testCaddy) load() {
	tc.t.Helper()
	if err := caddy.Load(tc.config, true); err != nil {
		tc.t.Fatalf("loading config: %v", err)
	}
	// The previous config's server closed its idle connections; do not
	// reuse them for a POST, which the client cannot retry.
	http.DefaultClient.CloseIdleConnections()
}

// reload loads a config with other authgate options on the same ports and
// store, as `caddy reload` does.
func (tc *testCaddy) reload(options string) {
	tc.t.Helper()
	tc.config = tc.adapt(options)
	tc.load()
	// A kept-alive connection the old config's server was reading a
	// request from as it stopped may still answer it with the old config;
	// what a test sends after the reload goes on a new connection.
	http.DefaultClient.CloseIdleConnections()
}

// restart stops Caddy and starts the same config again, as a process
// restart on the same data directory would.
func (tc *testCaddy) restart() {
	tc.t.Helper()
	if err := caddy.Stop(); err != nil {
		tc.t.Fatalf("stopping: %v", err)
	}
	tc.load()
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	return doWith(t, http.DefaultClient, req)
}

// doWith sends req with client. A request that meets a connection the
// previous config's server closed during a reload is sent once more, as a
// client would retry it.
func doWith(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil && req.GetBody != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		time.Sleep(50 * time.Millisecond)
		retry := req.Clone(req.Context())
		retry.Body, _ = req.GetBody()
		resp, err = client.Do(retry)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// postForm posts form values to an endpoint, authenticating with Basic if
// user is not empty (form-encoding id and secret as RFC 6749 §2.3.1 says).
func (tc *testCaddy) postForm(path string, form url.Values, user, pass string) response {
	tc.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tc.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		tc.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return do(tc.t, req)
}

func (tc *testCaddy) get(path string) response {
	tc.t.Helper()
	req, err := http.NewRequest(http.MethodGet, tc.issuer+path, nil)
	if err != nil {
		tc.t.Fatal(err)
	}
	return do(tc.t, req)
}

// token gets a client credentials access token.
func (tc *testCaddy) token(client, secret string, extra url.Values) string {
	tc.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	r := tc.postForm("/token", form, client, secret)
	if r.status != http.StatusOK {
		tc.t.Fatalf("token request: %d %s", r.status, r.body)
	}
	return r.json(tc.t)["access_token"].(string)
}

// introspect returns the introspection response for a token, asked by the
// resource server client rs.
func (tc *testCaddy) introspect(token string) map[string]any {
	tc.t.Helper()
	r := tc.postForm("/introspect", url.Values{"token": {token}}, "rs", "rs-secret")
	if r.status != http.StatusOK {
		tc.t.Fatalf("introspection: %d %s", r.status, r.body)
	}
	return r.json(tc.t)
}

func (tc *testCaddy) active(token string) bool {
	tc.t.Helper()
	return tc.introspect(token)["active"] == true
}

func (tc *testCaddy) adminPost(path string) response {
	tc.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+tc.admin+path, nil)
	if err != nil {
		tc.t.Fatal(err)
	}
	return do(tc.t, req)
}

// loadConfig loads a config and returns Caddy's error, for configs that
// must fail.
func loadConfig(cfg []byte) error { return caddy.Load(cfg, true) }

func sleepSeconds(n int) { time.Sleep(time.Duration(n) * time.Second) }
