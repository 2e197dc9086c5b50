package artifacts

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// FileArch is the architecture one cached file was found to be for.
type FileArch struct {
	File string
	// Arch is the Go name of the architecture found ("arm64"), or "" for a
	// file that is not a program (a script, data).
	Arch string
	// Evidence is what said so: file(1)'s words for a program; the image's
	// platform and file(1)'s words for the program it runs, for an archive.
	Evidence string
}

// OK reports whether the file is for arch (files that are not programs
// have no architecture to be wrong about).
func (f FileArch) OK(arch string) bool { return f.Arch == "" || f.Arch == arch }

// errNoFile is the one-line error when file(1) is missing: an architecture
// check that cannot run must not look like one that passed.
var errNoFile = errors.New("the `file` command is not installed; it checks each artifact's architecture: apt-get install file")

// VerifyArch checks the architecture of every file of an entry with
// file(1): programs directly; image archives by the platform their config
// names and by file(1) on the program the image runs (extracted from its
// layers), since containerd trusts the config and the kernel the ELF header.
func VerifyArch(ctx context.Context, run hexec.Runner, e *Entry) ([]FileArch, error) {
	var out []FileArch
	for _, f := range e.Files {
		p := filepath.Join(e.Dir, f.Name)
		if strings.HasSuffix(f.Name, ".tar") {
			fa, err := archiveArch(ctx, run, p)
			if err != nil {
				return nil, err
			}
			fa.File = f.Name
			out = append(out, fa)
			continue
		}
		desc, err := describe(ctx, run, p)
		if err != nil {
			return nil, err
		}
		out = append(out, FileArch{File: f.Name, Arch: ArchFromFile(desc), Evidence: shortFile(desc)})
	}
	return out, nil
}

func archiveArch(ctx context.Context, run hexec.Runner, p string) (FileArch, error) {
	info, err := images.InspectArchive(p)
	if err != nil {
		return FileArch{}, err
	}
	fa := FileArch{Arch: info.Arch, Evidence: "image " + info.OS + "/" + info.Arch}
	if info.Entrypoint == "" {
		return fa, nil
	}
	tmp, err := os.CreateTemp("", "hardway-archcheck-")
	if err != nil {
		return FileArch{}, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := images.ExtractFile(p, info.Entrypoint, tmp.Name()); err != nil {
		return FileArch{}, err
	}
	desc, err := describe(ctx, run, tmp.Name())
	if err != nil {
		return FileArch{}, err
	}
	prog := ArchFromFile(desc)
	fa.Evidence += "; " + info.Entrypoint + ": " + shortFile(desc)
	if prog != info.Arch {
		// The config and the program disagree: report the program's
		// architecture, which is what would fail to run.
		fa.Arch = prog
		if prog == "" {
			fa.Arch = "?"
		}
	}
	return fa, nil
}

// describe is `file -b -L PATH`.
func describe(ctx context.Context, run hexec.Runner, p string) (string, error) {
	out, err := run.Run(ctx, hexec.Cmd{Name: "file", Args: []string{"-b", "-L", p}})
	if err != nil {
		if errors.Is(err, osexec.ErrNotFound) {
			return "", errNoFile
		}
		return "", fmt.Errorf("file %s: %v", p, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ArchFromFile maps file(1)'s description of an ELF program to a Go
// architecture; "" when it is not an ELF program of a known machine.
func ArchFromFile(desc string) string {
	if !strings.HasPrefix(desc, "ELF ") {
		return ""
	}
	machine := ""
	if parts := strings.SplitN(desc, ", ", 3); len(parts) >= 2 {
		machine = parts[1]
	}
	bits64 := strings.HasPrefix(desc, "ELF 64-bit")
	switch {
	case machine == "ARM aarch64":
		return "arm64"
	case machine == "x86-64":
		return "amd64"
	case machine == "ARM" && !bits64:
		return "arm"
	case machine == "Intel 80386" || machine == "Intel i386":
		return "386"
	case strings.HasPrefix(machine, "64-bit PowerPC") && strings.HasPrefix(desc, "ELF 64-bit LSB"):
		return "ppc64le"
	case machine == "IBM S/390" && bits64:
		return "s390x"
	case machine == "UCB RISC-V" && bits64:
		return "riscv64"
	}
	return "?" + machine
}

// shortFile keeps file(1)'s first three fields ("ELF 64-bit LSB executable,
// ARM aarch64, version 1 (SYSV)"): the rest (build id, linking) is long and
// says nothing about the architecture.
func shortFile(desc string) string {
	parts := strings.SplitN(desc, ", ", 3)
	if len(parts) < 2 {
		return desc
	}
	return parts[0] + ", " + parts[1]
}
