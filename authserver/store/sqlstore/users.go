package sqlstore

// The users table: users created at runtime and federated users.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

const userColumns = `id, username, provider, provider_subject, password_hash, email, email_verified,
	name, groups_json, disabled, created_at, updated_at, last_login`

func scanUser(row scanner) (store.UserRecord, error) {
	var u store.UserRecord
	var groups string
	var created, updated int64
	var lastLogin sql.NullInt64
	err := row.Scan(&u.ID, &u.Username, &u.Provider, &u.ProviderSubject, &u.PasswordHash, &u.Email, &u.EmailVerified,
		&u.Name, &groups, &u.Disabled, &created, &updated, &lastLogin)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return u, store.ErrNotFound
		}
		return u, fmt.Errorf("reading user: %w", err)
	}
	if err := json.Unmarshal([]byte(groups), &u.Groups); err != nil {
		return u, fmt.Errorf("reading the groups of user %q: %w", u.ID, err)
	}
	if len(u.Groups) == 0 {
		u.Groups = nil
	}
	u.CreatedAt, u.UpdatedAt, u.LastLogin = fromMicros(created), fromMicros(updated), fromNullMicros(lastLogin)
	return u, nil
}

// groupsJSON encodes groups as the JSON array the groups_json column
// holds; no groups is [].
func groupsJSON(groups []string) (string, error) {
	if groups == nil {
		groups = []string{}
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "", fmt.Errorf("encoding groups: %w", err)
	}
	return string(b), nil
}

// CreateUser implements [store.UserStore]. ON CONFLICT without a target
// catches the primary key and both unique indexes, so a taken ID,
// username or provider pair is ErrAlreadyExists, race-free.
func (s *Store) CreateUser(ctx context.Context, u store.UserRecord) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	groups, err := groupsJSON(u.Groups)
	if err != nil {
		return fmt.Errorf("storing user %q: %w", u.ID, err)
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`),
		u.ID, u.Username, u.Provider, u.ProviderSubject, u.PasswordHash, u.Email, u.EmailVerified,
		u.Name, groups, u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt), nullMicros(u.LastLogin))
	if err != nil {
		return fmt.Errorf("storing user %q: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storing user %q: %w", u.ID, err)
	} else if n == 0 {
		return fmt.Errorf("storing user %q: %w", u.ID, store.ErrAlreadyExists)
	}
	return nil
}

// GetUser implements [store.UserStore].
func (s *Store) GetUser(ctx context.Context, id string) (_ store.UserRecord, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
}

// GetUserByUsername implements [store.UserStore].
func (s *Store) GetUserByUsername(ctx context.Context, username string) (_ store.UserRecord, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE username = ?`), username))
}

// GetUserByProvider implements [store.UserStore]. An empty provider
// names no federated user, so it finds nothing.
func (s *Store) GetUserByProvider(ctx context.Context, provider, subject string) (_ store.UserRecord, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if provider == "" {
		return store.UserRecord{}, store.ErrNotFound
	}
	// provider <> '' repeats the condition of the partial index
	// users_by_provider, which the planners cannot infer from provider = ?.
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users
		WHERE provider = ? AND provider_subject = ? AND provider <> ''`), provider, subject))
}

// UpdateUser implements [store.UserStore]. The row is read with the
// flavor's row lock, so concurrent updates of one user take turns; a
// username or provider pair that another user holds breaks a unique
// index, which is ErrAlreadyExists.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(store.UserRecord) (store.UserRecord, error)) (_ store.UserRecord, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	var updated store.UserRecord
	err = s.inTx(ctx, "", func(tx *sql.Tx) error {
		old, err := scanUser(tx.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`+s.flavor.RowLock), id))
		if err != nil {
			return err
		}
		u, err := update(old)
		if err != nil {
			return err
		}
		u.ID = old.ID
		groups, err := groupsJSON(u.Groups)
		if err != nil {
			return fmt.Errorf("updating user %q: %w", id, err)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE users SET username = ?, provider = ?, provider_subject = ?,
			password_hash = ?, email = ?, email_verified = ?, name = ?, groups_json = ?, disabled = ?,
			created_at = ?, updated_at = ?, last_login = ? WHERE id = ?`),
			u.Username, u.Provider, u.ProviderSubject, u.PasswordHash, u.Email, u.EmailVerified, u.Name, groups,
			u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt), nullMicros(u.LastLogin), id)
		if s.flavor.uniqueViolation(err) {
			return fmt.Errorf("updating user %q: username or provider subject taken: %w", id, store.ErrAlreadyExists)
		}
		if err != nil {
			return fmt.Errorf("updating user %q: %w", id, err)
		}
		updated = u
		return nil
	})
	return updated, err
}

// DeleteUser implements [store.UserStore]. It leaves the user's tokens
// alone: RevokeSubjectTokens is the caller's to call.
func (s *Store) DeleteUser(ctx context.Context, id string) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("deleting user %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("deleting user %q: %w", id, err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListUsers implements [store.UserStore]. The users are sorted here, by
// the bytes of their usernames, because the database's order depends on
// its collation (PostgreSQL's may follow a locale).
func (s *Store) ListUsers(ctx context.Context) (_ []store.UserRecord, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	var users []store.UserRecord
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	slices.SortFunc(users, func(a, b store.UserRecord) int { return cmp.Compare(a.Username, b.Username) })
	return users, nil
}

// RevokeSubjectTokens implements [store.UserStore]. The index
// tokens_by_subject finds the records. An empty subject matches nothing:
// records not yet tied to a user (a pending authorization request) are
// nobody's.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string, now time.Time) (_ int64, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if subject == "" {
		return 0, nil
	}
	n, err := s.revokeWhere(ctx, `subject = ?`, subject, now)
	if err != nil {
		return n, fmt.Errorf("revoking the tokens of subject %q: %w", subject, err)
	}
	return n, nil
}
