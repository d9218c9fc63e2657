package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/postgres"
	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// TestUnavailableClassification is the table of errors the PostgreSQL
// store reports as store.ErrUnavailable, and of those it must not.
func TestUnavailableClassification(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A real pgx connect error: nothing listens on port 1.
	_, connectErr := pgconn.Connect(ctx, "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=5")
	if connectErr == nil {
		t.Fatal("connecting to port 1 succeeded")
	}
	pgErr := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "x"} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no rows", sql.ErrNoRows, false},
		{"not found", fmt.Errorf("reading: %w", store.ErrNotFound), false},
		{"already exists", fmt.Errorf("storing: %w", store.ErrAlreadyExists), false},
		{"consumed", store.ErrConsumed, false},
		{"unique violation", pgErr("23505"), false},
		{"undefined table", pgErr("42P01"), false},
		{"serialization failure", pgErr("40001"), false},
		{"canceled", context.Canceled, false},
		{"canceled inside a connection loss", fmt.Errorf("%w: %w", context.Canceled, io.ErrUnexpectedEOF), false},
		{"plain error", errors.New("boom"), false},
		{"connect refused", connectErr, true},
		{"admin shutdown", pgErr("57P01"), true},
		{"crash shutdown", pgErr("57P02"), true},
		{"cannot connect now", pgErr("57P03"), true},
		{"too many connections", pgErr("53300"), true},
		{"connection failure", pgErr("08006"), true},
		{"connection does not exist", pgErr("08003"), true},
		{"bad connection", fmt.Errorf("querying: %w", driver.ErrBadConn), true},
		{"unexpected EOF", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), true},
		{"already wrapped", fmt.Errorf("%w: x", store.ErrUnavailable), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := postgres.Flavor.IsUnavailable(tc.err) || errors.Is(tc.err, store.ErrUnavailable)
			if got != tc.want {
				t.Errorf("IsUnavailable(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestOutage cuts the store's connections with a proxy: every operation
// fails with store.ErrUnavailable (and with nothing else, such as not
// found) while the database is away, Ping says so, and once it is back
// operations succeed at once, the first ones included, although every
// pooled connection died in the cut.
func TestOutage(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, freshDB(t, ""))
	s := open(t, dsn)
	defer s.Close()
	ctx := testCtx(t)
	now := time.Now()
	tok := func(id string) store.Token {
		return store.Token{Kind: store.AccessToken, ID: id, ClientID: "c", Subject: "s", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	if err := s.CreateToken(ctx, tok("before")); err != nil {
		t.Fatal(err)
	}
	// Fill the pool with idle connections.
	warm := func() {
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if _, err := s.DB().ExecContext(ctx, `SELECT pg_sleep(0.05)`); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	warm()

	// Cut and restored before anything uses the pool: the dead idle
	// connections must not fail the first requests after.
	proxy.Cut()
	time.Sleep(100 * time.Millisecond)
	proxy.Restore()
	for i := range 20 {
		if _, err := s.GetToken(ctx, store.AccessToken, "before"); err != nil {
			t.Fatalf("read %d after a restored cut: %v", i, err)
		}
		if err := s.CreateToken(ctx, tok(fmt.Sprint("after-", i))); err != nil {
			t.Fatalf("write %d after a restored cut: %v", i, err)
		}
	}

	// A cut that lasts: every kind of operation says unavailable.
	warm()
	proxy.Cut()
	ops := map[string]func() error{
		"Ping":         func() error { return s.Ping(ctx) },
		"GetToken":     func() error { _, err := s.GetToken(ctx, store.AccessToken, "before"); return err },
		"GetToken new": func() error { _, err := s.GetToken(ctx, store.AccessToken, "missing"); return err },
		"CreateToken":  func() error { return s.CreateToken(ctx, tok("during")) },
		"CreateToken in a family": func() error {
			tk := tok("during-family")
			tk.FamilyID = "f"
			return s.CreateToken(ctx, tk)
		},
		"ConsumeToken": func() error { _, err := s.ConsumeToken(ctx, store.AccessToken, "before", now); return err },
		"UpdateToken": func() error {
			_, err := s.UpdateToken(ctx, store.AccessToken, "before", func(t store.Token) (store.Token, error) { return t, nil })
			return err
		},
		"ListKeys":  func() error { _, err := s.ListKeys(ctx); return err },
		"GetClient": func() error { _, err := s.GetClient(ctx, "c"); return err },
	}
	for round := range 3 {
		for name, op := range ops {
			err := op()
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("round %d: %s during the cut = %v; want store.ErrUnavailable", round, name, err)
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("round %d: %s during the cut says not found: %v", round, name, err)
			}
		}
	}

	proxy.Restore()
	for name, op := range ops {
		if err := op(); errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after the restore = %v", name, err)
		}
	}
	if rec, err := s.GetToken(ctx, store.AccessToken, "after-19"); err != nil || rec.ID != "after-19" {
		t.Errorf("a token stored before the cut = %+v, %v", rec, err)
	}
}

// TestOutageHold: a database that stops answering without closing its
// connections, as behind a network that drops packets, fails operations
// as unavailable once their bound (twice connect_timeout) runs out,
// rather than holding them until TCP gives up; once it answers again,
// operations succeed.
func TestOutageHold(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, freshDB(t, ""))
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	s := open(t, u.String())
	defer s.Close()
	ctx := testCtx(t)
	now := time.Now()
	tok := store.Token{Kind: store.AccessToken, ID: "kept", ClientID: "c", Subject: "s", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	proxy.Hold()
	// No deadline of the test's own: the store's bound must end them.
	ctx = context.Background()
	ops := map[string]func() error{
		"Ping":     func() error { return s.Ping(ctx) },
		"GetToken": func() error { _, err := s.GetToken(ctx, store.AccessToken, "kept"); return err },
		"CreateToken": func() error {
			t := tok
			t.ID = "during"
			return s.CreateToken(ctx, t)
		},
		"UpdateToken": func() error {
			_, err := s.UpdateToken(ctx, store.AccessToken, "kept", func(t store.Token) (store.Token, error) { return t, nil })
			return err
		},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	for name, op := range ops {
		wg.Go(func() {
			err := op()
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	for name, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while the database does not answer = %v; want store.ErrUnavailable", name, err)
		}
	}

	proxy.Restore()
	for name, op := range ops {
		if err := op(); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("%s once the database answers again: %v", name, err)
		}
	}
}
