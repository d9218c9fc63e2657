package pgtest

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
)

// EnvVar names the DSN of a server on which tests may create and drop
// databases, such as [DefaultDSN].
const EnvVar = "AUTHGATE_TEST_POSTGRES"

// DefaultDSN is the server tried when AUTHGATE_TEST_POSTGRES is not set: a
// local PostgreSQL's superuser over TCP, as a fresh Debian or Docker
// install with trust authentication on loopback has it.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// probeTimeout bounds the try of [DefaultDSN], so a machine without
// PostgreSQL skips at once rather than waiting for the driver's timeout.
const probeTimeout = 2 * time.Second

// probeDefault connects to DefaultDSN once per test binary and returns
// why it could not, or nil.
var probeDefault = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, DefaultDSN+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
})

// AdminDSN returns the DSN in AUTHGATE_TEST_POSTGRES, or without it
// [DefaultDSN] if a server answers there within 2 seconds. If none
// answers, the test is skipped, except in CI (CI=true), where skipping
// would hide the PostgreSQL tests, so the test fails instead.
func AdminDSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvVar); dsn != "" {
		return dsn
	}
	if err := probeDefault(); err != nil {
		msg := fmt.Sprintf("%s not set and no PostgreSQL answers at %s (%v)", EnvVar, DefaultDSN, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + ": PostgreSQL tests must run in CI")
		}
		t.Skip(msg + ": skipping PostgreSQL tests (start PostgreSQL there, or set " + EnvVar + " to a server's DSN)")
	}
	return DefaultDSN
}

// FreshDB creates an empty database named authgate_test_<random hex> and
// returns a DSN for it, which is [AdminDSN]'s with the database name
// replaced. If isolation is given, it becomes the database's
// default_transaction_isolation. The database is dropped, with whatever
// connections are left, when t ends; cleanups registered later (such as
// stopping the processes that use it) run before.
func FreshDB(t testing.TB, isolation ...string) string {
	t.Helper()
	admin := AdminDSN(t)
	var b [8]byte
	rand.Read(b[:])
	name := "authgate_test_" + hex.EncodeToString(b[:])

	exec := func(ctx context.Context, stmt string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	for _, level := range isolation {
		if err := exec(ctx, fmt.Sprintf("ALTER DATABASE %s SET default_transaction_isolation = '%s'", name, level)); err != nil {
			t.Fatalf("setting the isolation of %s: %v", name, err)
		}
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
			t.Fatalf("%s is not a valid URL", EnvVar)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String()
	}
	return admin + " dbname=" + name // a later key=value wins
}

// WithPassword returns dsn with a password in it and that password, for
// tests that check the password never shows in logs, errors or files. If
// the URL dsn has a password, it is kept; if it has none, one is added,
// which a server with trust authentication (as on the CI machine) ignores.
// A key=value dsn is returned as it is, with its password if any, else "".
func WithPassword(dsn string) (string, string) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return dsn, ""
		}
		return dsn, cfg.Password
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn, ""
	}
	if pw, set := u.User.Password(); set {
		return dsn, pw
	}
	const pw = "pgtest-Secret-7Qx"
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), pw
}
