// Package nodeimage builds the container image every hardway node (and the API
// load balancer) runs: a Debian bookworm root made by debootstrap, with
// systemd as PID 1 and the tools kubelet, containerd and haproxy need.
//
// It needs no container registry: debootstrap fetches .deb packages from the
// Debian mirror the host's apt already uses, and `docker import` turns the
// root into an image. Users who do have a registry can build the same image
// from a Dockerfile instead (see Dockerfile and docs/node-image.md); both ways
// yield the same tag because the tag is a hash of the recipe, not of the bytes.
package nodeimage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
)

const (
	// Repository is the image name; the tag is the recipe hash.
	Repository = "hardway/node"
	// Suite is the Debian release nodes run.
	Suite = "bookworm"
	// DefaultMirror is used when the host's apt sources name no Debian mirror.
	DefaultMirror = "http://deb.debian.org/debian"

	// EntrypointPath is where the entrypoint lives inside the image.
	EntrypointPath = "/usr/local/bin/entrypoint"
)

//go:embed files/entrypoint.sh
var entrypoint []byte

//go:embed files/setup.sh
var setupScript []byte

// emulatedScript replaces the netfilter tools of an image built for another
// architecture with the host's (see the script for why).
//
//go:embed files/emulated.sh
var emulatedScript []byte

// Packages are installed on top of debootstrap's minbase variant. minbase
// has no init, no networking tools and no certificates, so each one is here
// for a reason.
func Packages() []string {
	return []string{
		"systemd", "systemd-sysv", "dbus", // PID 1 and what systemctl talks to
		"iproute2", "iptables", "nftables", "ipset", "conntrack", "ethtool", // kube-proxy, CNI, kubelet
		"socat",               // kubectl port-forward
		"kmod",                // modprobe/lsmod, called by kube-proxy and containerd
		"util-linux", "mount", // nsenter, findmnt, mount: kubelet
		"libseccomp2",             // runc built with seccomp
		"ca-certificates", "curl", // health checks against the API server; ca-certificates depends on openssl, which the serving-certificate approver runs
		"procps", "less", // ps, top, for people debugging a node
		"iputils-ping",   // reachability checks between nodes
		"openssh-server", // optional access the way the original tutorial used
		"haproxy",        // the API load balancer runs from this image too
	}
}

// imageChanges are the `docker import --change` lines; they are part of the
// recipe because they change how a node boots.
func imageChanges() []string {
	return []string{
		"ENV container=docker",
		// STOPSIGNAL is not an import change Docker 20.10 accepts; the provider
		// passes --stop-signal SIGRTMIN+3 (what systemd shuts down on) instead.
		`ENTRYPOINT ["` + EntrypointPath + `"]`,
		`CMD ["/sbin/init"]`,
	}
}

// Entrypoint returns the embedded entrypoint script (for docs and tests).
func Entrypoint() []byte { return bytes.Clone(entrypoint) }

// SetupScript returns the embedded image setup script.
func SetupScript() []byte { return bytes.Clone(setupScript) }

// Tag is the image reference for the current recipe on this host's
// architecture: an unchanged recipe maps to an existing image and is never
// rebuilt.
func Tag() string { return TagFor(runtime.GOARCH) }

// TagFor is the image reference of the recipe for nodes of arch (a Go
// architecture name). Each architecture has its own tag, so an amd64 and an
// arm64 node image live side by side in one Docker.
//
// An image of another architecture than this host's can only run here under
// qemu-user, and carries this host's netfilter tools (files/emulated.sh):
// it is its own recipe, tagged -ARCH-emulated, never mistaken for the image
// a real ARCH host builds.
func TagFor(arch string) string { return recipeFor(arch).tag() }

func recipeFor(arch string) recipe {
	r := recipe{arch: arch, suite: Suite, packages: Packages(), changes: imageChanges(), entrypoint: entrypoint, setup: setupScript}
	if arch != runtime.GOARCH {
		r.emulatedBy, r.emulated = runtime.GOARCH, emulatedScript
	}
	return r
}

