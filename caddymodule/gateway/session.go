package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
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
	u := s.Username
	if u == "" {
		u = s.Subject
	}
	return &Identity{Subject: s.Subject, Username: u, Email: s.Email, Name: s.Name, Groups: s.Groups, Claims: claims, Auth: AuthSession, TokenID: s.ID}
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
		Expiry: expiry.Unix(), Refresh: refresh}, nil
}

// flow is a sign-in in progress, kept in a short-lived cookie of its own.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"t"`
	Redirect string `json:"r"`
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}
