package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitVerifyWrapper runs the repo-server's signature wrapper in a real
// repository: an unsigned commit and an unsigned annotated tag are results
// (exit 0); outside a repository git itself fails, and so does the wrapper.
func TestGitVerifyWrapper(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this machine")
	}
	dir := t.TempDir()
	wrapper := filepath.Join(t.TempDir(), "git-verify-wrapper.sh")
	if err := os.WriteFile(wrapper, []byte(GitVerifyWrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-qm", "one")
	git("tag", "-a", "v1", "-m", "v1")
	sha := git("rev-parse", "HEAD")
	tests := []struct {
		rev, dir string
		wantErr  bool
	}{
		{sha, dir, false},
		{"v1", dir, false},
		{sha, t.TempDir(), true},
	}
	for _, tt := range tests {
		cmd := exec.Command("/bin/sh", wrapper, tt.rev)
		cmd.Dir = tt.dir
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, want error %v; output %q", tt.rev, err, tt.wantErr, out)
		}
		if !tt.wantErr && strings.Contains(string(out), "error") {
			t.Errorf("%s: unsigned is a result, not an error line: %q", tt.rev, out)
		}
	}
}
