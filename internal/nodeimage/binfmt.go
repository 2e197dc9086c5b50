package nodeimage

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// BinfmtDir is where the kernel's binfmt_misc shows its registrations.
const BinfmtDir = "/proc/sys/fs/binfmt_misc"

// BinfmtScript is the script that registers qemu-user for arm64 (and
// undoes it): the fix every emulation error names.
const BinfmtScript = "hack/binfmt-arm64.sh"

// elfMachine is the ELF e_machine of a Go architecture.
func elfMachine(goarch string) (uint16, bool) {
	switch goarch {
	case "arm64":
		return 0xb7, true // EM_AARCH64
	case "amd64":
		return 0x3e, true // EM_X86_64
	}
	return 0, false
}

// ELFHeader is the first 20 bytes of a little-endian 64-bit Linux program of
// goarch: what binfmt_misc matches a registration's magic and mask against.
// elfType is 2 (executable, Go's static binaries) or 3 (shared object: PIE
// programs like most of Debian's).
func ELFHeader(goarch string, elfType uint16) ([]byte, bool) {
	m, ok := elfMachine(goarch)
	if !ok {
		return nil, false
	}
	h := make([]byte, 20)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1 // ELFCLASS64, little endian, EV_CURRENT
	h[16], h[17] = byte(elfType), byte(elfType>>8)
	h[18], h[19] = byte(m), byte(m>>8)
	return h, true
}

// BinfmtEntry is one binfmt_misc registration as the kernel shows it in
// /proc/sys/fs/binfmt_misc/NAME, or as written to its register file.
type BinfmtEntry struct {
	Name        string
	Enabled     bool
	Interpreter string
	Flags       string
	Offset      int
	Magic, Mask []byte
}

// Matches reports whether the entry would run a program whose file starts
// with header.
func (e BinfmtEntry) Matches(header []byte) bool {
	if !e.Enabled || len(e.Magic) == 0 || e.Offset+len(e.Magic) > len(header) {
		return false
	}
	for i, m := range e.Magic {
		mask := byte(0xff)
		if i < len(e.Mask) {
			mask = e.Mask[i]
		}
		if header[e.Offset+i]&mask != m&mask {
			return false
		}
	}
	return true
}

// RunsArch reports whether the entry runs both executables and PIE
// programs of goarch.
func (e BinfmtEntry) RunsArch(goarch string) bool {
	for _, t := range []uint16{2, 3} {
		h, ok := ELFHeader(goarch, t)
		if !ok || !e.Matches(h) {
			return false
		}
	}
	return true
}

// ParseBinfmtStatus reads the kernel's view of one registration:
//
//	enabled
//	interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
//	flags: POF
//	offset 0
//	magic 7f454c46...
//	mask ffffffff...
func ParseBinfmtStatus(name string, text []byte) (BinfmtEntry, error) {
	e := BinfmtEntry{Name: name}
	for _, line := range strings.Split(string(text), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		var err error
		switch k {
		case "enabled":
			e.Enabled = true
		case "interpreter":
			e.Interpreter = v
		case "flags:":
			e.Flags = v
		case "offset":
			e.Offset, err = strconv.Atoi(v)
		case "magic":
			e.Magic, err = hex.DecodeString(v)
		case "mask":
			e.Mask, err = hex.DecodeString(v)
		}
		if err != nil {
			return BinfmtEntry{}, fmt.Errorf("binfmt_misc entry %s: unreadable %q: %v", name, line, err)
		}
	}
	return e, nil
}

