package caddymodule

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// traefik stands in for Traefik in front of a service, doing what its
// ForwardAuth middleware does (pkg/middlewares/auth/forward.go): a GET to
// the auth address with the request's headers, X-Forwarded-For replaced
// by the client's address (trustForwardHeader off) and X-Forwarded-Method,
// -Proto, -Host and -Uri set from the request; any 2xx lets the request
// through, each authResponseHeaders header first removed from it and then
// copied from the answer; any other answer goes to the client as it is,
// a relative Location resolved against the auth address unless
// preserveLocationHeader. The metadata router sends the well-known path to
// the verify endpoint with a path prefix and the service's own Host
// (passHostHeader false), as Traefik's proxy does with X-Forwarded-*.
type traefik struct {
	address                string
	authResponseHeaders    []string
	preserveLocationHeader bool
	metadataPrefix         string
	authgate, service      *url.URL
	client                 *http.Client
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (tr *traefik) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clientIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	if strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource") {
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(tr.authgate)
			pr.Out.URL.Path = tr.metadataPrefix + r.URL.Path
			pr.Out.URL.RawPath = ""
			pr.SetXForwarded()
		}}
		rp.ServeHTTP(w, r)
		return
	}
	fwd, _ := http.NewRequest(http.MethodGet, tr.address, nil)
	fwd.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		fwd.Header.Del(h)
	}
	fwd.Header.Set("X-Forwarded-For", clientIP)
	fwd.Header.Set("X-Forwarded-Method", r.Method)
	fwd.Header.Set("X-Forwarded-Proto", "http")
	fwd.Header.Set("X-Forwarded-Host", r.Host)
	fwd.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
	resp, err := tr.client.Do(fwd)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		for _, h := range hopHeaders {
			w.Header().Del(h)
		}
		if loc, err := resp.Location(); err == nil && !tr.preserveLocationHeader {
			w.Header().Set("Location", loc.String())
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body) //nolint:errcheck
		return
	}
	for _, h := range tr.authResponseHeaders {
		k := http.CanonicalHeaderKey(h)
		r.Header.Del(k)
		if vs := resp.Header[k]; len(vs) > 0 {
			r.Header[k] = append([]string(nil), vs...)
		}
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(tr.service)
		pr.Out.Host = r.Host
		pr.SetXForwarded()
	}}
	rp.ServeHTTP(w, r)
}

// traefikRecipe reads the README's Traefik recipe: the headers ForwardAuth
// copies and the metadata router's prefix; and checks that the metadata
// service does not pass the client's Host on.
func traefikRecipe(t *testing.T) (headers []string, prefix string) {
	t.Helper()
	recipe := readmeBlock(t, "yaml", "forwardAuth:")
	lines := strings.Split(recipe, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "authResponseHeaders:" {
			continue
		}
		for _, item := range lines[i+1:] {
			v, ok := strings.CutPrefix(strings.TrimSpace(item), "- ")
			if !ok {
				break
			}
			headers = append(headers, v)
		}
	}
	if m := regexp.MustCompile(`(?m)^\s*prefix:\s*(\S+)\s*$`).FindStringSubmatch(recipe); m != nil {
		prefix = m[1]
	}
	if len(headers) == 0 || prefix == "" || !strings.Contains(recipe, "passHostHeader: false") ||
		!strings.Contains(recipe, "address: https://auth.example.com/verify") {
		t.Fatalf("the README's Traefik recipe is not as this test reads it:\n%s", recipe)
	}
	return headers, prefix
}

// TestTraefikRecipe runs the README's Traefik recipe through a stand-in
// for Traefik's ForwardAuth: the browser comes back to the page it asked
// for, not to the verify endpoint's host, because the verify endpoint's
// redirects are absolute URLs on the forwarded origin; every identity
// header the recipe lists is the verify endpoint's.
func TestTraefikRecipe(t *testing.T) {
	headers, prefix := traefikRecipe(t)
	for _, h := range append(identityHeaders, "Cookie") {
		found := false
		for _, l := range headers {
			found = found || strings.EqualFold(l, h)
		}
		if !found {
			t.Errorf("the README's authResponseHeaders lack %s", h)
		}
	}
	e := startVerify(t, "session_lifetime 2s", "")
	authgate, _ := url.Parse(e.issuer)
	service, _ := url.Parse(e.upstream.URL)
	tr := &traefik{address: e.issuer + "/verify", authResponseHeaders: headers, metadataPrefix: prefix,
		authgate: authgate, service: service,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.proxyPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: tr}}
	srv.Start()
	t.Cleanup(srv.Close)
	// A relative Location (the sign-in callback's return to the page) would
	// send the browser to the verify endpoint's host: the sign-in check
	// fails unless it comes back to the very URL it asked for.
	checkForwardAuthRecipe(t, e)
}
