package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// Store is a [store.Store] over a database/sql handle, or two: one for
// reads and one for writes.
type Store struct {
	// db reads; w writes (the same handle unless OpenSplit made them).
	db, w  *sql.DB
	flavor Flavor
	// group commits token inserts together where the flavor asks for it.
	group *groupCommitter
	stmts statements
}

// Open migrates the database behind db to the current schema and returns a
// Store that owns db: closing the Store closes it.
func Open(ctx context.Context, db *sql.DB, flavor Flavor) (*Store, error) {
	return OpenSplit(ctx, db, db, flavor)
}

// OpenSplit is Open with one handle for reads and another for writes, as
// an embedded database wants: writes that queue for the writer's one
// connection in the process wake the moment it is free, where writes
// racing for the database's lock would sleep in its busy handler. The
// Store owns both.
func OpenSplit(ctx context.Context, reads, writes *sql.DB, flavor Flavor) (*Store, error) {
	s := &Store{db: reads, w: writes, flavor: flavor}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrating %s store: %w", flavor.Name, err)
	}
	// Prepared now, while no transaction holds the writer's connection
	// (a transaction uses it through tx.StmtContext, on its own
	// connection).
	for _, q := range append(insertQueries[1:], spendTokenQuery, revokeTokenQuery) {
		if _, err := s.writeStmt(ctx, q); err != nil {
			return nil, err
		}
	}
	if flavor.GroupCommit {
		s.group = newGroupCommitter(s)
	}
	return s, nil
}

// DB returns the handle that writes, for backends' own maintenance.
func (s *Store) DB() *sql.DB { return s.w }

// Ping runs a trivial query: the database is reachable and answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	var one int
	return s.w.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close stops the group committer, if any, and closes the database
// handle.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.close()
	}
	s.closeStatements()
	err := s.w.Close()
	if s.db != s.w {
		err = errors.Join(err, s.db.Close())
	}
	return err
}

// inTx runs fn in a transaction that holds the lock named lock (if the
// flavor has named locks and lock is not empty), committing if fn returns
// nil and rolling back otherwise.
//
// A transaction that failed because the database could not be reached is
// run once more, whole, on another connection, if nothing of it can have
// been committed: it failed before its COMMIT was sent, or the COMMIT
// itself failed before reaching the database (a dead pooled connection).
// fn may therefore run twice; it must do nothing but its statements.
func (s *Store) inTx(ctx context.Context, lock string, fn func(tx *sql.Tx) error) error {
	committing, err := s.tryTx(ctx, lock, fn)
	if err == nil || ctx.Err() != nil || !s.flavor.IsUnavailable(err) || committing && !s.flavor.notSent(err) {
		return err
	}
	_, err = s.tryTx(ctx, lock, fn)
	return err
}

// tryTx is one attempt of inTx; committing says that the error came from
// the COMMIT.
func (s *Store) tryTx(ctx context.Context, lock string, fn func(tx *sql.Tx) error) (committing bool, err error) {
	tx, err := s.w.BeginTx(ctx, s.flavor.TxOptions)
	if err != nil {
		return false, fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if lock != "" && s.flavor.Lock != nil {
		if err := s.flavor.Lock(ctx, tx, lock); err != nil {
			return false, fmt.Errorf("taking lock %q: %w", lock, err)
		}
	}
	if err := fn(tx); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return true, fmt.Errorf("committing: %w", &commitError{err})
	}
	return false, nil
}

// commitError is a failed COMMIT: whether the transaction was applied is
// not known.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

func (s *Store) q(query string) string { return s.flavor.rebind(query) }

// Times are kept as microseconds since the Unix epoch; a zero time is NULL
// in nullable columns.
func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// ---- keys ----

const keyColumns = `id, algorithm, private_jwk, created_at, sign_from, sign_until, verify_until`

