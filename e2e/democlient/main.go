package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	issuer := flag.String("issuer", "http://localhost:9000", "the authorization server's issuer")
	clientID := flag.String("client", "demo-app", "the client_id (a public client)")
	listen := flag.String("listen", "127.0.0.1:9999", "where this client listens; the redirect URI is http://LISTEN/callback")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	provider, err := oidc.NewProvider(ctx, *issuer)
	cancel()
	if err != nil {
		log.Fatalf("discovering %s (is Caddy running with Caddyfile.example?): %v", *issuer, err)
	}
	app := newApp(provider, *clientID, "http://"+*listen)
	log.Printf("open http://%s/ in a browser", *listen)
	srv := &http.Server{Addr: *listen, Handler: app, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// app is the client: one signed-in user at a time, kept in memory.
type app struct {
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	base     string
	mux      *http.ServeMux

	mu      sync.Mutex
	pending map[string]login // by state
	token   *oauth2.Token
	idToken string
}

// login is an authorization request in flight.
type login struct {
	verifier, nonce string
}

func newApp(provider *oidc.Provider, clientID, base string) *app {
	a := &app{
		provider: provider,
		config: oauth2.Config{
			ClientID: clientID, RedirectURL: base + "/callback", Endpoint: provider.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: clientID}),
		base:     base,
		mux:      http.NewServeMux(),
		pending:  map[string]login{},
	}
	a.config.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET /login", a.login)
	a.mux.HandleFunc("GET /callback", a.callback)
	a.mux.HandleFunc("POST /refresh", a.refresh)
	a.mux.HandleFunc("GET /logout", a.logout)
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func random() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, l := random(), login{verifier: oauth2.GenerateVerifier(), nonce: random()}
	a.mu.Lock()
	a.pending[state] = l
	a.mu.Unlock()
	http.Redirect(w, r, a.config.AuthCodeURL(state, oauth2.S256ChallengeOption(l.verifier), oidc.Nonce(l.nonce)), http.StatusFound)
}

func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	l, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	switch {
	case q.Get("error") != "":
		a.render(w, http.StatusBadRequest, "The server said: "+q.Get("error")+": "+q.Get("error_description"))
		return
	case !ok:
		a.render(w, http.StatusBadRequest, "Unknown state: start again.")
		return
	case q.Get("iss") != "" && q.Get("iss") != a.issuer():
		a.render(w, http.StatusBadRequest, "The response came from another issuer (RFC 9207).")
		return
	}
	tok, err := a.config.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		a.render(w, http.StatusBadGateway, "Exchanging the code failed: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := a.verifier.Verify(r.Context(), raw)
	if err != nil {
		a.render(w, http.StatusBadGateway, "The ID token did not verify: "+err.Error())
		return
	}
	if id.Nonce != l.nonce {
		a.render(w, http.StatusBadGateway, "The ID token's nonce is not the one sent.")
		return
	}
	a.mu.Lock()
	a.token, a.idToken = tok, raw
	a.mu.Unlock()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	tok := a.token
	a.mu.Unlock()
	if tok == nil || tok.RefreshToken == "" {
		a.render(w, http.StatusBadRequest, "There is no refresh token: sign in first.")
		return
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Second) // make the source refresh now
	fresh, err := a.config.TokenSource(r.Context(), &expired).Token()
	if err != nil {
		a.render(w, http.StatusBadGateway, "Refreshing failed: "+err.Error())
		return
	}
	a.mu.Lock()
	a.token = fresh
	if raw, ok := fresh.Extra("id_token").(string); ok {
		a.idToken = raw
	}
	a.mu.Unlock()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	idToken := a.idToken
	a.token, a.idToken = nil, ""
	a.mu.Unlock()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := a.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	q := url.Values{"post_logout_redirect_uri": {a.base + "/"}, "client_id": {a.config.ClientID}, "state": {random()}}
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	http.Redirect(w, r, meta.EndSession+"?"+q.Encode(), http.StatusFound)
}

func (a *app) issuer() string {
	var meta struct {
		Issuer string `json:"issuer"`
	}
	a.provider.Claims(&meta) //nolint:errcheck // discovery already parsed it
	return meta.Issuer
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>authgate demo client</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}pre{white-space:pre-wrap;word-break:break-all;background:#8881;padding:.75rem}</style></head>
<body><h1>authgate demo client</h1>
{{if .Message}}<p><strong>{{.Message}}</strong></p>{{end}}
{{if .Token}}
<p>Signed in. <a href="/logout">Sign out</a></p>
<form method="post" action="/refresh"><button>Refresh the tokens</button></form>
<h2>UserInfo</h2><pre id="userinfo">{{.UserInfo}}</pre>
<h2>ID token claims</h2><pre id="claims">{{.Claims}}</pre>
<h2>Access token</h2><pre id="access">{{.Token.AccessToken}}</pre>
<h2>Refresh token</h2><pre id="refresh">{{.Token.RefreshToken}}</pre>
{{else}}<p><a id="signin" href="/login">Sign in</a> (demo / demo-password)</p>{{end}}
</body></html>`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	tok, idToken := a.token, a.idToken
	a.mu.Unlock()
	data := struct {
		Message, UserInfo, Claims string
		Token                     *oauth2.Token
	}{Token: tok}
	if tok != nil {
		if info, err := a.provider.UserInfo(r.Context(), oauth2.StaticTokenSource(tok)); err != nil {
			data.UserInfo = "userinfo failed: " + err.Error()
		} else {
			var claims map[string]any
			info.Claims(&claims) //nolint:errcheck
			b, _ := json.MarshalIndent(claims, "", "  ")
			data.UserInfo = string(b)
		}
		if id, err := a.verifier.Verify(r.Context(), idToken); err == nil {
			var claims map[string]any
			id.Claims(&claims) //nolint:errcheck
			b, _ := json.MarshalIndent(claims, "", "  ")
			data.Claims = string(b)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, data) //nolint:errcheck
}

func (a *app) render(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	page.Execute(w, struct {
		Message, UserInfo, Claims string
		Token                     *oauth2.Token
	}{Message: msg}) //nolint:errcheck
}
