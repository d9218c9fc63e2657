package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
)

// This file manages users at runtime, for operators (the admin API and
// the CLI): users kept in the store can be added, changed, disabled and
// deleted; users from configuration are only listed.

// Errors of the user management methods, for callers to tell apart with
// [errors.Is] (an HTTP API maps them to 404, 409, 403 and 400). The
// errors returned wrap them with the username and the reason.
var (
	// ErrUserNotFound means no user has the username.
	ErrUserNotFound = errors.New("no such user")
	// ErrUserExists means the username is taken, by a stored user or by
	// one from configuration.
	ErrUserExists = errors.New("the username is taken")
	// ErrUserReadOnly means the user comes from the configuration, which
	// is where it must be changed.
	ErrUserReadOnly = errors.New("the user is defined in the configuration and is read-only here")
	// ErrWeakPassword means a password is refused: shorter than
	// MinPasswordLength characters, longer than MaxPasswordLength bytes,
	// or with control characters in it.
	ErrWeakPassword = errors.New("the password is refused")
	// ErrInvalidUser means a username, email address, name or group is
	// not acceptable.
	ErrInvalidUser = errors.New("invalid user")
	// ErrUserFederated means the change does not apply to a user who
	// signs in through an identity provider: such a user has no password
	// here, and the provider sets their email, name and groups on every
	// sign-in.
	ErrUserFederated = errors.New("the user signs in through an identity provider")
)

// Bounds of the passwords AddUser and UpdateUser take.
const (
	// MinPasswordLength is the fewest characters a password may have.
	MinPasswordLength = 8
	// MaxPasswordLength is the most bytes a password may have.
	MaxPasswordLength = 1024
)

// Where a user comes from, in [UserInfo.Source].
const (
	// UserSourceConfig: the configuration; read-only at runtime.
	UserSourceConfig = "config"
	// UserSourceStore: a local user created at runtime, kept in the store.
	UserSourceStore = "store"
	// UserSourceProvider: a federated user, created in the store on the
	// first sign-in through the identity provider [UserInfo.Provider].
	UserSourceProvider = "provider"
)

// UserInfo describes a user to operators. It never carries the
// password hash.
type UserInfo struct {
	// ID is the subject (sub) of the user's tokens: the username of a
	// local user.
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups"`
	Disabled bool     `json:"disabled"`
	// Source is UserSourceConfig, UserSourceStore or UserSourceProvider.
	Source string `json:"source"`
	// Provider names a federated user's identity provider.
	Provider string `json:"provider,omitempty"`
	// ReadOnly users come from the configuration and cannot be changed
	// at runtime.
	ReadOnly bool `json:"read_only"`
	// HasPassword reports whether the user signs in with a password here.
	HasPassword bool `json:"has_password"`
	// CreatedAt, UpdatedAt and LastLogin are zero for configured users;
	// LastLogin is kept for federated users only.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	LastLogin time.Time `json:"last_login,omitzero"`
}

// NewUser is a local user for AddUser.
type NewUser struct {
	// Username is what the user types to sign in, and the user's ID:
	// not empty, at most 256 bytes, no colon, no control characters, no
	// surrounding spaces.
	Username string
	// Password is the password in clear; AddUser stores only its
	// argon2id hash.
	Password string
	Email    string
	Name     string
	Groups   []string
}

// UserChanges are the changes UpdateUser makes; nil fields stay as they
// are.
type UserChanges struct {
	// Password replaces a local user's password. It ends everything the
	// user is signed in with (see SetUserPassword).
	Password *string
	// Disabled disables or enables the user. Disabling ends everything
	// the user is signed in with (see SetUserDisabled).
	Disabled *bool
	Email    *string
	Name     *string
	// Groups replaces the user's groups; an empty list removes them all.
	Groups *[]string
}

