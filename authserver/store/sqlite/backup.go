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
)

// Online backups: Backup copies a database that a running server may be
// writing and checks the copy, Inspect checks and describes a copy.
// Neither migrates nor writes the database it reads, and neither takes
// the lock file that package caddymodule keeps next to it: in WAL mode a
// reader does not block the writer, so the server keeps serving while
// the copy is read.

// Summary describes a database file: what [Inspect] found.
type Summary struct {
	// Size is the file's size in bytes.
	Size int64
	// SchemaVersion is the highest migration applied, 0 if none.
	SchemaVersion int
	// Integrity is the result of PRAGMA integrity_check: "ok", or the
	// problems found.
	Integrity string
	// Rows counts the rows of each of the store's tables the file has:
	// signing_keys, secrets, tokens, clients, users, factors.
	Rows map[string]int64
}

// summaryTables are the tables Summary counts, in the order to print.
var summaryTables = []string{"signing_keys", "secrets", "tokens", "clients", "users", "factors"}

// SummaryTables lists the tables a Summary counts, in the order to print.
func SummaryTables() []string { return append([]string(nil), summaryTables...) }

// readOnlyDSN is the DSN of path opened read-only (mode=ro: SQLite opens
// the file read-only): no journal nor migration is written, and
// statements that would write the database fail. A WAL database's -wal
// and -shm files may be created if missing; SQLite gives them the
// database's owner. (PRAGMA query_only is not set: it refuses VACUUM
// INTO too, which writes only its output.)
func readOnlyDSN(path string) (string, error) {
	if path == "" || strings.ContainsAny(path, "?#\x00") {
		return "", fmt.Errorf("sqlite path %q: must be a file name without '?', '#' or NUL", path)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	// trusted_schema off: a copy handed to Inspect may come from anyone,
	// and its views and triggers run no functions with side effects.
	for _, p := range []string{"busy_timeout(10000)", "trusted_schema(0)"} {
		q.Add("_pragma", p)
	}
	return (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String(), nil
}

// openReadOnly opens the existing database at path read-only, on one
// connection.
func openReadOnly(ctx context.Context, path string) (*sql.DB, error) {
	dsn, err := readOnlyDSN(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("opening %s: not a regular file", path)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// Backup writes a consistent copy of the database at path to output with
// VACUUM INTO: one snapshot, whatever is written meanwhile. The database
// is opened read-only and may be in use by a server, which keeps writing.
//
// The copy is made in a new private directory next to output, checked
// with [Inspect], and only then linked as output, which must not exist:
// Backup never replaces a file there, nor writes through a symbolic link
// someone put there, and output never names a partial or damaged copy.
// The copy has mode 0600: it holds the private signing keys. On failure
// nothing is left behind. It returns the copy's Summary.
func Backup(ctx context.Context, path, output string) (Summary, error) {
	if output == "" || strings.ContainsRune(output, 0) {
		return Summary{}, fmt.Errorf("backup output %q: must be a file name without NUL", output)
	}
	// Absolute, so SQLite never reads it as a URI ("file:...?mode=...").
	output, err := filepath.Abs(output)
	if err != nil {
		return Summary{}, fmt.Errorf("resolving the backup output: %w", err)
	}
	if _, err := os.Lstat(output); err == nil {
		return Summary{}, fmt.Errorf("backup output %s exists; not replacing it", output)
	}
	db, err := openReadOnly(ctx, path)
	if err != nil {
		return Summary{}, err
	}
	defer db.Close()
	// Is it a database at all? An empty or foreign file would be copied
	// as an empty database.
	if _, err := schemaVersion(ctx, db); err != nil {
		return Summary{}, fmt.Errorf("reading %s: %w", path, err)
	}
	// A directory of our own (mode 0700) on output's file system: no one
	// else can swap the copy, or its name, for a link while SQLite writes
	// it.
	dir, err := os.MkdirTemp(filepath.Dir(output), ".authgate-backup-")
	if err != nil {
		return Summary{}, fmt.Errorf("creating the backup output: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "copy.db")
	// VACUUM INTO writes into an empty file, keeping its mode.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Summary{}, fmt.Errorf("creating the backup output: %w", err)
	}
	if err := f.Close(); err != nil {
		return Summary{}, fmt.Errorf("creating the backup output: %w", err)
	}
	// The file name is a bound parameter: no quoting to get wrong.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return Summary{}, fmt.Errorf("copying %s: %w", path, err)
	}
	sum, err := Inspect(ctx, tmp)
	if err != nil {
		return Summary{}, fmt.Errorf("checking the copy: %w", err)
	}
	if sum.Integrity != "ok" {
		return Summary{}, fmt.Errorf("the copy of %s fails its integrity check (%s): the database may be damaged", path, sum.Integrity)
	}
	if err := publish(tmp, output); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// publish gives the file tmp the name output, which must not exist. A
// hard link refuses an existing name atomically; where the file system
// has none, a rename after a check does (a rename replaces a link at
// output, never writes through it).
func publish(tmp, output string) error {
	err := os.Link(tmp, output)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("backup output %s exists; not replacing it", output)
	}
	if _, serr := os.Lstat(output); serr == nil {
		return fmt.Errorf("backup output %s exists; not replacing it", output)
	}
	if rerr := os.Rename(tmp, output); rerr != nil {
		return fmt.Errorf("writing the backup output: %w", errors.Join(err, rerr))
	}
	return nil
}

// Inspect opens the database file at path read-only, checks its
// integrity and counts its rows.
func Inspect(ctx context.Context, path string) (Summary, error) {
	db, err := openReadOnly(ctx, path)
	if err != nil {
		return Summary{}, err
	}
	defer db.Close()
	var s Summary
	if fi, err := os.Stat(path); err == nil {
		s.Size = fi.Size()
	}
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return Summary{}, fmt.Errorf("checking %s: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return Summary{}, fmt.Errorf("checking %s: %w", path, err)
		}
		problems = append(problems, line)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Summary{}, fmt.Errorf("checking %s: %w", path, err)
	}
	s.Integrity = strings.Join(problems, "; ")
	if s.Integrity != "ok" {
		return s, nil // counting a damaged file may fail or mislead
	}
	if s.SchemaVersion, err = schemaVersion(ctx, db); err != nil {
		return Summary{}, fmt.Errorf("reading %s: %w", path, err)
	}
	s.Rows = map[string]int64{}
	for _, table := range summaryTables {
		var exists int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&exists); err != nil {
			return Summary{}, fmt.Errorf("reading %s: %w", path, err)
		}
		if exists == 0 {
			continue
		}
		var n int64
		// table is one of summaryTables, never input.
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			return Summary{}, fmt.Errorf("counting %s in %s: %w", table, path, err)
		}
		s.Rows[table] = n
	}
	return s, nil
}

// schemaVersion reads the highest migration applied to db: 0 for an
// empty database (one the server has yet to migrate), an error for a
// file that is not a SQLite database.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}
