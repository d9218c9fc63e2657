// Command fill puts many token records into an authgate store before a
// benchmark, as a long-running server would have them: N live access
// tokens and N expired ones, for bench/tokens.sh's scale mode. It opens
// the store the way the server does (creating and migrating it), writes
// in large transactions, and prints the store's size on disk per token
// (the file for SQLite, the table and its indexes for PostgreSQL, which is
// vacuumed and analysed first).
//
//	fill -sqlite /path/authgate.db -n 1000000
//	fill -postgres postgres://... -n 1000000
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store/postgres"
	"github.com/authgate/authgate/authserver/store/sqlite"
	"github.com/authgate/authgate/authserver/store/sqlstore"
)

func main() {
	path := flag.String("sqlite", "", "SQLite database file")
	dsn := flag.String("postgres", "", "PostgreSQL DSN")
	n := flag.Int("n", 1000000, "live tokens, and as many expired ones")
	flag.Parse()
	if err := run(*path, *dsn, *n); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

func run(path, dsn string, n int) error {
	ctx := context.Background()
	var (
		st           *sqlstore.Store
		err          error
		placeholders func(row, col int) string
	)
	switch {
	case path != "" && dsn == "":
		st, err = sqlite.Open(ctx, path)
		placeholders = func(int, int) string { return "?" }
	case dsn != "" && path == "":
		st, err = postgres.Open(ctx, dsn)
		placeholders = func(row, col int) string { return fmt.Sprintf("$%d", row*8+col+1) }
	default:
		return errors.New("give one of -sqlite and -postgres")
	}
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	now := time.Now()
	for _, set := range []struct {
		prefix  string
		expires time.Time
	}{{"live", now.Add(24 * time.Hour)}, {"expired", now.Add(-time.Hour)}} {
		if err := insert(ctx, st.DB(), placeholders, n, now, set.expires); err != nil {
			return fmt.Errorf("%s tokens: %w", set.prefix, err)
		}
	}
	if dsn != "" {
		// As a long-running server's tables are: vacuumed and analysed,
		// so autovacuum does not start on the new rows mid-benchmark.
		if _, err := st.DB().ExecContext(ctx, `VACUUM ANALYZE tokens`); err != nil {
			return fmt.Errorf("vacuuming: %w", err)
		}
		var size int64
		if err := st.DB().QueryRowContext(ctx, `SELECT pg_total_relation_size('tokens')`).Scan(&size); err != nil {
			return fmt.Errorf("measuring: %w", err)
		}
		fmt.Printf("%d bytes in the tokens table and its indexes, %.0f bytes per token\n", size, float64(size)/float64(2*n))
	}
	fmt.Fprintf(os.Stderr, "fill: %d live and %d expired tokens in %v\n", n, n, time.Since(start).Round(time.Second))
	if path != "" {
		var size int64
		for _, f := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				size += fi.Size()
			}
		}
		fmt.Printf("%d bytes on disk, %.0f bytes per token\n", size, float64(size)/float64(2*n))
	}
	return nil
}

// rowsPerStatement and statementsPerTx size the writes.
const (
	rowsPerStatement = 100
	statementsPerTx  = 100
)

// insert adds n access token records expiring at expires, like those the
// client credentials grant makes.
func insert(ctx context.Context, db *sql.DB, ph func(row, col int) string, n int, issued, expires time.Time) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO tokens (kind, id, family_id, client_id, subject, data, issued_at, expires_at) VALUES `)
	for r := range rowsPerStatement {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(")
		for c := range 8 {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteString(ph(r, c))
		}
		q.WriteString(")")
	}
	data := []byte(`{"scope":"read","aud":["http://127.0.0.1"]}`)
	args := make([]any, 0, 8*rowsPerStatement)
	for done := 0; done < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, q.String())
		if err != nil {
			tx.Rollback()
			return err
		}
		for s := 0; s < statementsPerTx && done < n; s++ {
			args = args[:0]
			for range rowsPerStatement {
				args = append(args, "access_token", jti(), "", "bench-service", "bench-service", data,
					issued.UnixMicro(), expires.UnixMicro())
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				tx.Rollback()
				return err
			}
			done += rowsPerStatement
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func jti() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
