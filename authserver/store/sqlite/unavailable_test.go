package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// TestUnavailableClassification: a database another connection holds
// locked past the busy timeout is unavailable; a broken unique index, a
// missing row and the store's own sentinels are not.
func TestUnavailableClassification(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "authgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok := store.Token{Kind: store.AccessToken, ID: "t", ClientID: "c", Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// A second handle that does not wait for locks, and a transaction of
	// the store's that holds the write lock.
	impatient, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	holder, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, busyErr := impatient.ExecContext(ctx, `UPDATE tokens SET subject = 'x'`)
	holder.Rollback() //nolint:errcheck // only held the lock
	if busyErr == nil {
		t.Fatal("a write went through another connection's lock")
	}
	_, uniqueErr := s.DB().ExecContext(ctx, `INSERT INTO tokens (kind, id, family_id, client_id, subject, data, issued_at, expires_at)
		VALUES ('access_token', 't', '', 'c', 's', x'', 0, 0)`)
	if uniqueErr == nil {
		t.Fatal("a duplicate insert went through")
	}
	noRow := s.DB().QueryRowContext(ctx, `SELECT id FROM tokens WHERE id = 'none'`).Scan(new(string))
	_, notFound := s.GetToken(ctx, store.AccessToken, "none")

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"busy", busyErr, true},
		{"unique violation", uniqueErr, false},
		{"no rows", noRow, false},
		{"not found", notFound, false},
		{"already exists", s.CreateToken(ctx, tok), false},
		{"canceled", context.Canceled, false},
		{"plain", errors.New("boom"), false},
	} {
		if got := sqlite.Flavor.IsUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsUnavailable(%v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
