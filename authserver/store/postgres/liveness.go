package postgres

import (
	"context"
	"crypto/tls"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// idlePing is how long a pooled connection may sit unused before it is
// pinged on reuse whatever its socket says, as pgx does by default.
const idlePing = time.Second

// shouldPing decides, each time database/sql takes a pooled connection,
// whether to ping it first: after idlePing unused, or whenever its socket
// says the server hung up or sent something unasked (a shutting-down
// server's FATAL 57P01). A connection that fails the ping is discarded
// and the statement goes to another one, so a database that restarted
// does not fail one request per connection it killed: a statement written
// to a dead connection might have been applied, for all pgx can tell,
// and could not be retried.
func shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > idlePing || !quiet(p.Conn)
}

// quiet reports whether conn's socket has nothing to read and is not
// closed, without waiting or consuming anything: an idle PostgreSQL
// connection has nothing to say. Where the socket cannot be peeked at, it
// says true, and the idle rule alone applies.
func quiet(conn *pgx.Conn) bool {
	c := conn.PgConn().Conn()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	result := true
	if err := raw.Control(func(fd uintptr) { result = peekQuiet(fd) }); err != nil {
		return true
	}
	return result
}
