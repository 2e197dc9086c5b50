package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/nodeimage"
)

func TestArtifactsOutputSaysWhoVouched(t *testing.T) {
	etcdURL := "https://github.com/etcd-io/etcd/releases/download/v3.7.0/etcd-v3.7.0-linux-amd64.tar.gz"
	sums := "https://github.com/etcd-io/etcd/releases/download/v3.7.0/SHA256SUMS"
	etcd := &artifacts.Entry{Component: "etcd", Version: "v3.7.0", Source: artifacts.SourceRelease,
		Files:    []artifacts.EntryFile{{Name: "etcd", Size: 3 << 20, SHA256: "e1"}, {Name: "etcdctl", Size: 2048, SHA256: "e2"}},
		Verified: []artifacts.Verified{{URL: etcdURL, SHA256: "aa", By: artifacts.Vouch{URL: sums}, Files: []string{"etcd", "etcdctl"}}}}
	kubelet := &artifacts.Entry{Component: "kubernetes", Version: "v1.36.3", Source: artifacts.SourceRelease,
		Files:    []artifacts.EntryFile{{Name: "kubelet", Size: 10, SHA256: "k1"}},
		Verified: []artifacts.Verified{{URL: "https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet", SHA256: "bb", By: artifacts.Vouch{Pinned: true}, Files: []string{"kubelet"}}}}
	built := &artifacts.Entry{Component: "runc", Version: "v1.5.2", Source: artifacts.SourceBuild,
		Files: []artifacts.EntryFile{{Name: "runc", Size: 10, SHA256: "r1"}}}
	old := &artifacts.Entry{Component: "crictl", Version: "v1.37.0", Source: artifacts.SourceRelease,
		Files: []artifacts.EntryFile{{Name: "crictl", Size: 10, SHA256: "c1"}}}

	var list bytes.Buffer
	printArtifacts(&list, []*artifacts.Entry{old, etcd, kubelet, built}, func(e *artifacts.Entry, file string) string {
		if file == "runc" {
			return archCell(artifacts.FileArch{File: file, Arch: "amd64", Evidence: "ELF 64-bit LSB executable, x86-64"}, "arm64")
		}
		return archCell(artifacts.FileArch{File: file, Arch: "arm64", Evidence: "ELF 64-bit LSB executable, ARM aarch64"}, "arm64")
	})
	wantList := `COMPONENT   VERSION  SOURCE   FILE     SIZE     SHA256  VOUCHED BY                                                                                 ARCH
crictl      v1.37.0  release  crictl   10 B     c1      not recorded (cached by an older hardway)                                                  arm64 (ELF 64-bit LSB executable, ARM aarch64)
etcd        v3.7.0   release  etcd     3.0 MiB  e1      published checksum at ` + sums + `  arm64 (ELF 64-bit LSB executable, ARM aarch64)
etcd        v3.7.0   release  etcdctl  2.0 KiB  e2      published checksum at ` + sums + `  arm64 (ELF 64-bit LSB executable, ARM aarch64)
kubernetes  v1.36.3  release  kubelet  10 B     k1      pinned in hardway's manifest                                                               arm64 (ELF 64-bit LSB executable, ARM aarch64)
runc        v1.5.2   source   runc     10 B     r1      -                                                                                          WRONG amd64 (ELF 64-bit LSB executable, x86-64)
`
	if list.String() != wantList {
		t.Errorf("artifacts list:\n%s\nwant:\n%s", list.String(), wantList)
	}

	tests := []struct {
		name string
		p    artifacts.Progress
		want string
	}{
		{"downloaded: one line per download", artifacts.Progress{Component: "etcd", Version: "v3.7.0", Source: artifacts.SourceRelease, Status: "downloaded", Elapsed: 2340 * time.Millisecond, Entry: etcd},
			"etcd             v3.7.0    release  downloaded 2.3s\n" +
				"                 etcd-v3.7.0-linux-amd64.tar.gz sha256 ok (published checksum at " + sums + ")\n"},
		{"downloaded against a pin", artifacts.Progress{Component: "kubernetes", Version: "v1.36.3", Source: artifacts.SourceRelease, Status: "downloaded", Elapsed: time.Second, Entry: kubelet},
			"kubernetes       v1.36.3   release  downloaded 1s\n" +
				"                 kubelet sha256 ok (pinned in hardway's manifest)\n"},
		{"cached: no repeat of the vouching", artifacts.Progress{Component: "etcd", Version: "v3.7.0", Source: artifacts.SourceRelease, Status: "cached", Elapsed: time.Millisecond, Entry: etcd},
			"etcd             v3.7.0    release  cached     1ms\n"},
		{"built", artifacts.Progress{Component: "runc", Version: "v1.5.2", Source: artifacts.SourceBuild, Status: "built", Elapsed: 61 * time.Second, Entry: built},
			"runc             v1.5.2    source   built      1m1s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printProgress(&b, tt.p)
			if b.String() != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", b.String(), tt.want)
			}
		})
	}
}