// ListUsers returns every user who can be signed in as: those from the
// configuration (read-only) and those in the store, local and federated,
// ordered by username.
func (s *Server) ListUsers(ctx context.Context) ([]UserInfo, error) {
	recs, err := s.cfg.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	out := make([]UserInfo, 0, len(s.users.config)+len(recs))
	for _, u := range s.users.config {
		out = append(out, configUserInfo(u))
	}
	for _, rec := range recs {
		out = append(out, storedUserInfo(rec))
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// GetUser returns the user with the username, from the configuration or
// the store; ErrUserNotFound if there is none.
func (s *Server) GetUser(ctx context.Context, username string) (UserInfo, error) {
	if u, ok := s.users.config[username]; ok {
		return configUserInfo(u), nil
	}
	rec, err := s.storedUser(ctx, username)
	if err != nil {
		return UserInfo{}, err
	}
	return storedUserInfo(rec), nil
}

// AddUser creates a local user in the store, who can sign in with the
// password at once. Its ID is its username. ErrInvalidUser if the
// username or profile is not acceptable, ErrUserExists if the username
// is taken (in the store or the configuration), ErrWeakPassword if the
// password is refused.
//
// Whatever an earlier user of the same name left behind (a deleted
// user's tokens, sessions and consents) is revoked first, so that the
// new user inherits none of it.
func (s *Server) AddUser(ctx context.Context, nu NewUser) (UserInfo, error) {
	if !validUsername(nu.Username) {
		return UserInfo{}, fmt.Errorf("username %q: %w: it must be 1 to 256 bytes without a colon, control characters or surrounding spaces", nu.Username, ErrInvalidUser)
	}
	if err := checkNewUsername(nu.Username); err != nil {
		return UserInfo{}, err
	}
	if _, ok := s.users.config[nu.Username]; ok {
		return UserInfo{}, fmt.Errorf("user %q: %w (by a user in the configuration)", nu.Username, ErrUserExists)
	}
	if err := s.checkLookalike(ctx, nu.Username); err != nil {
		return UserInfo{}, err
	}
	// A user's ID is the subject of its tokens, as a client's ID is of
	// its client-credentials tokens: the two must not meet, or ending
	// the user's sign-ins would end the client's tokens too.
	if c, err := s.lookupClient(ctx, nu.Username); err == nil && c != nil {
		return UserInfo{}, fmt.Errorf("user %q: %w (by a client)", nu.Username, ErrUserExists)
	}
	if err := checkProfile(nu.Username, nu.Email, nu.Name, nu.Groups); err != nil {
		return UserInfo{}, err
	}
	hash, err := hashPassword(nu.Username, nu.Password)
	if err != nil {
		return UserInfo{}, err
	}
	now := s.now()
	rec := store.UserRecord{
		ID: nu.Username, Username: nu.Username, PasswordHash: hash,
		Email: nu.Email, EmailVerified: nu.Email != "", Name: nu.Name, Groups: cleanGroups(nu.Groups),
		CreatedAt: now, UpdatedAt: now,
	}
	if _, err := s.cfg.Store.GetUserByUsername(ctx, rec.Username); err == nil {
		return UserInfo{}, fmt.Errorf("user %q: %w", rec.Username, ErrUserExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return UserInfo{}, fmt.Errorf("adding user %q: %w", rec.Username, err)
	}
	if err := s.revokeSubject(ctx, rec.ID); err != nil {
		return UserInfo{}, fmt.Errorf("adding user %q: %w", rec.Username, err)
	}
	if err := s.cfg.Store.CreateUser(ctx, rec); errors.Is(err, store.ErrAlreadyExists) {
		return UserInfo{}, fmt.Errorf("user %q: %w", rec.Username, ErrUserExists)
	} else if err != nil {
		return UserInfo{}, fmt.Errorf("adding user %q: %w", rec.Username, err)
	}
	s.localAccounts.forget()
	s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeAdded, Username: rec.Username, Subject: rec.ID})
	return storedUserInfo(rec), nil
}

// SetUserPassword replaces a local stored user's password. A password
// change ends everything the user is signed in with: sign-in sessions,
// gateway sessions, refresh and access tokens, pending codes and
// remembered consents are revoked, and the gateways of every instance
// drop what they cached of them. ErrUserReadOnly for a configured user,
// ErrUserFederated for a federated one, ErrWeakPassword if the password
// is refused.
func (s *Server) SetUserPassword(ctx context.Context, username, pw string) error {
	_, err := s.UpdateUser(ctx, username, UserChanges{Password: &pw})
	return err
}

// SetUserDisabled disables or enables a stored user, local or federated.
// A disabled user cannot sign in, and disabling ends everything the user
// is signed in with, as SetUserPassword does: at once on this instance,
// within the revocation feed's poll on the others. Enabling does not
// bring any of it back. ErrUserReadOnly for a configured user.
func (s *Server) SetUserDisabled(ctx context.Context, username string, disabled bool) error {
	_, err := s.UpdateUser(ctx, username, UserChanges{Disabled: &disabled})
	return err
}

// UpdateUser makes the changes to a stored user in one update and
// returns the user as it is then. A new password or disabling ends
// everything the user is signed in with (see SetUserPassword). Errors
// as SetUserPassword's, and ErrInvalidUser for an unacceptable email,
// name or group; a federated user's password, email, name and groups
// cannot be changed (ErrUserFederated): the provider sets the latter on
// every sign-in.
func (s *Server) UpdateUser(ctx context.Context, username string, ch UserChanges) (UserInfo, error) {
	if _, ok := s.users.config[username]; ok {
		return UserInfo{}, fmt.Errorf("user %q: %w; change it in the configuration", username, ErrUserReadOnly)
	}
	rec, err := s.storedUser(ctx, username)
	if err != nil {
		return UserInfo{}, err
	}
	if rec.Provider != "" && (ch.Password != nil || ch.Email != nil || ch.Name != nil || ch.Groups != nil) {
		return UserInfo{}, fmt.Errorf("user %q: %w %q: it has no password here, and the provider sets its email, name and groups",
			username, ErrUserFederated, rec.Provider)
	}
	email, name, groups := rec.Email, rec.Name, rec.Groups
	if ch.Email != nil {
		email = *ch.Email
	}
	if ch.Name != nil {
		name = *ch.Name
	}
	if ch.Groups != nil {
		groups = *ch.Groups
	}
	if err := checkProfile(username, email, name, groups); err != nil {
		return UserInfo{}, err
	}
	hash := ""
	if ch.Password != nil {
		if hash, err = hashPassword(username, *ch.Password); err != nil {
			return UserInfo{}, err
		}
	}
	now := s.now()
	rec, err = s.cfg.Store.UpdateUser(ctx, rec.ID, func(u store.UserRecord) (store.UserRecord, error) {
		if u.Username != username {
			return u, store.ErrNotFound // renamed meanwhile
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		if ch.Disabled != nil {
			u.Disabled = *ch.Disabled
		}
		if u.Provider == "" {
			u.Email, u.EmailVerified, u.Name, u.Groups = email, email != "", name, cleanGroups(groups)
		}
		u.UpdatedAt = now
		return u, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return UserInfo{}, fmt.Errorf("user %q: %w", username, ErrUserNotFound)
	}
	if err != nil {
		return UserInfo{}, fmt.Errorf("updating user %q: %w", username, err)
	}
	disabling := ch.Disabled != nil && *ch.Disabled
	if hash != "" || disabling {
		// The record changed first, so that nothing is issued to the
		// user afterwards on the strength of what it was before.
		if err := s.revokeSubject(ctx, rec.ID); err != nil {
			return UserInfo{}, fmt.Errorf("user %q changed, but ending what it is signed in with failed: %w", username, err)
		}
	}
	if ch.Disabled != nil {
		s.localAccounts.forget()
	}
	var changes []string
	if hash != "" {
		changes = append(changes, UserChangePassword)
	}
	if ch.Email != nil || ch.Name != nil || ch.Groups != nil {
		changes = append(changes, UserChangeProfile)
	}
	switch {
	case disabling:
		changes = append(changes, UserChangeDisabled)
	case ch.Disabled != nil:
		changes = append(changes, UserChangeEnabled)
	}
	for _, c := range changes {
		s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: c, Username: username, Subject: rec.ID})
	}
	return storedUserInfo(rec), nil
}

// DeleteUser removes a stored user, local or federated, and ends
// everything the user was signed in with, as SetUserDisabled does. A
// federated user who signs in again through the provider comes back as a
// new user (with a new ID): disable a federated user to keep them out.
// ErrUserReadOnly for a configured user, ErrUserNotFound if there is none.
func (s *Server) DeleteUser(ctx context.Context, username string) error {
	if _, ok := s.users.config[username]; ok {
		return fmt.Errorf("user %q: %w; remove it from the configuration", username, ErrUserReadOnly)
	}
	rec, err := s.storedUser(ctx, username)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteUser(ctx, rec.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %q: %w", username, ErrUserNotFound)
	} else if err != nil {
		return fmt.Errorf("deleting user %q: %w", username, err)
	}
	if err := s.revokeSubject(ctx, rec.ID); err != nil {
		return fmt.Errorf("user %q deleted, but ending what it was signed in with failed: %w", username, err)
	}
	// A local user's ID is the username: a user made later with the
	// same name must not inherit these factors.
	if _, err := s.cfg.Store.DeleteUserFactors(ctx, rec.ID); err != nil {
		return fmt.Errorf("user %q deleted, but removing its second factors failed: %w", username, err)
	}
	s.localAccounts.forget()
	s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeDeleted, Username: username, Subject: rec.ID})
	return nil
}

