//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/authgate/authgate/authserver/store/sqlite"
)

// TestBackupAsRootLeavesFilesToTheOwner: run as root while Caddy is
// stopped, the backup's read-only open may leave the database's -wal and
// -shm files behind; they belong to the database's owner (the caddy
// user), never to root, so Caddy can open its store at its next start.
func TestBackupAsRootLeavesFilesToTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const owner = 65534 // nobody, standing for caddy
	dir := t.TempDir()
	db := filepath.Join(dir, "authgate.db")
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chown(db, owner, owner); err != nil {
		t.Fatal(err)
	}
	if out, _, err := authgateCmd(t, "", "backup", "--db", db, "--output", filepath.Join(t.TempDir(), "copy.db")); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		fi, err := os.Stat(db + suffix)
		if err != nil {
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != owner || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is owned by %d with mode %v; want the database's owner %d, private", db+suffix, st.Uid, fi.Mode().Perm(), owner)
		}
	}
}
