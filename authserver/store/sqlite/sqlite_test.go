package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
	"github.com/authgate/authgate/authserver/store/sqlstore"
	"github.com/authgate/authgate/authserver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authgate.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "authgate.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: "x", ClientID: "c", Subject: "c"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	if _, err := s.GetToken(ctx, store.AccessToken, "x"); err != nil {
		t.Fatalf("a token did not survive reopening: %v", err)
	}
}

func TestOpenRejectsBadPath(t *testing.T) {
	for _, p := range []string{"", "a?b", "x#y"} {
		if _, err := sqlite.Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
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
	for from := 1; from < sqlstore.SchemaVersion; from++ {
		t.Run(fmt.Sprint("from version ", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			ctx := context.Background()
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
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
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM schema_migrations WHERE version > ?`, from); err != nil {
				t.Fatal(err)
			}
			s.Close()

			s, err = sqlite.Open(ctx, path)
			if err != nil {
				t.Fatalf("migrating from version %d: %v", from, err)
			}
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
			err = s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'
				AND name IN ('tokens_by_client', 'tokens_by_subject', 'users_by_username', 'users_by_provider', 'factors_by_id')`).Scan(&indexes)
			if err != nil || indexes != 5 {
				t.Errorf("the migrated database has %d of the 5 later indexes (%v)", indexes, err)
			}
		})
	}
}

// TestCommitsReachTheDisk: the writer's connection syncs every commit
// (synchronous FULL), so a token handed out survives a power cut, not
// only a killed process.
func TestCommitsReachTheDisk(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var level int
	if err := s.DB().QueryRow(`PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Fatalf("PRAGMA synchronous = %d on the writer; want 2 (FULL)", level)
	}
}
