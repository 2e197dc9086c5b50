package node

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"hardway.dev/hardway/internal/exec"
)

// local runs argv on this machine: the scripts the transports send are the
// same shell, so they are tested here for real.
func local(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	return exec.OS{}.Run(ctx, exec.Cmd{Name: argv[0], Args: argv[1:], Stdin: stdin})
}

func TestWriteAndReadFileWith(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name string
		mode os.FileMode
		want os.FileMode
	}{
		{"a/b/config.yaml", 0o600, 0o600},
		{"bin/tool", 0o755 | os.ModeSetuid, 0o755 | os.ModeSetuid},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		data := []byte("content of " + tt.name + "\n")
		if err := WriteFileWith(ctx, local, "node-0", path, data, tt.mode); err != nil {
			t.Fatalf("WriteFileWith %s: %v", tt.name, err)
		}
		got, err := ReadFileWith(ctx, local, path)
		if err != nil || string(got) != string(data) {
			t.Errorf("ReadFileWith %s = %q, %v; want %q", tt.name, got, err, data)
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode() != tt.want {
			t.Errorf("mode of %s = %v (%v), want %v", tt.name, st.Mode(), err, tt.want)
		}
		// Replaced in place, and no temporary file is left beside it.
		if err := WriteFileWith(ctx, local, "node-0", path, []byte("new"), tt.mode); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != "new" {
			t.Errorf("%s after a rewrite: %q", tt.name, got)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".hardway-write.*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
	_, err := ReadFileWith(ctx, local, filepath.Join(dir, "missing"))
	if _, isRun := exec.IsRunError(err); !errors.Is(err, fs.ErrNotExist) || !isRun {
		t.Errorf("missing file: %v, want fs.ErrNotExist and a RunError", err)
	}
	if err := WriteFileWith(ctx, local, "node-0", "relative/path", nil, 0o644); err == nil || err.Error() != `WriteFile on node-0: "relative/path" is not an absolute path` {
		t.Errorf("relative path: %v", err)
	}
}
