package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/bearer"
	"github.com/authgate/authgate/policy"
)

// Decide answers a request: the gateway's own paths (sign-in callback,
// logout, metadata), then the credentials and the policy.
func (g *Gateway) Decide(ctx context.Context, r *Request) Decision {
	d := g.decide(ctx, r)
	if len(g.cfg.CORSOrigins) > 0 && !d.Allowed {
		g.corsHeaders(r, d.Header)
	}
	return d
}

func (g *Gateway) decide(ctx context.Context, r *Request) Decision {
	if g.cfg.MCP {
		r.received = time.Now()
	}
	switch {
	case r.Path == g.cfg.CallbackPath && g.signsIn:
		return g.callback(ctx, r)
	case r.Path == g.cfg.LogoutPath && g.cfg.AcceptSession:
		return g.logout(ctx, r)
	case r.Path == g.cfg.LoginPath && g.signsIn:
		q, _ := url.ParseQuery(r.RawQuery)
		back := q.Get("rd")
		if !localPath(back) {
			back = "/"
		}
		target := *r
		target.Path, target.RawQuery = back, ""
		if p, query, ok := strings.Cut(back, "?"); ok {
			target.Path, target.RawQuery = p, query
		}
		return g.startLogin(ctx, &target)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.Path == WellKnownPath || strings.HasPrefix(r.Path, WellKnownPath+"/")):
		if d, ok := g.metadata(r); ok {
			return d
		}
	case r.Method == http.MethodOptions && len(g.cfg.CORSOrigins) > 0 && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "":
		return g.preflight(r)
	}
	var id *Identity
	var setCookies []string
	tokenSent := false
	if g.cfg.AcceptBearer {
		token, err := bearer.FromHeader(r.Header, g.cfg.BareToken)
		if err != nil && !errors.Is(err, bearer.ErrOtherScheme) { // another scheme is the upstream's business
			return g.unauthorized(r, "invalid_request", err.Error())
		}
		if token != "" {
			tokenSent = true
			if id, err = g.verifyToken(ctx, token); err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					g.cfg.Logger.Warn("verifying a bearer token", zap.Error(err))
					return respond(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("The token could not be checked. Try again later.\n"))
				}
				return g.unauthorized(r, "invalid_token", "the access token is invalid, expired or revoked")
			}
			if !g.audienceOK(r, id) {
				return g.unauthorized(r, "invalid_token", "the access token is not meant for this resource")
			}
		}
	}
	if !tokenSent && g.cfg.AcceptSession {
		var refreshed bool
		var err error
		id, setCookies, refreshed, err = g.sessionIdentity(ctx, r)
		if err != nil {
			return respond(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("The session could not be checked. Try again later.\n"))
		}
		if refreshed && r.Forwarded && !r.NoRedirect {
			// forward_auth and Traefik pass only a non-2xx answer to the
			// browser as it is: the renewed cookie travels on a redirect to
			// the same URL.
			d := respond(http.StatusTemporaryRedirect, "", nil)
			d.Header.Set("Location", g.location(r, r.Path+query(r.RawQuery)))
			for _, c := range setCookies {
				d.Header.Add("Set-Cookie", c)
			}
			return d
		}
	}
	if id == nil {
		if g.isBrowser(r) && !r.NoRedirect {
			return g.startLogin(ctx, r)
		}
		return g.unauthorized(r, "", "")
	}
	if g.readsMCP(r) {
		msg, refused := g.readMCP(r)
		if refused != nil {
			return *refused
		}
		r.MCP = msg
	}
	if g.cfg.Policy != nil {
		d := g.cfg.Policy.Evaluate(id.Identity, policyRequest(r))
		// A refused MCP message gets a JSON-RPC error (a token for another
		// resource, or from a sign-in without the second factor required,
		// is still a 401); a refused tool call is logged as one.
		mcpAnswer := !d.Allowed && r.MCP != nil && d.Reason != policy.ReasonWrongAudience && d.Reason != policy.ReasonMFARequired
		if mcpAnswer && r.MCP.IsToolCall() {
			refused := g.mcpRefused(r, id, d)
			g.logRefusedToolCall(r, id, d, refused.Status)
			return refused
		}
		if !d.Allowed {
			if ce := g.cfg.Logger.Check(zap.InfoLevel, "policy refused a request"); ce != nil {
				fields := []zap.Field{zap.String("reason", string(d.Reason)), zap.String("subject", id.Subject)}
				if d.Rule >= 0 {
					fields = append(fields, zap.Int("rule", d.Rule))
				}
				if d.Err != nil {
					fields = append(fields, zap.NamedError("rule_error", d.Err))
				}
				ce.Write(fields...)
			}
			if mcpAnswer {
				return g.mcpRefused(r, id, d)
			}
			if d.Reason == policy.ReasonMFARequired {
				return g.stepUp(ctx, r, id)
			}
			return g.forbidden(r, id, d)
		}
	}
	dec := Decision{Allowed: true, Identity: id}
	if len(setCookies) > 0 {
		dec.Header = http.Header{"Set-Cookie": setCookies}
	}
	return dec
}

