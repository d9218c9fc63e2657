package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/authgate/authgate/authserver/store"
)

// Names of the secrets every instance shares through the store.
const (
	secretCookieHash  = "cookie-hash-key"
	secretCookieBlock = "cookie-block-key"
	secretCSRF        = "csrf-key"
)

// cookies encodes the server's cookies with keys shared through the store,
// so every instance and every restart reads them.
type cookies struct {
	codec   *securecookie.SecureCookie
	csrfKey []byte
	secure  bool
	session string
	csrf    string
}

func newCookies(ctx context.Context, secrets store.SecretStore, secure bool, maxAge time.Duration) (*cookies, error) {
	get := func(name string, n int) ([]byte, error) {
		return secrets.GetOrCreateSecret(ctx, name, func() ([]byte, error) {
			b := securecookie.GenerateRandomKey(n)
			if b == nil {
				return nil, errors.New("no randomness")
			}
			return b, nil
		})
	}
	hashKey, err := get(secretCookieHash, 64)
	if err != nil {
		return nil, fmt.Errorf("loading cookie keys: %w", err)
	}
	blockKey, err := get(secretCookieBlock, 32)
	if err != nil {
		return nil, fmt.Errorf("loading cookie keys: %w", err)
	}
	csrfKey, err := get(secretCSRF, 32)
	if err != nil {
		return nil, fmt.Errorf("loading CSRF key: %w", err)
	}
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(int(maxAge.Seconds()))
	c := &cookies{codec: codec, csrfKey: csrfKey, secure: secure, session: "authgate_session", csrf: "authgate_csrf"}
	if secure {
		// __Host- cookies are bound to this host, Secure and Path=/.
		c.session, c.csrf = "__Host-"+c.session, "__Host-"+c.csrf
	}
	return c, nil
}

func (c *cookies) set(w http.ResponseWriter, name, value string, maxAge time.Duration) error {
	encoded, err := c.codec.Encode(name, value)
	if err != nil {
		return fmt.Errorf("encoding cookie: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: encoded, Path: "/", MaxAge: int(maxAge.Seconds()),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (c *cookies) get(r *http.Request, name string) (string, bool) {
	ck, err := r.Cookie(name)
	if err != nil {
		return "", false
	}
	var v string
	if err := c.codec.Decode(name, ck.Value, &v); err != nil {
		return "", false
	}
	return v, true
}

func (c *cookies) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// csrfToken returns the token forms carry: an HMAC of a random value kept
// in a cookie of its own (double submit). It sets the cookie if the
// browser has none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v, ok := s.cookies.get(r, s.cookies.csrf)
	if !ok {
		v = randomID(32)
		if err := s.cookies.set(w, s.cookies.csrf, v, 24*time.Hour); err != nil {
			s.logger.Error("setting CSRF cookie", zapErr(err))
		}
	}
	return s.csrfFor(v)
}

func (s *Server) csrfFor(v string) string {
	m := hmac.New(sha256.New, s.cookies.csrfKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a form's csrf_token matches the browser's
// CSRF cookie.
func (s *Server) checkCSRF(r *http.Request, f form) bool {
	v, ok := s.cookies.get(r, s.cookies.csrf)
	token := f.get("csrf_token")
	if !ok || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.csrfFor(v))) == 1
}

// session is a signed-in browser.
type session struct {
	id   string // the record's key
	data sessionData
	// expires is the end of the session's absolute lifetime.
	expires time.Time
}

// sid is the session's sid (the ID token claim).
func (sess *session) sid() string {
	if sess.data.SID != "" {
		return sess.data.SID
	}
	return loginSID(sess.id)
}

type sessionData struct {
	// UserID is the user's ID, the subject (under its first name, which
	// stored sessions keep).
	UserID   string   `json:"username"`
	AuthTime int64    `json:"auth_time"`
	LastSeen int64    `json:"last_seen"`
	AMR      []string `json:"amr,omitempty"`
	// SID is the sid of a session that replaced another when the user
	// stepped up to a second factor, which keeps the first one's sid;
	// empty for a session that began with a sign-in (see loginSID).
	SID string `json:"sid,omitempty"`
}

func hashID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// currentSession returns the browser's session if it is valid: known,
// not revoked, within its absolute and idle lifetimes, and of a user who
// can still sign in. A session the store cannot be asked about counts as
// none: the user is asked to sign in, which fails until the store is back.
func (s *Server) currentSession(r *http.Request) (*session, *User) {
	sess, u, err := s.loadSession(r)
	if err != nil {
		s.logFailure("looking up a session", err)
		return nil, nil
	}
	return sess, u
}

// loadSession is currentSession, with the error that kept the store from
// saying whether the session is valid; nil with no error means there is
// no valid session.
func (s *Server) loadSession(r *http.Request) (*session, *User, error) {
	secret, ok := s.cookies.get(r, s.cookies.session)
	if !ok {
		return nil, nil, nil
	}
	ctx := r.Context()
	id := hashID(secret)
	rec, err := s.cfg.Store.GetToken(ctx, store.Session, id)
	now := s.now()
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the session: %w", err)
	}
	if !rec.Active(now) {
		return nil, nil, nil
	}
	var d sessionData
	if json.Unmarshal(rec.Data, &d) != nil || now.Sub(time.Unix(d.LastSeen, 0)) > s.cfg.SessionIdleTimeout {
		return nil, nil, nil
	}
	u, ok, err := s.users.lookup(ctx, d.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("looking up a session's user: %w", err)
	}
	if !ok {
		return nil, nil, nil
	}
	if now.Sub(time.Unix(d.LastSeen, 0)) > time.Minute {
		_, err := s.cfg.Store.UpdateToken(ctx, store.Session, id, func(t store.Token) (store.Token, error) {
			d.LastSeen = now.Unix()
			t.Data, _ = json.Marshal(d)
			return t, nil
		})
		if err != nil {
			s.logger.Warn("touching session", zapErr(err))
		}
	}
	return &session{id: id, data: d, expires: rec.ExpiresAt}, u, nil
}