// storedUser returns the stored user with the username; ErrUserNotFound
// if there is none.
func (s *Server) storedUser(ctx context.Context, username string) (store.UserRecord, error) {
	rec, err := s.cfg.Store.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fmt.Errorf("user %q: %w", username, ErrUserNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("looking up user %q: %w", username, err)
	}
	return rec, nil
}

// revokeSubject revokes every record of the subject (sessions, gateway
// sessions, tokens, codes, consents) and announces the revocations, so
// that the gateways of this instance drop their cached tokens and
// sessions at once and those of other instances at their next poll.
func (s *Server) revokeSubject(ctx context.Context, subject string) error {
	n, err := s.cfg.Store.RevokeSubjectTokens(ctx, subject, s.now())
	if err != nil {
		return err
	}
	if n > 0 {
		s.revoked(ctx)
	}
	return nil
}

// checkNewUsername refuses a new local username that people could not
// tell from another, or type: one not in Unicode normalization form C
// (what keyboards and browsers send), with invisible characters (format
// characters such as zero-width spaces and direction overrides, spaces
// other than U+0020, anything not graphic), or with a character that
// stands for a colon once normalized (a fullwidth colon), which would
// pass for a federated user's "provider:name".
func checkNewUsername(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("username %q: %w: %s", name, ErrInvalidUser, why)
	}
	switch {
	case !norm.NFC.IsNormalString(name):
		return bad("it must be in Unicode normalization form C, as typed on a keyboard")
	case strings.ContainsFunc(name, func(r rune) bool { return r != ' ' && (!unicode.IsGraphic(r) || unicode.IsSpace(r)) }):
		return bad("it has invisible characters or spaces other than the plain space")
	case strings.Contains(norm.NFKC.String(name), ":"):
		return bad("it has a character that stands for a colon, which only federated usernames have")
	}
	return nil
}

