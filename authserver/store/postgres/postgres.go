package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authgate/authgate/authserver/store/sqlstore"
)

// Flavor is PostgreSQL's dialect for the shared SQL store.
var Flavor = sqlstore.Flavor{
	Name:                 "postgres",
	Types:                map[string]string{"BLOB": "BYTEA"},
	NumberedPlaceholders: true,
	RowLock:              " FOR UPDATE",
	Lock:                 lock,
	TxOptions:            &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	UniqueViolation:      uniqueViolation,
	Unavailable:          unavailable,
	NotSent:              pgconn.SafeToRetry,
	GroupCommit:          true,
}

// uniqueViolationCode is PostgreSQL's SQLSTATE for a broken unique index or
// primary key.
const uniqueViolationCode = "23505"

// uniqueViolation reports whether err is PostgreSQL's unique_violation.
func uniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolationCode
}

// unavailable reports whether err is pgx's or PostgreSQL's way of saying
// that the database cannot serve now: a connection that could not be made
// (refused, timed out, the server starting up or shutting down, too many
// connections, a refused password), one lost before the statement was
// sent (pgconn.SafeToRetry), or the server's own word that the
// connection is gone: SQLSTATE class 08 (connection exception) and
// 57P01, 57P02, 57P03 (admin_shutdown, crash_shutdown,
// cannot_connect_now). Errors about the statement or the data, such as
// unique_violation, are not.
func unavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		return true
	}
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(e.Code, "08")
}

// lock takes the advisory locks named names until tx ends, in the order
// of their keys, so that two transactions taking some of the same locks
// never wait for each other in a cycle; one statement takes them all.
// The transaction is READ COMMITTED (Flavor.TxOptions), whatever the
// database's default_transaction_isolation, because the locked
// transactions read after taking the lock and must see what the previous
// holder committed. Under REPEATABLE READ the snapshot would date from
// before the wait, and a second instance would neither see the first
// one's migration nor its rotated keys.
func lock(ctx context.Context, tx *sql.Tx, names ...string) error {
	ids := make([]int64, len(names))
	for i, name := range names {
		ids[i] = sqlstore.LockID(name)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// unnest yields the keys in the array's order, and the locks are
	// taken row by row in that order.
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS id`, ids)
	return err
}

// readCommitted makes every statement of a new connection, in a
// transaction or on its own, READ COMMITTED, whatever the database's or
// the role's default: an INSERT … ON CONFLICT racing another would fail
// with a serialization error under REPEATABLE READ, where it should find
// the other's row. (A statement rather than a startup parameter, which
// connection poolers may refuse.)
func readCommitted(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED`); err != nil {
		return fmt.Errorf("setting the isolation level: %w", err)
	}
	return nil
}

// Pool settings. Each instance keeps a few connections ready and stays
// well below PostgreSQL's default max_connections (100) even when several
// instances share the database.
const (
	maxOpenConns    = 10
	maxIdleConns    = maxOpenConns
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
	// connectTimeout applies when the DSN sets no connect_timeout.
	connectTimeout = 10 * time.Second
	// operationTimeouts is how many connect timeouts an operation of the
	// store may take, waiting for a connection, connecting and
	// answering included (20 s by default), before it fails as
	// unavailable: a database cut off without its connections being
	// closed would otherwise hold requests until TCP gives up, minutes
	// later.
	operationTimeouts = 2
)

// Open connects to the PostgreSQL database named by dsn, a URL
// (postgres://user:password@host:5432/db?sslmode=verify-full) or a
// key=value string as libpq takes them, migrates it and returns the store.
// The store holds a pool of connections; Close releases them. Errors never
// contain the DSN's password. Each operation of the store is bounded by
// twice the DSN's connect_timeout (10 s if it sets none).
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx masks passwords in this error only on a best-effort basis
		// for malformed strings, so its text is left out.
		return nil, errors.New("opening postgres: the DSN is not a valid connection URL or key=value string")
	}
	if config.ConnectTimeout == 0 {
		config.ConnectTimeout = connectTimeout
	}
	if _, ok := config.RuntimeParams["application_name"]; !ok {
		config.RuntimeParams["application_name"] = "authgate"
	}
	db := stdlib.OpenDB(*config, stdlib.OptionShouldPing(shouldPing), stdlib.OptionAfterConnect(readCommitted))
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	flavor := Flavor
	flavor.Timeout = operationTimeouts * config.ConnectTimeout
	s, err := sqlstore.Open(ctx, db, flavor)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
