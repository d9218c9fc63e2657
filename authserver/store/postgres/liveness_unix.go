//go:build unix

package postgres

import (
	"errors"
	"syscall"
)

// peekQuiet peeks at the socket fd without blocking or consuming: quiet
// if a read would block; not if the socket holds data, reached end of
// file or failed.
func peekQuiet(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
