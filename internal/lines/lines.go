// Package lines shortens command output and error texts to the one line a
// message has room for: hardway's errors are one line each (the problem and
// the fix), while a node's stderr or a wrapped error can run to many.
package lines

import (
	"strings"
	"unicode/utf8"
)

// First is the first non-blank line of s, without surrounding space (a
// "\r" of CRLF output included).
func First(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// Clip is First cut to at most max bytes (on a character boundary), with
// "…" marking the cut: a command's first line can be a whole JSON document.
func Clip(s string, max int) string {
	s = First(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
