package artifacts

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeImages is Docker's image store in memory: an archive "saved" is the
// tag and ID on two lines, and loading one makes the tag point at the ID.
type fakeImages struct {
	ids   map[string]string
	loads int
}

func (f *fakeImages) ID(_ context.Context, tag string) (string, error) { return f.ids[tag], nil }

func (f *fakeImages) Save(_ context.Context, tag, file string) error {
	return os.WriteFile(file, []byte(tag+"\n"+f.ids[tag]+"\n"+strings.Repeat("layer", 100)), 0o600)
}

func (f *fakeImages) Load(_ context.Context, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	lines := strings.SplitN(string(b), "\n", 3)
	f.ids[lines[0]] = lines[1]
	f.loads++
	return nil
}

const testNodeTag = "hardway/node:0123456789ab"

// exportTestBundle fills a cache with every entry of v1.37.2 (small fake
// files) and exports it.
func exportTestBundle(t *testing.T) ([]byte, *ExportResult) {
	t.Helper()
	src := NewStore(t.TempDir())
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, src, m)
	var buf bytes.Buffer
	var progress []BundleProgress
	res, err := Export(context.Background(), ExportOptions{
		Store: src, KubernetesVersion: "v1.37.2", NodeImageTag: testNodeTag,
		Images:     &fakeImages{ids: map[string]string{testNodeTag: "sha256:feed"}},
		OnProgress: func(p BundleProgress) { progress = append(progress, p) },
		Now:        func() time.Time { return time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC) },
	}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	// One "save" and one "write" per member, the last one at the total.
	if n := len(res.Manifest.Files); len(progress) != n+1 || progress[0].Phase != "save" || progress[n].Done != res.Manifest.BundleSize() || progress[n].N != n {
		t.Errorf("export progress: %+v", progress)
	}
	if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != res.SHA256 || res.Bytes != int64(buf.Len()) {
		t.Errorf("export says sha256 %s, %d bytes; wrote %x, %d", res.SHA256, res.Bytes, sum, buf.Len())
	}
	return buf.Bytes(), res
}

type member struct {
	hdr  *tar.Header
	data []byte
}

func members(t *testing.T, b []byte) []member {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{h, d})
	}
}

func writeMembers(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := *m.hdr
		h.Size = int64(len(m.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(m.data)
	}
	tw.Close()
	return buf.Bytes()
}

// dataOffset is where member name's bytes start in the bundle.
func dataOffset(t *testing.T, b []byte, name string) int {
	t.Helper()
	cr := &countReader{r: bytes.NewReader(b)}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the bundle: %v", name, err)
		}
		if h.Name == name {
			// The header blocks are read, nothing of the data yet.
			return int(cr.n)
		}
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestBundleRoundTrip(t *testing.T) {
	b, exp := exportTestBundle(t)
	ms := members(t, b)
	if ms[0].hdr.Name != BundleManifestName || len(ms) != len(exp.Manifest.Files)+1 {
		t.Fatalf("bundle starts with %s and has %d members for %d files", ms[0].hdr.Name, len(ms), len(exp.Manifest.Files))
	}
	// 11 components: each entry's files plus its marker, plus the image.
	if len(exp.Manifest.Entries) != 11 || exp.Manifest.NodeImage.File != "node-image/hardway-node-0123456789ab.tar" {
		t.Errorf("entries %d, node image %+v", len(exp.Manifest.Entries), exp.Manifest.NodeImage)
	}

	dst := NewStore(t.TempDir())
	imgs := &fakeImages{ids: map[string]string{}}
	var phases []string
	opt := ImportOptions{Store: dst, NodeImageTag: testNodeTag, Images: imgs, Name: "b.tar", SHA256: exp.SHA256,
		OnProgress: func(p BundleProgress) { phases = append(phases, p.Phase) }}
	res, err := Import(context.Background(), opt, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Installed) != 11 || len(res.Kept) != 0 || !res.ImageLoaded || imgs.ids[testNodeTag] != "sha256:feed" {
		t.Errorf("first import: %+v, images %v", res, imgs.ids)
	}
	if want := len(exp.Manifest.Files) + 1 + 11; len(phases) != want || phases[0] != "verify" || phases[len(phases)-1] != "install" || phases[len(phases)-12] != "install" {
		t.Errorf("import progress %v, want %d reports", phases, want)
	}
	bundle, err := dst.Resolve("v1.37.2")
	if err != nil {
		t.Fatalf("imported cache does not resolve: %v", err)
	}
	for _, bin := range bundle.Binaries {
		st, err := os.Stat(bundle.HostPath(bin.Rel))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, mode %v", bin.Rel, err, st.Mode())
		}
	}
	// Provenance survives: the marker came along.
	if e, _ := dst.Find(CompEtcd, "v3.7.0"); e == nil || e.Origin != "test" {
		t.Errorf("etcd entry after import: %+v", e)
	}
	assertTmpEmpty(t, dst)

	// Idempotent: a second import changes nothing.
	phases = nil
	res, err = Import(context.Background(), opt, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Installed) != 0 || len(res.Kept) != 11 || res.ImageLoaded || imgs.loads != 1 {
		t.Errorf("second import: %+v, %d loads", res, imgs.loads)
	}
	if last := phases[len(phases)-12:]; last[0] != "keep" || last[11] != "keep" {
		t.Errorf("second import reports %v, want keep for the image and every entry", last)
	}
	assertTmpEmpty(t, dst)
}

