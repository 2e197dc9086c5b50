package nodeimage

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// The registration hack/binfmt-arm64.sh writes to the kernel: it must run
// every arm64 program (static Go executables and PIE programs), nothing of
// another architecture, and carry F (nodes are containers: the interpreter
// must be opened at registration).
func TestBinfmtRegistration(t *testing.T) {
	out, err := exec.Command("bash", "../../hack/binfmt-arm64.sh", "print").Output()
	if err != nil {
		t.Fatalf("hack/binfmt-arm64.sh print: %v", err)
	}
	line := strings.TrimSpace(string(out))
	e, err := ParseBinfmtRegistration(line)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "qemu-aarch64" || e.Interpreter != "/usr/libexec/qemu-binfmt/aarch64-binfmt-P" || e.Offset != 0 {
		t.Errorf("entry %+v", e)
	}
	for _, f := range []string{"F", "P"} {
		if !strings.Contains(e.Flags, f) {
			t.Errorf("flags %q lack %s", e.Flags, f)
		}
	}
	if !e.RunsArch("arm64") {
		t.Errorf("%s does not match arm64 programs", line)
	}
	if e.RunsArch("amd64") {
		t.Errorf("%s matches amd64 programs: every host program would go through qemu", line)
	}
	// 32-bit ARM (e_machine 40, ELFCLASS32) and big-endian aarch64 are not
	// arm64 programs.
	arm32, _ := ELFHeader("arm64", 2)
	arm32[4], arm32[18] = 1, 40
	be, _ := ELFHeader("arm64", 2)
	be[5] = 2
	core, _ := ELFHeader("arm64", 4) // a core dump is not a program
	for name, h := range map[string][]byte{"arm 32-bit": arm32, "big-endian": be, "core file": core} {
		if e.Matches(h) {
			t.Errorf("registration matches a %s header", name)
		}
	}
	// The script registers what Debian's qemu-user-static package ships
	// for systemd-binfmt; when that package is here, they must agree.
	if deb, err := os.ReadFile("/usr/lib/binfmt.d/qemu-aarch64.conf"); err == nil {
		if strings.TrimSpace(string(deb)) != line {
			t.Errorf("registration differs from Debian's:\n got %s\nwant %s", line, strings.TrimSpace(string(deb)))
		}
	} else {
		t.Logf("qemu-user-static not installed: not compared with Debian's registration")
	}
}

func TestParseBinfmtRegistration(t *testing.T) {
	for _, bad := range []string{"", ":x:E::exe::/bin/x:", ":x:M::\\x7fELF", ":x:M:z:\\x7f:\\xff:/i:F"} {
		if _, err := ParseBinfmtRegistration(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseBinfmtRegistration(%q) = %v, want a one-line error", bad, err)
		}
	}
}

// What the kernel shows after hack/binfmt-arm64.sh enable (read on this
// machine).
const qemuStatus = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestCheckEmulation(t *testing.T) {
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		t.Skip("the table is written for an amd64 host (the foreign architecture is arm64)")
	}
	noF := strings.Replace(qemuStatus, "flags: POF", "flags: P", 1)
	disabled := strings.Replace(qemuStatus, "enabled", "disabled", 1)
	tests := []struct {
		name    string
		files   map[string]string
		arch    string
		wantErr string
	}{
		{"host arch needs nothing", nil, runtime.GOARCH, ""},
		{"registered with F", map[string]string{"status": "enabled\n", "register": "", "qemu-aarch64": qemuStatus}, foreign, ""},
		{"another name, same magic", map[string]string{"status": "enabled\n", "arm64-by-hand": qemuStatus}, foreign, ""},
		{"not mounted", map[string]string{}, foreign,
			"binfmt_misc is not mounted (no /proc/sys/fs/binfmt_misc/status), so arm64 programs cannot run on this amd64 host: run hack/binfmt-arm64.sh enable"},
		{"mounted, nothing registered", map[string]string{"status": "enabled\n", "register": ""}, foreign,
			"binfmt_misc is not registered for aarch64 (arm64 programs cannot run on this amd64 host): run hack/binfmt-arm64.sh enable"},
		{"entry disabled", map[string]string{"status": "enabled\n", "qemu-aarch64": disabled}, foreign,
			"binfmt_misc is not registered for aarch64 (arm64 programs cannot run on this amd64 host): run hack/binfmt-arm64.sh enable"},
		{"binfmt_misc disabled", map[string]string{"status": "disabled\n", "qemu-aarch64": qemuStatus}, foreign,
			"binfmt_misc is disabled (/proc/sys/fs/binfmt_misc/status), so arm64 programs cannot run on this amd64 host: run hack/binfmt-arm64.sh enable"},
		{"without F", map[string]string{"status": "enabled\n", "qemu-aarch64": noF}, foreign,
			"binfmt_misc runs arm64 programs with qemu-aarch64 (/usr/libexec/qemu-binfmt/aarch64-binfmt-P) but without the F flag, so nodes (containers) cannot find the interpreter: run hack/binfmt-arm64.sh enable (it re-registers with F)"},
		{"an architecture hardway has no nodes for", nil, "riscv64", `arch "riscv64": hardway runs nodes of amd64 and arm64 only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range tt.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			err := CheckEmulation(fsys, tt.arch)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("err = %v\nwant %q", err, tt.wantErr)
			}
		})
	}
}
