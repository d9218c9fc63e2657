package caddymodule

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
	"github.com/authgate/authgate/authserver/store/sqlstore"
)

// backupTestToken is the i-th token the writer of TestBackupOnline
// stores.
func backupTestToken(i int64) store.Token {
	now := time.Now()
	return store.Token{Kind: store.AccessToken, ID: fmt.Sprintf("jti-%06d", i), ClientID: "svc", Subject: "svc",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// startWriter stores tokens into s one after the other until the test
// ends, and returns the count committed so far.
func startWriter(t *testing.T, s store.Store) *atomic.Int64 {
	t.Helper()
	var committed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(0); ctx.Err() == nil; i++ {
			if err := s.CreateToken(ctx, backupTestToken(i)); err != nil {
				if ctx.Err() == nil {
					t.Errorf("writer: %v", err)
				}
				return
			}
			committed.Store(i + 1)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &committed
}

// waitPast waits until the writer has committed more than n tokens: it
// was not blocked.
func waitPast(committed *atomic.Int64, n int64) {
	for committed.Load() <= n {
		time.Sleep(time.Millisecond)
	}
}

// TestBackupOnline: `caddy authgate backup --db` copies a store that a
// writer keeps writing to: the copy, mode 0600, opens as a store and has
// every token committed before the backup started, the writer goes on,
// and what is printed is the copy's summary. A quote or a space in the
// output's name is copied to exactly that file.
func TestBackupOnline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "authgate.db")
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	committed := startWriter(t, s)
	waitPast(committed, 50)

	for _, name := range []string{"authgate-2026-11-28.db", "it's a backup.db", `x'); DROP TABLE tokens; --.db`} {
		t.Run(name, func(t *testing.T) {
			output := filepath.Join(dir, name)
			before := committed.Load()
			out, stderr, err := authgateCmd(t, "", "backup", "--db", db, "--output", output)
			if err != nil {
				t.Fatalf("backup: %v\n%s", err, stderr)
			}
			waitPast(committed, committed.Load()) // the writer goes on
			fi, err := os.Stat(output)
			if err != nil {
				t.Fatalf("no copy at %s: %v (directory: %v)", output, err, listDir(dir))
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("the copy's mode is %v; want 0600", fi.Mode().Perm())
			}
			for _, want := range []string{"backed up " + db + " to " + output, "integrity:", " ok\n",
				fmt.Sprintf("schema version:  %d", sqlstore.SchemaVersion), "tokens:", "signing_keys:"} {
				if !strings.Contains(out, want) {
					t.Errorf("the output lacks %q:\n%s", want, out)
				}
			}
			n := regexp.MustCompile(`tokens:\s+(\d+)`).FindStringSubmatch(out)
			if n == nil {
				t.Fatalf("no token count in:\n%s", out)
			}
			var copied int64
			fmt.Sscan(n[1], &copied) //nolint:errcheck // matched digits
			if copied < before {
				t.Errorf("the copy has %d tokens; %d were committed before the backup", copied, before)
			}

			c, err := sqlite.Open(ctx, output)
			if err != nil {
				t.Fatalf("the copy does not open as a store: %v", err)
			}
			defer c.Close()
			for i := int64(0); i < before; i++ {
				if _, err := c.GetToken(ctx, store.AccessToken, backupTestToken(i).ID); err != nil {
					t.Fatalf("token %d of %d committed before the backup is not in the copy: %v", i, before, err)
				}
			}
		})
	}
	if _, err := s.GetToken(ctx, store.AccessToken, backupTestToken(0).ID); err != nil {
		t.Errorf("the store lost its tokens: %v", err)
	}
	// Nothing else is left next to the copies: no temporary directory.
	if got := listDir(dir); len(got) != 4 {
		t.Errorf("the output directory holds %q; want data and the three copies", got)
	}
}

// listDir names the files in dir, for failure messages.
func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBackupRefusals: the backup fails, with a message that says why and
// exit status non-zero, and writes nothing, when the output exists (a
// file or a link), the database is missing or not a database, the
// configuration's store is PostgreSQL (without printing its DSN) or
// there is no authgate app, or flags are missing or clash.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "authgate.db")
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	existing := write("existing.db", "keep me")
	garbage := write("garbage.db", strings.Repeat("not a database ", 100))
	postgres := write("Caddyfile.postgres", "{\n\tauthgate {\n\t\tissuer https://auth.example.com\n\t\tstorage postgres \"postgres://authgate:hunter2@db.internal/authgate\"\n\t}\n}\n")
	noApp := write("Caddyfile.noapp", ":8080 {\n\trespond ok\n}\n")
	dangling := filepath.Join(dir, "dangling.db")
	target := filepath.Join(dir, "target.db")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.db")

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := sqlite.Backup(cctx, db, out); err == nil {
			t.Fatal("a cancelled backup succeeded")
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".authgate-backup-*"))
		if _, err := os.Lstat(out); err == nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", out, left)
		}
	})
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"existing output", []string{"--db", db, "--output", existing}, "exists; not replacing it"},
		{"output a link", []string{"--db", db, "--output", dangling}, "exists; not replacing it"},
		{"missing database", []string{"--db", filepath.Join(dir, "missing.db"), "--output", out}, "no such file"},
		{"not a database", []string{"--db", garbage, "--output", out}, "not a database"},
		{"database is a directory", []string{"--db", dir, "--output", out}, "not a regular file"},
		{"database name with ?", []string{"--db", db + "?mode=rwc", "--output", out}, "without '?'"},
		{"output in a missing directory", []string{"--db", db, "--output", filepath.Join(dir, "no", "out.db")}, "no such file"},
		{"output with NUL", []string{"--db", db, "--output", out + "\x00x"}, "without NUL"},
		{"postgres config", []string{"--config", postgres, "--adapter", "caddyfile", "--output", out}, "pg_dump"},
		{"no authgate app", []string{"--config", noApp, "--adapter", "caddyfile", "--output", out}, "no authgate app"},
		{"no output", []string{"--db", db}, "give --output"},
		{"no database", []string{"--output", out}, "give --db"},
		{"both --db and --config", []string{"--db", db, "--config", postgres, "--output", out}, "not both"},
		{"--verify with --output", []string{"--verify", db, "--output", out}, "--verify takes no"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := authgateCmd(t, "", append([]string{"backup"}, tt.args...)...)
			if err == nil {
				t.Fatalf("backup %v succeeded:\n%s", tt.args, stdout)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q; want it to say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error()+stdout+stderr, "hunter2") {
				t.Errorf("the DSN's password was printed: %v\n%s%s", err, stdout, stderr)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".authgate-backup-*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			for _, p := range []string{out, target} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if b, _ := os.ReadFile(existing); string(b) != "keep me" {
				t.Errorf("the existing output was changed: %q", b)
			}
		})
	}
}

