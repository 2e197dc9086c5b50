package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `hardway kubeconfig --user`: a person's kubeconfig in the cluster's state
// (its path last), and refused input one line that names the flag, with
// nothing written.
func TestKubeconfigUser(t *testing.T) {
	dir := renderedDemo(t, "")
	before := snapshot(t, dir)
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"--user", "system:kube-scheduler"}, `error: --user "system:kube-scheduler": names starting with system: are the cluster's own components`},
		{[]string{"--user", "jane", "--ttl", "0s"}, "error: --ttl 0s: must be between 1m0s and 720h"},
		{[]string{"--user", "jane", "--group", "system:masters"}, "error: --group system:masters: that group is allowed everything before RBAC is asked"},
		{[]string{"--group", "dev"}, "error: --group and --ttl go with --user NAME"},
		{[]string{"--user", "jane", "--merge"}, "error: --merge adds the admin kubeconfig, not a user's"},
	}
	for _, tt := range refused {
		code, _, errOut := runCLI(t, append([]string{"kubeconfig", "--name", "demo"}, tt.args...)...)
		if code != 1 || !strings.HasPrefix(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("kubeconfig %v: exit %d, stderr %q, want one line starting %q", tt.args, code, errOut, tt.want)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("refused requests changed the cluster's state")
	}

	code, out, errOut := runCLI(t, "kubeconfig", "--name", "demo", "--user", "jane", "--group", "dev", "--group", "ops", "--ttl", "2h")
	if code != 0 {
		t.Fatalf("kubeconfig --user: %s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	path := lines[len(lines)-1]
	if want := filepath.Join(dir, "users", "jane.kubeconfig"); path != want {
		t.Errorf("last line %q, want %s", path, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("user kubeconfig: %v %v", fi, err)
	}
	if !strings.Contains(out, "user jane (groups dev, ops), certificate valid until ") || !strings.Contains(out, "--user=jane") {
		t.Errorf("output does not say who, until when and how to give rights:\n%s", out)
	}
}