// recipe is everything that decides what the image contains. The mirror is
// not part of it: any Debian mirror serves the same packages.
type recipe struct {
	arch              string
	suite             string
	packages, changes []string
	entrypoint, setup []byte
	// emulatedBy is the host architecture whose netfilter tools the image
	// carries (emulated runs its apt), for images that run under qemu-user.
	emulatedBy string
	emulated   []byte
}

func (r recipe) tag() string {
	h := sha256.New()
	// amd64 images were tagged before the recipe knew architectures:
	// leaving amd64 out of the hash keeps their tags, so nobody rebuilds an
	// image that has not changed. Other architectures hash it, and say it
	// in the tag for people reading `docker images`.
	suffix := ""
	if r.arch != "" && r.arch != "amd64" {
		fmt.Fprintf(h, "arch=%s\n", r.arch)
		suffix = "-" + r.arch
	}
	fmt.Fprintf(h, "suite=%s\n", r.suite)
	pk := append([]string(nil), r.packages...)
	sort.Strings(pk)
	fmt.Fprintf(h, "packages=%s\n", strings.Join(pk, ","))
	fmt.Fprintf(h, "changes=%s\n", strings.Join(r.changes, "\n"))
	fmt.Fprintf(h, "entrypoint=%d:%s\n", len(r.entrypoint), r.entrypoint)
	fmt.Fprintf(h, "setup=%d:%s\n", len(r.setup), r.setup)
	if r.emulatedBy != "" {
		fmt.Fprintf(h, "emulatedBy=%s\nemulated=%d:%s\n", r.emulatedBy, len(r.emulated), r.emulated)
		suffix += "-emulated"
	}
	return Repository + ":" + hex.EncodeToString(h.Sum(nil))[:12] + suffix
}

// Options control a build.
type Options struct {
	Runner exec.Runner
	Log    logx.Logger
	// Mirror is the Debian mirror for debootstrap; empty means the one the
	// host's apt uses (see HostMirror).
	Mirror string
	// WorkDir holds the temporary root file system (~500 MB); empty means
	// os.TempDir().
	WorkDir string
	// Force rebuilds even when the tag exists.
	Force bool
	// Dockerfile builds with `docker build` from debian:bookworm instead of
	// debootstrap; it needs a registry to pull the base image from.
	Dockerfile bool
	// Arch is the nodes' architecture (Go name); empty means this host's.
	// Another architecture's image is debootstrapped with --arch, its
	// second stage and setup script running under qemu-user, which needs
	// binfmt_misc (see CheckEmulation).
	Arch string
	// Binfmt is the binfmt_misc directory (tests); nil: BinfmtDir.
	Binfmt fs.FS
}

func (o Options) arch() string {
	if o.Arch == "" {
		return runtime.GOARCH
	}
	return o.Arch
}

func (o Options) foreign() bool { return o.arch() != runtime.GOARCH }

func (o Options) binfmt() fs.FS {
	if o.Binfmt != nil {
		return o.Binfmt
	}
	return os.DirFS(BinfmtDir)
}

// Exists reports whether the image tag is present in the local Docker.
func Exists(ctx context.Context, r exec.Runner, tag string) (bool, error) {
	_, err := r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Id}}", tag}})
	if err == nil {
		return true, nil
	}
	if re, ok := exec.IsRunError(err); ok && re.ExitCode > 0 && strings.Contains(strings.ToLower(re.Output()), "no such image") {
		return false, nil
	}
	return false, fmt.Errorf("cannot ask Docker about image %s (is dockerd running? try `hardway check`): %w", tag, err)
}

// Ensure returns the tag of the node image, building it first when missing.
func Ensure(ctx context.Context, o Options) (string, error) {
	tag := TagFor(o.arch())
	ok, err := Exists(ctx, o.Runner, tag)
	if err != nil {
		return "", err
	}
	if ok && !o.Force {
		logf(o.Log, 0, "node image %s up to date", tag)
		return tag, nil
	}
	return tag, Build(ctx, tag, o)
}