func assertTmpEmpty(t *testing.T, s *Store) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if len(ents) != 0 {
		t.Errorf("staging left behind: %v", ents)
	}
}

// A bundle that does not match is refused in one line naming the member,
// and nothing is installed: no cache entry, no image load, no staging left.
func TestBundleRefused(t *testing.T) {
	b, exp := exportTestBundle(t)
	arch := runtime.GOARCH
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[arch]
	kubelet := "artifacts/kubernetes/v1.37.2/source-" + arch + "/kubelet"
	etcdMarker := "artifacts/etcd/v3.7.0/source-" + arch + "/.complete.json"
	image := exp.Manifest.NodeImage.File
	edit := func(fn func([]member) []member) []byte { return writeMembers(t, fn(members(t, b))) }
	find := func(ms []member, name string) int {
		for i, m := range ms {
			if m.hdr.Name == name {
				return i
			}
		}
		t.Fatalf("no %s", name)
		return -1
	}
	kOff := dataOffset(t, b, kubelet)

	tests := []struct {
		name   string
		bundle []byte
		arch   string
		sha    string
		want   string
	}{
		{"tampered binary", edit(func(ms []member) []member {
			i := find(ms, kubelet)
			ms[i].data = bytes.ToUpper(ms[i].data)
			return ms
		}), arch, "", "bundle b.tar: " + kubelet + " does not match its manifest (sha256 "},
		{"longer binary", edit(func(ms []member) []member {
			i := find(ms, kubelet)
			ms[i].data = append(ms[i].data, '!')
			return ms
		}), arch, "", "bundle b.tar: " + kubelet + " does not match its manifest (8 bytes, the manifest says 7)"},
		{"tampered node image", edit(func(ms []member) []member {
			i := find(ms, image)
			ms[i].data[len(ms[i].data)-1] ^= 1
			return ms
		}), arch, "", "bundle b.tar: " + image + " does not match its manifest (sha256 "},
		{"tampered marker", edit(func(ms []member) []member {
			i := find(ms, etcdMarker)
			ms[i].data = bytes.Replace(ms[i].data, []byte(`"test"`), []byte(`"evil"`), 1)
			return ms
		}), arch, "", "bundle b.tar: " + etcdMarker + " does not match its manifest (sha256 "},
		{"truncated inside a file", b[:kOff+3], arch, "", "bundle b.tar is truncated in " + kubelet + " (3 of 7 bytes)"},
		{"truncated between files", b[:kOff-512], arch, "", "bundle b.tar lacks " + kubelet + ", which its manifest lists (truncated?)"},
		{"missing file", edit(func(ms []member) []member {
			i := find(ms, kubelet)
			return append(ms[:i], ms[i+1:]...)
		}), arch, "", "bundle b.tar lacks " + kubelet + ", which its manifest lists"},
		{"extra file", edit(func(ms []member) []member {
			return append(ms, member{&tar.Header{Name: "artifacts/evil", Mode: 0o755, Typeflag: tar.TypeReg}, []byte("x")})
		}), arch, "", "bundle b.tar holds artifacts/evil, which its manifest does not list"},
		{"wrong arch", b, other, "", "bundle b.tar holds " + arch + " artifacts, not " + other + ": import it with --arch " + arch},
		{"whole-file digest", b, arch, strings.Repeat("0", 64), "bundle b.tar has sha256 " + exp.SHA256 + ", not the " + strings.Repeat("0", 64) + " given with --sha256"},
		{"not a bundle", []byte("hello"), arch, "", "b.tar is not a hardway bundle (no tar member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := &Store{Root: t.TempDir(), Arch: tt.arch}
			imgs := &fakeImages{ids: map[string]string{}}
			_, err := Import(context.Background(), ImportOptions{Store: dst, NodeImageTag: testNodeTag, Images: imgs, Name: "b.tar", SHA256: tt.sha}, bytes.NewReader(tt.bundle))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v\nwant a line starting %q", err, tt.want)
			}
			if entries, _ := dst.List(); len(entries) != 0 || imgs.loads != 0 {
				t.Errorf("refused bundle installed %d entries, %d image loads", len(entries), imgs.loads)
			}
			if _, err := os.Stat(filepath.Join(dst.Root, "artifacts")); err == nil {
				t.Errorf("refused bundle created %s/artifacts", dst.Root)
			}
			assertTmpEmpty(t, dst)
		})
	}
}