// TestBackupVerify: --verify accepts a copy this authgate can restore
// and prints its summary; it refuses a copy whose schema is newer than
// this authgate's, a SQLite file that is not an authgate store, a file
// that is not a database and a missing file.
func TestBackupVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "authgate.db")
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, backupTestToken(0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backup := func(name string) string {
		p := filepath.Join(dir, name)
		if _, err := sqlite.Backup(ctx, db, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exec := func(path string, stmts ...string) {
		h, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		for _, q := range stmts {
			if _, err := h.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	good := backup("good.db")
	newer := backup("newer.db")
	exec(newer, fmt.Sprintf(`INSERT INTO schema_migrations (version, applied_at) VALUES (%d, 0)`, sqlstore.SchemaVersion+1))
	foreign := filepath.Join(dir, "foreign.db")
	exec(foreign, `CREATE TABLE notes (body TEXT)`)
	view := filepath.Join(dir, "view.db") // a version from a view, not the table
	exec(view, `CREATE VIEW schema_migrations AS SELECT 1 AS version`)
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("x", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, path string
		want       string // in the output, or else in the error
		ok         bool
	}{
		{"good", good, "can be restored", true},
		{"newer schema", newer, "newer than this authgate's", false},
		{"not an authgate store", foreign, "not an authgate store", false},
		{"schema_migrations a view", view, "not an authgate store", false},
		{"not a database", garbage, "not a database", false},
		{"missing", filepath.Join(dir, "missing.db"), "no such file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := authgateCmd(t, "", "backup", "--verify", tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("verify: err %v; want ok=%v\n%s", err, tt.ok, out)
			}
			got := out
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("verify said %q; want %q", got, tt.want)
			}
			if tt.ok && !regexp.MustCompile(`tokens:\s+1\n`).MatchString(out) {
				t.Errorf("verify does not count the token:\n%s", out)
			}
			for _, suffix := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(tt.path + suffix); err == nil {
					t.Errorf("verify left %s behind", tt.path+suffix)
				}
			}
		})
	}
}

// TestBackupWhileCaddyRuns: with a Caddy serving from the store and
// holding its lock, `caddy authgate backup --config` finds the database
// in the Caddyfile, copies it with the tokens Caddy issued and its
// signing key, and Caddy goes on issuing tokens and holding the lock.
func TestBackupWhileCaddyRuns(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	tok := tc.token("svc", "svc-secret", nil)
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(tc.globalOptions(defaultClients)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(tc.dataDir, "authgate.db")
	output := filepath.Join(t.TempDir(), "authgate-backup.db")

	out, stderr, err := authgateCmd(t, "", "backup", "--config", caddyfile, "--adapter", "caddyfile", "--output", output)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "backed up "+db+" to "+output) {
		t.Errorf("backup printed:\n%s", out)
	}
	for _, re := range []string{`signing_keys:\s+[1-9]`, `tokens:\s+[1-9]`, `integrity:\s+ok`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the output does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out+stderr, "svc-secret") || strings.Contains(out+stderr, tok) {
		t.Errorf("the backup printed a secret:\n%s%s", out, stderr)
	}

	// Caddy still serves, writes and holds the store.
	if !tc.active(tok) || !tc.active(tc.token("svc", "svc-secret", nil)) {
		t.Error("Caddy's tokens are not active after the backup")
	}
	if release, err := lockDatabase(db); err == nil {
		release() //nolint:errcheck
		t.Error("the store's lock was free while Caddy runs")
	}
	if out, _, err := authgateCmd(t, "", "backup", "--verify", output); err != nil {
		t.Errorf("verify of the copy: %v\n%s", err, out)
	}
}
