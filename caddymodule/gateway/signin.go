package gateway

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/policy"
)

// flowCookiePrefix starts the name of each sign-in's own cookie.
const flowCookiePrefix = "authgate_flow_"

// flowCookieName names a sign-in's cookie after its state; over https it
// has the __Host- prefix (never shared with other hosts).
func flowCookieName(r *Request, state string) string {
	name := flowCookiePrefix + state[:8]
	if r.Scheme == "https" {
		name = "__Host-" + name
	}
	return name
}

// originAllowed reports whether the request's origin is one the gateway
// protects and may send a browser back to: a configured host, over https
// or on loopback.
func (g *Gateway) originAllowed(r *Request) bool {
	return g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) && SecureOrigin(r.Scheme, r.Host)
}

// hostRefused is the answer for a sign-in on a host the configuration
// does not name: never a redirect.
func hostRefused() Decision {
	return respond(http.StatusBadRequest, "text/html; charset=utf-8", page("Unknown site",
		"This address is not one this sign-in protects, so the sign-in cannot start. Check the address, or ask the operator to add the host to the gateway's configuration.", "", ""))
}

// startLogin sends a browser to sign in, remembering where it was going.
// The redirect URI is on the request's origin only if that is a host the
// configuration names. Where the policy requires a second factor, the
// sign-in asks for one (acr_values=mfa): at once for a browser not signed
// in, and as a step-up for a session without one, which the provider
// answers by asking for the factor only.
func (g *Gateway) startLogin(ctx context.Context, r *Request) Decision {
	if !g.originAllowed(r) {
		g.cfg.Logger.Warn("refused a sign-in for a host that is not configured", zap.String("host", r.Host), zap.String("scheme", r.Scheme))
		return hostRefused()
	}
	path := r.EscapedPath
	if path == "" {
		path = r.Path
	}
	returnTo := path + query(r.RawQuery)
	if !localPath(returnTo) {
		returnTo = "/"
	}
	f := flow{State: random(24), Nonce: random(24), Verifier: random(48), ReturnTo: returnTo, Redirect: r.canonicalOrigin() + g.cfg.CallbackPath}
	var extra []oauth2.AuthCodeOption
	if g.cfg.Policy.RequiresMFA() {
		f.ACR = policy.MFAValue
		extra = append(extra, ACRValues(f.ACR))
	}
	u, err := g.cfg.Login.AuthURL(ctx, f.Redirect, f.State, f.Nonce, f.Verifier, extra...)
	if err != nil {
		g.cfg.Logger.Error("starting sign-in", zap.Error(err))
		return respond(http.StatusServiceUnavailable, "text/html; charset=utf-8", page("Sign-in unavailable", "The sign-in service could not be reached. Try again later.", "", ""))
	}
	name := flowCookieName(r, f.State)
	v, err := g.cookies.Encode(name, f)
	if err != nil {
		g.cfg.Logger.Error("encoding the sign-in cookie", zap.Error(err))
		return respond(http.StatusServiceUnavailable, "text/html; charset=utf-8", page("Sign-in unavailable", "The sign-in could not start. Try again later.", "", ""))
	}
	d := respond(http.StatusFound, "", nil)
	d.Header.Set("Location", u)
	d.Header.Add("Set-Cookie", g.cookie(r, name, v, 10*time.Minute))
	return d
}

