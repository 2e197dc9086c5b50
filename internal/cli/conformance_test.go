package cli

import (
	"strings"
	"testing"
)

// Bad input is refused in one line, before any build, Docker or cluster is
// touched.
func TestConformanceAndRegistryBadInput(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"conformance", "--focus", "a(b"}, "error: --focus \"a(b\" is not a regular expression: error parsing regexp: missing closing ): `a(b`; write it in Go syntax, like --focus 'DNS|Services'\n"},
		{[]string{"conformance", "--quick", "--focus", "DNS"}, "error: --quick and --focus \"DNS\" both choose the tests; use one of them\n"},
		{[]string{"conformance", "--quick", "--serial"}, "error: --quick and --serial both choose the tests; use one of them\n"},
		{[]string{"conformance", "--certified", "--skip", "DNS"}, "error: --certified runs every [Conformance] test; leave out --quick, --focus and --skip (use them without --certified)\n"},
		{[]string{"conformance", "--parallel", "0"}, "error: --parallel 0: want 1 or more tests at once\n"},
		{[]string{"conformance", "--name", "nope"}, "error: cluster \"nope\" has no state on this host"},
		{[]string{"registry", "push", "x", "--name", "nope"}, "error: cluster \"nope\" has no state on this host"},
		{[]string{"registry", "address", "--name", "nope"}, "error: cluster \"nope\" has no state on this host"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 1 || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line starting %q", code, errOut, tt.want)
			}
		})
	}
}