// Build builds the image under tag whether or not it exists.
func Build(ctx context.Context, tag string, o Options) error {
	if o.Dockerfile {
		if o.foreign() {
			return fmt.Errorf("--dockerfile builds for this host's architecture only; build the %s node image with debootstrap (without --dockerfile)", o.arch())
		}
		return buildDockerfile(ctx, tag, o)
	}
	if o.foreign() {
		// debootstrap's second stage and the setup script run the image's
		// own (foreign) programs in a chroot.
		if err := CheckEmulation(o.binfmt(), o.arch()); err != nil {
			return err
		}
	}
	start := time.Now()
	mirror := o.Mirror
	if mirror == "" {
		mirror = HostMirror(os.DirFS("/"))
	}
	work, err := os.MkdirTemp(o.WorkDir, "hardway-node-image-")
	if err != nil {
		return fmt.Errorf("creating a work directory for the node image: %w (set TMPDIR to a disk with ~1 GB free)", err)
	}
	rootfs := filepath.Join(work, "rootfs")
	defer cleanup(ctx, o, work, rootfs)

	phase := func(n int, what string) func() {
		t := time.Now()
		logf(o.Log, 0, "[%d/4] %s", n, what)
		return func() { logf(o.Log, 0, "[%d/4] done in %s", n, time.Since(t).Round(time.Second)) }
	}

	dbArgs := []string{"--variant=minbase", "--include=" + strings.Join(Packages(), ",")}
	what := ""
	if o.foreign() {
		// debootstrap unpacks, then runs the second stage (dpkg, maintainer
		// scripts) in the chroot: under qemu-user through binfmt_misc.
		dbArgs = append(dbArgs, "--arch="+o.arch())
		what = " for " + o.arch() + " (second stage under qemu-user emulation: several times slower)"
	}
	dbArgs = append(dbArgs, Suite, rootfs, mirror)
	done := phase(1, fmt.Sprintf("debootstrap %s%s (minbase + %d packages) from %s; takes a few minutes, -v shows its output", Suite, what, len(Packages()), mirror))
	_, err = o.Runner.Run(ctx, exec.Cmd{
		Name:   "debootstrap",
		Args:   dbArgs,
		Stream: &lineLogger{log: o.Log, level: 1, prefix: "  debootstrap: "},
	})
	if err != nil {
		return fmt.Errorf("debootstrap failed (needs root, `apt-get install debootstrap`, and a reachable Debian mirror %s; pick another with --mirror): %w", mirror, err)
	}
	done()

	done = phase(2, "configuring the image (systemd in a container, entrypoint)")
	if err := os.WriteFile(filepath.Join(rootfs, strings.TrimPrefix(EntrypointPath, "/")), entrypoint, 0o755); err != nil {
		return fmt.Errorf("writing the entrypoint into the image: %w", err)
	}
	if o.foreign() {
		// Before setup.sh, whose last lines empty apt's caches.
		p := filepath.Join(rootfs, "tmp", "hardway-emulated.sh")
		if err := os.WriteFile(p, emulatedScript, 0o755); err != nil {
			return fmt.Errorf("writing the emulation script into the image: %w", err)
		}
		logf(o.Log, 0, "      this host's (%s) netfilter tools and iproute2 into the %s image: qemu-user cannot run %s iptables/nft, bridge fdb, ip neigh", runtime.GOARCH, o.arch(), o.arch())
		if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "chroot", Args: []string{rootfs, "/bin/sh", "/tmp/hardway-emulated.sh", runtime.GOARCH},
			Stream: &lineLogger{log: o.Log, level: 0, prefix: "      "}}); err != nil {
			return fmt.Errorf("installing this host's netfilter tools into the %s node image failed (needs the Debian mirror from the chroot): %w", o.arch(), err)
		}
		_ = os.Remove(p)
	}
	setupPath := filepath.Join(rootfs, "tmp", "hardway-setup.sh")
	if err := os.WriteFile(setupPath, setupScript, 0o755); err != nil {
		return fmt.Errorf("writing the setup script into the image: %w", err)
	}
	if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "chroot", Args: []string{rootfs, "/bin/sh", "/tmp/hardway-setup.sh"}}); err != nil {
		return fmt.Errorf("image setup script failed: %w", err)
	}
	_ = os.Remove(setupPath)
	done()

	done = phase(3, "packing the root file system")
	tarball := filepath.Join(work, "rootfs.tar")
	// Docker gives every container its own /dev, /proc, /sys, /run and /tmp;
	// whatever debootstrap left there would only be hidden.
	args := []string{"--numeric-owner", "--xattrs", "-C", rootfs, "-cf", tarball}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp"} {
		args = append(args, "--exclude=./"+d+"/*")
	}
	args = append(args, ".")
	if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "tar", Args: args}); err != nil {
		return fmt.Errorf("packing the node root file system: %w", err)
	}
	done()

	done = phase(4, "importing into Docker as "+tag)
	if o.foreign() {
		// docker import records this host's architecture (its --platform
		// works only on an experimental daemon): load an image whose config
		// names the nodes' architecture instead.
		if err := loadForeign(ctx, o, tarball, tag); err != nil {
			return err
		}
		done()
		logf(o.Log, 0, "node image %s built in %s", tag, time.Since(start).Round(time.Second))
		return nil
	}
	imp := []string{"import"}
	for _, c := range imageChanges() {
		imp = append(imp, "--change", c)
	}
	imp = append(imp, tarball, tag)
	if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "docker", Args: imp}); err != nil {
		return fmt.Errorf("docker import of the node image failed: %w", err)
	}
	done()
	logf(o.Log, 0, "node image %s built in %s", tag, time.Since(start).Round(time.Second))
	return nil
}

