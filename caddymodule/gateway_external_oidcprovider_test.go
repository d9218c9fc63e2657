package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGatewayExternalNodeOIDCProvider puts a real third-party OpenID
// provider, node-oidc-provider (the oidc-provider npm package, pinned in
// e2e/oidcprovider/package-lock.json), behind `authgate { issuer … }`:
//   - its JWT access token (typ at+jwt) for this route's resource passes;
//   - its access token for another resource, its ID token, and its opaque
//     userinfo access token are refused with 401 invalid_token, also on a
//     route that allows plain JWT access tokens;
//   - a browser signs in through the gateway with node-oidc-provider's own
//     sign-in and consent pages, and the upstream gets email, name and
//     groups, which node-oidc-provider puts only in userinfo (its ID
//     tokens issued with an access token carry just sub).
//
// It needs node and npm, and npm ci reaches the npm registry the first
// time (the packages are cached in the user's cache directory). Without
// node or npm it is skipped, except in CI (CI=true), where it fails.
func TestGatewayExternalNodeOIDCProvider(t *testing.T) {
	dir := installOIDCProvider(t)
	nodePort := freePort(t)
	node := fmt.Sprintf("http://127.0.0.1:%d", nodePort)
	_, app := startExternalGateway(t, [][2]string{
		{"/api/*", "accept bearer\nissuer " + node},
		{"/plain/*", "accept bearer\nissuer " + node + "\nallow_plain_jwt\nrequire audience gw"},
		{"", "accept session\nissuer " + node + "\nclient_id gw\nclient_secret gw-secret"},
	})
	startOIDCProvider(t, dir, nodePort, app+"/.authgate/callback")

	bearer := func(path, token string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, app+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return do(t, req)
	}
	machineToken := func(resource string) string {
		t.Helper()
		tr := postForm(t, node+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "resource": {resource}}, "machine", "machine-secret")
		tok, _ := tr["access_token"].(string)
		if strings.Count(tok, ".") != 2 {
			t.Fatalf("no JWT access token from node-oidc-provider: %v", tr)
		}
		return tok
	}

	// The gw client's own code flow, to hold its ID token as an attacker
	// who signed in to some app of the provider would.
	b := newBrowser(&testCaddy{t: t, issuer: node})
	verifier := randomString() + randomString()
	sum := sha256.Sum256([]byte(verifier))
	auth := node + "/auth?" + url.Values{
		"client_id": {"gw"}, "response_type": {"code"}, "scope": {"openid email profile"},
		"redirect_uri": {app + "/.authgate/callback"}, "state": {"s-" + randomString()}, "nonce": {"n-" + randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	back := nodeSignIn(t, b, auth, node, app, "mallory")
	if back.Query().Get("iss") != node {
		t.Errorf("node-oidc-provider sent no RFC 9207 iss: %s", back)
	}
	tr := postForm(t, node+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {app + "/.authgate/callback"}, "code_verifier": {verifier}}, "gw", "gw-secret")
	idToken, _ := tr["id_token"].(string)
	userinfoToken, _ := tr["access_token"].(string)
	if idToken == "" || userinfoToken == "" {
		t.Fatalf("code flow at node-oidc-provider: %v", tr)
	}
	// What this test relies on node-oidc-provider doing: ID tokens issued
	// with an access token carry no profile claims (so the sign-in below
	// needs userinfo), and access tokens for a resource are typed at+jwt.
	if h, c := jwtParts(t, idToken); c["email"] != nil || c["name"] != nil || c["aud"] != "gw" {
		t.Fatalf("node-oidc-provider's ID token: header %v, claims %v", h, c)
	}
	if h, c := jwtParts(t, machineToken(app)); h["typ"] != "at+jwt" || c["aud"] != app {
		t.Fatalf("node-oidc-provider's access token: header %v, claims %v", h, c)
	}

	t.Run("bearer tokens", func(t *testing.T) {
		for _, c := range []struct {
			name, path, token string
			want              int
		}{
			{"access token for this resource", "/api/x", machineToken(app), 200},
			{"access token for another resource", "/api/x", machineToken("http://127.0.0.1:1"), 401},
			{"ID token", "/api/x", idToken, 401},
			{"ID token, plain JWTs allowed", "/plain/x", idToken, 401},
			{"opaque userinfo access token", "/api/x", userinfoToken, 401},
		} {
			r := bearer(c.path, c.token)
			if r.status != c.want {
				t.Errorf("%s: %d, want %d: %s", c.name, r.status, c.want, r.body)
				continue
			}
			if c.want == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: challenge %q", c.name, r.header.Get("WWW-Authenticate"))
			}
			if c.want == 200 && !strings.Contains(string(r.body), "sub=machine ") {
				t.Errorf("%s: upstream saw %s", c.name, r.body)
			}
		}
	})

	t.Run("browser sign-in", func(t *testing.T) {
		b := newBrowser(&testCaddy{t: t, issuer: node})
		r := b.get(app + "/page?from=node")
		loc := r.header.Get("Location")
		if r.status != http.StatusFound || !strings.HasPrefix(loc, node+"/auth?") {
			t.Fatalf("to node-oidc-provider: %d %q", r.status, loc)
		}
		callback := nodeSignIn(t, b, loc, node, app, "erin")
		r = b.get(callback.String())
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/page?from=node" {
			t.Fatalf("callback: %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
		r = b.get(app + "/page")
		for _, want := range []string{"sub=erin ", "email=erin@node.example ", "name=erin from node ", "groups=node-users "} {
			if r.status != 200 || !strings.Contains(string(r.body), want) {
				t.Fatalf("want %q upstream: %d %s", want, r.status, r.body)
			}
		}
	})
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"[^>]*method="post"`)
	formHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"\s*/?>`)
)

