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
	"os"
	"os/exec"
	"path/filepath"
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
	for _, name := range []string{"kubelet", "kube-apiserver", "etcd", "containerd", "crictl", "bridge"} {
		bin, ok := bundle.Binary(name)
		if !ok {
			t.Fatalf("bundle lacks %s", name)
		}
		out, _ := exec.Command("file", bundle.HostPath(bin.Rel)).CombinedOutput()
		if len(out) > 0 && !strings.Contains(string(out), "statically linked") {
			t.Errorf("%s is not static: %s", name, out)
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
}

// importWithCtr imports every archive into a throwaway containerd (the one
// just built, with its own root, state and socket) the way nodes will:
// `ctr -n k8s.io images import`, unpacked into the default snapshotter.
func importWithCtr(t *testing.T, bundle *Bundle) {
	if os.Geteuid() != 0 {
		t.Log("not root: skipping the ctr import check (containerd needs root)")
		return
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
