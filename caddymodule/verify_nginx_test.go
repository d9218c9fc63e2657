package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxBinary finds nginx, or skips the test (fails it under CI, where
// .ci/run installs Debian's nginx-light).
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed; .ci/run installs it (apt-get install nginx-light)")
	}
	t.Skip("nginx is not installed (apt-get install nginx-light); under CI=true this is a failure")
	return ""
}

// startNginx runs a real nginx with the README's recipe on e.proxyPort, in
// front of e's upstream and verify endpoints, with every file it writes in
// a temporary directory, and stops it when the test ends.
func startNginx(t *testing.T, e *verifyEnv) {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	snippet := readmeBlock(t, "nginx", "auth_request_set $authgate_location")
	server := readmeBlock(t, "nginx", "server {")
	server = strings.NewReplacer(
		"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d;", e.proxyPort),
		"server_name service.example.com;", "server_name localhost;",
		"https://auth.example.com", e.issuer,
		"http://127.0.0.1:8082", e.upstream.URL,
		"/etc/nginx/authgate.conf", filepath.Join(dir, "authgate.conf"),
	).Replace(server)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers write the temporary files below
	}
	conf := fmt.Sprintf(`%[2]s
worker_processes 1;
pid %[1]s/nginx.pid;
lock_file %[1]s/nginx.lock;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[3]s
}
`, dir, user, server)
	if err := os.WriteFile(filepath.Join(dir, "authgate.conf"), []byte(snippet), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s\nconfig:\n%s", err, out.String(), log, conf)
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.proxyPort), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginxRecipe runs the README's nginx recipe against a real nginx:
// API clients get the challenge, browsers sign in and come back to the URL
// they asked for, the service sees only the verify endpoint's identity
// and never the gateway's cookie, sessions are renewed through the verify
// endpoint, and a client cannot pass its request off as another.
func TestNginxRecipe(t *testing.T) {
	e := startVerify(t, `
			session_lifetime 2s
			deny expression "request.path.startsWith('/admin') || request.method == 'DELETE'"`, "")
	startNginx(t, e)
	tok := e.serviceToken("proxysvc", "proxysvc-secret", "read")
	writer := e.serviceToken("writer", "writer-secret", "write")
	metadata := e.origin + "/.well-known/oauth-protected-resource"

	// API clients.
	for _, tt := range []struct {
		name, method, path, token string
		headers                   []string
		status                    int
		challenge                 []string // substrings of the one WWW-Authenticate
	}{
		{"no token", "GET", "/page", "", nil, 401, []string{`Bearer realm="localhost:`, `resource_metadata="` + metadata + `"`}},
		{"a bad token", "GET", "/page", "not-a-token", nil, 401, []string{`error="invalid_token"`, `resource_metadata="` + metadata + `"`}},
		{"no token, API", "GET", "/api/x", "", nil, 401, []string{`Bearer realm=`, `resource_metadata=`}},
		{"too little scope, API", "GET", "/api/x", writer, nil, 403, []string{`error="insufficient_scope"`, `scope="read"`}},
		{"a browser on the bearer-only API", "GET", "/api/x", "", []string{"Accept", "text/html"}, 401, []string{`Bearer realm=`}},
		{"a path the policy refuses", "GET", "/admin", tok, nil, 403, []string{`error="insufficient_scope"`}},
		// A client's X-Forwarded-Uri next to the recipe's X-Original-URL:
		// refused (400, which auth_request turns into 500), never believed.
		{"a method the policy refuses", "DELETE", "/x", tok, nil, 403, []string{`error="insufficient_scope"`}},
		{"/admin passed off as /public", "GET", "/admin", tok, []string{"X-Forwarded-Uri", "/public"}, 500, nil},
		{"DELETE passed off as GET", "DELETE", "/x", tok, []string{"X-Forwarded-Method", "GET"}, 500, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.upstream.hits()
			h := tt.headers
			if tt.token != "" {
				h = append(h, "Authorization", "Bearer "+tt.token)
			}
			r := e.request(tt.method, e.origin+tt.path, h...)
			if r.status != tt.status || e.upstream.hits() != before {
				t.Fatalf("got %d (upstream reached: %v) %s; want %d", r.status, e.upstream.hits() != before, r.body, tt.status)
			}
			if r.header.Get("Location") != "" {
				t.Errorf("a redirect: %s", r.header.Get("Location"))
			}
			if tt.challenge == nil {
				return
			}
			if got := r.header.Values("WWW-Authenticate"); len(got) != 1 {
				t.Fatalf("WWW-Authenticate: %q; want one challenge", got)
			}
			for _, want := range tt.challenge {
				if !strings.Contains(r.header.Get("WWW-Authenticate"), want) {
					t.Errorf("WWW-Authenticate %q lacks %s", r.header.Get("WWW-Authenticate"), want)
				}
			}
		})
	}

	// A token: the identity, from the verify endpoint only.
	for _, path := range []string{"/page?q=1", "/api/x"} {
		r := e.request("GET", e.origin+path, append(spoofed(), "Authorization", "Bearer "+tok)...)
		got, ok := upstreamSaw(r)
		if !ok || got.Header.Get("X-Auth-Subject") != "proxysvc" || got.Header.Get("X-Auth-Scopes") != "read" || got.Header.Get("X-Auth-Client-Id") != "proxysvc" || got.URI != path {
			t.Fatalf("a token on %s: %d %s", path, r.status, r.body)
		}
		checkNoSpoof(t, "a token on "+path, got)
	}

	// The metadata of the protected host, from the verify endpoint.
	before := e.upstream.hits()
	if r := e.request("GET", metadata); r.status != 200 || r.json(t)["resource"] != e.origin || e.upstream.hits() != before {
		t.Errorf("metadata: %d %s", r.status, r.body)
	}

	// A browser signs in and comes back to the URL it asked for, query
	// string and all.
	b := newBrowser(e.testCaddy)
	origin, _ := url.Parse(e.origin)
	b.client.Jar.SetCookies(origin, []*http.Cookie{{Name: "theme", Value: "dark"}})
	target := e.origin + "/page?x=1&y=a%20b&z=%2F"
	r, trail := b.visit(target)
	got, ok := upstreamSaw(r)
	if !ok || got.URI != "/page?x=1&y=a%20b&z=%2F" {
		t.Fatalf("sign-in through nginx: %d %s\n%v", r.status, r.body, trail)
	}
	if !strings.HasPrefix(trail[1], e.origin+"/.authgate/login?rd=") || !strings.HasPrefix(trail[2], e.issuer+"/authorize?") {
		t.Errorf("the sign-in went %v", trail)
	}
	if got.Header.Get("X-Auth-Subject") != "alice" || got.Header.Get("X-Auth-Email") != "alice@example.com" ||
		got.Header.Get("X-Auth-Groups") != "users,admins" || got.Header.Get("Remote-User") != "alice" || got.Header.Get("Remote-Name") != "Alice Liddell" {
		t.Errorf("the identity upstream: %v", got.Header)
	}
	checkCookies := func(what string, got echoed) {
		t.Helper()
		cookie := strings.Join(got.Header.Values("Cookie"), "; ")
		if gatewayCookie.MatchString(cookie) || !strings.Contains(cookie, "theme=dark") {
			t.Errorf("%s: the upstream got Cookie %q; want theme=dark without the gateway's cookies", what, cookie)
		}
	}
	checkCookies("after sign-in", got)
	// Forged identity headers and a second page.
	req, _ := http.NewRequest("GET", e.origin+"/other", nil)
	for i, sp := 0, spoofed(); i < len(sp); i += 2 {
		req.Header.Set(sp[i], sp[i+1])
	}
	req.Header.Set("Accept", "text/html")
	got, ok = upstreamSaw(b.do(req))
	if !ok || got.Header.Get("X-Auth-Subject") != "alice" {
		t.Fatalf("signed in, another page: %v", got)
	}
	checkNoSpoof(t, "signed in", got)
	// The bearer-only location does not send the signed-in browser round
	// the sign-in again.
	if r := b.get(e.origin + "/api/x"); r.status != http.StatusUnauthorized || r.header.Get("Location") != "" {
		t.Errorf("signed in, the bearer-only API: %d %s", r.status, r.header.Get("Location"))
	}

	// The session outlives its 2 s lifetime: the verify endpoint renews it
	// and nginx hands the browser the new cookie, twice in a row (the
	// second renewal needs the first's rotated refresh token).
	for round := 1; round <= 2; round++ {
		old := b.cookieValue(e.origin, "authgate_session_gw")
		time.Sleep(2100 * time.Millisecond)
		r := b.get(e.origin + "/page")
		got, ok := upstreamSaw(r)
		if !ok || got.Header.Get("X-Auth-Subject") != "alice" {
			t.Fatalf("renewal %d: %d %s", round, r.status, r.body)
		}
		if fresh := b.cookieValue(e.origin, "authgate_session_gw"); fresh == "" || fresh == old {
			t.Fatalf("renewal %d: the browser did not get a new session cookie (Set-Cookie %q)", round, r.header.Values("Set-Cookie"))
		}
		checkCookies(fmt.Sprintf("renewal %d", round), got)
	}

	// The verify endpoint's own answer, shown to the browser through the
	// recipe's /.authgate/ location, never hands page scripts the cookies
	// (HttpOnly ones too) the service gets.
	if r := b.get(e.origin + "/.authgate/other"); r.header.Get("Cookie") != "" {
		t.Errorf("the browser was shown its cookies: %d %q", r.status, r.header.Get("Cookie"))
	}
	// Nor does a direct call to the verify endpoint from anyone but a
	// trusted proxy.
	direct := e.request("GET", e.issuer+"/untrusted-verify", "Authorization", "Bearer "+e.directToken(), "Cookie", "secret=1")
	if direct.status != http.StatusOK || direct.header.Get("X-Auth-Subject") != "proxysvc" || direct.header.Get("Cookie") != "" {
		t.Errorf("a direct call: %d %v", direct.status, direct.header)
	}

	// Sign-out through the recipe's /.authgate/ location.
	r = b.get(e.origin + "/.authgate/logout")
	if r.status != http.StatusSeeOther || b.cookieValue(e.origin, "authgate_session_gw") != "" {
		t.Errorf("sign-out: %d %v", r.status, r.header.Values("Set-Cookie"))
	}
	if r := b.get(e.origin + "/page"); r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), e.origin+"/.authgate/login?rd=") {
		t.Errorf("after sign-out: %d %s", r.status, r.header.Get("Location"))
	}
}