// nodeSignIn follows an authorization request through node-oidc-provider's
// development sign-in and consent forms (any login, any password) as a
// browser would, and returns the redirect back to app it ends with.
func nodeSignIn(t *testing.T, b *browser, start, node, app, login string) *url.URL {
	t.Helper()
	r := b.get(start)
	for range 10 {
		if loc := r.header.Get("Location"); r.status >= 300 && r.status < 400 && loc != "" {
			u, err := url.Parse(node + "/")
			if err != nil {
				t.Fatal(err)
			}
			next := u.ResolveReference(mustParse(t, loc))
			if strings.HasPrefix(next.String(), app+"/") {
				return next
			}
			r = b.get(next.String())
			continue
		}
		m := formAction.FindStringSubmatch(string(r.body))
		if r.status != http.StatusOK || m == nil {
			t.Fatalf("node-oidc-provider answered %d: %s", r.status, r.body)
		}
		form := url.Values{}
		for _, h := range formHidden.FindAllStringSubmatch(string(r.body), -1) {
			form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		if strings.Contains(string(r.body), `name="login"`) {
			form.Set("login", login)
			form.Set("password", "any password")
		}
		action := mustParse(t, node+"/").ResolveReference(mustParse(t, html.UnescapeString(m[1])))
		req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		r = b.do(req)
	}
	t.Fatalf("no redirect back to %s after 10 steps", app)
	return nil
}

// jwtParts decodes a JWT's header and claims without verifying it, to
// check what a provider issues (never to trust it).
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(raw, dst)
		}
		if err != nil {
			t.Fatalf("decoding a JWT: %v", err)
		}
	}
	return header, claims
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// installOIDCProvider installs e2e/oidcprovider's locked packages with
// npm ci into the user's cache directory (once per lock file) and puts
// provider.mjs next to them; it returns that directory.
func installOIDCProvider(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; CI must run the node-oidc-provider test", tool)
			}
			t.Skipf("skipping the node-oidc-provider test: %s is not installed (install Node.js and npm to run it)", tool)
		}
	}
	src := filepath.Join("..", "e2e", "oidcprovider")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pkg, lock, script := read("package.json"), read("package-lock.json"), read("provider.mjs")
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "authgate-e2e", "oidcprovider-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp) // left only if the rename below failed
		for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci for node-oidc-provider: %v\n%s", err, out)
		}
		// Another test process may have finished first: then its copy is used.
		if err := os.Rename(tmp, dir); err != nil {
			if _, statErr := os.Stat(dir); statErr != nil {
				t.Fatalf("installing node-oidc-provider: %v", err)
			}
		}
	}
	// ES modules resolve packages from the script's own directory.
	f, err := os.CreateTemp(dir, "provider-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.Write(script); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

// startOIDCProvider runs node-oidc-provider on port with the gateway's
// redirect URI registered, waits until it listens, and stops it when the
// test ends.
func startOIDCProvider(t *testing.T, script string, port int, redirectURI string) {
	t.Helper()
	conf, _ := json.Marshal(map[string]any{"port": port, "redirect_uri": redirectURI})
	cmd := exec.Command("node", script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "AUTHGATE_OIDCP="+string(conf), "NODE_ENV=test")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-exited
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
		cmd.Wait() //nolint:errcheck // killed at the end
		close(exited)
	}()
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("node-oidc-provider exited:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("node-oidc-provider did not start in 20 s:\n%s", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
