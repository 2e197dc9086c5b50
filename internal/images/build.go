package images

import (
	"archive/tar"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// pauseSource is the pause program, embedded so an installed hardway binary
// can build it with the local Go toolchain without the repository.
//
//go:embed pause/main.go
var pauseSource []byte

// PauseSource returns the Go source of the pause program (package main,
// standard library only).
func PauseSource() []byte { return bytes.Clone(pauseSource) }

// epoch is every image's creation time, so the same inputs give the same
// image digest.
var epoch = v1.Time{Time: time.Unix(0, 0).UTC()}

// entry is one file, directory or symlink of an image layer.
type entry struct {
	path    string // absolute, as seen in the container
	mode    int64
	content []byte
	link    string // symlink target
	dir     bool
}

// layer turns entries into an uncompressed tar layer. Parent directories are
// added so that every runtime's unpacker sees them with sane modes.
func layer(entries []entry) (v1.Layer, error) {
	dirs := map[string]bool{}
	var all []entry
	for _, e := range entries {
		for d := path.Dir(e.path); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			all = append(all, entry{path: d, mode: 0o755, dir: true})
		}
		if e.dir {
			if dirs[e.path] {
				continue
			}
			dirs[e.path] = true
		}
		all = append(all, e)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].path < all[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range all {
		h := &tar.Header{Name: e.path[1:], Mode: e.mode, ModTime: epoch.Time, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.content); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// image is one layer on top of nothing, with the given runtime config.
func image(arch string, entries []entry, cfg v1.Config) (v1.Image, error) {
	l, err := layer(entries)
	if err != nil {
		return nil, err
	}
	return withConfig(arch, cfg, l)
}

// withConfig is an image of layers (bottom first) for linux/arch with the
// runtime config cfg and a fixed creation time, so equal inputs give equal
// digests.
func withConfig(arch string, cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = epoch
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

func readExecutable(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s for the image: %v", p, err)
	}
	return b, nil
}

// PauseImage is the sandbox image: the static pause binary as /pause.
func PauseImage(arch, pauseBinary string) (v1.Image, error) {
	b, err := readExecutable(pauseBinary)
	if err != nil {
		return nil, err
	}
	return image(arch, []entry{{path: "/pause", mode: 0o755, content: b}}, v1.Config{
		Entrypoint: []string{"/pause"},
		// Like upstream's pause image: nothing in it needs root.
		User: "65535:65535",
	})
}

// CoreDNSImage is the cluster DNS image: the coredns binary as /coredns.
func CoreDNSImage(arch, corednsBinary string) (v1.Image, error) {
	b, err := readExecutable(corednsBinary)
	if err != nil {
		return nil, err
	}
	return image(arch, []entry{
		{path: "/coredns", mode: 0o755, content: b},
		// coredns' kubernetes plugin needs no CA bundle (it uses the
		// service account's), but a writable /tmp keeps plugins that spill
		// files from failing.
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{
		Entrypoint:   []string{"/coredns"},
		ExposedPorts: map[string]struct{}{"53/udp": {}, "53/tcp": {}, "9153/tcp": {}},
	})
}

// ProgramImage is one static program at path, run as user ("65534:65534"
// for nobody, "0:0" for an agent whose capabilities must be effective): an
// add-on's controller or agent, which needs no file but its own.
func ProgramImage(arch, program, path, user string) (v1.Image, error) {
	b, err := readExecutable(program)
	if err != nil {
		return nil, err
	}
	return image(arch, []entry{
		{path: path, mode: 0o755, content: b},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{Entrypoint: []string{path}, User: user})
}

// TestAppPort is where the test app serves HTTP.
const TestAppPort = 8080

// TestAppPage is what the test app serves at /.
const TestAppPage = "Hello World from hardway\n"

// testAppApplets are the busybox applets linked into /bin: the web server,
// the smoke-test tools and a usable shell.
func testAppApplets() []string {
	return []string{"sh", "httpd", "nslookup", "wget", "ls", "cat", "echo", "env", "hostname", "ip", "ping", "ps", "sleep", "nc", "vi", "grep", "id", "mkdir", "rm", "true", "false"}
}

// TestAppImage is a busybox web server that says Hello World, with nslookup, wget
// and sh for smoke tests. busybox must be a static build (upstream's, built
// by the artifacts' busybox component): the image has no libc.
func TestAppImage(arch, busybox string) (v1.Image, error) {
	b, err := readExecutable(busybox)
	if err != nil {
		return nil, err
	}
	entries := []entry{
		{path: "/bin/busybox", mode: 0o755, content: b},
		{path: "/www/index.html", mode: 0o644, content: []byte(TestAppPage)},
		{path: "/tmp", mode: 0o1777, dir: true},
		// nslookup and wget want these to exist; kubelet bind-mounts
		// /etc/hosts, /etc/resolv.conf and /etc/hostname over them.
		{path: "/etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{path: "/etc/group", mode: 0o644, content: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	for _, a := range testAppApplets() {
		entries = append(entries, entry{path: "/bin/" + a, mode: 0o777, link: "busybox"})
	}
	return image(arch, entries, v1.Config{
		Entrypoint:   []string{"/bin/busybox", "httpd", "-f", "-v", "-p", fmt.Sprint(TestAppPort), "-h", "/www"},
		Env:          []string{"PATH=/bin"},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", TestAppPort): {}},
	})
}

// WriteArchive writes img as a docker-save archive tagged ref, the format
// `ctr images import` and `docker load` accept.
func WriteArchive(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %v", ref, err)
	}
	if err := tarball.MultiRefWriteToFile(path, map[name.Reference]v1.Image{tag: img}); err != nil {
		return fmt.Errorf("writing image archive %s: %v", path, err)
	}
	return nil
}

// LoadArchive reads the image tagged ref back from an archive; it is how
// tests and callers check an archive is well formed.
func LoadArchive(path, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %v", ref, err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		return nil, fmt.Errorf("image archive %s does not hold %s: %v", path, ref, err)
	}
	if _, err := img.Manifest(); err != nil {
		return nil, fmt.Errorf("image archive %s: %v", path, err)
	}
	return img, nil
}

// Relabel writes to out the image tagged ref in archive in, with its
// config's architecture set to arch and nothing else changed (the layers,
// and so the programs, stay as they are). Nodes under qemu-user run this
// host's containerd, whose CRI only uses images of its own platform; the
// programs inside are still the nodes' architecture, run through binfmt.
func Relabel(in, out, ref, arch string) error {
	img, err := LoadArchive(in, ref)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image archive %s: %v", in, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = arch
	cf.Variant = ""
	relabeled, err := mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("image archive %s: %v", in, err)
	}
	return WriteArchive(out, ref, relabeled)
}