// callback finishes a sign-in: state, the origin it started on, iss, the
// code exchange, the ID token; then it records the session.
func (g *Gateway) callback(ctx context.Context, r *Request) Decision {
	q, _ := url.ParseQuery(r.RawQuery)
	state := q.Get("state")
	fail := func(status int, msg string) Decision {
		return respond(status, "text/html; charset=utf-8", page("Sign-in failed", msg, "/", "Start again"))
	}
	if len(state) < 8 {
		return fail(http.StatusBadRequest, "This sign-in link is not valid.")
	}
	name := flowCookieName(r, state)
	raw, ok := readCookie(r.Header, name)
	var f flow
	if !ok || g.cookies.Decode(name, raw, &f) != nil || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return fail(http.StatusBadRequest, "This sign-in expired or was started in another browser.")
	}
	if !g.originAllowed(r) || f.Redirect != r.canonicalOrigin()+g.cfg.CallbackPath {
		return fail(http.StatusBadRequest, "This sign-in was started on another site.")
	}
	clear := g.cookie(r, name, "", -1)
	if e := q.Get("error"); e != "" {
		msg := "The sign-in did not succeed."
		if e == "access_denied" {
			msg = "The sign-in was cancelled or refused."
		}
		g.cfg.Logger.Info("the provider answered the sign-in with an error", zap.String("error", e))
		d := fail(http.StatusForbidden, msg)
		d.Header.Add("Set-Cookie", clear)
		return d
	}
	// RFC 9207 §2.4: a wrong iss is always refused, a missing one when the
	// provider says it always sends it.
	if iss := q.Get("iss"); iss != g.cfg.Login.Issuer && (iss != "" || g.cfg.Login.RequiresIss(ctx)) {
		return fail(http.StatusBadRequest, "The sign-in answer did not come from this site's sign-in service.")
	}
	tok, idt, err := g.cfg.Login.Exchange(ctx, f.Redirect, q.Get("code"), f.Verifier, f.Nonce)
	if err != nil {
		g.cfg.Logger.Warn("sign-in callback", zap.Error(err))
		return fail(http.StatusBadGateway, "The sign-in could not be completed.")
	}
	now := g.now()
	s, err := sessionFromIDToken(ctx, g.cfg.Login, tok, idt, tok.RefreshToken, now.Add(g.cfg.SessionLifetime))
	if err != nil {
		g.cfg.Logger.Warn("sign-in callback", zap.Error(err))
		return fail(http.StatusBadGateway, "The sign-in could not be completed.")
	}
	var sid struct {
		SID string `json:"sid"`
	}
	idt.Claims(&sid) //nolint:errcheck // optional claim
	s.Until, s.Host = now.Add(sessionMaxLifetime).Unix(), hostname(r.Host)
	if s.ID, err = g.cfg.Sessions.StartSession(ctx, s.Subject, sid.SID, time.Unix(s.Until, 0)); err != nil {
		g.cfg.Logger.Error("recording a gateway session", zap.Error(err))
		return fail(http.StatusServiceUnavailable, "The session could not be stored. Try again later.")
	}
	setCookie, err := g.sessionCookie(r, s)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "The session could not be stored. Try again later.")
	}
	g.cfg.Logger.Info("gateway session started", zap.String("session", s.ID), zap.String("subject", s.Subject), zap.String("host", r.Host),
		zap.Strings("amr", s.AMR))
	if f.ACR == policy.MFAValue && !s.identity().HasMFA() {
		// The provider signed the user in without the second factor asked
		// for (the account has none, or the provider ignores acr_values):
		// back on the page the gateway would only ask again, forever. The
		// session stands, for the pages that need no second factor.
		g.cfg.Logger.Info("the provider signed in without the second factor asked for", zap.String("subject", s.Subject), zap.Strings("amr", s.AMR), zap.String("acr", s.ACR))
		d := g.noSecondFactor(r, s, f.ReturnTo)
		d.Header.Add("Set-Cookie", setCookie)
		d.Header.Add("Set-Cookie", clear)
		return d
	}
	d := respond(http.StatusSeeOther, "", nil)
	d.Header.Set("Location", g.location(r, f.ReturnTo))
	d.Header.Add("Set-Cookie", setCookie)
	d.Header.Add("Set-Cookie", clear)
	return d
}

// noSecondFactor is the page for a sign-in that should have included a
// second factor and did not: 403, what to do (add one to the account,
// then open the page again) and a link to the provider's account page
// when there is one.
func (g *Gateway) noSecondFactor(r *Request, s *session, returnTo string) Decision {
	who := s.Username
	if who == "" {
		who = s.Subject
	}
	msg := g.siteName(r) + " requires signing in with a second factor, such as a code from an authenticator app or a security key, besides your password. You signed in as " +
		who + " without one, so your account probably has none yet. "
	link, text := returnTo, "Open the page again"
	if g.cfg.Login.AccountURL != "" {
		msg += "Add a second factor on your account page, then open this page again."
		link, text = g.cfg.Login.AccountURL, "Add a second factor to your account"
	} else {
		msg += "Add one to your account at your sign-in provider, then open this page again."
	}
	return htmlPage(http.StatusForbidden, page("Second factor required", msg, link, text))
}

// crossSite reports whether a browser says another site made the request
// (Fetch Metadata, or an Origin that is not this one).
func crossSite(r *Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	return origin != "" && !strings.EqualFold(origin, r.canonicalOrigin())
}

