package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// files lists an image's filesystem: path → symlink target or "" for others.
func files(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = h.Linkname
	}
}

func TestImages(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		ref        string
		build      func(arch, path string) (v1.Image, error)
		entrypoint string
		wantFiles  []string
		wantLinks  map[string]string
	}{
		{"pause", Pause, PauseImage, "/pause", []string{"/pause"}, nil},
		{"coredns", CoreDNSRef("v1.14.6"), CoreDNSImage, "/coredns", []string{"/coredns", "/tmp"}, nil},
		{"testapp", TestApp, TestAppImage, "/bin/busybox httpd -f -v -p 8080 -h /www",
			[]string{"/bin/busybox", "/www/index.html", "/etc/passwd"},
			map[string]string{"/bin/sh": "busybox", "/bin/nslookup": "busybox", "/bin/wget": "busybox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := tt.build("amd64", bin)
			if err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(dir, tt.name+".tar")
			if err := WriteArchive(archive, tt.ref, img); err != nil {
				t.Fatal(err)
			}
			got, err := LoadArchive(archive, tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if ep := strings.Join(cf.Config.Entrypoint, " "); ep != tt.entrypoint {
				t.Errorf("entrypoint %q, want %q", ep, tt.entrypoint)
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" {
				t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
			}
			fs := files(t, got)
			for _, f := range tt.wantFiles {
				if _, ok := fs[f]; !ok {
					t.Errorf("image lacks %s (has %v)", f, fs)
				}
			}
			for f, target := range tt.wantLinks {
				if fs[f] != target {
					t.Errorf("%s -> %q, want %q", f, fs[f], target)
				}
			}
			// The archive holds only this reference.
			if _, err := LoadArchive(archive, "hardway.local/other:1"); err == nil {
				t.Error("archive answered for a reference it does not carry")
			}
			// Same inputs, same image: caches and nodes can compare digests.
			again, _ := tt.build("amd64", bin)
			d1, _ := img.Digest()
			d2, _ := again.Digest()
			if d1 != d2 {
				t.Errorf("image not reproducible: %s vs %s", d1, d2)
			}
		})
	}
	if _, err := PauseImage("amd64", filepath.Join(dir, "missing")); err == nil {
		t.Error("missing binary accepted")
	}
}

func TestTestAppServesHelloWorld(t *testing.T) {
	if !strings.Contains(TestAppPage, "Hello World") {
		t.Fatalf("page %q", TestAppPage)
	}
	for _, a := range []string{"sh", "httpd", "nslookup", "wget"} {
		if !slices.Contains(testAppApplets(), a) {
			t.Errorf("applet %s missing", a)
		}
	}
}

// TestPauseExitsOnSignal builds the embedded pause source and checks it
// stops at once on SIGTERM and SIGINT (as PID 1 nothing else would stop it).
func TestPauseExitsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module pause\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), PauseSource(), 0o644)
	bin := filepath.Join(dir, "pause")
	build := exec.Command("go", "-C", dir, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: exit %v, want 0", sig, err)
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%v: pause did not exit", sig)
		}
	}
}

// TestRelabel: the copy names the new architecture, keeps the layers, and
// the original is untouched.
func TestRelabel(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("not really arm64"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := ProgramImage("arm64", prog, "/prog", "")
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in.tar"), filepath.Join(dir, "out.tar")
	const ref = "example.test/prog:1"
	if err := WriteArchive(in, ref, img); err != nil {
		t.Fatal(err)
	}
	if err := Relabel(in, out, ref, "amd64"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{in: "arm64", out: "amd64"} {
		got, err := LoadArchive(path, ref)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := got.ConfigFile()
		if cf.Architecture != want {
			t.Errorf("%s: architecture %s, want %s", filepath.Base(path), cf.Architecture, want)
		}
		layers, _ := got.Layers()
		if len(layers) != 1 {
			t.Errorf("%s: %d layers", filepath.Base(path), len(layers))
			continue
		}
		d, _ := layers[0].Digest()
		orig, _ := img.Layers()
		od, _ := orig[0].Digest()
		if d != od {
			t.Errorf("%s: layer %s, want %s", filepath.Base(path), d, od)
		}
	}
	if err := Relabel(filepath.Join(dir, "missing.tar"), out, ref, "amd64"); err == nil {
		t.Error("a missing archive was relabeled")
	}
}
