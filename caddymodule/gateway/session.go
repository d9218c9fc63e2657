package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// SessionStore keeps a record of each gateway session, so that a
// session can be ended everywhere: by signing out (a copy of the cookie
// taken before is refused), by signing out at the provider the session
// came from, or by an operator. Ended sessions reach every gateway
// through [Gateway.Revoked].
type SessionStore interface {
	// StartSession records a new session of subject that ends at until;
	// loginSID is the provider's session (the ID token's sid), if any.
	// It returns the session's ID.
	StartSession(ctx context.Context, subject, loginSID string, until time.Time) (string, error)
	// SessionActive reports whether the session is neither ended nor
	// expired.
	SessionActive(ctx context.Context, id string) (bool, error)
	// EndSession ends the session.
	EndSession(ctx context.Context, id string) error
}

// session is what the gateway's session cookie carries, encrypted and
// authenticated with securecookie.
type session struct {
	// ID names the session in the store (see SessionStore).
	ID string `json:"i"`
	// Issuer is the provider the session was signed in at, and Host the
	// host name it was signed in on.
	Issuer   string   `json:"p"`
	Host     string   `json:"h,omitempty"`
	Subject  string   `json:"sub"`
	Username string   `json:"u,omitempty"`
	Email    string   `json:"e,omitempty"`
	Name     string   `json:"n,omitempty"`
	Groups   []string `json:"g,omitempty"`
	// AMR and ACR say how the user signed in: the ID token's amr and acr
	// claims, which a policy that requires a second factor reads.
	AMR []string `json:"m,omitempty"`
	ACR string   `json:"c,omitempty"`
	// Expiry is when the session must be refreshed; Until is when it
	// ends, however often it was refreshed.
	Expiry  int64  `json:"x"`
	Until   int64  `json:"a"`
	Refresh string `json:"r,omitempty"`
}

func (s *session) identity() *Identity {
	claims := map[string]any{"sub": s.Subject}
	if s.Email != "" {
		claims["email"] = s.Email
	}
	if s.Name != "" {
		claims["name"] = s.Name
	}
	if s.Username != "" {
		claims["preferred_username"] = s.Username
	}
	if len(s.Groups) > 0 {
		g := make([]any, len(s.Groups))
		for i, v := range s.Groups {
			g[i] = v
		}
		claims["groups"] = g
	}
	if len(s.AMR) > 0 {
		amr := make([]any, len(s.AMR))
		for i, v := range s.AMR {
			amr[i] = v
		}
		claims["amr"] = amr
	}
	if s.ACR != "" {
		claims["acr"] = s.ACR
	}
	id := IdentityFromClaims(claims, AuthSession)
	id.TokenID = s.ID
	return id
}

// sessionFromIDToken makes a session of a sign-in's (or a refresh's) ID
// token, with the claims it lacks from the provider's userinfo endpoint
// (see [Login.Profile]).
func sessionFromIDToken(ctx context.Context, l *Login, tok *oauth2.Token, id *oidc.IDToken, refresh string, expiry time.Time) (*session, error) {
	p, err := l.Profile(ctx, tok, id)
	if err != nil {
		return nil, err
	}
	return &session{Issuer: l.Issuer, Subject: p.Subject, Username: p.PreferredUsername, Email: p.Email, Name: p.Name, Groups: p.Groups,
		AMR: p.AMR, ACR: p.ACR, Expiry: expiry.Unix(), Refresh: refresh}, nil
}

// flow is a sign-in in progress, kept in a short-lived cookie of its own.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"t"`
	Redirect string `json:"r"`
	// ACR is the acr_values the sign-in asked for ("mfa" for a route that
	// requires a second factor), so that the callback can tell a provider
	// that did not give one from a sign-in that needed none.
	ACR string `json:"c,omitempty"`
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func (g *Gateway) cookieName(r *Request) string {
	if r.Scheme == "https" && g.cfg.CookieDomain == "" {
		return "__Host-" + g.cfg.CookieName
	}
	return g.cfg.CookieName
}

func (g *Gateway) cookie(r *Request, name, value string, maxAge time.Duration) string {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()), HttpOnly: true,
		Secure: r.Scheme == "https", SameSite: http.SameSiteLaxMode}
	if g.cfg.CookieDomain != "" && !strings.HasPrefix(name, "__Host-") && !strings.HasPrefix(name, flowCookiePrefix) {
		c.Domain = g.cfg.CookieDomain
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c.String()
}

