package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
)

// User is a person who can sign in: a user from configuration, a user
// kept in the store (created at runtime, or on first sign-in through an
// identity provider).
type User struct {
	// ID is the subject (sub) of the user's tokens. For a local user it
	// is the username; for a federated user a random ID that stays when
	// the provider's email or username changes. Configured users may
	// leave it empty: New sets it to the username.
	ID string
	// Username is what the user types to sign in (a local user), or the
	// provider's name of the user prefixed with the provider's name and
	// a colon (a federated user): "github:octocat". Local usernames
	// never contain a colon, so the two never meet.
	Username string
	// Password is the hash of a local user's password; zero for a
	// federated user.
	Password password.Hash
	Email    string
	Name     string
	Groups   []string
	// Disabled users cannot sign in, and their refresh tokens stop working.
	Disabled bool
	// Provider names the identity provider a federated user signs in
	// through; empty for a local user.
	Provider string

	// storedHash is a stored user's password hash as the store has it,
	// to tell whether it changed during a sign-in.
	storedHash string
}

// userFromRecord is the user a store record describes.
func userFromRecord(rec store.UserRecord) (*User, error) {
	u := &User{
		ID: rec.ID, Username: rec.Username, Email: rec.Email, Name: rec.Name, Groups: rec.Groups,
		Disabled: rec.Disabled, Provider: rec.Provider, storedHash: rec.PasswordHash,
	}
	if rec.PasswordHash != "" {
		h, err := password.Parse(rec.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", rec.Username, err)
		}
		u.Password = h
	}
	return u, nil
}

// validUsername reports whether a local username is acceptable: not
// empty, at most 256 bytes, no colon (federated usernames have one), no
// control characters or surrounding spaces.
func validUsername(name string) bool {
	return name != "" && len(name) <= 256 && strings.TrimSpace(name) == name &&
		!strings.ContainsAny(name, ":") && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// userDirectory finds users, in configuration first and then in the
// store, and checks local users' passwords.
type userDirectory struct {
	config map[string]*User // by username, which is their ID
	store  store.UserStore
	// decoy is checked when the username is unknown, so that signing in
	// costs the same whether or not the user exists.
	decoy password.Hash
}

func newUserDirectory(users []*User, st store.UserStore) (*userDirectory, error) {
	d := &userDirectory{config: make(map[string]*User, len(users)), store: st}
	for _, u := range users {
		switch {
		case u == nil || !validUsername(u.Username) || u.Password.IsZero():
			return nil, fmt.Errorf("user %q needs a username (without a colon) and a password hash", usernameOf(u))
		case u.ID != "" && u.ID != u.Username:
			return nil, fmt.Errorf("user %q: a configured user's ID is its username", u.Username)
		case d.config[u.Username] != nil:
			return nil, fmt.Errorf("user %q is defined twice", u.Username)
		}
		if u.ID == "" {
			u.ID = u.Username
		}
		d.config[u.Username] = u
		if d.decoy.IsZero() {
			d.decoy = u.Password
		}
	}
	return d, nil
}

func usernameOf(u *User) string {
	if u == nil {
		return ""
	}
	return u.Username
}

// checkNoDuplicates refuses a configured user whose username a stored
// user has too, or whose ID (the username) is a stored user's ID (one
// renamed since, say): the two would be one subject, so they never merge
// silently, and the stored user's sessions and tokens never become the
// configured user's.
func (d *userDirectory) checkNoDuplicates(ctx context.Context) error {
	for name := range d.config {
		_, err := d.store.GetUserByUsername(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			_, err = d.store.GetUser(ctx, name)
		}
		switch {
		case err == nil:
			return fmt.Errorf("user %q is both in the configuration and in the store; remove one of them", name)
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("checking user %q against the store: %w", name, err)
		}
	}
	return nil
}

// get returns the user with the ID, enabled or not; nil if there is none.
func (d *userDirectory) get(ctx context.Context, id string) (*User, error) {
	if u, ok := d.config[id]; ok {
		return u, nil
	}
	rec, err := d.store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up user: %w", err)
	}
	return userFromRecord(rec)
}

// lookup returns the user with the ID if the user can sign in.
func (d *userDirectory) lookup(ctx context.Context, id string) (*User, bool, error) {
	u, err := d.get(ctx, id)
	if err != nil || u == nil || u.Disabled {
		return nil, false, err
	}
	return u, true, nil
}

// isLocal reports whether username names a local user (configured or
// stored with a password), for the failure limits.
func (d *userDirectory) isLocal(ctx context.Context, username string) bool {
	if _, ok := d.config[username]; ok {
		return true
	}
	if !validUsername(username) {
		return false
	}
	rec, err := d.store.GetUserByUsername(ctx, username)
	return err == nil && rec.Provider == "" && rec.PasswordHash != ""
}

// authenticate checks a local user's username and password. It does the
// same work for unknown, disabled and known users.
func (d *userDirectory) authenticate(ctx context.Context, username, pw string) (*User, bool, error) {
	u, ok := d.config[username]
	if !ok && validUsername(username) {
		rec, err := d.store.GetUserByUsername(ctx, username)
		switch {
		case err == nil && rec.Provider == "" && rec.PasswordHash != "":
			if u, err = userFromRecord(rec); err != nil {
				return nil, false, err
			}
			ok = true
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, false, fmt.Errorf("looking up user: %w", err)
		}
	}
	if !ok {
		d.spendDecoy()
		return nil, false, nil
	}
	if !u.Password.Verify(pw) || u.Disabled {
		return nil, false, nil
	}
	return u, true, nil
}

// spendDecoy checks a random password against the decoy hash, so that an
// unknown username costs what a known one does.
func (d *userDirectory) spendDecoy() {
	if d.decoy.IsZero() {
		return
	}
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // never fails
	d.decoy.Verify(base64.RawURLEncoding.EncodeToString(b))
}
