//go:build integration

package artifacts

// Builds every artifact for real. Cold it takes ~15 minutes on 2 cores; set
// HARDWAY_IT_CACHE to a cache root to reuse earlier results (for example
// ~/.cache/hardway), otherwise a temporary directory is used.
//
//	go test -tags integration -timeout 60m -v -run Integration ./internal/artifacts/

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/logx"
)

type testLog struct{ t *testing.T }

func (l testLog) Logf(level int, format string, args ...any) { l.t.Logf(format, args...) }

var _ logx.Logger = testLog{}

func TestIntegrationBuildFromSource(t *testing.T) {
	kube := os.Getenv("HARDWAY_IT_KUBE")
	if kube == "" {
		kube = "v1.37.2"
	}
	root := os.Getenv("HARDWAY_IT_CACHE")
	if root == "" {
		root = t.TempDir()
	}
	m, err := ManifestFor(kube)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(root)
	b := &Builder{
		Store: store, Run: hexec.OS{}, Log: testLog{t},
		OnProgress: func(p Progress) {
			t.Logf("%-16s %-9s %-8s %-10s %s", p.Component, p.Version, p.Source, p.Status, p.Elapsed.Round(time.Second))
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	if _, err := b.Build(ctx, m, Option{Source: SourceBuild}); err != nil {
		t.Fatal(err)
	}
	bundle, err := store.Resolve(kube)
	if err != nil {
		t.Fatal(err)
	}

	// Every binary reports the pinned version (asked again here, not only by
	// the builder, so a broken check in the builder cannot hide it).
	for _, c := range m.Components {
		e, ok := store.Find(c.Name, c.Version)
		if !ok {
			t.Fatalf("%s missing after build", c.Name)
		}
		for _, f := range c.Files {
			if f.VersionWant == "" {
				continue
			}
			out, _ := exec.Command(filepath.Join(e.Dir, f.Name), f.VersionArgs...).CombinedOutput()
			if !bytes.Contains(out, []byte(f.VersionWant)) {
				t.Errorf("%s %v: %q lacks %q", f.Name, f.VersionArgs, out, f.VersionWant)
			}
		}
	}
	// Kubernetes binaries must be static: nodes may have another libc.
	// busybox too: the test app image has no libc at all.
	statics := map[string]string{}
	for _, name := range []string{"kubelet", "kube-apiserver", "etcd", "containerd", "crictl", "bridge"} {
		bin, ok := bundle.Binary(name)
		if !ok {
			t.Fatalf("bundle lacks %s", name)
		}
		statics[name] = bundle.HostPath(bin.Rel)
	}
	bb, _ := m.Component(CompBusybox)
	if e, ok := store.Find(bb.Name, bb.Version); ok {
		statics["busybox"] = filepath.Join(e.Dir, "busybox")
	}
	for name, p := range statics {
		if interp, err := elfInterpreter(p); err != nil || interp != "" {
			t.Errorf("%s is not static: %v (program interpreter %q)", name, err, interp)
		}
	}
	// Every image archive loads and carries its reference.
	if len(bundle.Images) != 3 {
		t.Fatalf("images: %+v", bundle.Images)
	}
	for _, im := range bundle.Images {
		img, err := images.LoadArchive(bundle.HostPath(im.Rel), im.Ref)
		if err != nil {
			t.Error(err)
			continue
		}
		layers, err := img.Layers()
		if err != nil || len(layers) == 0 {
			t.Errorf("%s: layers %v %v", im.Ref, len(layers), err)
		}
	}
	importWithCtr(t, bundle)
	testAppServesAndFetches(t, bundle)
}

// elfInterpreter is the program interpreter (dynamic loader) an ELF file
// asks for; a static program asks for none. Read here rather than with
// file(1), which a machine may lack.
func elfInterpreter(p string) (string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			return strings.TrimRight(string(b), "\x00"), err
		}
	}
	return "", nil
}

// testAppServesAndFetches runs the test app image in Docker the way the
// smoke tests use it: its httpd serves the page and its wget, with the -T
// timeout verify passes, fetches it, and gives up on a server that never
// answers instead of crashing (Debian's static busybox 1.35 died there with
// a segmentation fault).
func testAppServesAndFetches(t *testing.T, bundle *Bundle) {
	var archive string
	for _, im := range bundle.Images {
		if im.Ref == images.TestApp {
			archive = bundle.HostPath(im.Rel)
		}
	}
	if archive == "" {
		t.Fatalf("the bundle has no %s", images.TestApp)
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Fatalf("the test app check runs the image in Docker, and docker does not answer (start dockerd; hack/setup-host.sh does): %v\n%s", err, out)
	}
	if out, err := exec.Command("docker", "load", "-i", archive).CombinedOutput(); err != nil {
		t.Fatalf("docker load %s: %v\n%s", archive, err, out)
	}
	defer exec.Command("docker", "rmi", images.TestApp).Run()
	// nc accepts and never answers (its input stays open, empty): wget
	// must time out after 2 s (exit 1).
	script := `httpd -p 8080 -h /www
wget -T 3 -q -O - http://127.0.0.1:8080/ || echo "wget exit $?"
(sleep 30 | nc -l -p 9090 >/dev/null &)
sleep 0.2
start=$(busybox date +%s)
wget -T 2 -q -O - http://127.0.0.1:9090/ 2>&1
echo "silent server: wget exit $? after $(( $(busybox date +%s) - start )) s"`
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", images.TestApp, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %s: %v\n%s", images.TestApp, err, out)
	}
	got := string(out)
	if !strings.Contains(got, images.TestAppPage) {
		t.Errorf("wget -T 3 did not fetch the page from httpd:\n%s", got)
	}
	if !strings.Contains(got, "download timed out") || !regexp.MustCompile(`silent server: wget exit 1 after [23] s`).MatchString(got) {
		t.Errorf("wget -T 2 against a silent server: want it to time out with exit 1 after 2-3 s:\n%s", got)
	}
}

// importWithCtr imports every archive into a throwaway containerd (the one
// just built, with its own root, state and socket) the way nodes will:
// `ctr -n k8s.io images import`, unpacked into the default snapshotter.
func importWithCtr(t *testing.T, bundle *Bundle) {
	if os.Geteuid() != 0 {
		t.Fatal("the ctr import check runs a throwaway containerd, which needs root: run the integration tests as root")
	}
	bin := func(name string) string {
		b, ok := bundle.Binary(name)
		if !ok {
			t.Fatalf("bundle lacks %s", name)
		}
		return bundle.HostPath(b.Rel)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := "version = 3\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.cri.v1.runtime\", \"io.containerd.cri.v1.images\"]\n" +
		"[grpc]\n  address = \"" + sock + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	cd := exec.Command(bin("containerd"), "--config", filepath.Join(dir, "config.toml"))
	cd.Stdout, cd.Stderr = &logBuf, &logBuf
	if err := cd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cd.Process.Kill(); cd.Wait() }()
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command(bin("ctr"), append([]string{"--address", sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throwaway containerd did not start:\n%s", logBuf.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, im := range bundle.Images {
		if out, err := ctr("images", "import", bundle.HostPath(im.Rel)); err != nil {
			t.Errorf("ctr import %s: %v\n%s", im.Ref, err, out)
		}
	}
	out, err := ctr("images", "check")
	if err != nil {
		t.Fatalf("ctr images check: %v\n%s", err, out)
	}
	for _, im := range bundle.Images {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, im.Ref+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "complete") || !strings.Contains(line, "true") {
			t.Errorf("%s not imported and unpacked: %q", im.Ref, line)
		}
	}
}
