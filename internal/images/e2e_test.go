package images

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// fakeBase writes a tiny root file system as the e2e base artifact is packed
// (./-prefixed names, gzip).
func fakeBase(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range []struct{ name, body string }{
		{"./etc/", ""},
		{"./etc/passwd", "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n"},
		{"./etc/group", "root:x:0:\nwww-data:x:33:\n"},
		{"./usr/sbin/nginx", "\x7fELF nginx"},
	} {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	f.Close()
	return p
}

// fileText reads one file of an image's flattened filesystem.
func fileText(t *testing.T, img v1.Image, p string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("image has no %s", p)
		}
		if "/"+strings.TrimPrefix(h.Name, "./") == p {
			b := new(strings.Builder)
			buf := make([]byte, 4096)
			for {
				n, err := tr.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					return b.String()
				}
			}
		}
	}
}

func TestE2EImages(t *testing.T) {
	base, err := LoadBase(fakeBase(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(base.Passwd), "www-data") || !strings.Contains(string(base.Group), "www-data") {
		t.Fatalf("base accounts %q %q", base.Passwd, base.Group)
	}
	bin := []byte("\x7fELF fake")
	agn, err := AgnhostImage("amd64", base, bin, AgnhostFiles{"/localhost.crt": []byte("crt")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kitten, err := AgnhostImage("amd64", base, bin, AgnhostFiles{"/data.json": []byte(`{"image":"kitten.jpg"}`)}, []string{"test-webserver"})
	if err != nil {
		t.Fatal(err)
	}
	bb, err := BusyboxImage("amd64", bin, []string{"sh", "env", "busybox", "/usr/bin/wget", "sh"})
	if err != nil {
		t.Fatal(err)
	}
	nginx, err := NginxImage("amd64", base)
	if err != nil {
		t.Fatal(err)
	}
	nonroot, err := NonRootImage("amd64", base)
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := EtcdImage("amd64", bin, bin)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := SampleAPIServerImage("amd64", bin)
	if err != nil {
		t.Fatal(err)
	}
	nnp, err := NonewprivsImage("amd64", bin, []string{"sh"}, bin)
	if err != nil {
		t.Fatal(err)
	}
	glibc, err := GlibcDNSImage("amd64", base, bin)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		img        v1.Image
		layers     int
		entrypoint string
		cmd        string
		user       string
		files      map[string]string // path → substring of its content ("" any)
		links      map[string]string
	}{
		{"agnhost", agn, 2, "/agnhost", "pause", "", map[string]string{
			"/agnhost":        "ELF",
			"/localhost.crt":  "crt",
			"/etc/passwd":     "www-data:x:33:33::/var/www:/usr/sbin/nologin\nuser-defined-in-image:x:1000:1000:",
			"/etc/group":      "group-defined-in-image:x:50000:user-defined-in-image\n",
			"/etc/os-release": "stand in for Alpine Linux",
			"/usr/sbin/nginx": "",
		}, map[string]string{"/agnhost-2": "agnhost"}},
		{"kitten", kitten, 2, "/agnhost", "test-webserver", "", map[string]string{"/data.json": "kitten.jpg"}, nil},
		{"busybox", bb, 1, "", "sh", "", map[string]string{"/bin/busybox": "ELF", "/etc/passwd": "root:x:0:0"},
			map[string]string{"/bin/sh": "busybox", "/bin/env": "busybox", "/bin/wget": "busybox"}},
		{"nginx", nginx, 2, "", "nginx -g daemon off;", "", map[string]string{
			"/etc/nginx/nginx.conf":            "root /usr/share/nginx/html;",
			"/usr/share/nginx/html/index.html": "Welcome to nginx!",
		}, nil},
		{"nonroot", nonroot, 2, "", "", "1234", nil, nil},
		{"etcd", etcd, 1, "", "/usr/local/bin/etcd", "", map[string]string{"/usr/local/bin/etcd": "ELF", "/usr/local/bin/etcdctl": "ELF"}, nil},
		{"sample-apiserver", sample, 1, "/sample-apiserver", "", "", map[string]string{"/sample-apiserver": "ELF"}, nil},
		{"nonewprivs", nnp, 1, "", "nnp", "", map[string]string{"/usr/local/bin/nnp": "ELF"}, map[string]string{"/bin/sh": "busybox"}},
		{"glibc-dns-testing", glibc, 2, "", "bash", "", map[string]string{"/coredns": "ELF", "/etc/group": "www-data"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "img.tar")
			ref := "registry.k8s.io/e2e-test-images/" + tt.name + ":1"
			if err := WriteArchive(archive, ref, tt.img); err != nil {
				t.Fatal(err)
			}
			img, err := LoadArchive(archive, ref)
			if err != nil {
				t.Fatal(err)
			}
			ls, _ := img.Layers()
			cf, _ := img.ConfigFile()
			if len(ls) != tt.layers || strings.Join(cf.Config.Entrypoint, " ") != tt.entrypoint ||
				strings.Join(cf.Config.Cmd, " ") != tt.cmd || cf.Config.User != tt.user {
				t.Errorf("layers %d entrypoint %q cmd %q user %q; want %d %q %q %q", len(ls), cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User,
					tt.layers, tt.entrypoint, tt.cmd, tt.user)
			}
			for p, want := range tt.files {
				if got := fileText(t, img, p); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", p, got, want)
				}
			}
			fs := files(t, img)
			for p, target := range tt.links {
				if fs[p] != target {
					t.Errorf("%s -> %q, want %q", p, fs[p], target)
				}
			}
		})
	}
	// The agnhost family shares the base layer: a registry stores it once.
	a, _ := agn.Layers()
	n, _ := nginx.Layers()
	da, _ := a[0].Digest()
	dn, _ := n[0].Digest()
	if da != dn {
		t.Errorf("agnhost and nginx base layers differ: %s vs %s", da, dn)
	}
	// nnp is setuid root: no_new_privs is what keeps it from being root.
	if m := fileMode(t, nnp, "/usr/local/bin/nnp"); m != 0o4755 {
		t.Errorf("nnp mode %o, want 4755", m)
	}
	if _, err := BusyboxImage("amd64", bin, nil); err == nil {
		t.Error("busybox without applets accepted")
	}
	if _, err := LoadBase(filepath.Join(t.TempDir(), "missing.tar.gz")); err == nil {
		t.Error("missing base accepted")
	}
}

func fileMode(t *testing.T, img v1.Image, p string) int64 {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("image has no %s", p)
		}
		if "/"+strings.TrimPrefix(h.Name, "./") == p {
			return h.Mode
		}
	}
}
