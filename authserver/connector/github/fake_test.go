package github

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub is a GitHub on an httptest server: the OAuth endpoints under
// /login/oauth and the REST API endpoints the connector uses under
// apiPrefix ("/api/v3" as on GitHub Enterprise Server, or "" for a
// github.com-style layout where the API has a host of its own).
type fakeGitHub struct {
	t         *testing.T
	srv       *httptest.Server
	apiPrefix string

	clientID, clientSecret string
	scope                  string // the scope authorize expects

	user     any      // /user's answer
	emails   any      // /user/emails' answer
	orgs     []string // organisation logins
	teams    []string // "org/slug"
	pageSize int      // of /user/orgs and /user/teams
	// override answers an API path (without the prefix) instead of the
	// fake, after the request's headers were checked.
	override map[string]http.HandlerFunc

	mu          sync.Mutex
	codes       map[string]pendingCode
	tokens      map[string]bool
	lastCode    string
	lastToken   string
	hits        map[string]int // API path → requests
	jsonAnswers int            // token answers given as JSON
}

type pendingCode struct{ challenge, redirectURI string }

func newFakeGitHub(t *testing.T, apiPrefix string) *fakeGitHub {
	f := &fakeGitHub{
		t:            t,
		apiPrefix:    apiPrefix,
		clientID:     "Iv1.client",
		clientSecret: "client-secret-value",
		scope:        "read:user user:email read:org",
		user:         map[string]any{"id": 583231, "login": "octocat", "name": "The Octocat", "email": "public@example.com"},
		emails: []map[string]any{
			{"email": "old@example.com", "primary": false, "verified": true, "visibility": nil},
			{"email": "octocat@example.com", "primary": true, "verified": true, "visibility": "public"},
		},
		orgs:     []string{"acme", "Beta-Corp", "gamma"},
		teams:    []string{"acme/devs", "Beta-Corp/ops", "delta/sre"},
		pageSize: 2,
		override: map[string]http.HandlerFunc{},
		codes:    map[string]pendingCode{},
		tokens:   map[string]bool{},
		hits:     map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET "+apiPrefix+"/", f.api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func randomString(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// authorize redirects straight back with a code, as GitHub does once the
// person consented, after checking the request.
func (f *fakeGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, c := range []struct{ name, got, want string }{
		{"client_id", q.Get("client_id"), f.clientID},
		{"scope", q.Get("scope"), f.scope},
		{"code_challenge_method", q.Get("code_challenge_method"), "S256"},
	} {
		if c.got != c.want {
			http.Error(w, fmt.Sprintf("%s = %q; want %q", c.name, c.got, c.want), http.StatusBadRequest)
			return
		}
	}
	if q.Get("redirect_uri") == "" || q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
		http.Error(w, "redirect_uri, state and code_challenge are required", http.StatusBadRequest)
		return
	}
	code := randomString("code-")
	f.mu.Lock()
	f.codes[code] = pendingCode{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
	f.lastCode = code
	f.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// accessToken redeems a code. Like GitHub it answers errors with 200 and
// answers JSON only when asked to, form-encoded otherwise.
func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	asJSON := r.Header.Get("Accept") == "application/json"
	answer := func(v url.Values) {
		if asJSON {
			m := map[string]string{}
			for k := range v {
				m[k] = v.Get(k)
			}
			f.mu.Lock()
			f.jsonAnswers++
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(m)
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Write([]byte(v.Encode()))
	}
	fail := func(code, desc string) {
		answer(url.Values{"error": {code}, "error_description": {desc}})
	}
	if err := r.ParseForm(); err != nil {
		fail("bad_request", "unreadable form")
		return
	}
	if r.PostForm.Get("client_id") != f.clientID || r.PostForm.Get("client_secret") != f.clientSecret {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	f.mu.Lock()
	pending, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	if !ok {
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	if ru := r.PostForm.Get("redirect_uri"); ru != "" && ru != pending.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != pending.challenge {
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	token := randomString("gho_")
	f.mu.Lock()
	f.tokens[token] = true
	f.lastToken = token
	f.mu.Unlock()
	answer(url.Values{"access_token": {token}, "token_type": {"bearer"}, "scope": {r.PostForm.Get("scope")}})
}

// api answers the REST API, checking the headers every request needs.
func (f *fakeGitHub) api(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, f.apiPrefix)
	f.mu.Lock()
	f.hits[path]++
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	known := f.tokens[token]
	f.mu.Unlock()
	if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		http.Error(w, `{"message":"missing API headers"}`, http.StatusBadRequest)
		return
	}
	if !known {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Bad credentials"}`))
		return
	}
	if h := f.override[path]; h != nil {
		h(w, r)
		return
	}
	switch path {
	case "/user":
		writeJSON(w, f.user)
	case "/user/emails":
		writeJSON(w, f.emails)
	case "/user/orgs":
		var all []any
		for _, o := range f.orgs {
			all = append(all, map[string]any{"login": o, "id": len(o), "description": "an organisation"})
		}
		f.page(w, r, all)
	case "/user/teams":
		var all []any
		for _, t := range f.teams {
			org, slug, _ := strings.Cut(t, "/")
			all = append(all, map[string]any{
				"slug": slug, "name": strings.ToUpper(slug), "permission": "pull",
				"organization": map[string]any{"login": org, "id": len(org)},
			})
		}
		f.page(w, r, all)
	default:
		http.NotFound(w, r)
	}
}

// page answers one page of all, pageSize to a page, with GitHub's Link
// header.
func (f *fakeGitHub) page(w http.ResponseWriter, r *http.Request, all []any) {
	n := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, _ = strconv.Atoi(p)
	}
	start := min((n-1)*f.pageSize, len(all))
	end := min(start+f.pageSize, len(all))
	last := max((len(all)+f.pageSize-1)/f.pageSize, 1)
	link := func(p int) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		return u.String()
	}
	var links []string
	if n > 1 {
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, link(n-1)), fmt.Sprintf(`<%s>; rel="first"`, link(1)))
	}
	if n < last {
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, link(n+1)), fmt.Sprintf(`<%s>; rel="last"`, link(last)))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSON(w, append([]any{}, all[start:end]...))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// hitsOf returns how many requests path (without the API prefix) had.
func (f *fakeGitHub) hitsOf(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// secrets returns what no error may show: the client secret, the last
// code and the last token.
func (f *fakeGitHub) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := []string{f.clientSecret}
	if f.lastCode != "" {
		s = append(s, f.lastCode)
	}
	if f.lastToken != "" {
		s = append(s, f.lastToken)
	}
	return s
}
