package caddymodule

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// secondCaddyEnv names the config file a re-executed test binary loads,
// as a second `caddy run` on the same machine would.
const secondCaddyEnv = "AUTHGATE_TEST_SECOND_CADDY_CONFIG"

// TestSecondCaddyHelperProcess is not a test of its own: the test binary
// runs it in a second process to start a second Caddy.
func TestSecondCaddyHelperProcess(t *testing.T) {
	file := os.Getenv(secondCaddyEnv)
	if file == "" {
		t.Skip("run by TestSecondCaddyOnSameStore in a second process")
	}
	cfg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		fmt.Printf("SECOND CADDY REFUSED: %v\n", err)
		return
	}
	caddy.Stop() //nolint:errcheck
	fmt.Println("SECOND CADDY STARTED")
}

// TestSecondCaddyOnSameStore: a second Caddy process started on the same
// SQLite store while the first runs is refused with a clear message
// (without the lock it would start: SO_REUSEPORT lets it bind the same
// ports); once the first stops, it starts. Reloads and restarts inside
// one process keep working (the store is pooled, the lock released on
// close).
func TestSecondCaddyOnSameStore(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && !strings.HasSuffix(runtime.GOOS, "bsd") {
		t.Skip("flock(2) is not available")
	}
	tc := startCaddy(t, defaultClients)
	// The same Caddyfile, as a second `caddy run` would load it; only the
	// admin endpoint differs, which would otherwise fail first.
	second := *tc
	second.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	file := filepath.Join(t.TempDir(), "second.json")
	if err := os.WriteFile(file, second.adapt(defaultClients), 0o600); err != nil {
		t.Fatal(err)
	}
	runSecond := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSecondCaddyHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), secondCaddyEnv+"="+file)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("second process: %v\n%s", err, out)
		}
		return string(out)
	}

	out := runSecond()
	db := filepath.Join(tc.dataDir, "authgate.db")
	if !strings.Contains(out, "SECOND CADDY REFUSED") || !strings.Contains(out, "the authgate database "+db+" is in use by another process") ||
		!strings.Contains(out, fmt.Sprintf("(process %d)", os.Getpid())) || !strings.Contains(out, "postgres") {
		t.Fatalf("a second Caddy on the same store was not refused clearly:\n%s", out)
	}
	// The first still serves; a reload and a restart in this process
	// keep the store.
	tc.token("svc", "svc-secret", nil)
	tc.reload(defaultClients)
	tc.restart()
	tc.token("svc", "svc-secret", nil)

	// Once the first has stopped, the lock is free.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if out := runSecond(); !strings.Contains(out, "SECOND CADDY STARTED") {
		t.Fatalf("after the first stopped, a second Caddy was still refused:\n%s", out)
	}
}

// TestSQLiteOpenedOnceOutsidePool: opening the database a second time
// outside the pool, as a second process would, is refused; closing the
// first releases it.
func TestSQLiteOpenedOnceOutsidePool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "authgate.db")
	first, err := openSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openSQLite(ctx, path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := openSQLite(ctx, path)
	if err != nil {
		t.Fatalf("after closing: %v", err)
	}
	again.Close()
}
