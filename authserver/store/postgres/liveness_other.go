//go:build !unix

package postgres

// peekQuiet cannot peek here: the idle rule of shouldPing alone applies.
func peekQuiet(uintptr) bool { return true }