// ListKeys implements [store.KeyStore].
func (s *Store) ListKeys(ctx context.Context) (_ []store.SigningKey, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return listKeys(ctx, s.db)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func listKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY sign_from, id`)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, from, until, verify int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateJWK, &created, &from, &until, &verify); err != nil {
			return nil, fmt.Errorf("reading key: %w", err)
		}
		k.CreatedAt, k.SignFrom, k.SignUntil, k.VerifyUntil = fromMicros(created), fromMicros(from), fromMicros(until), fromMicros(verify)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return keys, nil
}

// UpdateKeys implements [store.KeyStore].
func (s *Store) UpdateKeys(ctx context.Context, update func([]store.SigningKey) ([]store.SigningKey, error)) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return s.inTx(ctx, "keys", func(tx *sql.Tx) error {
		current, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		next, err := update(current)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys`); err != nil {
			return fmt.Errorf("replacing keys: %w", err)
		}
		for _, k := range next {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				k.ID, k.Algorithm, k.PrivateJWK, micros(k.CreatedAt), micros(k.SignFrom), micros(k.SignUntil), micros(k.VerifyUntil))
			if err != nil {
				return fmt.Errorf("storing key %s: %w", k.ID, err)
			}
		}
		return nil
	})
}

// ---- tokens ----

const tokenColumns = `kind, id, family_id, client_id, subject, data, issued_at, expires_at, consumed_at, revoked_at`

type scanner interface{ Scan(dest ...any) error }

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	var kind string
	var issued, expires int64
	var consumed, revoked sql.NullInt64
	if err := row.Scan(&kind, &t.ID, &t.FamilyID, &t.ClientID, &t.Subject, &t.Data, &issued, &expires, &consumed, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, store.ErrNotFound
		}
		return t, fmt.Errorf("reading token: %w", err)
	}
	t.Kind = store.TokenKind(kind)
	t.IssuedAt, t.ExpiresAt = fromMicros(issued), fromMicros(expires)
	t.ConsumedAt, t.RevokedAt = fromNullMicros(consumed), fromNullMicros(revoked)
	return t, nil
}

// CreateToken implements [store.TokenStore]. A token of a family is
// created under the family's lock, which RevokeFamily takes too, and is
// stored revoked if its family already is: so a family revoked while a
// grant is being redeemed cannot gain a live token afterwards.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if s.group != nil {
		_, err = s.group.write(ctx, tokenWrite{tokens: []store.Token{t}})
		return err
	}
	if t.FamilyID == "" {
		_, err = s.insertTokens(ctx, nil, []store.Token{t})
		return err
	}
	_, err = s.writeAlone(ctx, tokenWrite{tokens: []store.Token{t}})
	return err
}

// IssueTokens implements [store.TokenStore].
func (s *Store) IssueTokens(ctx context.Context, spend *store.Spend, tokens []store.Token) (_ store.Token, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if s.group != nil {
		return s.group.write(ctx, tokenWrite{spend: spend, tokens: tokens})
	}
	return s.writeAlone(ctx, tokenWrite{spend: spend, tokens: tokens})
}

// insertTokensQuery stores n tokens, each unless one of its kind and ID
// exists. A token of a revoked family is stored revoked, at the family's
// first revocation: the scalar subquery, one seek in the index
// tokens_by_family_revocation (whose partial-index condition, a family_id
// that is not empty, it repeats), reads it in the same statement as the
// insert. A family is revoked when one of its grants is (its code, device
// code or refresh tokens, gateway sessions): every way of revoking a
// family revokes those. One access token revoked alone (by its jti)
// leaves the family as it was.
func insertTokensQuery(n int) string {
	const row = `(?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, (SELECT MIN(revoked_at) FROM tokens
		WHERE family_id = ? AND family_id <> '' AND revoked_at IS NOT NULL AND kind <> 'access_token')))`
	return `INSERT INTO tokens (` + tokenColumns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") +
		` ON CONFLICT (kind, id) DO NOTHING`
}

// insertQueries are the prepared inserts of one token and of two (an
// access token and its refresh token): prepared when the store opens,
// since a transaction cannot prepare on the writer's one connection while
// it holds it.
var insertQueries = [...]string{1: insertTokensQuery(1), 2: insertTokensQuery(2)}

