package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
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

// TestUpgradeFromOlderSchema opens a database left at schema version 1,
// as an older authgate would have left it: the newer build migrates it
// and keeps its data.
func TestUpgradeFromOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: "kept", ClientID: "c", Subject: "c"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`DROP INDEX tokens_by_client`, `DROP TABLE clients`, `DELETE FROM schema_migrations WHERE version > 1`} {
		if _, err := s.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("migrating from version 1: %v", err)
	}
	defer s.Close()
	if _, err := s.GetToken(ctx, store.AccessToken, "kept"); err != nil {
		t.Errorf("data lost in the migration: %v", err)
	}
	if err := s.CreateClient(ctx, store.RegisteredClient{ID: "new", Metadata: []byte("{}")}); err != nil {
		t.Errorf("the migrated database has no clients table: %v", err)
	}
}
