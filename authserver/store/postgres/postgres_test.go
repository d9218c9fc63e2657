package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/postgres"
	"github.com/authgate/authgate/authserver/store/sqlstore"
	"github.com/authgate/authgate/authserver/store/storetest"
)

// adminDSN returns the DSN of a server on which the tests may create and
// drop databases, from AUTHGATE_TEST_POSTGRES, such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. Without it
// the test is skipped, except in CI, where that would hide the backend.
func adminDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("AUTHGATE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("AUTHGATE_TEST_POSTGRES not set: PostgreSQL tests must run in CI")
		}
		t.Skip("AUTHGATE_TEST_POSTGRES not set: skipping PostgreSQL tests")
	}
	return dsn
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// freshDB creates an empty database named authgate_test_<random hex> and
// returns a DSN for it. If isolation is not empty, it becomes the
// database's default_transaction_isolation. The database is dropped, with
// whatever connections are left, when t ends; cleanups registered later,
// such as closing a store, run before.
func freshDB(t *testing.T, isolation string) string {
	t.Helper()
	admin := adminDSN(t)
	var b [8]byte
	rand.Read(b[:])
	name := "authgate_test_" + hex.EncodeToString(b[:])
	ctx := testCtx(t)

	exec := func(ctx context.Context, stmts ...string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		for _, stmt := range stmts {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	}
	stmts := []string{"CREATE DATABASE " + name}
	if isolation != "" {
		stmts = append(stmts, fmt.Sprintf("ALTER DATABASE %s SET default_transaction_isolation = '%s'", name, isolation))
	}
	if err := exec(ctx, stmts...); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})

	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatalf("AUTHGATE_TEST_POSTGRES is not a valid URL")
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String()
	}
	return admin + " dbname=" + name // a later key=value wins
}

func open(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	adminDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshDB(t, ""))
	})
}

// TestConcurrentOpen starts two instances on one empty database at the
// same moment: both migrate, both must succeed, and each migration must be
// recorded once. The two then rotate keys at the same moment, and only one
// key may result. The database's default isolation level must not matter.
func TestConcurrentOpen(t *testing.T) {
	adminDSN(t)
	for _, isolation := range []string{"", "repeatable read", "serializable"} {
		name := isolation
		if name == "" {
			name = "default"
		}
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			dsn := freshDB(t, isolation)
			ctx := testCtx(t)
			var stores [2]*sqlstore.Store
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					stores[i], errs[i] = postgres.Open(ctx, dsn)
				}()
			}
			close(start)
			wg.Wait()
			for _, s := range stores {
				if s != nil {
					t.Cleanup(func() { s.Close() })
				}
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("instance %d: %v", i, err)
				}
			}

			rows, err := stores[0].DB().QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var versions []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				versions = append(versions, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(versions) != sqlstore.SchemaVersion {
				t.Fatalf("schema_migrations holds versions %v; want 1 to %d once each", versions, sqlstore.SchemaVersion)
			}
			for i, v := range versions {
				if v != i+1 {
					t.Fatalf("schema_migrations holds versions %v; want 1 to %d once each", versions, sqlstore.SchemaVersion)
				}
			}

			// Both instances add a key only if there is none.
			errs = [2]error{}
			start = make(chan struct{})
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = s.UpdateKeys(ctx, func(cur []store.SigningKey) ([]store.SigningKey, error) {
						if len(cur) > 0 {
							return cur, nil
						}
						now := time.Now()
						return []store.SigningKey{{
							ID: fmt.Sprint("k", i), Algorithm: "ES256", PrivateJWK: []byte("{}"),
							CreatedAt: now, SignFrom: now, SignUntil: now.Add(time.Hour), VerifyUntil: now.Add(2 * time.Hour),
						}}, nil
					})
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("instance %d: UpdateKeys: %v", i, err)
				}
			}
			keys, err := stores[1].ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 {
				t.Fatalf("two instances rotating at once left %d keys; want 1", len(keys))
			}
		})
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := freshDB(t, "")
	ctx := testCtx(t)
	s := open(t, dsn)
	_, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, sqlstore.SchemaVersion+1)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database migrated by a newer build")
	}
	want := fmt.Sprintf("database schema version %d is newer than this build's %d", sqlstore.SchemaVersion+1, sqlstore.SchemaVersion)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Open error = %q; want it to say %q", err, want)
	}
}

// TestOpenErrorsHideThePassword needs no server: it opens DSNs that are
// malformed or point at a closed port.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct {
		name, dsn string
	}{
		{"bad port in URL", "postgres://app:" + password + "@127.0.0.1:notaport/db"},
		{"bad escape in URL", "postgres://app:" + password + "%zz@127.0.0.1/db"},
		{"bad URL query", "postgres://app:" + password + "@127.0.0.1/db?sslmode=bogus"},
		{"bad key=value", "host=127.0.0.1 password=" + password + " port=notaport"},
		{"unterminated quote", "host=127.0.0.1 password='" + password},
		{"closed port", "postgres://app:" + password + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(testCtx(t), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error shows the password: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "opening postgres: ") {
				t.Fatalf("error %q lacks its context", err)
			}
		})
	}
}