// amrPassword is the amr of a sign-in with a password (RFC 8176).
var amrPassword = []string{"pwd"}

// startSession signs u in: it ends the browser's previous session, if
// any, and sets a cookie for a new one. amr says how the user signed in
// (RFC 8176), nil when an identity provider did it.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *User, amr []string) (*session, error) {
	if err := s.endSession(w, r); err != nil {
		return nil, fmt.Errorf("ending the previous session: %w", err)
	}
	secret := randomID(32)
	now := s.now()
	d := sessionData{UserID: u.ID, AuthTime: now.Unix(), LastSeen: now.Unix(), AMR: amr}
	data, _ := json.Marshal(d)
	id := hashID(secret)
	// The session is of the family of the gateway sessions signed in
	// through it: once it is revoked (signing out, or everything of the
	// user ended), a gateway session a gateway starts with its sid
	// afterwards is stored revoked, however late the gateway's callback
	// comes.
	rec := store.Token{
		Kind: store.Session, ID: id, FamilyID: gatewaySessionFamily(loginSID(id)), Subject: u.ID, Data: data,
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime),
	}
	if err := s.cfg.Store.CreateToken(r.Context(), rec); err != nil {
		return nil, fmt.Errorf("storing session: %w", err)
	}
	if err := s.cookies.set(w, s.cookies.session, secret, s.cfg.SessionLifetime); err != nil {
		return nil, err
	}
	return &session{id: rec.ID, data: d, expires: rec.ExpiresAt}, nil
}

// upgradeSession replaces the browser's session old, in which the user
// just proved a second factor, by a new one with amr and a fresh
// auth_time: a new secret (what an older copy of the cookie holds does
// not gain the second factor), the same sid (the gateway sessions signed
// in through the old one go on) and the same absolute end.
func (s *Server) upgradeSession(w http.ResponseWriter, r *http.Request, old *session, u *User, amr []string) (*session, error) {
	secret := randomID(32)
	now := s.now()
	d := sessionData{UserID: u.ID, AuthTime: now.Unix(), LastSeen: now.Unix(), AMR: amr, SID: old.sid()}
	data, _ := json.Marshal(d)
	// The new record joins the family of the sid's gateway sessions, as
	// the old one leaves it as it ends: a family with a revoked member
	// stores every later record revoked, and the sign-in goes on.
	rec := store.Token{
		Kind: store.Session, ID: hashID(secret), FamilyID: gatewaySessionFamily(old.sid()), Subject: u.ID, Data: data,
		IssuedAt: now, ExpiresAt: old.expires,
	}
	if err := s.cfg.Store.CreateToken(r.Context(), rec); err != nil {
		return nil, fmt.Errorf("storing the stepped-up session: %w", err)
	}
	_, err := s.cfg.Store.UpdateToken(r.Context(), store.Session, old.id, func(t store.Token) (store.Token, error) {
		if t.RevokedAt.IsZero() {
			t.RevokedAt = now
		}
		t.FamilyID = ""
		return t, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("ending the session before the step-up: %w", err)
	}
	if err := s.cookies.set(w, s.cookies.session, secret, old.expires.Sub(now)); err != nil {
		return nil, err
	}
	return &session{id: rec.ID, data: d, expires: rec.ExpiresAt}, nil
}

// loginSID is the sid of a login session (the ID token claim): derived
// from the session's record ID, which it does not reveal.
func loginSID(sessionID string) string {
	return hashID("sid\x00" + sessionID)[:32]
}

// endSession revokes the browser's session, if any, with the gateway
// sessions signed in through it, and clears its cookie.
//
// If the store cannot end the session it returns why, and keeps the
// browser's cookie, so that signing out can be tried again: a sign-out
// that only forgot the cookie would leave the session and its gateway
// sessions valid wherever they were copied.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	secret, ok := s.cookies.get(r, s.cookies.session)
	if !ok {
		return nil
	}
	ctx := r.Context()
	id := hashID(secret)
	sess := &session{id: id}
	rec, err := s.cfg.Store.GetToken(ctx, store.Session, id)
	switch {
	case err == nil:
		json.Unmarshal(rec.Data, &sess.data) //nolint:errcheck // without its data, the sid is derived from the ID
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("reading the session to end: %w", err)
	}
	if err := s.cfg.Store.RevokeToken(ctx, store.Session, id, s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("ending the session: %w", err)
	}
	n, err := s.cfg.Store.RevokeFamily(ctx, gatewaySessionFamily(sess.sid()), s.now())
	if err != nil {
		return fmt.Errorf("ending the gateway sessions of a session: %w", err)
	}
	if n > 0 {
		s.revoked(ctx)
	}
	s.cookies.clear(w, s.cookies.session)
	return nil
}