// readCookie finds one cookie's value in the Cookie headers without
// parsing the others.
func readCookie(h http.Header, name string) (string, bool) {
	for _, line := range h.Values("Cookie") {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if n, v, ok := strings.Cut(part, "="); ok && n == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// sessionKey is the session cache's key of a cookie on the request's
// host: a session is cached for the host it is a session on.
func sessionKey(r *Request, raw string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(hostname(r.Host)))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// sessionIdentity reads the session cookie: a session the store still
// has active, within its absolute lifetime. An expired session with a
// refresh token is refreshed; refreshed says so, and setCookies carry the
// renewed cookie. A session already in the cache is served from it until
// its cached expiry, store or no store; one that could not be checked
// because the session store or the provider cannot answer now gives
// errUndecided, which the caller answers with 503 (never with access, nor
// with a sign-in that would fail the same way).
func (g *Gateway) sessionIdentity(ctx context.Context, r *Request) (id *Identity, setCookies []string, refreshed bool, err error) {
	name := g.cookieName(r)
	raw, ok := readCookie(r.Header, name)
	if !ok {
		return nil, nil, false, nil
	}
	key := sessionKey(r, raw)
	now := g.now()
	cached, refused, hit := g.sessions.get(key, now)
	g.cfg.Observer.CacheLookup(CacheSession, hit)
	if hit {
		if refused || cached == nil {
			return nil, nil, false, nil
		}
		return cached, nil, false, nil
	}
	var s session
	if err := g.cookies.Decode(name, raw, &s); err != nil || s.ID == "" || now.Unix() >= s.Until ||
		g.cfg.Login == nil || s.Issuer != g.cfg.Login.Issuer || g.cfg.CookieDomain == "" && s.Host != hostname(r.Host) {
		// Routes on one host share the cookie: a session from another
		// route's provider is not one of this route's; and a host-only
		// cookie copied to another host is not a session there.
		return nil, nil, false, nil
	}
	active, err := g.cfg.Sessions.SessionActive(ctx, s.ID)
	if err != nil {
		g.cfg.Logger.Warn("checking a gateway session", zap.Error(err))
		return nil, nil, false, fmt.Errorf("%w: checking the session: %w", errUndecided, err)
	}
	if !active {
		g.sessions.refuse(key, now)
		return nil, nil, false, nil
	}
	if now.Unix() < s.Expiry {
		id := s.identity()
		if !g.sessions.put(key, id, time.Unix(min(s.Expiry, s.Until), 0)) {
			return nil, nil, false, nil // ended while it was being checked
		}
		return id, nil, false, nil
	}
	if s.Refresh == "" || g.cfg.Login == nil || r.Forwarded && !g.originAllowed(r) {
		return nil, nil, false, nil
	}
	// Requests a page makes at once all carry the expired cookie: only one
	// may use the refresh token (a second use would be a reuse, which
	// revokes the whole grant); the others wait for its answer.
	v, err, _ := g.refreshes.Do(string(key[:]), func() (any, error) {
		// A request that checked the cache just before another finished
		// the refresh must not spend the refresh token a second time.
		if id, _, ok := g.sessions.get(key, g.now()); ok && id != nil {
			return id, nil
		}
		fresh, err := g.refresh(ctx, &s, now)
		if err == nil {
			// Requests still carrying the old cookie get the new identity.
			g.sessions.put(key, fresh.identity(), now.Add(30*time.Second))
		}
		return fresh, err
	})
	if temporary(err) {
		g.cfg.Logger.Warn("refreshing a gateway session", zap.Error(err))
		return nil, nil, false, fmt.Errorf("%w: %w", errUndecided, err)
	}
	if err != nil {
		// A refused refresh (a revoked grant, a disabled user) is not
		// tried again for every request that carries the cookie.
		g.sessions.refuse(key, g.now())
		return nil, nil, false, nil
	}
	fresh, ok := v.(*session)
	if !ok {
		return v.(*Identity), nil, false, nil
	}
	setCookie, err := g.sessionCookie(r, fresh)
	if err != nil {
		return nil, nil, false, nil
	}
	return fresh.identity(), []string{setCookie}, true, nil
}

// errUndecided means a credential could be neither accepted nor refused
// because what checks it (the session store, the provider) cannot answer
// now.
var errUndecided = errors.New("gateway: the credential cannot be checked now")

// temporary reports whether a refresh failed for want of an answer (the
// provider's token endpoint answered 5xx, or could not be reached) rather
// than being refused.
func temporary(err error) bool {
	if err == nil {
		return false
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.Response != nil && re.Response.StatusCode >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// refresh renews an expired session with its refresh token. A provider
// that sends no new ID token (OIDC Core §12.2 allows it) keeps the claims
// the session had.
func (g *Gateway) refresh(ctx context.Context, old *session, now time.Time) (*session, error) {
	tok, idt, err := g.cfg.Login.Refresh(ctx, old.Refresh)
	if err != nil {
		return nil, err
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = old.Refresh
	}
	if idt == nil {
		fresh := *old
		fresh.Refresh, fresh.Expiry = refresh, now.Add(g.cfg.SessionLifetime).Unix()
		return &fresh, nil
	}
	if idt.Subject != old.Subject {
		return nil, errors.New("the refreshed ID token is for another user")
	}
	fresh, err := sessionFromIDToken(ctx, g.cfg.Login, tok, idt, refresh, now.Add(g.cfg.SessionLifetime))
	if err != nil {
		return nil, err
	}
	fresh.ID, fresh.Until, fresh.Issuer, fresh.Host = old.ID, old.Until, old.Issuer, old.Host
	if len(fresh.AMR) == 0 && fresh.ACR == "" {
		// A refresh authenticates nobody: the grant still comes from the
		// sign-in the session started with, whose methods a provider need
		// not repeat in a refreshed ID token.
		fresh.AMR, fresh.ACR = old.AMR, old.ACR
	}
	return fresh, nil
}

func (g *Gateway) sessionCookie(r *Request, s *session) (string, error) {
	name := g.cookieName(r)
	v, err := g.cookies.Encode(name, s)
	if err != nil {
		return "", fmt.Errorf("encoding the session cookie: %w", err)
	}
	return g.cookie(r, name, v, sessionMaxLifetime), nil
}
