package caddymodule

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The cells of the commands' tables.

// cell makes s fit in a table cell and safe to print on a terminal: "-"
// if empty, tabs and line breaks as spaces, and other control and
// invisible format characters (an escape sequence, a direction override
// in a name a client registered or an identity provider sent) as \u
// escapes.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// when prints a time for a table, "-" if zero.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
