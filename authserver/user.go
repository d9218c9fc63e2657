package authserver

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/authgate/authgate/authserver/password"
)

// User is a local user who can sign in.
type User struct {
	// Username is what the user types; it is also the subject (sub).
	Username string
	// Password is the hash of the user's password.
	Password password.Hash
	Email    string
	Name     string
	Groups   []string
	// Disabled users cannot sign in, and their refresh tokens stop working.
	Disabled bool
}

// userDirectory finds users and checks their passwords.
type userDirectory struct {
	byName map[string]*User
	// decoy is checked when the username is unknown, so that signing in
	// costs the same whether or not the user exists.
	decoy password.Hash
}

func newUserDirectory(users []*User) *userDirectory {
	d := &userDirectory{byName: make(map[string]*User, len(users))}
	for _, u := range users {
		d.byName[u.Username] = u
		if d.decoy.IsZero() {
			d.decoy = u.Password
		}
	}
	return d
}

// lookup returns an enabled user by name.
func (d *userDirectory) lookup(username string) (*User, bool) {
	u, ok := d.byName[username]
	if !ok || u.Disabled {
		return nil, false
	}
	return u, true
}

// authenticate checks a username and password. It does the same work
// for unknown, disabled and known users.
func (d *userDirectory) authenticate(username, pw string) (*User, bool) {
	u, ok := d.byName[username]
	if !ok {
		if !d.decoy.IsZero() {
			b := make([]byte, 16)
			rand.Read(b) //nolint:errcheck // never fails
			d.decoy.Verify(base64.RawURLEncoding.EncodeToString(b))
		}
		return nil, false
	}
	if !u.Password.Verify(pw) || u.Disabled {
		return nil, false
	}
	return u, true
}