// insertTokens stores tokens, within tx if it is not nil, at most two to a
// statement. It returns how many it stored before it stopped; a token
// whose kind and ID exist is store.ErrAlreadyExists.
func (s *Store) insertTokens(ctx context.Context, tx *sql.Tx, tokens []store.Token) (stored int, err error) {
	for len(tokens) > 0 {
		chunk := tokens[:min(len(tokens), len(insertQueries)-1)]
		tokens = tokens[len(chunk):]
		n, err := s.insertChunk(ctx, tx, chunk)
		stored += n
		if err != nil {
			return stored, fmt.Errorf("storing %s: %w", chunk[0].Kind, err)
		}
	}
	return stored, nil
}

// insertChunk stores one statement's tokens (see insertQueries).
func (s *Store) insertChunk(ctx context.Context, tx *sql.Tx, chunk []store.Token) (int, error) {
	st, done, err := s.writeStmtIn(ctx, tx, insertQueries[len(chunk)])
	if err != nil {
		return 0, err
	}
	defer done()
	args := make([]any, 0, 11*len(chunk))
	for _, t := range chunk {
		args = append(args, string(t.Kind), t.ID, t.FamilyID, t.ClientID, t.Subject, t.Data,
			micros(t.IssuedAt), micros(t.ExpiresAt), nullMicros(t.ConsumedAt), nullMicros(t.RevokedAt), t.FamilyID)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if int(n) < len(chunk) {
		return int(n), store.ErrAlreadyExists
	}
	return int(n), nil
}

// GetToken implements [store.TokenStore].
func (s *Store) GetToken(ctx context.Context, kind store.TokenKind, id string) (_ store.Token, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	st, err := s.stmt(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE kind = ? AND id = ?`)
	if err != nil {
		return store.Token{}, fmt.Errorf("reading %s: %w", kind, err)
	}
	return scanToken(st.QueryRowContext(ctx, string(kind), id))
}

// ConsumeToken implements [store.TokenStore]. One UPDATE both tests and
// sets consumed_at, so concurrent callers cannot both succeed.
func (s *Store) ConsumeToken(ctx context.Context, kind store.TokenKind, id string, now time.Time) (_ store.Token, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	row := s.w.QueryRowContext(ctx, s.q(`UPDATE tokens SET consumed_at = ?
		WHERE kind = ? AND id = ? AND consumed_at IS NULL
		RETURNING `+tokenColumns), micros(now), string(kind), id)
	t, err := scanToken(row)
	if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	t, err = s.GetToken(ctx, kind, id)
	if err != nil {
		return t, err
	}
	return t, store.ErrConsumed
}

// UpdateToken implements [store.TokenStore].
func (s *Store) UpdateToken(ctx context.Context, kind store.TokenKind, id string, update func(store.Token) (store.Token, error)) (_ store.Token, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	var updated store.Token
	err = s.inTx(ctx, "", func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, s.q(`SELECT `+tokenColumns+` FROM tokens WHERE kind = ? AND id = ?`+s.flavor.RowLock), string(kind), id)
		old, err := scanToken(row)
		if err != nil {
			return err
		}
		t, err := update(old)
		if err != nil {
			return err
		}
		t.Kind, t.ID = old.Kind, old.ID
		_, err = tx.ExecContext(ctx, s.q(`UPDATE tokens SET family_id = ?, client_id = ?, subject = ?, data = ?,
			issued_at = ?, expires_at = ?, consumed_at = ?, revoked_at = ? WHERE kind = ? AND id = ?`),
			t.FamilyID, t.ClientID, t.Subject, t.Data, micros(t.IssuedAt), micros(t.ExpiresAt),
			nullMicros(t.ConsumedAt), nullMicros(t.RevokedAt), string(kind), id)
		if err != nil {
			return fmt.Errorf("updating %s: %w", kind, err)
		}
		updated = t
		return nil
	})
	return updated, err
}

// RevokeToken implements [store.TokenStore].
func (s *Store) RevokeToken(ctx context.Context, kind store.TokenKind, id string, now time.Time) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	r := revocation{kind: kind, id: id, at: now}
	if s.group != nil {
		_, err = s.group.write(ctx, tokenWrite{revoke: &r})
		return err
	}
	return s.revokeInTx(ctx, nil, r)
}

// RevokeFamily implements [store.TokenStore].
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) (_ int64, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if familyID == "" {
		return 0, nil
	}
	// family_id <> '' repeats the condition of the partial index
	// tokens_by_family: neither SQLite nor a generic PostgreSQL plan can
	// infer it from family_id = ?, and without it both scan the table.
	var n int64
	err = s.inTx(ctx, "family:"+familyID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tokens SET revoked_at = ?
			WHERE family_id = ? AND family_id <> '' AND revoked_at IS NULL`), micros(now), familyID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoking family: %w", err)
	}
	return n, nil
}

