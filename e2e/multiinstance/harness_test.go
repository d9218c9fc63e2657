package multiinstance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// binDir holds the Caddy binary the tests build once per package run.
var binDir string

// binDirPattern names binDir in the temporary directory; binDirOwner is
// the file in it that holds the test process's ID.
const (
	binDirPattern = "authgate-multiinstance-"
	binDirOwner   = "owner.pid"
)

func TestMain(m *testing.M) {
	// A test process that died without its cleanups (a -timeout panic)
	// left its binary behind: remove those of processes that are gone.
	removeStaleBinDirs()
	dir, err := os.MkdirTemp("", binDirPattern)
	if err != nil {
		panic(err)
	}
	binDir = dir
	if err := os.WriteFile(filepath.Join(dir, binDirOwner), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// caddyBinary builds cmd/caddy (Caddy with the standard modules and
// authgate) once, with the normal build cache, and returns its path.
func caddyBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "caddy")
	buildOnce.Do(func() {
		consultSources(t)
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/caddy")
		buildOut, buildErr = cmd.CombinedOutput()
		t.Logf("built Caddy with authgate in %v", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("building Caddy with authgate: %v\n%s", buildErr, buildOut)
	}
	return bin
}

// consultSources reads the module's source files (Go, embedded templates,
// go.mod and go.sum). The binary the tests run is built by a command go
// test cannot see into; files the test itself reads are part of its cache
// key, so a change to the plugin runs these tests again instead of
// replaying an old result.
func consultSources(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".html", ".mod", ".sum", ".sql", ".js", ".css":
			_, err := os.ReadFile(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Logf("reading the sources for the test cache: %v", err)
	}
}

// testConfig is what every instance knows from configuration: it must be
// the same on all of them.
const testConfig = `
		user alice {
			password_hash $2a$04$YCfjm6y/m707err/5/GUbOaFk0MiLjUKqu29IIPHtrU2tEPlASKue
			name "Alice Liddell"
		}
		client svc {
			secret svc-secret
			grant_types client_credentials
			scopes read write
			audiences https://protected.example
		}
		client rs {
			secret rs-secret
			introspect_any
		}
		client app {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid profile offline_access read
		}
		client cli {
			public
			redirect_uris http://127.0.0.1:9999/cb
			scopes openid offline_access
			skip_consent
		}
`

// alicePassword is the password behind the hash above (bcrypt cost 4).
const alicePassword = "wonderland"

// appRedirect is the redirect URI of the clients app and cli.
const appRedirect = "http://127.0.0.1:9999/cb"

// instance is one Caddy process of the authorization server.
type instance struct {
	t    *testing.T
	name string
	url  string // the instance's own address, not the issuer
	// site is the address of its protected site: the authgate handler
	// (bearer tokens; sessions under /web/) in front of a response that
	// echoes the X-Auth-Subject header the gateway sets.
	site string
	// admin is the address of its admin API.
	admin string
	log   string // the file with its standard output and error
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
}

// startInstance starts a Caddy process serving the authorization server
// for issuer, and the protected site, on free ports, with storage, the
// storage option's arguments ("postgres <dsn>", "sqlite <path>"), and env
// added to its environment. It does
// not wait for it to answer. The process is stopped when the test ends,
// and its log shown if the test failed.
func startInstance(t *testing.T, name, issuer, storage string, env ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{t: t, name: name, log: filepath.Join(dir, "caddy.log"), done: make(chan struct{})}
	in.cmd = exec.Command(caddyBinary(t), "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	socks := newSockets(t, in.cmd, 3)
	server, site, admin := socks.list[0], socks.list[1], socks.list[2]
	in.url = fmt.Sprintf("http://127.0.0.1:%d", server.port)
	in.site = fmt.Sprintf("http://127.0.0.1:%d", site.port)
	in.admin = fmt.Sprintf("http://127.0.0.1:%d", admin.port)
	caddyfile := fmt.Sprintf(`{
	admin %s
	persist_config off
	authgate {
		issuer %s
		storage %s
		%s
	}
}

%s {
	bind %s
	authgate_server
}

%s {
	bind %s
	route /web/* {
		authgate {
			accept session
			callback_path /web/.authgate/callback
			logout_path /web/.authgate/logout
		}
		respond "{http.request.header.X-Auth-Subject}"
	}
	route {
		authgate {
			accept bearer
			# Every instance's site is one resource: tokens name it.
			require audience https://protected.example
		}
		respond "{http.request.header.X-Auth-Subject}"
	}
}
`, admin.adminAddr(), issuer, storage, strings.TrimSpace(testConfig), in.url, server.bind(), in.site, site.bind())
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(in.log)
	if err != nil {
		t.Fatal(err)
	}
	in.cmd.Dir = dir
	in.cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"HOME="+dir,
	)
	in.cmd.Env = append(in.cmd.Env, env...)
	in.cmd.Stdout, in.cmd.Stderr = logFile, logFile
	// Should the test process die without its cleanups (a -timeout
	// panic, a signal), the instance dies with it where the system can.
	setDeathSignal(in.cmd)
	err = in.cmd.Start()
	socks.release() // the process has its own copies
	if err != nil {
		logFile.Close()
		t.Fatalf("starting instance %s: %v", name, err)
	}
	go func() {
		in.cmd.Wait() //nolint:errcheck // the exit status of a killed process
		logFile.Close()
		close(in.done)
	}()
	t.Cleanup(func() {
		in.stop()
		if t.Failed() {
			b, _ := os.ReadFile(in.log)
			if len(b) > 16<<10 {
				b = b[len(b)-16<<10:]
			}
			t.Logf("log of instance %s:\n%s", name, b)
		}
	})
	return in
}

// stop ends the instance: gracefully (SIGTERM: Caddy stops its apps and
// closes its database pool), or killed if it has not exited within 5s.
// It returns when the process has exited.
func (in *instance) stop() {
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err == nil {
		select {
		case <-in.done:
			return
		case <-time.After(5 * time.Second):
			in.t.Logf("instance %s did not stop within 5s of SIGTERM; killing it", in.name)
		}
	}
	in.cmd.Process.Kill() //nolint:errcheck // it may have exited
	<-in.done
}

// kill ends the instance with SIGKILL, as a crash or an OOM kill would:
// nothing of it runs after. It returns when the process has exited.
func (in *instance) kill() {
	in.cmd.Process.Kill() //nolint:errcheck // it may have exited
	<-in.done
}

// readyClient asks whether an instance is up.
var readyClient = &http.Client{Timeout: 2 * time.Second}

// waitReady waits until the instance serves its discovery document.
func (in *instance) waitReady() {
	in.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-in.done:
			in.t.Fatalf("instance %s exited at start: %v", in.name, in.cmd.ProcessState)
		default:
		}
		resp, err := readyClient.Get(in.url + "/.well-known/openid-configuration")
		if err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("instance %s does not answer after 30s (last error %v)", in.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

var client = &http.Client{Timeout: 30 * time.Second}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
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

func formRequest(t *testing.T, u string, form url.Values, user, pass string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return req
}

// postForm posts form values to an endpoint of the instance,
// authenticating with Basic if user is not empty.
func (in *instance) postForm(t *testing.T, path string, form url.Values, user, pass string) response {
	t.Helper()
	return do(t, client, formRequest(t, in.url+path, form, user, pass))
}

// token gets a client credentials access token for svc.
func (in *instance) token(t *testing.T) string {
	t.Helper()
	r := in.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret")
	if r.status != http.StatusOK {
		t.Fatalf("token request on %s: %d %s", in.name, r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

// introspect asks the instance about a token as the resource server rs.
func (in *instance) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	r := in.postForm(t, "/introspect", url.Values{"token": {token}}, "rs", "rs-secret")
	if r.status != http.StatusOK {
		t.Fatalf("introspection on %s: %d %s", in.name, r.status, r.body)
	}
	return r.json(t)
}

func (in *instance) active(t *testing.T, token string) bool {
	t.Helper()
	return in.introspect(t, token)["active"] == true
}

// jwks fetches the instance's published keys.
func (in *instance) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.url+"/jwks", nil)
	r := do(t, client, req)
	if r.status != http.StatusOK {
		t.Fatalf("JWKS of %s: %d %s", in.name, r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("JWKS of %s: %v", in.name, err)
	}
	return set
}

// kids lists a key set's key IDs, sorted.
func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	slices.Sort(out)
	return out
}

// keyID returns the kid in a JWT's header.
func keyID(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("parsing JWT: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

// verifyWith checks a JWT's signature against a published key set.
func verifyWith(set jose.JSONWebKeySet, token string) error {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		return fmt.Errorf("kid %q is not in the key set %v", kid, kids(set))
	}
	_, err = jws.Verify(keys[0])
	return err
}

// balancer stands in for the load balancer in front of the instances: the
// issuer's address. The test chooses which instance serves the next
// request. Like Caddy's reverse_proxy, it keeps the Host header.
type balancer struct {
	url    string
	target atomic.Pointer[instance]
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(b.target.Load().url)
		r.SetURL(u)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}})
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

// to sends the next requests through the balancer to in.
func (b *balancer) to(in *instance) { b.target.Store(in) }

// browser is a user's browser: it keeps cookies and does not follow
// redirects. It talks to the issuer, which is the balancer.
type browser struct {
	t      *testing.T
	lb     *balancer
	client *http.Client
}

func newBrowser(t *testing.T, lb *balancer) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, lb: lb, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

func (b *browser) get(pathAndQuery string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.lb.url+pathAndQuery, nil)
	req.Header.Set("Accept", "text/html")
	return do(b.t, b.client, req)
}

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	return do(b.t, b.client, formRequest(b.t, b.lb.url+path, form, "", ""))
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// fields returns a page's hidden form fields (csrf_token, request).
func fields(r response) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(r.body), -1) {
		out.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

func isLoginPage(r response) bool {
	return r.status == http.StatusOK && bytes.Contains(r.body, []byte(`name="password"`))
}

func isConsentPage(r response) bool {
	return r.status == http.StatusOK && bytes.Contains(r.body, []byte("<h1>Allow access?</h1>"))
}

// authRequest is one authorization request of a public client (app,
// which asks for consent, or cli, which does not), with PKCE.
type authRequest struct {
	client, scope   string
	verifier, state string
}

func newAuthRequest(client, scope string) authRequest {
	return authRequest{client: client, scope: scope, verifier: oauth2.GenerateVerifier(), state: "st-" + oauth2.GenerateVerifier()[:8]}
}

// path returns the /authorize path and query; extra adds parameters such
// as prompt=none.
func (a authRequest) path(extra url.Values) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {a.client}, "redirect_uri": {appRedirect},
		"scope": {a.scope}, "state": {a.state},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(a.verifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return "/authorize?" + q.Encode()
}

// callback checks that r sends the browser back to the client and
// returns the parameters it carries.
func callback(t *testing.T, r response, issuer string) url.Values {
	t.Helper()
	if r.status != http.StatusSeeOther && r.status != http.StatusFound {
		t.Fatalf("want a redirect to %s, got %d %s", appRedirect, r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), appRedirect+"?") {
		t.Fatalf("redirected to %q; want %s", r.header.Get("Location"), appRedirect)
	}
	q := loc.Query()
	if q.Get("iss") != issuer {
		t.Errorf("iss = %q; want the common issuer %s", q.Get("iss"), issuer)
	}
	return q
}

// redeemRequest is the request that redeems code at an instance's token
// endpoint.
func (a authRequest) redeemRequest(t *testing.T, in *instance, code string) *http.Request {
	return formRequest(t, in.url+"/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {a.client}, "code": {code},
		"redirect_uri": {appRedirect}, "code_verifier": {a.verifier},
	}, "", "")
}

// tokens is a token endpoint response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func decodeTokens(t *testing.T, r response) tokens {
	t.Helper()
	var tk tokens
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tk) != nil || tk.AccessToken == "" {
		t.Fatalf("token response: %d %s", r.status, r.body)
	}
	return tk
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
