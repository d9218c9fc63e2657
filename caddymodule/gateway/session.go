package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// session is what the gateway's session cookie carries, encrypted and
// authenticated with securecookie.
type session struct {
	Subject  string   `json:"sub"`
	Username string   `json:"u,omitempty"`
	Email    string   `json:"e,omitempty"`
	Name     string   `json:"n,omitempty"`
	Groups   []string `json:"g,omitempty"`
	Expiry   int64    `json:"x"`
	Refresh  string   `json:"r,omitempty"`
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
	return &Identity{Subject: s.Subject, Username: u, Email: s.Email, Name: s.Name, Groups: s.Groups, Claims: claims, Auth: AuthSession}
}

func sessionFromIDToken(id *oidc.IDToken, refresh string, expiry time.Time) (*session, error) {
	var c struct {
		Email             string   `json:"email"`
		Name              string   `json:"name"`
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
	}
	if err := id.Claims(&c); err != nil {
		return nil, err
	}
	return &session{Subject: id.Subject, Username: c.PreferredUsername, Email: c.Email, Name: c.Name, Groups: c.Groups,
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
