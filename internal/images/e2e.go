package images

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The images of the upstream e2e suite, assembled here under the references
// the suite expects (`e2e.test --list-images`). Upstream builds them from
// Alpine and Docker Hub bases, which a machine that reaches only the package
// registries cannot fetch; what stands in for what is listed in
// artifacts.MapE2EImages and in every conformance report.

// Base is a Debian root file system used as the lowest layer of the
// agnhost, nginx and nonroot images, and the account files in it (an image
// that adds users must carry the whole files in its own layer).
type Base struct {
	Layer  v1.Layer
	Passwd []byte
	Group  []byte
}

// LoadBase reads a gzip-compressed root file system tarball (as the e2e base
// artifact is packed). The compressed file is the layer as it is, so an image
// pushed twice sends the same blob, and a registry keeps it once for every
// image built on it.
func LoadBase(p string) (Base, error) {
	l, err := tarball.LayerFromFile(p)
	if err != nil {
		return Base{}, fmt.Errorf("e2e image base %s: %v", p, err)
	}
	files, err := filesFromTarGz(p, "etc/passwd", "etc/group")
	if err != nil {
		return Base{}, err
	}
	if files["etc/passwd"] == nil || files["etc/group"] == nil {
		return Base{}, fmt.Errorf("e2e image base %s has no /etc/passwd or /etc/group; rebuild it (remove its cache entry)", p)
	}
	return Base{Layer: l, Passwd: files["etc/passwd"], Group: files["etc/group"]}, nil
}

// filesFromTarGz returns the named regular files of a .tar.gz (names without
// a leading "./" or "/").
func filesFromTarGz(p string, names ...string) (map[string][]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not gzip-compressed: %v", p, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for len(out) < len(want) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", p, err)
		}
		n := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		if want[n] && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			out[n] = b
		}
	}
	return out, nil
}

// onTop is base plus one layer of entries, with cfg.
func onTop(arch string, base v1.Layer, entries []entry, cfg v1.Config) (v1.Image, error) {
	top, err := layer(entries)
	if err != nil {
		return nil, err
	}
	return withConfig(arch, cfg, base, top)
}

// debianPath is the PATH of Debian's root.
const debianPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// AgnhostStandInOSRelease is the /etc/os-release of the agnhost image
// family. Upstream's is Alpine's, and the ImageVolume conformance test
// reads it from the kitten image and looks for "Alpine Linux"; this one
// says what the image is and what it stands in for.
const AgnhostStandInOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm), built by hardway to stand in for Alpine Linux 3.21 (agnhost's upstream base)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

// AgnhostFiles are what upstream's agnhost Dockerfile adds besides the
// binary: porter's TLS pair (from test/images/agnhost/porter) and, for
// kitten and nautilus, the pages they serve. Paths are absolute.
type AgnhostFiles map[string][]byte

// AgnhostImage is agnhost on the Debian base, laid out like upstream's
// Dockerfile: /agnhost and /agnhost-2, /uploads, the user
// user-defined-in-image (1000) in group group-defined-in-image (50000),
// entrypoint /agnhost, command pause. cmd replaces the command (kitten and
// nautilus run test-webserver).
func AgnhostImage(arch string, base Base, agnhost []byte, files AgnhostFiles, cmd []string) (v1.Image, error) {
	if len(agnhost) == 0 {
		return nil, errors.New("agnhost image: empty agnhost binary")
	}
	passwd := strings.TrimRight(string(base.Passwd), "\n") + "\nuser-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"
	group := strings.TrimRight(string(base.Group), "\n") + "\nuser-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"
	entries := []entry{
		{path: "/agnhost", mode: 0o755, content: agnhost},
		{path: "/agnhost-2", mode: 0o777, link: "agnhost"},
		{path: "/uploads", mode: 0o755, dir: true},
		{path: "/home/user-defined-in-image", mode: 0o755, dir: true},
		{path: "/etc/passwd", mode: 0o644, content: []byte(passwd)},
		{path: "/etc/group", mode: 0o644, content: []byte(group)},
		{path: "/etc/os-release", mode: 0o644, content: []byte(AgnhostStandInOSRelease)},
		{path: "/tmp", mode: 0o1777, dir: true},
	}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		entries = append(entries, entry{path: path.Clean(p), mode: 0o644, content: files[p]})
	}
	if cmd == nil {
		cmd = []string{"pause"}
	}
	ports := map[string]struct{}{}
	for _, p := range []string{"80", "8080", "8081", "9376", "5000"} {
		ports[p+"/tcp"] = struct{}{}
	}
	return onTop(arch, base.Layer, entries, v1.Config{
		Entrypoint:   []string{"/agnhost"},
		Cmd:          cmd,
		Env:          []string{debianPath},
		ExposedPorts: ports,
	})
}

