//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockDatabase takes an exclusive lock on a file next to the database
// (path + ".lock"), so that a second process cannot use the same SQLite
// store: two Caddy instances on one machine can bind the same ports
// (SO_REUSEPORT) and would each hold their own in-memory state (rate
// limits, revocation feed, caches) over one file, without any error. The
// lock is an flock(2): the kernel drops it when the process ends, however
// it ends. release gives it up. Within one process the store is shared
// through a pool, so only one lock is ever taken.
func lockDatabase(path string) (release func() error, err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(name); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &storeInUseError{path: path, holder: holder}
		}
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	// The holder's process id, for the message above and for operators.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) //nolint:errcheck // informational
	}
	return f.Close, nil // closing the file releases the lock
}
