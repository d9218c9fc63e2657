package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/authgate/authgate/authserver/store"
)

// Unreachable reports whether err says the database could not be
// reached, whatever the driver: database/sql's bad connection, a network
// error or timeout, a connection closed or reset by the other end, or a
// deadline that ran out while waiting for the database. A canceled
// context is not one: the caller gave up, the database did not fail.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &netErr):
		return true
	}
	return false
}

// IsUnavailable reports whether err means the database cannot serve
// now, so that the store wraps it with store.ErrUnavailable: it is
// [Unreachable], or the flavor's Unavailable recognizes it. The store's
// own sentinels (not found, already exists, consumed, inactive) and a canceled
// context never are.
func (f Flavor) IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrInactive) {
		return false
	}
	return Unreachable(err) || f.Unavailable != nil && f.Unavailable(err)
}

// notSent reports whether err happened before anything reached the
// database, as the flavor's NotSent tells.
func (f Flavor) notSent(err error) bool {
	return err != nil && f.NotSent != nil && f.NotSent(err)
}

// op starts one operation of the store: it returns ctx bounded by the
// flavor's Timeout, and end, which the method defers, to release it and
// classify *err.
func (s *Store) op(ctx context.Context, err *error) (context.Context, func()) {
	if s.flavor.Timeout <= 0 {
		return ctx, func() { s.classify(err) }
	}
	ctx, cancel := context.WithTimeout(ctx, s.flavor.Timeout)
	return ctx, func() {
		cancel()
		s.classify(err)
	}
}

// classify wraps *err with store.ErrUnavailable when it means the
// database cannot serve now. Every exported method defers it, through op
// or, for Sweep, which has no Timeout, directly.
func (s *Store) classify(err *error) {
	if *err != nil && !errors.Is(*err, store.ErrUnavailable) && s.flavor.IsUnavailable(*err) {
		*err = fmt.Errorf("%w: %w", store.ErrUnavailable, *err)
	}
}
