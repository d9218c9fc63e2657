package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	moderncsqlite "modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authgate/authgate/authserver/store/sqlstore"
)

// Flavor is SQLite's dialect for the shared SQL store.
var Flavor = sqlstore.Flavor{
	Name:            "sqlite",
	Types:           map[string]string{},
	UniqueViolation: uniqueViolation,
	GroupCommit:     true,
	Unavailable:     busy,
}

// uniqueViolation reports whether err is SQLite's error for a broken
// primary key or unique index.
func uniqueViolation(err error) bool {
	var e *moderncsqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// openPool opens a pool of up to n connections to dsn, kept open.
func openPool(ctx context.Context, dsn string, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// maxOpenConns bounds the reading connections to the database file.
const maxOpenConns = 8

// busy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (or
// one of their extended codes): another connection or process held the
// database past the busy timeout, so the store cannot serve now.
func busy(err error) bool {
	var e *moderncsqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	primary := e.Code() & 0xff
	return primary == sqlite3.SQLITE_BUSY || primary == sqlite3.SQLITE_LOCKED
}

// Open opens (creating if needed) the SQLite database at path, migrates it
// and returns the store. The directory is created with mode 0700 if it is
// missing.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: must be a file name without '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory for %s: %w", path, err)
	}
	q := url.Values{}
	// synchronous(FULL): a commit is on the disk before it returns, so a
	// token handed out survives a power cut or an operating system crash,
	// not only the process's death (NORMAL in WAL mode). Group commit
	// makes that one sync for many tokens, which measured no slower here.
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String()
	// Two pools on the file. Readers run side by side in WAL mode; every
	// connection opened costs its pragmas and a read of the schema, so as
	// many stay idle as may be open, and a busy server never opens one
	// per request. Writers take turns on one connection: they queue in
	// the process and each starts the moment the last is done, instead of
	// racing for the file's lock and sleeping in SQLite's busy handler.
	reads, err := openPool(ctx, dsn, maxOpenConns)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	writes, err := openPool(ctx, dsn, 1)
	if err != nil {
		reads.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		reads.Close()
		writes.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	s, err := sqlstore.OpenSplit(ctx, reads, writes, Flavor)
	if err != nil {
		reads.Close()
		writes.Close()
		return nil, err
	}
	return s, nil
}
