package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name string
		old  []byte
		mode os.FileMode
	}{
		{"new private file", nil, 0o600},
		{"replaces a public file, keeps no temp", []byte("old"), 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tt.old != nil {
				if err := os.WriteFile(p, tt.old, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(p, []byte("new"), tt.mode); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			st, _ := os.Stat(p)
			if string(got) != "new" || st.Mode().Perm() != tt.mode {
				t.Fatalf("got %q mode %o", got, st.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("temporary files left: %v", entries)
			}
		})
	}
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "f"), nil, 0o600); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