// RevokeClientTokens implements [store.TokenStore].
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string, now time.Time) (_ int64, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	n, err := s.revokeWhere(ctx, `client_id = ?`, clientID, now)
	if err != nil {
		return n, fmt.Errorf("revoking client tokens: %w", err)
	}
	return n, nil
}

// revokeRounds bounds how many times revokeWhere runs its UPDATE.
const revokeRounds = 3

// revokeWhere marks every record matching cond (with its one argument)
// revoked at now and returns how many were not revoked before. The UPDATE
// runs again until it changes nothing (at most revokeRounds times): where
// writes run concurrently (PostgreSQL), a transaction it waited for (a
// refresh spending one of the records) may have committed new records
// that its snapshot, taken before the wait, could not see; the next
// statement's snapshot does.
func (s *Store) revokeWhere(ctx context.Context, cond string, arg any, now time.Time) (int64, error) {
	var total int64
	for range revokeRounds {
		res, err := s.w.ExecContext(ctx, s.q(`UPDATE tokens SET revoked_at = ? WHERE `+cond+` AND revoked_at IS NULL`), micros(now), arg)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			break
		}
	}
	return total, nil
}

// ListSubjectTokens implements [store.TokenStore]. The index
// tokens_by_subject finds the records; they are sorted here, so that IDs
// tied on IssuedAt compare byte-wise whatever the collation.
func (s *Store) ListSubjectTokens(ctx context.Context, subject string, kind store.TokenKind) (_ []store.Token, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	if subject == "" {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+tokenColumns+` FROM tokens WHERE subject = ? AND kind = ?`), subject, string(kind))
	if err != nil {
		return nil, fmt.Errorf("listing the %s records of subject %q: %w", kind, subject, err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the %s records of subject %q: %w", kind, subject, err)
	}
	slices.SortFunc(out, func(a, b store.Token) int {
		if c := a.IssuedAt.Compare(b.IssuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokedAfter implements [store.TokenStore].
func (s *Store) RevokedAfter(ctx context.Context, after store.RevocationCursor, limit int) (_ []store.Revocation, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	at := micros(after.At)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT kind, id, family_id, revoked_at FROM tokens
		WHERE revoked_at > ? OR (revoked_at = ? AND (kind > ? OR (kind = ? AND id > ?)))
		ORDER BY revoked_at, kind, id LIMIT ?`), at, at, string(after.Kind), string(after.Kind), after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var kind string
		var at int64
		if err := rows.Scan(&kind, &r.ID, &r.FamilyID, &at); err != nil {
			return nil, fmt.Errorf("reading revocation: %w", err)
		}
		r.Kind, r.RevokedAt = store.TokenKind(kind), fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	return out, nil
}

// ---- secrets ----

// GetOrCreateSecret implements [store.SecretStore].
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) (_ []byte, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	get := func() ([]byte, error) {
		var v []byte
		err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM secrets WHERE name = ?`), name).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("reading secret %q: %w", name, err)
		}
		return v, nil
	}
	v, err := get()
	if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("generating secret %q: %w", name, err)
	}
	_, err = s.w.ExecContext(ctx, s.q(`INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, fresh, time.Now().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("storing secret %q: %w", name, err)
	}
	return get()
}

// ---- clients ----

const clientColumns = `id, metadata, secret_hash, registration_token_hash, created_at, updated_at`

func scanClient(row scanner) (store.RegisteredClient, error) {
	var c store.RegisteredClient
	var created, updated int64
	if err := row.Scan(&c.ID, &c.Metadata, &c.SecretHash, &c.RegistrationTokenHash, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, store.ErrNotFound
		}
		return c, fmt.Errorf("reading client: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// CreateClient implements [store.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c store.RegisteredClient) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`),
		c.ID, c.Metadata, c.SecretHash, c.RegistrationTokenHash, micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("storing client: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storing client: %w", err)
	} else if n == 0 {
		return fmt.Errorf("storing client: %w", store.ErrAlreadyExists)
	}
	return nil
}

