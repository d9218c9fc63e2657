package sqlstore

// The factors table: users' second factors (TOTP, WebAuthn credentials,
// recovery codes).

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/authgate/authgate/authserver/store"
)

const factorColumns = `user_id, kind, id, name, data, confirmed, created_at, last_used`

func scanFactor(row scanner) (store.Factor, error) {
	var f store.Factor
	var kind string
	var created int64
	var lastUsed sql.NullInt64
	if err := row.Scan(&f.UserID, &kind, &f.ID, &f.Name, &f.Data, &f.Confirmed, &created, &lastUsed); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return f, store.ErrNotFound
		}
		return f, fmt.Errorf("reading factor: %w", err)
	}
	f.Kind = store.FactorKind(kind)
	f.CreatedAt, f.LastUsed = fromMicros(created), fromNullMicros(lastUsed)
	return f, nil
}

// scanFactors reads every row of a factor query.
func scanFactors(rows *sql.Rows) ([]store.Factor, error) {
	defer rows.Close()
	var factors []store.Factor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, err
		}
		factors = append(factors, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading factors: %w", err)
	}
	return factors, nil
}

// CreateFactor implements [store.FactorStore]. ON CONFLICT on the primary
// key makes a taken user, kind and ID ErrAlreadyExists, race-free.
func (s *Store) CreateFactor(ctx context.Context, f store.Factor) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO factors (`+factorColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, kind, id) DO NOTHING`),
		f.UserID, string(f.Kind), f.ID, f.Name, f.Data, f.Confirmed, micros(f.CreatedAt), nullMicros(f.LastUsed))
	if err != nil {
		return fmt.Errorf("storing %s factor of user %q: %w", f.Kind, f.UserID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storing %s factor of user %q: %w", f.Kind, f.UserID, err)
	} else if n == 0 {
		return fmt.Errorf("storing %s factor of user %q: %w", f.Kind, f.UserID, store.ErrAlreadyExists)
	}
	return nil
}

// GetFactor implements [store.FactorStore].
func (s *Store) GetFactor(ctx context.Context, userID string, kind store.FactorKind, id string) (_ store.Factor, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return scanFactor(s.db.QueryRowContext(ctx, s.q(`SELECT `+factorColumns+` FROM factors
		WHERE user_id = ? AND kind = ? AND id = ?`), userID, string(kind), id))
}

// ListFactors implements [store.FactorStore]. The primary key finds the
// user's factors; they are sorted here, kinds and IDs by their bytes,
// because the database's order of text depends on its collation.
func (s *Store) ListFactors(ctx context.Context, userID string) (_ []store.Factor, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+factorColumns+` FROM factors WHERE user_id = ?`), userID)
	if err != nil {
		return nil, fmt.Errorf("listing the factors of user %q: %w", userID, err)
	}
	factors, err := scanFactors(rows)
	if err != nil {
		return nil, fmt.Errorf("listing the factors of user %q: %w", userID, err)
	}
	slices.SortFunc(factors, func(a, b store.Factor) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return factors, nil
}

// FindFactors implements [store.FactorStore]. The index factors_by_id
// finds the factors; they are sorted here by the bytes of their user IDs,
// whatever the database's collation.
func (s *Store) FindFactors(ctx context.Context, kind store.FactorKind, id string) (_ []store.Factor, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+factorColumns+` FROM factors WHERE kind = ? AND id = ?`), string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("finding %s factors: %w", kind, err)
	}
	factors, err := scanFactors(rows)
	if err != nil {
		return nil, fmt.Errorf("finding %s factors: %w", kind, err)
	}
	slices.SortFunc(factors, func(a, b store.Factor) int { return cmp.Compare(a.UserID, b.UserID) })
	return factors, nil
}

// UpdateFactor implements [store.FactorStore]. The row is read with the
// flavor's row lock (SQLite's immediate transaction holds the database's
// write lock instead), so concurrent updates of one factor take turns and
// each sees what the previous one stored: a one-time value is spent once.
func (s *Store) UpdateFactor(ctx context.Context, userID string, kind store.FactorKind, id string, update func(store.Factor) (store.Factor, error)) (_ store.Factor, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	var updated store.Factor
	err = s.inTx(ctx, "", func(tx *sql.Tx) error {
		old, err := scanFactor(tx.QueryRowContext(ctx, s.q(`SELECT `+factorColumns+` FROM factors
			WHERE user_id = ? AND kind = ? AND id = ?`+s.flavor.RowLock), userID, string(kind), id))
		if err != nil {
			return err
		}
		f, err := update(old)
		if err != nil {
			return err
		}
		f.UserID, f.Kind, f.ID = old.UserID, old.Kind, old.ID
		_, err = tx.ExecContext(ctx, s.q(`UPDATE factors SET name = ?, data = ?, confirmed = ?, created_at = ?, last_used = ?
			WHERE user_id = ? AND kind = ? AND id = ?`),
			f.Name, f.Data, f.Confirmed, micros(f.CreatedAt), nullMicros(f.LastUsed), userID, string(kind), id)
		if err != nil {
			return fmt.Errorf("updating %s factor of user %q: %w", kind, userID, err)
		}
		updated = f
		return nil
	})
	return updated, err
}

// DeleteFactor implements [store.FactorStore].
func (s *Store) DeleteFactor(ctx context.Context, userID string, kind store.FactorKind, id string) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM factors WHERE user_id = ? AND kind = ? AND id = ?`), userID, string(kind), id)
	if err != nil {
		return fmt.Errorf("deleting %s factor of user %q: %w", kind, userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("deleting %s factor of user %q: %w", kind, userID, err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUserFactors implements [store.FactorStore].
func (s *Store) DeleteUserFactors(ctx context.Context, userID string) (_ int64, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM factors WHERE user_id = ?`), userID)
	if err != nil {
		return 0, fmt.Errorf("deleting the factors of user %q: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting the factors of user %q: %w", userID, err)
	}
	return n, nil
}