// BusyboxImage is upstream busybox with every applet as a symlink in /bin,
// like the busybox image on Docker Hub, command sh.
func BusyboxImage(arch string, busybox []byte, applets []string) (v1.Image, error) {
	entries, err := busyboxEntries(busybox, applets)
	if err != nil {
		return nil, err
	}
	return image(arch, entries, v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}

// NonewprivsImage is nnp (it prints its effective uid), setuid root, on
// busybox: with allowPrivilegeEscalation false the kernel's no_new_privs
// keeps it from becoming root, which the security context test checks.
func NonewprivsImage(arch string, busybox []byte, applets []string, nnp []byte) (v1.Image, error) {
	entries, err := busyboxEntries(busybox, applets)
	if err != nil {
		return nil, err
	}
	entries = append(entries, entry{path: "/usr/local/bin/nnp", mode: 0o4755, content: nnp})
	return image(arch, entries, v1.Config{
		Cmd: []string{"nnp"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}

// GlibcDNSImage is the Debian base (bookworm, glibc, with dnsutils) and
// CoreDNS as /coredns, as upstream's glibc-dns-testing image.
func GlibcDNSImage(arch string, base Base, coredns []byte) (v1.Image, error) {
	return onTop(arch, base.Layer, []entry{
		{path: "/coredns", mode: 0o755, content: coredns},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{Env: []string{debianPath}, Cmd: []string{"bash"}})
}

// busyboxEntries lays busybox out like the busybox image on Docker Hub.
func busyboxEntries(busybox []byte, applets []string) ([]entry, error) {
	if len(applets) == 0 {
		return nil, errors.New("busybox image: busybox lists no applets")
	}
	entries := []entry{
		{path: "/bin/busybox", mode: 0o755, content: busybox},
		{path: "/tmp", mode: 0o1777, dir: true},
		{path: "/root", mode: 0o700, dir: true},
		{path: "/home", mode: 0o755, dir: true},
		{path: "/var/spool/mail", mode: 0o755, dir: true},
		{path: "/etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{path: "/etc/group", mode: 0o644, content: []byte("root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n")},
	}
	seen := map[string]bool{"busybox": true}
	for _, a := range applets {
		a = path.Base(strings.TrimSpace(a))
		if a == "" || a == "." || a == "/" || seen[a] {
			continue
		}
		seen[a] = true
		entries = append(entries, entry{path: "/bin/" + a, mode: 0o777, link: "busybox"})
	}
	return entries, nil
}

// nginxConf is the stand-in's configuration: upstream nginx image's
// behaviour (default.conf serves /usr/share/nginx/html on port 80, logs go
// to the container's output) with Debian's nginx. IPv4 only: a pod without
// IPv6 would make a [::]:80 listener fail the start.
const nginxConf = `# hardway's stand-in for the nginx e2e image: Debian's nginx, configured
# like the official image's default.conf.
user www-data;
worker_processes auto;
error_log /dev/stderr notice;
pid /run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;

    server {
        listen 80;
        server_name localhost;

        location / {
            root /usr/share/nginx/html;
            index index.html index.htm;
        }

        error_page 500 502 503 504 /50x.html;
        location = /50x.html {
            root /usr/share/nginx/html;
        }
    }
}
`

// NginxIndex is the page the nginx stand-in serves at /.
const NginxIndex = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>Debian's nginx, standing in for the nginx e2e image (built by hardway).</p>\n</body>\n</html>\n"

// NginxImage is the nginx stand-in: the Debian base (with nginx-light) and
// the official image's layout and command.
func NginxImage(arch string, base Base) (v1.Image, error) {
	return onTop(arch, base.Layer, []entry{
		{path: "/etc/nginx/nginx.conf", mode: 0o644, content: []byte(nginxConf)},
		{path: "/usr/share/nginx/html/index.html", mode: 0o644, content: []byte(NginxIndex)},
		{path: "/usr/share/nginx/html/50x.html", mode: 0o644, content: []byte("<!DOCTYPE html>\n<html><body><h1>An error occurred.</h1></body></html>\n")},
		// nginx opens its compiled-in log path before reading the config.
		{path: "/var/log/nginx", mode: 0o755, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		Env:          []string{debianPath},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGQUIT",
	})
}

// NonRootImage is the Debian base running as user 1234, like upstream's
// nonroot image (debian-base with USER 1234).
func NonRootImage(arch string, base Base) (v1.Image, error) {
	return onTop(arch, base.Layer, []entry{{path: "/tmp", mode: 0o1777, dir: true}}, v1.Config{
		Env:  []string{debianPath},
		User: "1234",
	})
}

// EtcdImage packs etcd and etcdctl at /usr/local/bin, where the aggregator
// test runs it.
func EtcdImage(arch string, etcd, etcdctl []byte) (v1.Image, error) {
	return image(arch, []entry{
		{path: "/usr/local/bin/etcd", mode: 0o755, content: etcd},
		{path: "/usr/local/bin/etcdctl", mode: 0o755, content: etcdctl},
		{path: "/var/etcd", mode: 0o700, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{
		Cmd:          []string{"/usr/local/bin/etcd"},
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		ExposedPorts: map[string]struct{}{"2379/tcp": {}, "2380/tcp": {}},
	})
}

// SampleAPIServerImage is the sample API server as /sample-apiserver, its
// entrypoint, as in upstream's Dockerfile.
func SampleAPIServerImage(arch string, bin []byte) (v1.Image, error) {
	return image(arch, []entry{
		{path: "/sample-apiserver", mode: 0o755, content: bin},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{Entrypoint: []string{"/sample-apiserver"}})
}