// Export refuses an incomplete cache or a missing node image, naming what
// to build, and ExportFile leaves no file behind.
func TestExportRefusesIncomplete(t *testing.T) {
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	full := NewStore(t.TempDir())
	fillStore(t, full, m)
	partial := NewStore(t.TempDir())
	fillStore(t, partial, m, CompEtcd, CompContainerd)
	tests := []struct {
		name  string
		store *Store
		ids   map[string]string
		want  string
	}{
		{"missing entry", partial, map[string]string{testNodeTag: "sha256:feed"},
			fmt.Sprintf("cannot export: artifact runc v1.5.2 (%s) is not in the cache %s; run: hardway artifacts build --kubernetes-version v1.37.2 first", runtime.GOARCH, partial.Root)},
		{"missing node image", full, map[string]string{},
			"cannot export: the node image " + testNodeTag + " is not in Docker; run: hardway node-image build first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "b.tar")
			_, err := ExportFile(context.Background(), ExportOptions{Store: tt.store, KubernetesVersion: "v1.37.2", NodeImageTag: testNodeTag, Images: &fakeImages{ids: tt.ids}}, file)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			if ents, _ := os.ReadDir(filepath.Dir(file)); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
		})
	}

	// A cached file changed after it was cached is not exported as good.
	e, _ := full.Find(CompRunc, "v1.5.2")
	if err := os.WriteFile(filepath.Join(e.Dir, "runc"), []byte("RUNC"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Export(context.Background(), ExportOptions{Store: full, KubernetesVersion: "v1.37.2", NodeImageTag: testNodeTag, Images: &fakeImages{ids: map[string]string{testNodeTag: "x"}}}, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot export: the cached file "+filepath.Join(e.Dir, "runc")+" changed since it was cached") {
		t.Errorf("damaged cache: err = %v", err)
	}
}
