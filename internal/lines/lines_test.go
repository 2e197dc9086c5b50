package lines

import (
	"strings"
	"testing"
)

func TestFirst(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"one", "one"},
		{"one\ntwo", "one"},
		{"\n  one  \ntwo\n", "one"},
		{"one\r\ntwo", "one"},
	} {
		if got := First(tc.in); got != tc.want {
			t.Errorf("First(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short\nmore", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven cha…"},
		// é is two bytes: a cut inside it moves back to its start.
		{"abcé", 4, "abc…"},
		{strings.Repeat("x", 300), 200, strings.Repeat("x", 200) + "…"},
	} {
		if got := Clip(tc.in, tc.max); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