// usernameKey is what tells usernames apart to a person reading them and
// to an upstream that compares them loosely: their compatibility form
// (NFKC: fullwidth letters are letters), in lower case.
func usernameKey(name string) string {
	return strings.ToLower(norm.NFKC.String(name))
}

// checkLookalike refuses a new username that looks like a user's
// username, in the configuration or the store (local or federated): the
// same but for letter case or compatibility forms. Upstreams behind the
// gateway often look users up without regard to case, and a person
// cannot tell "ａｌｉｃｅ" from "alice".
func (s *Server) checkLookalike(ctx context.Context, name string) error {
	key := usernameKey(name)
	for other := range s.users.config {
		if usernameKey(other) == key {
			return fmt.Errorf("user %q: %w (it looks like the configured user %q)", name, ErrUserExists, other)
		}
	}
	recs, err := s.cfg.Store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("adding user %q: %w", name, err)
	}
	for _, rec := range recs {
		if rec.Username != name && usernameKey(rec.Username) == key {
			return fmt.Errorf("user %q: %w (it looks like the user %q)", name, ErrUserExists, rec.Username)
		}
	}
	return nil
}

// hashPassword checks a new password and returns its argon2id hash.
func hashPassword(username, pw string) (string, error) {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return "", fmt.Errorf("password of user %q: %w: it needs at least %d characters", username, ErrWeakPassword, MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return "", fmt.Errorf("password of user %q: %w: it may have at most %d bytes", username, ErrWeakPassword, MaxPasswordLength)
	case !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl):
		return "", fmt.Errorf("password of user %q: %w: it must be UTF-8 without control characters", username, ErrWeakPassword)
	}
	hash, err := password.HashArgon2id(pw)
	if err != nil {
		return "", fmt.Errorf("hashing the password of user %q: %w", username, err)
	}
	return hash, nil
}

// checkProfile checks a local user's email address, name and groups.
func checkProfile(username, email, name string, groups []string) error {
	bad := func(what string, args ...any) error {
		return fmt.Errorf("user %q: %w: %s", username, ErrInvalidUser, fmt.Sprintf(what, args...))
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" || len(email) > 320 {
			return bad("email %q is not an address such as user@example.com", email)
		}
	}
	if len(name) > 256 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return bad("a name is at most 256 bytes of UTF-8 without control characters")
	}
	if len(groups) > 256 {
		return bad("at most 256 groups")
	}
	for _, g := range groups {
		if g == "" || len(g) > 256 || !utf8.ValidString(g) || strings.ContainsFunc(g, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' }) {
			return bad("group %q: a group name is 1 to 256 bytes without spaces, commas or control characters", g)
		}
	}
	return nil
}

// cleanGroups drops repeated groups, keeping the order; nil if none.
func cleanGroups(groups []string) []string {
	var out []string
	for _, g := range groups {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func configUserInfo(u *User) UserInfo {
	return UserInfo{
		ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, Groups: nonNil(u.Groups),
		Disabled: u.Disabled, Source: UserSourceConfig, ReadOnly: true, HasPassword: !u.Password.IsZero(),
	}
}

func storedUserInfo(rec store.UserRecord) UserInfo {
	info := UserInfo{
		ID: rec.ID, Username: rec.Username, Email: rec.Email, Name: rec.Name, Groups: nonNil(rec.Groups),
		Disabled: rec.Disabled, Source: UserSourceStore, HasPassword: rec.PasswordHash != "",
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, LastLogin: rec.LastLogin,
	}
	if rec.Provider != "" {
		info.Source, info.Provider = UserSourceProvider, rec.Provider
	}
	return info
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return slices.Clone(list)
}

// forget makes the next sign-in page look again whether local accounts
// exist, after one was added, disabled or deleted.
func (l *localAccountCheck) forget() {
	l.mu.Lock()
	l.until = time.Time{}
	l.mu.Unlock()
}