// sessionMaxLifetime is how long a gateway session lasts at most, however
// often it is refreshed; the session cookie lives as long.
const sessionMaxLifetime = 30 * 24 * time.Hour

// logout ends the gateway session everywhere (the store records it, so
// every instance refuses a copy of the cookie), revokes its refresh token
// at the provider, and, if the provider can, ends the user's session
// there too.
func (g *Gateway) logout(ctx context.Context, r *Request) Decision {
	// Another site may not sign the user out (a link or an image would
	// do): a cross-site GET is asked to confirm, a cross-site POST refused.
	if crossSite(r) {
		if r.Method == http.MethodPost {
			return respond(http.StatusForbidden, "text/html; charset=utf-8", page("Sign-out refused", "Another site asked to sign you out. Sign out from this site instead.", "/", "Back"))
		}
		d := respond(http.StatusOK, "text/html; charset=utf-8", confirmPage("Sign out?", "Sign out of "+g.siteName(r)+"?", g.cfg.LogoutPath, "Sign out"))
		d.Header.Set("X-Frame-Options", "DENY")
		d.Header.Set("Content-Security-Policy", "frame-ancestors 'none'")
		return d
	}
	name := g.cookieName(r)
	if raw, ok := readCookie(r.Header, name); ok {
		g.sessions.forget(sessionKey(r, raw))
		var s session
		if g.cookies.Decode(name, raw, &s) == nil && s.ID != "" {
			if err := g.cfg.Sessions.EndSession(ctx, s.ID); err != nil {
				// The cookie stays, so that signing out can be tried
				// again: forgetting it alone would leave the session
				// valid wherever it was copied, and the user believing
				// they were signed out.
				g.cfg.Logger.Warn("ending a gateway session", zap.Error(err))
				return htmlPage(http.StatusServiceUnavailable, page("Sign-out failed",
					"You are still signed in: the sign-out could not be completed. Try again shortly.", g.cfg.LogoutPath, "Try again"))
			}
			g.sessions.evict([]string{s.ID})
			if s.Refresh != "" && g.cfg.Login != nil {
				if err := g.cfg.Login.Revoke(ctx, s.Refresh); err != nil {
					g.cfg.Logger.Warn("revoking a signed-out session's refresh token", zap.Error(err))
				}
			}
		}
	}
	next := g.location(r, "/")
	if g.cfg.Login != nil {
		site := ""
		if g.originAllowed(r) {
			site = r.canonicalOrigin() + g.cfg.CallbackPath
		}
		if u := g.cfg.Login.LogoutURL(ctx, site); u != "" {
			next = u
		}
	}
	d := respond(http.StatusSeeOther, "", nil)
	d.Header.Set("Location", next)
	d.Header.Add("Set-Cookie", g.cookie(r, name, "", -1))
	return d
}

// localPath reports whether p is a path on this site, safe to return to.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">
<title>{{.Title}}</title><style>:root{color-scheme:light dark}body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;overflow-wrap:anywhere}:focus-visible{outline:3px solid #1f5fbf;outline-offset:2px}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}{{if .Action}}<form method="post" action="{{.Action}}"><button type="submit">{{.Button}}</button></form>{{end}}</main></body></html>`))

// htmlPage is an answer with one of the gateway's pages, which may not be
// framed and run no scripts.
func htmlPage(status int, body []byte) Decision {
	d := respond(status, "text/html; charset=utf-8", body)
	d.Header.Set("X-Frame-Options", "DENY")
	d.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	d.Header.Set("X-Content-Type-Options", "nosniff")
	return d
}

// confirmPage renders a small HTML page with one button that posts to
// action, a local path.
func confirmPage(title, message, action, button string) []byte {
	var b strings.Builder
	pageTemplate.Execute(&b, map[string]string{"Title": title, "Message": message, "Action": action, "Button": button}) //nolint:errcheck
	return []byte(b.String())
}

// page renders a small HTML page; link must be a local path or an
// https (or loopback http) URL the configuration names.
func page(title, message, link, linkText string) []byte {
	var b strings.Builder
	pageTemplate.Execute(&b, map[string]string{"Title": title, "Message": message, "Link": link, "LinkText": linkText}) //nolint:errcheck
	return []byte(b.String())
}