// TestArtifactsArch: the cache is per architecture, chosen with --arch for
// machines that are not this host's.
func TestArtifactsArch(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	tests := []struct {
		args             []string
		code             int
		stdout, inStderr string // the whole of each
	}{
		{[]string{"artifacts", "list", "--arch", "arm64"}, 0, "COMPONENT  VERSION  SOURCE  FILE  SIZE  SHA256  VOUCHED BY  ARCH\n",
			"Kubernetes v1.37.2 (arm64) is not complete: artifact etcd v3.7.0 not built for arm64; run: hardway artifacts build --arch arm64\n"},
		{[]string{"artifacts", "list", "--arch", "riscv64"}, 1, "",
			"error: --arch \"riscv64\": hardway has binaries for amd64 and arm64 (the nodes' architecture; hardway check names it)\n"},
		{[]string{"artifacts", "build", "--arch", "s390x"}, 1, "",
			"error: --arch \"s390x\": hardway has binaries for amd64 and arm64 (the nodes' architecture; hardway check names it)\n"},
		{[]string{"node-image", "tag", "--arch", "arm64"}, 0, nodeimage.TagFor("arm64") + "\n", ""},
		{[]string{"node-image", "build", "--arch", "s390x"}, 1, "",
			"error: --arch \"s390x\": hardway has node images for amd64 and arm64 (the nodes' architecture; hardway check names it)\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != tt.code || out != tt.stdout || errOut != tt.inStderr {
			t.Errorf("%v: code %d\nstdout %q\nstderr %q", tt.args, code, out, errOut)
		}
	}
}

// TestArtifactsBundleCommands: export and import refuse in one line what
// they cannot do, before any Docker command (the test host has no engine).
func TestArtifactsBundleCommands(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	cache := t.TempDir()
	t.Setenv("HARDWAY_CACHE", cache)
	dir := t.TempDir()
	notBundle := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notBundle, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	arch := runtime.GOARCH
	tests := []struct {
		args         []string
		code         int
		stdout, line string
	}{
		{[]string{"artifacts", "export", filepath.Join(dir, "b.tar")}, 1,
			"exporting Kubernetes v1.37.2 (" + arch + ") from " + cache + " and node image " + nodeimage.Tag() + " to " + filepath.Join(dir, "b.tar") + "\n",
			"error: cannot export: artifact etcd v3.7.0 (" + arch + ") is not in the cache " + cache + "; run: hardway artifacts build --kubernetes-version v1.37.2 first\n"},
		{[]string{"artifacts", "import", notBundle}, 1,
			"importing " + notBundle + " into " + cache + " (" + arch + ")\n",
			"error: " + notBundle + " is not a hardway bundle (no tar member: unexpected EOF); make one with: hardway artifacts export FILE\n"},
		{[]string{"artifacts", "import", notBundle, "--arch", "mips"}, 1, "",
			"error: --arch \"mips\": hardway has binaries for amd64 and arm64 (the nodes' architecture; hardway check names it)\n"},
		{[]string{"artifacts", "export"}, 1, "", "error: accepts 1 arg(s), received 0\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != tt.code || out != tt.stdout || !strings.HasSuffix(errOut, tt.line) {
			t.Errorf("%v: code %d\nstdout %q\nstderr %q", tt.args, code, out, errOut)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a refused export left files: %v", ents)
	}
}

func TestPrintBundleProgress(t *testing.T) {
	tests := []struct {
		p    artifacts.BundleProgress
		want string
	}{
		{artifacts.BundleProgress{Phase: "save", Path: "hardway/node:abc", Size: 300 << 20, Elapsed: 4200 * time.Millisecond},
			"  node image hardway/node:abc saved by docker: 300.0 MiB in 4.2s\n"},
		{artifacts.BundleProgress{Phase: "write", N: 3, Total: 45, Path: "artifacts/etcd/v3.7.0/source-amd64/etcd", Size: 30 << 20, Done: 100 << 20, Bytes: 1 << 30, Elapsed: time.Second},
			"  write [ 3/45] 100.0 MiB of 1024.0 MiB      1s  artifacts/etcd/v3.7.0/source-amd64/etcd (30.0 MiB)\n"},
		{artifacts.BundleProgress{Phase: "install", Path: "artifacts/etcd/v3.7.0/source-amd64", Elapsed: 2 * time.Second},
			"  installed artifacts/etcd/v3.7.0/source-amd64 (2s)\n"},
		{artifacts.BundleProgress{Phase: "keep", Path: "node image hardway/node:abc (Docker has it)", Elapsed: time.Second},
			"  kept node image hardway/node:abc (Docker has it): already there (1s)\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		printBundleProgress(&b, tt.p)
		if b.String() != tt.want {
			t.Errorf("got  %q\nwant %q", b.String(), tt.want)
		}
	}
}
