package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/postgres"
	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
	"github.com/authgate/authgate/authserver/store/sqlstore"
	"github.com/authgate/authgate/authserver/store/storetest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// freshDB is pgtest.FreshDB, with isolation as the database's default
// transaction isolation when it is not empty.
func freshDB(t *testing.T, isolation string) string {
	t.Helper()
	if isolation == "" {
		return pgtest.FreshDB(t)
	}
	return pgtest.FreshDB(t, isolation)
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
	pgtest.AdminDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshDB(t, ""))
	})
}

// TestConcurrentOpen starts two instances on one empty database at the
// same moment: both migrate, both must succeed, and each migration must be
// recorded once. The two then rotate keys at the same moment, and only one
// key may result. The database's default isolation level must not matter.
func TestConcurrentOpen(t *testing.T) {
	pgtest.AdminDSN(t)
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