func query(raw string) string {
	if raw == "" {
		return ""
	}
	return "?" + raw
}

// CleanPath is a request path as Caddy's path matchers see it, and as
// policy rules are given it: percent-decoded (the caller passes the
// decoded path), backslashes read as slashes, slashes merged, dot
// segments resolved, a trailing slash kept. Case is kept too: compare case-insensitively in a rule when the
// upstream does.
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	// Some upstreams (IIS, ASP.NET) read a backslash as a slash.
	p = strings.ReplaceAll(p, "\\", "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	cleaned := path.Clean(p)
	if cleaned != "/" && strings.HasSuffix(p, "/") {
		cleaned += "/"
	}
	return cleaned
}

// audienceOK reports whether a bearer token names this resource (the
// request's origin and the ResourcePath, on a host the gateway protects)
// or one of the configured audiences: a token for another resource, or
// for none, is not accepted here (RFC 8707, RFC 9700 §2.3).
func (g *Gateway) audienceOK(r *Request, id *Identity) bool {
	if g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) {
		resource := strings.TrimSuffix(r.canonicalOrigin()+g.cfg.ResourcePath, "/")
		for _, aud := range id.resourceAudiences() {
			if aud == resource {
				return true
			}
		}
	}
	for _, aud := range id.Audience {
		for _, want := range g.cfg.Audiences {
			if aud == want {
				return true
			}
		}
	}
	return false
}

// normalResource is a resource URL as compared with a request's resource:
// scheme and host in lower case, without the scheme's default port, the
// path as written, without a trailing slash; "" if it is no such URL.
func normalResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return ""
	}
	origin := (&Request{Scheme: strings.ToLower(u.Scheme), Host: u.Host}).canonicalOrigin()
	return strings.TrimSuffix(origin+u.EscapedPath(), "/")
}

// sameResource compares a token's audience with a resource URL: scheme
// and host without case, the default port optional, a trailing slash
// optional.
func sameResource(aud, resource string) bool {
	n := normalResource(aud)
	return n != "" && n == strings.TrimSuffix(resource, "/")
}