// cleanup removes the work directory. debootstrap mounts /proc and /sys in
// the target and may leave them mounted when it fails; removing files under
// a live /proc or /sys mount must never happen, so unmount first.
func cleanup(ctx context.Context, o Options, work, rootfs string) {
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], rootfs+"/") {
			under = append(under, f[1])
		}
	}
	// Deepest first.
	sort.Sort(sort.Reverse(sort.StringSlice(under)))
	for _, m := range under {
		if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "umount", Args: []string{"-l", m}}); err != nil {
			logf(o.Log, 0, "warning: %s is still mounted; not removing %s: %v", m, work, err)
			return
		}
	}
	if err := os.RemoveAll(work); err != nil {
		logf(o.Log, 0, "warning: could not remove %s: %v", work, err)
	}
}

func logf(l logx.Logger, level int, format string, args ...any) {
	if l != nil {
		l.Logf(level, format, args...)
	}
}

// lineLogger turns a command's streamed output into log lines.
type lineLogger struct {
	log    logx.Logger
	level  int
	prefix string
	buf    []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		logf(w.log, w.level, "%s%s", w.prefix, strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// HostMirror finds the Debian mirror in the host's apt sources (one-line
// .list files and deb822 .sources files), so debootstrap downloads from
// wherever this machine already can. root is the file system root.
func HostMirror(root fs.FS) string {
	files := []string{"etc/apt/sources.list"}
	for _, pat := range []string{"etc/apt/sources.list.d/*.sources", "etc/apt/sources.list.d/*.list"} {
		m, _ := fs.Glob(root, pat)
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := fs.ReadFile(root, f)
		if err != nil {
			continue
		}
		if m := mirrorFrom(string(data), strings.HasSuffix(f, ".sources")); m != "" {
			return m
		}
	}
	return DefaultMirror
}

// mirrorFrom returns the first URI that serves the plain Debian archive
// (suite bookworm or another release, not -security or third-party repos).
func mirrorFrom(text string, deb822 bool) string {
	isDebian := func(uri string) bool {
		u := strings.TrimRight(uri, "/")
		return (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && strings.HasSuffix(u, "/debian")
	}
	if !deb822 {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 3 || f[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(f[i], "[") { // options like [arch=amd64 signed-by=...]
				for i < len(f) && !strings.HasSuffix(f[i], "]") {
					i++
				}
				i++
			}
			if i < len(f) && isDebian(f[i]) {
				return strings.TrimRight(f[i], "/")
			}
		}
		return ""
	}
	for _, stanza := range strings.Split(text, "\n\n") {
		var uris []string
		deb := false
		for _, line := range strings.Split(stanza, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "types":
				deb = deb || strings.Contains(" "+v+" ", " deb ")
			case "uris":
				uris = strings.Fields(v)
			}
		}
		for _, u := range uris {
			if deb && isDebian(u) {
				return strings.TrimRight(u, "/")
			}
		}
	}
	return ""
}
