package artifacts

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// Descriptions as file(1) 5.44 (Debian 12) prints them for real binaries.
func TestArchFromFile(t *testing.T) {
	tests := []struct{ desc, want string }{
		{"ELF 64-bit LSB executable, ARM aarch64, version 1 (SYSV), statically linked, Go BuildID=x, stripped", "arm64"},
		{"ELF 64-bit LSB pie executable, ARM aarch64, version 1 (GNU/Linux), static-pie linked, stripped", "arm64"},
		{"ELF 64-bit LSB executable, x86-64, version 1 (SYSV), statically linked, stripped", "amd64"},
		{"ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2", "amd64"},
		{"ELF 32-bit LSB executable, ARM, EABI5 version 1 (SYSV), statically linked", "arm"},
		{"ELF 64-bit LSB executable, UCB RISC-V, double-float ABI, version 1 (SYSV)", "riscv64"},
		{"ELF 64-bit MSB executable, IBM S/390, version 1 (SYSV)", "s390x"},
		{"ELF 64-bit LSB executable, Alpha (unofficial), version 1", "?Alpha (unofficial)"},
		{"POSIX shell script, ASCII text executable", ""},
		{"POSIX tar archive", ""},
	}
	for _, tt := range tests {
		if got := ArchFromFile(tt.desc); got != tt.want {
			t.Errorf("ArchFromFile(%q) = %q, want %q", tt.desc, got, tt.want)
		}
	}
}

// fileRunner answers `file -b -L PATH` from the first bytes of PATH, the
// way the test's fake programs are written ("arm64 program", ...).
type fileRunner struct{ missing bool }

func (f fileRunner) Run(_ context.Context, c hexec.Cmd) ([]byte, error) {
	if c.Name != "file" {
		return nil, errors.New("unexpected command " + c.String())
	}
	if f.missing {
		return nil, &hexec.RunError{Cmd: c.String(), ExitCode: -1, Err: &osexec.Error{Name: "file", Err: osexec.ErrNotFound}}
	}
	b, err := os.ReadFile(c.Args[len(c.Args)-1])
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(string(b), "arm64"):
		return []byte("ELF 64-bit LSB executable, ARM aarch64, version 1 (SYSV), statically linked\n"), nil
	case strings.HasPrefix(string(b), "amd64"):
		return []byte("ELF 64-bit LSB executable, x86-64, version 1 (SYSV), statically linked\n"), nil
	}
	return []byte("ASCII text\n"), nil
}

func TestVerifyArch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A real image archive as the pause recipe makes it, around a program
	// whose bytes say its architecture, and one whose config lies.
	archive := func(name, configArch, program string) {
		bin := write(name+".bin", program)
		img, err := images.PauseImage(configArch, bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := images.WriteArchive(filepath.Join(dir, name), images.Pause, img); err != nil {
			t.Fatal(err)
		}
	}
	write("runc", "arm64 program")
	write("kubelet", "amd64 program")
	write("notes", "text")
	archive("good.tar", "arm64", "arm64 program")
	archive("lying.tar", "arm64", "amd64 program")
	e := &Entry{Dir: dir, Files: []EntryFile{{Name: "runc"}, {Name: "kubelet"}, {Name: "notes"}, {Name: "good.tar"}, {Name: "lying.tar"}}}

	got, err := VerifyArch(context.Background(), fileRunner{}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		file, arch, evidence string
		ok                   bool
	}{
		{"runc", "arm64", "ELF 64-bit LSB executable, ARM aarch64", true},
		{"kubelet", "amd64", "ELF 64-bit LSB executable, x86-64", false},
		{"notes", "", "ASCII text", true},
		{"good.tar", "arm64", "image linux/arm64; /pause: ELF 64-bit LSB executable, ARM aarch64", true},
		{"lying.tar", "amd64", "image linux/arm64; /pause: ELF 64-bit LSB executable, x86-64", false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.File != w.file || g.Arch != w.arch || g.Evidence != w.evidence || g.OK("arm64") != w.ok {
			t.Errorf("result %d = %+v (ok %v), want %+v", i, g, g.OK("arm64"), w)
		}
	}

	// No file(1): one line that names the fix, never a pass.
	_, err = VerifyArch(context.Background(), fileRunner{missing: true}, e)
	if err == nil || err.Error() != "the `file` command is not installed; it checks each artifact's architecture: apt-get install file" {
		t.Errorf("without file(1): err = %v", err)
	}
}