// GetClient implements [store.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (_ store.RegisteredClient, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	return scanClient(s.db.QueryRowContext(ctx, s.q(`SELECT `+clientColumns+` FROM clients WHERE id = ?`), id))
}

// UpdateClient implements [store.ClientStore].
func (s *Store) UpdateClient(ctx context.Context, id string, update func(store.RegisteredClient) (store.RegisteredClient, error)) (_ store.RegisteredClient, err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	var updated store.RegisteredClient
	err = s.inTx(ctx, "", func(tx *sql.Tx) error {
		old, err := scanClient(tx.QueryRowContext(ctx, s.q(`SELECT `+clientColumns+` FROM clients WHERE id = ?`+s.flavor.RowLock), id))
		if err != nil {
			return err
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		c.ID = old.ID
		_, err = tx.ExecContext(ctx, s.q(`UPDATE clients SET metadata = ?, secret_hash = ?, registration_token_hash = ?,
			created_at = ?, updated_at = ? WHERE id = ?`),
			c.Metadata, c.SecretHash, c.RegistrationTokenHash, micros(c.CreatedAt), micros(c.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("updating client: %w", err)
		}
		updated = c
		return nil
	})
	return updated, err
}

// DeleteClient implements [store.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) (err error) {
	ctx, end := s.op(ctx, &err)
	defer end()
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM clients WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("deleting client: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("deleting client: %w", err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListClients implements [store.ClientStore].
func (s *Store) ListClients(ctx context.Context) ([]store.RegisteredClient, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	defer rows.Close()
	var out []store.RegisteredClient
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	return out, nil
}

// ---- maintenance ----

// Sweep implements [store.Store]. It holds the "sweep" lock, so instances
// sharing a database take turns.
func (s *Store) Sweep(ctx context.Context, now time.Time) (_ store.SweepResult, err error) {
	defer s.classify(&err)
	var res store.SweepResult
	// Expired tokens go a chunk per transaction, and after each chunk the
	// sweep rests sweepRest times as long as the chunk took: a million of
	// them never hold the write lock for more than a moment, nor more than
	// a quarter of the time, so token requests go on between the chunks.
	for {
		var n int64
		start := time.Now()
		err := s.inTx(ctx, "sweep", func(tx *sql.Tx) error {
			r, err := tx.ExecContext(ctx, s.q(`DELETE FROM tokens WHERE (kind, id) IN
				(SELECT kind, id FROM tokens WHERE expires_at < ? LIMIT `+strconv.Itoa(sweepChunk)+`)`), micros(now))
			if err != nil {
				return fmt.Errorf("sweeping tokens: %w", err)
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return res, err
		}
		res.Tokens += n
		if n < sweepChunk {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(sweepRest * time.Since(start)):
		}
	}
	r, err := s.w.ExecContext(ctx, s.q(`DELETE FROM signing_keys WHERE verify_until < ?`), micros(now))
	if err != nil {
		return res, fmt.Errorf("sweeping keys: %w", err)
	}
	res.Keys, err = r.RowsAffected()
	return res, err
}

// sweepChunk is how many expired tokens one transaction of Sweep deletes,
// and sweepRest how many times a chunk's duration it rests after it.
const (
	sweepChunk = 100
	sweepRest  = 3
)

var _ store.Store = (*Store)(nil)
