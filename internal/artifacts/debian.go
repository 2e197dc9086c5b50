package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	hexec "hardway.dev/hardway/internal/exec"
)

// defaultDebianMirror is used when the Builder is given none.
const defaultDebianMirror = "http://deb.debian.org/debian"

func (b *Builder) mirror() string {
	if b.DebianMirror != "" {
		return strings.TrimRight(b.DebianMirror, "/")
	}
	return defaultDebianMirror
}

// buildBusybox fetches upstream's busybox source from the Debian archive
// (checked against the pinned SHA-256), configures it with upstream's
// defaults, static, and builds it with the host's make and gcc.
func (b *Builder) buildBusybox(ctx context.Context, c *Component, work, dir string) (string, error) {
	rel, want := busyboxSource()
	u := b.mirror() + "/" + rel
	tarball := filepath.Join(work, "busybox.tar.bz2")
	if err := b.fetchPinned(ctx, u, want, tarball); err != nil {
		return "", err
	}
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if _, err := b.Run.Run(ctx, hexec.Cmd{Name: "tar", Args: []string{"-xjf", tarball, "-C", src, "--strip-components=1"}, Stream: b.Stream}); err != nil {
		return "", fmt.Errorf("unpacking %s (needs tar and bzip2: apt-get install bzip2): %w", tarball, err)
	}
	// For another architecture, Debian's cross gcc (busybox's Makefile
	// prefixes every tool with CROSS_COMPILE).
	var cross []string
	if b.Store.Arch != runtime.GOARCH {
		cc := triplet(b.Store.Arch) + "-gcc"
		if !b.haveTool(cc) {
			return "", fmt.Errorf("busybox %s for %s needs the cross compiler %s; run: %s", c.Version, b.Store.Arch, cc, crossSetup(b.Store.Arch))
		}
		cross = []string{"CROSS_COMPILE=" + triplet(b.Store.Arch) + "-"}
	}
	if _, err := b.Run.Run(ctx, hexec.Cmd{Name: "make", Args: append([]string{"-C", src, "defconfig"}, cross...), Stream: b.Stream}); err != nil {
		return "", fmt.Errorf("busybox %s: make defconfig failed (needs make and gcc: apt-get install make gcc libc6-dev): %w", c.Version, err)
	}
	cfgPath := filepath.Join(src, ".config")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(cfgPath, []byte(busyboxConfig(string(cfg), b.Store.Arch)), 0o644); err != nil {
		return "", err
	}
	jobs := strconv.Itoa(runtime.NumCPU())
	if _, err := b.Run.Run(ctx, hexec.Cmd{Name: "make", Args: append([]string{"-C", src, "-j", jobs, "busybox"}, cross...), Stream: b.Stream}); err != nil {
		return "", fmt.Errorf("building busybox %s from source failed (needs gcc and a static glibc: apt-get install gcc libc6-dev): %w", c.Version, err)
	}
	if err := copyFile(filepath.Join(src, "busybox"), filepath.Join(dir, "busybox"), 0o755); err != nil {
		return "", err
	}
	return u, nil
}

// busyboxConfig edits upstream's defconfig: a static binary (images carry
// no libc), and no tc, whose traffic-control code does not compile against
// the kernel headers of newer hosts (CBQ was removed in Linux 6.8) and which
// no test runs. For a target other than x86 it also turns off the SHA
// hardware acceleration: defconfig enables it, and busybox 1.37 then calls
// its x86-only SHA-NI functions on any architecture (arm64 fails to compile).
func busyboxConfig(defconfig, arch string) string {
	set := map[string]string{
		"CONFIG_STATIC": "CONFIG_STATIC=y",
		"CONFIG_TC":     "# CONFIG_TC is not set",
	}
	if arch != "amd64" && arch != "386" {
		set["CONFIG_SHA1_HWACCEL"] = "# CONFIG_SHA1_HWACCEL is not set"
		set["CONFIG_SHA256_HWACCEL"] = "# CONFIG_SHA256_HWACCEL is not set"
	}
	var out []string
	for _, line := range strings.Split(defconfig, "\n") {
		key := strings.TrimPrefix(line, "# ")
		if i := strings.IndexAny(key, "= "); i > 0 {
			key = key[:i]
		}
		if v, ok := set[key]; ok {
			out = append(out, v)
			delete(set, key)
			continue
		}
		out = append(out, line)
	}
	// Options the defconfig did not mention at all, in a stable order.
	var rest []string
	for _, v := range set {
		rest = append(rest, v)
	}
	sort.Strings(rest)
	return strings.Join(append(out, rest...), "\n")
}

// fetchPinned downloads u to dst and checks its SHA-256.
func (b *Builder) fetchPinned(ctx context.Context, u, want, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("cannot download %s (the Debian mirror must be reachable; pick another with HARDWAY_DEBIAN_MIRROR): %v", u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot download %s: HTTP %s (the Debian mirror must carry the file; pick another with HARDWAY_DEBIAN_MIRROR)", u, resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("downloading %s: %v", u, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, want %s (pinned in hardway): the mirror serves another file; do not use it", u, got, want)
	}
	return nil
}

// buildDebootstrap makes a Debian bookworm root file system (debootstrap's
// minbase plus the recipe's packages) and packs it as a gzip-compressed tar,
// which images use as their base layer as it is.
func (b *Builder) buildDebootstrap(ctx context.Context, c *Component, work, dir string) (string, error) {
	rootfs := filepath.Join(work, "rootfs")
	defer b.unmountUnder(ctx, rootfs)
	mirror := b.mirror()
	if _, err := b.Run.Run(ctx, hexec.Cmd{Name: "debootstrap", Args: []string{
		"--variant=minbase", "--include=" + strings.Join(c.Source.Packages, ","), "bookworm", rootfs, mirror,
	}, Stream: b.Stream}); err != nil {
		return "", fmt.Errorf("debootstrap of the e2e image base failed (needs root, apt-get install debootstrap, and the Debian mirror %s): %w", mirror, err)
	}
	// What no test reads and only makes every node pull more.
	for _, d := range []string{"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists", "var/log"} {
		p := filepath.Join(rootfs, d)
		if err := os.RemoveAll(p); err != nil {
			return "", err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
	}
	// Containers get their own /dev, /proc, /sys and /run: what debootstrap
	// left there would only be hidden.
	args := []string{"--numeric-owner", "-C", rootfs, "-czf", filepath.Join(dir, "rootfs.tar.gz")}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp"} {
		args = append(args, "--exclude=./"+d+"/*")
	}
	args = append(args, ".")
	if _, err := b.Run.Run(ctx, hexec.Cmd{Name: "tar", Args: args, Stream: b.Stream}); err != nil {
		return "", fmt.Errorf("packing the e2e image base: %w", err)
	}
	return "debootstrap bookworm " + mirror + " (" + strings.Join(c.Source.Packages, " ") + ")", nil
}

// unmountUnder unmounts what debootstrap may have left mounted in a root
// (/proc, /sys when it fails half-way), deepest first, so that removing the
// work directory never walks into the host's /proc.
func (b *Builder) unmountUnder(ctx context.Context, root string) {
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], root+"/") {
			under = append(under, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(under)))
	for _, m := range under {
		_, _ = b.Run.Run(ctx, hexec.Cmd{Name: "umount", Args: []string{"-l", m}})
	}
}