// corsHeaders lets browser clients of the allowed origins read the
// gateway's own answer, its challenge included.
func (g *Gateway) corsHeaders(r *Request, h http.Header) {
	origin := r.Header.Get("Origin")
	if origin == "" || h == nil {
		return
	}
	if slices.Contains(g.cfg.CORSOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if slices.Contains(g.cfg.CORSOrigins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	} else {
		return
	}
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
}

// preflight answers a CORS preflight (which carries no credentials) for
// the protected resource.
func (g *Gateway) preflight(r *Request) Decision {
	d := respond(http.StatusNoContent, "", nil)
	d.Header.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	d.Header.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID")
	d.Header.Set("Access-Control-Max-Age", "600")
	return d
}

// hostname is a Host header's name without the port, lower-cased, as
// policies compare it.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// verifyToken answers from the cache or the verifier.
func (g *Gateway) verifyToken(ctx context.Context, token string) (*Identity, error) {
	key := bearer.CacheKey(token)
	now := g.now()
	id, refused, hit := g.tokens.get(key, now)
	g.cfg.Observer.CacheLookup(CacheToken, hit)
	if hit {
		if refused {
			return nil, ErrInvalidToken
		}
		return id, nil
	}
	start := time.Now()
	id, until, err := g.cfg.Verifier.Verify(ctx, token)
	elapsed := time.Since(start)
	if errors.Is(err, ErrInvalidToken) {
		g.cfg.Observer.Verified(elapsed, VerifyInvalid)
		g.tokens.refuse(key, now)
		return nil, err
	}
	if err != nil {
		g.cfg.Observer.Verified(elapsed, VerifyError)
		return nil, err
	}
	g.cfg.Observer.Verified(elapsed, VerifyValid)
	id.Auth = AuthBearer
	if !until.After(now) {
		return id, nil
	}
	if !g.tokens.put(key, id, until) {
		// Revoked while it was being verified.
		g.tokens.refuse(key, now)
		return nil, ErrInvalidToken
	}
	return id, nil
}

// isBrowser: a GET or HEAD that accepts HTML and carries no Authorization
// header is a person's browser, which is sent to sign in.
func (g *Gateway) isBrowser(r *Request) bool {
	if !g.signsIn || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	if r.Header.Get("Authorization") != "" {
		return false
	}
	return accepts(r.Header, "text/html")
}

// accepts reports whether the Accept header lists the media type mt.
func accepts(h http.Header, mt string) bool {
	for _, part := range strings.Split(h.Get("Accept"), ",") {
		t, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(t), mt) {
			return true
		}
	}
	return false
}

// wantsPage reports whether the client is a browser opening a page: it
// asks for HTML and not for JSON, as API clients do.
func wantsPage(r *Request) bool {
	return accepts(r.Header, "text/html") && !accepts(r.Header, "application/json")
}

// siteName is how the gateway's pages name the site: its configured name
// with the host, or the host alone.
func (g *Gateway) siteName(r *Request) string {
	host := hostname(r.Host)
	if g.cfg.Name == "" {
		return host
	}
	return g.cfg.Name + " (" + host + ")"
}

// credentialsPage is what a browser is shown instead of an API's JSON
// 401: what the site needs, in plain words.
func (g *Gateway) credentialsPage(r *Request, code string) []byte {
	site := g.siteName(r)
	switch {
	case code == "invalid_request":
		return page("Sign-in details not readable", "The sign-in details sent to "+site+" could not be read. Open it from the application you use it with, or sign in again there.", "", "")
	case code == "invalid_token":
		return page("Access token not accepted", "The access token sent to "+site+" is not valid here: it has expired, was revoked, or is for another site. Sign in again in the application you use it with.", "", "")
	case g.signsIn:
		return page("Sign-in required", "You need to be signed in to "+site+" to do this, and you are not, or your session ended. Open the site's page again to sign in.", "/", "Go to the site's home page")
	}
	return page("Access token required", site+" is an API for applications: it needs an access token, which the application sends with each request, and a browser does not have one. Open it from an application that signs you in to it.", "", "")
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3, RFC 9728 §5.1).
func (g *Gateway) challenge(r *Request, code, description, scope string) string {
	c := g.bearerChallenge(r)
	c.Error, c.Description, c.Scope = code, description, scope
	return c.String()
}

// bearerChallenge is the challenge's realm and, where bearer tokens count,
// resource metadata URL.
func (g *Gateway) bearerChallenge(r *Request) bearer.Challenge {
	realm := g.cfg.Realm
	if realm == "" {
		realm = r.Host
	}
	c := bearer.Challenge{Realm: realm}
	if g.cfg.AcceptBearer {
		c.ResourceMetadata = g.resourceMetadataURL(r)
	}
	return c
}

// mfaDescription is the error_description of a refusal for want of a
// second factor.
const mfaDescription = "this request needs a sign-in with a second factor (acr mfa)"

