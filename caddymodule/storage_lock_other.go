//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package caddymodule

// lockDatabase does nothing where flock(2) is not available: there, a
// second process on the same SQLite store is not detected.
func lockDatabase(string) (func() error, error) { return func() error { return nil }, nil }