// ParseBinfmtRegistration reads a line in the register file's format,
// ":name:type:offset:magic:mask:interpreter:flags", with \xHH escapes in
// magic and mask (type M only: extension matching is never used here).
func ParseBinfmtRegistration(line string) (BinfmtEntry, error) {
	line = strings.TrimSpace(line)
	if len(line) < 2 {
		return BinfmtEntry{}, fmt.Errorf("binfmt registration %q is too short", line)
	}
	f := strings.Split(line[1:], line[:1])
	if len(f) != 7 {
		return BinfmtEntry{}, fmt.Errorf("binfmt registration %q: want 7 fields, got %d", line, len(f))
	}
	if f[1] != "M" {
		return BinfmtEntry{}, fmt.Errorf("binfmt registration %q: type %q, want M (magic)", line, f[1])
	}
	e := BinfmtEntry{Name: f[0], Enabled: true, Interpreter: f[5], Flags: f[6]}
	if f[2] != "" {
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return BinfmtEntry{}, fmt.Errorf("binfmt registration %q: offset %q", line, f[2])
		}
		e.Offset = n
	}
	var err error
	if e.Magic, err = unescapeBinfmt(f[3]); err != nil {
		return BinfmtEntry{}, fmt.Errorf("binfmt registration %q: magic: %v", line, err)
	}
	if e.Mask, err = unescapeBinfmt(f[4]); err != nil {
		return BinfmtEntry{}, fmt.Errorf("binfmt registration %q: mask: %v", line, err)
	}
	return e, nil
}

func unescapeBinfmt(s string) ([]byte, error) {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return nil, err
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.Bytes(), nil
}

// CheckEmulation says, in one line with the fix, why programs of goarch
// cannot run on this host, or nil when they can: the host's own
// architecture, or binfmt_misc has an enabled entry that matches goarch's
// programs and carries the F flag (the kernel opened the interpreter at
// registration, so it also works inside containers, where its path does not
// exist). dir is the binfmt_misc directory (BinfmtDir).
func CheckEmulation(dir fs.FS, goarch string) error {
	if goarch == runtime.GOARCH {
		return nil
	}
	if _, ok := elfMachine(goarch); !ok {
		return fmt.Errorf("arch %q: hardway runs nodes of amd64 and arm64 only", goarch)
	}
	status, err := fs.ReadFile(dir, "status")
	if err != nil {
		return fmt.Errorf("binfmt_misc is not mounted (no %s/status), so %s programs cannot run on this %s host: run %s enable", BinfmtDir, goarch, runtime.GOARCH, BinfmtScript)
	}
	if strings.TrimSpace(string(status)) != "enabled" {
		return fmt.Errorf("binfmt_misc is disabled (%s/status), so %s programs cannot run on this %s host: run %s enable", BinfmtDir, goarch, runtime.GOARCH, BinfmtScript)
	}
	ents, err := fs.ReadDir(dir, ".")
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", BinfmtDir, err)
	}
	var noF []string
	for _, d := range ents {
		if d.Name() == "status" || d.Name() == "register" {
			continue
		}
		text, err := fs.ReadFile(dir, d.Name())
		if err != nil {
			continue
		}
		e, err := ParseBinfmtStatus(d.Name(), text)
		if err != nil || !e.RunsArch(goarch) {
			continue
		}
		if !strings.Contains(e.Flags, "F") {
			noF = append(noF, e.Name+" ("+e.Interpreter+")")
			continue
		}
		return nil
	}
	if len(noF) > 0 {
		return fmt.Errorf("binfmt_misc runs %s programs with %s but without the F flag, so nodes (containers) cannot find the interpreter: run %s enable (it re-registers with F)", goarch, strings.Join(noF, ", "), BinfmtScript)
	}
	return fmt.Errorf("binfmt_misc is not registered for %s (%s programs cannot run on this %s host): run %s enable", qemuName(goarch), goarch, runtime.GOARCH, BinfmtScript)
}

// HostEmulation is CheckEmulation against this host's binfmt_misc.
func HostEmulation(goarch string) error {
	return CheckEmulation(os.DirFS(BinfmtDir), goarch)
}

func qemuName(goarch string) string {
	if goarch == "arm64" {
		return "aarch64"
	}
	if goarch == "amd64" {
		return "x86_64"
	}
	return goarch
}