// stepUp answers an identity whose sign-in lacks the second factor the
// policy requires. A browser with a session signs in again, asking for
// the factor (acr_values=mfa, which the provider answers by asking for it
// only; see startLogin). Everything else gets 401 with the RFC 9470
// challenge: error="insufficient_user_authentication" and
// acr_values="mfa", which a client passes on in its next authorization
// request to get a token from a sign-in with a second factor. Never a
// 2xx: through the verify endpoint, a proxy would let the request in.
func (g *Gateway) stepUp(ctx context.Context, r *Request, id *Identity) Decision {
	if id.Auth == AuthSession && g.isBrowser(r) && !r.NoRedirect {
		return g.startLogin(ctx, r)
	}
	var d Decision
	if wantsPage(r) {
		d = htmlPage(http.StatusUnauthorized, g.secondFactorPage(r, id))
	} else {
		b, _ := json.Marshal(map[string]string{"error": bearer.InsufficientUserAuthentication, "error_description": mfaDescription})
		d = respond(http.StatusUnauthorized, "application/json", b)
	}
	c := g.bearerChallenge(r)
	c.Error, c.Description, c.ACRValues = bearer.InsufficientUserAuthentication, mfaDescription, policy.MFAValue
	if g.cfg.AcceptBearer && g.cfg.Policy != nil {
		c.Scope = strings.Join(g.cfg.Policy.RequiredScopes(), " ")
	}
	d.Header.Set("WWW-Authenticate", c.String())
	return d
}

// secondFactorPage is what a browser is shown instead of stepUp's JSON.
func (g *Gateway) secondFactorPage(r *Request, id *Identity) []byte {
	site := g.siteName(r)
	if id.Auth == AuthSession {
		return page("Second factor required", site+" needs you to sign in with a second factor, such as a code from an authenticator app or a security key, to do this. Open the site's page again to sign in with one.", "/", "Go to the site's home page")
	}
	return page("Second factor required", "The access token sent to "+site+" comes from a sign-in without a second factor, which this site requires. Sign in again, with a second factor, in the application you use it with.", "", "")
}

func (g *Gateway) unauthorized(r *Request, code, description string) Decision {
	status := http.StatusUnauthorized
	if code == "invalid_request" {
		status = http.StatusBadRequest
	}
	var d Decision
	if wantsPage(r) {
		// A browser gets a page it can show: the same status and
		// challenge, in words a person reads.
		d = htmlPage(status, g.credentialsPage(r, code))
	} else {
		body := map[string]string{}
		if code != "" {
			body["error"], body["error_description"] = code, description
		}
		b, _ := json.Marshal(body)
		d = respond(status, "application/json", b)
	}
	// The scopes the resource needs (RFC 6750 §3), so that a client asks
	// for just those (the MCP authorization specification's scope
	// selection).
	var scope string
	if g.cfg.AcceptBearer && g.cfg.Policy != nil && code != "invalid_request" {
		scope = strings.Join(g.cfg.Policy.RequiredScopes(), " ")
	}
	d.Header.Set("WWW-Authenticate", g.challenge(r, code, description, scope))
	return d
}

func (g *Gateway) forbidden(r *Request, id *Identity, pd policy.Decision) Decision {
	if pd.Reason == policy.ReasonWrongAudience {
		return g.unauthorized(r, "invalid_token", "the access token is not meant for this resource")
	}
	// Every scope the request needs, granted or not (RFC 6750 §3.1; MCP
	// authorization: servers name the scopes the operation needs, and
	// clients add them to those they have).
	scope := strings.Join(pd.NeededScopes, " ")
	if scope == "" && g.cfg.Policy != nil {
		scope = strings.Join(g.cfg.Policy.RequiredScopes(), " ")
	}
	if id.Auth == AuthSession {
		d := respond(http.StatusForbidden, "text/html; charset=utf-8", page("Access denied",
			"You are signed in as "+id.Username+", but you may not open this page.", g.cfg.LogoutPath, "Sign in as someone else"))
		return d
	}
	b, _ := json.Marshal(map[string]string{"error": "insufficient_scope", "error_description": "the credentials do not allow this request"})
	d := respond(http.StatusForbidden, "application/json", b)
	d.Header.Set("WWW-Authenticate", g.challenge(r, "insufficient_scope", "the credentials do not allow this request", scope))
	return d
}
