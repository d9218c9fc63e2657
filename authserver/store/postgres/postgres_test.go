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
	for _, isolation := range []string{"", "repeatable read"} {
		name := "server_default"
		if isolation != "" {
			name = strings.ReplaceAll(isolation, " ", "_")
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				return open(t, freshDB(t, isolation))
			})
		})
	}
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

// laterObjects lists, for each migration after the first, statements that
// drop what it created, to take a current database back to an older
// schema as an older authgate would have left it.
var laterObjects = map[int][]string{
	2: {`DROP INDEX tokens_by_client`, `DROP TABLE clients`},
	3: {`DROP INDEX tokens_by_subject`, `DROP TABLE users`},
	4: {`DROP INDEX factors_by_id`, `DROP TABLE factors`},
	5: {`CREATE INDEX tokens_by_family ON tokens (family_id) WHERE family_id <> ''`, `DROP INDEX tokens_by_family_revocation`},
}

// TestUpgradeFromOlderSchema opens databases left at each older schema
// version: the newer build migrates them, keeps their data, and what the
// later migrations added works.
func TestUpgradeFromOlderSchema(t *testing.T) {
	pgtest.AdminDSN(t)
	for from := 1; from < sqlstore.SchemaVersion; from++ {
		t.Run(fmt.Sprint("from version ", from), func(t *testing.T) {
			dsn := freshDB(t, "")
			ctx := testCtx(t)
			s := open(t, dsn)
			if err := s.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: "kept", ClientID: "c", Subject: "alice"}); err != nil {
				t.Fatal(err)
			}
			for version := sqlstore.SchemaVersion; version > from; version-- {
				stmts, ok := laterObjects[version]
				if !ok {
					t.Fatalf("laterObjects lacks migration %d", version)
				}
				for _, stmt := range stmts {
					if _, err := s.DB().ExecContext(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
			}
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM schema_migrations WHERE version > $1`, from); err != nil {
				t.Fatal(err)
			}
			s.Close()

			s = open(t, dsn)
			defer s.Close()
			if _, err := s.GetToken(ctx, store.AccessToken, "kept"); err != nil {
				t.Errorf("data lost in the migration: %v", err)
			}
			if err := s.CreateClient(ctx, store.RegisteredClient{ID: "new", Metadata: []byte("{}")}); err != nil {
				t.Errorf("the migrated database has no clients table: %v", err)
			}
			if err := s.CreateUser(ctx, store.UserRecord{ID: "alice", Username: "alice"}); err != nil {
				t.Errorf("the migrated database has no users table: %v", err)
			}
			if n, err := s.RevokeSubjectTokens(ctx, "alice", time.Now()); err != nil || n != 1 {
				t.Errorf("RevokeSubjectTokens on the migrated database = %d, %v; want the kept token", n, err)
			}
			factor := store.Factor{UserID: "alice", Kind: store.FactorWebAuthn, ID: "cred", Data: []byte{0, 1}, CreatedAt: time.Now()}
			if err := s.CreateFactor(ctx, factor); err != nil {
				t.Errorf("the migrated database has no factors table: %v", err)
			}
			if found, err := s.FindFactors(ctx, store.FactorWebAuthn, "cred"); err != nil || len(found) != 1 {
				t.Errorf("FindFactors on the migrated database = %+v, %v; want the new factor", found, err)
			}
			var indexes int
			err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema()
				AND indexname IN ('tokens_by_client', 'tokens_by_subject', 'users_by_username', 'users_by_provider', 'factors_by_id')`).Scan(&indexes)
			if err != nil || indexes != 5 {
				t.Errorf("the migrated database has %d of the 5 later indexes (%v)", indexes, err)
			}
		})
	}
}

// TestRevocationWaitsForARefresh: a refresh spends its token and stores
// the new ones in one transaction. A revocation of all the subject's (or
// client's) tokens that starts while that transaction is open waits for
// the spent token's row; its snapshot, taken before the wait, cannot see
// the new tokens, so without another look they would stay live after a
// password change or a client's deletion.
func TestRevocationWaitsForARefresh(t *testing.T) {
	pgtest.AdminDSN(t)
	for _, tc := range []struct {
		name   string
		revoke func(ctx context.Context, s *sqlstore.Store, now time.Time) (int64, error)
	}{
		{"subject", func(ctx context.Context, s *sqlstore.Store, now time.Time) (int64, error) {
			return s.RevokeSubjectTokens(ctx, "alice", now)
		}},
		{"client", func(ctx context.Context, s *sqlstore.Store, now time.Time) (int64, error) {
			return s.RevokeClientTokens(ctx, "app", now)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := open(t, freshDB(t, ""))
			t.Cleanup(func() { s.Close() })
			now := time.Now().UTC().Truncate(time.Microsecond)
			rec := func(kind store.TokenKind, id string) store.Token {
				return store.Token{Kind: kind, ID: id, FamilyID: "fam", ClientID: "app", Subject: "alice",
					IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			}
			if err := s.CreateToken(ctx, rec(store.RefreshToken, "old")); err != nil {
				t.Fatal(err)
			}
			// The refresh's transaction, held open after its writes.
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() //nolint:errcheck
			if _, err := tx.ExecContext(ctx, `UPDATE tokens SET consumed_at = $1 WHERE kind = 'refresh_token' AND id = 'old'`, now.UnixMicro()); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"new-access", "new-refresh"} {
				kind := store.AccessToken
				if id == "new-refresh" {
					kind = store.RefreshToken
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (kind, id, family_id, client_id, subject, data, issued_at, expires_at)
					VALUES ($1, $2, 'fam', 'app', 'alice', ''::bytea, $3, $4)`, string(kind), id, now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() {
				_, err := tc.revoke(ctx, s, now)
				done <- err
			}()
			// Wait until the revocation waits for the refresh's row.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				var waiting int
				if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE tokens SET revoked_at%'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the revocation never waited for the refresh's transaction")
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for _, tok := range []store.Token{rec(store.RefreshToken, "old"), rec(store.AccessToken, "new-access"), rec(store.RefreshToken, "new-refresh")} {
				got, err := s.GetToken(ctx, tok.Kind, tok.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.RevokedAt.IsZero() {
					t.Errorf("%s %s is live after the revocation of every token of the %s", tok.Kind, tok.ID, tc.name)
				}
			}
		})
	}
}

// TestStatementsReadCommitted: on a database whose default isolation is
// REPEATABLE READ, the store's statements outside a transaction run READ
// COMMITTED too (an INSERT … ON CONFLICT racing another, as two
// instances creating the same secret do, would otherwise fail with a
// serialization error).
func TestStatementsReadCommitted(t *testing.T) {
	pgtest.AdminDSN(t)
	s := open(t, freshDB(t, "repeatable read"))
	t.Cleanup(func() { s.Close() })
	var level string
	if err := s.DB().QueryRowContext(testCtx(t), `SHOW transaction_isolation`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "read committed" {
		t.Fatalf("a statement of the store runs %s; want read committed", level)
	}
}
