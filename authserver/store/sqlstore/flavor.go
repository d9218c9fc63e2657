package sqlstore

import (
	"context"
	"database/sql"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Flavor describes one SQL dialect.
type Flavor struct {
	// Name identifies the dialect in errors, such as "sqlite".
	Name string
	// Types maps the generic column types used in migrations (BLOB) to the
	// dialect's own names.
	Types map[string]string
	// NumberedPlaceholders turns "?" into "$1", "$2"… as PostgreSQL wants.
	NumberedPlaceholders bool
	// RowLock is appended to a SELECT that reads a row to update it inside
	// a transaction (" FOR UPDATE"), or empty where the transaction itself
	// holds the write lock, as with SQLite's immediate transactions.
	RowLock string
	// Lock, if set, takes the exclusive locks named names, lasting until
	// the transaction ends, in an order of its own that is the same for
	// every caller. Where it is nil, every write transaction is already
	// exclusive.
	Lock func(ctx context.Context, tx *sql.Tx, names ...string) error
	// TxOptions, if set, begins every transaction of the store.
	TxOptions *sql.TxOptions
	// UniqueViolation reports whether err is the driver's error for a
	// statement that broke a primary key or unique index, which the store
	// returns as store.ErrAlreadyExists where no ON CONFLICT clause can
	// catch it (an UPDATE). Where it is nil, such errors are returned as
	// they are.
	UniqueViolation func(err error) bool
	// GroupCommit commits concurrent token inserts in one transaction
	// (see groupCommitter): right where a commit costs more than an
	// insert, as with SQLite (a write transaction is exclusive) and
	// PostgreSQL (a commit waits for its WAL flush).
	GroupCommit bool
	// Unavailable, if set, reports whether err is the driver's way of
	// saying that the database cannot be reached or cannot serve now,
	// beyond the errors every database/sql driver shares (see
	// [Unreachable]); the store wraps such errors with
	// store.ErrUnavailable.
	Unavailable func(err error) bool
	// NotSent, if set, reports whether err is certain to have happened
	// before the statement reached the database (a dead pooled
	// connection found on writing), so that a transaction whose COMMIT
	// failed so can be run again without being applied twice. Where it
	// is nil, a failed COMMIT is never retried.
	NotSent func(err error) bool
	// Timeout, if not zero, bounds each operation of the store (but
	// Sweep, a background job that may have much to delete), waiting for
	// a connection included: a database that stopped answering without
	// closing its connections (a network that drops packets) then fails
	// requests as unavailable instead of holding them.
	Timeout time.Duration
}

// uniqueViolation reports whether err broke a unique constraint, as the
// flavor's UniqueViolation tells.
func (f Flavor) uniqueViolation(err error) bool {
	return err != nil && f.UniqueViolation != nil && f.UniqueViolation(err)
}

// rebind rewrites the generic query q for the flavor.
func (f Flavor) rebind(q string) string {
	if !f.NumberedPlaceholders {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ddl rewrites a migration statement's generic types for the flavor.
func (f Flavor) ddl(stmt string) string {
	for generic, own := range f.Types {
		stmt = strings.ReplaceAll(stmt, generic, own)
	}
	return stmt
}

// LockID turns a lock name into the 64-bit key PostgreSQL's advisory locks
// take.
func LockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("authgate:" + name))
	return int64(h.Sum64())
}
