package artifacts

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"hardway.dev/hardway/internal/images"
)

// Bundle is what a cluster of one Kubernetes version uses from the cache:
// every binary with where a node installs it, and every image archive.
// Paths are relative to the cache root, which nodes mount read-only at
// NodeMountDir; NodePath gives the path inside a node.
type Bundle struct {
	KubernetesVersion string
	// Root is the cache root on the host (the bind-mount source).
	Root     string
	Binaries []Binary
	Images   []ImageArchive
	// Files are the rest: files pods or steps read from the host (an
	// add-on's manifests), not installed on nodes.
	Files []Binary
}

// Binary is one program a node installs.
type Binary struct {
	Name      string // e.g. "kubelet"
	Component string
	Version   string
	Rel       string // relative to the cache root, slash-separated
	DestDir   string // BinDir or CNIDir
	SHA256    string
}

// ImageArchive is one pod image as a docker-save archive.
type ImageArchive struct {
	Ref    string // e.g. images.Pause
	Rel    string
	SHA256 string
}

// NodePath is where a node sees rel through the read-only cache mount.
func NodePath(rel string) string { return path.Join(NodeMountDir, rel) }

// HostPath is rel on the host.
func (b *Bundle) HostPath(rel string) string { return filepath.Join(b.Root, filepath.FromSlash(rel)) }

// Binary returns the named binary.
func (b *Bundle) Binary(name string) (Binary, bool) {
	for _, x := range b.Binaries {
		if x.Name == name {
			return x, true
		}
	}
	return Binary{}, false
}

// Resolve lists the cached artifacts for kubeVersion; any missing entry is an
// error that says to run `hardway artifacts build`.
func (s *Store) Resolve(kubeVersion string) (*Bundle, error) {
	m, err := ManifestFor(kubeVersion)
	if err != nil {
		return nil, err
	}
	return s.ResolveManifest(m)
}

// ResolveManifest is Resolve for a given manifest.
func (s *Store) ResolveManifest(m *Manifest) (*Bundle, error) {
	b := &Bundle{KubernetesVersion: m.KubernetesVersion, Root: s.Root}
	for _, c := range m.Components {
		e, ok := s.Find(c.Name, c.Version)
		if !ok || !e.hasAll(&c) {
			if s.Arch != runtime.GOARCH {
				return nil, fmt.Errorf("artifact %s %s not built for %s; run: hardway artifacts build --arch %s", c.Name, c.Version, s.Arch, s.Arch)
			}
			return nil, notBuilt(c.Name, c.Version)
		}
		rel, err := filepath.Rel(s.Root, e.Dir)
		if err != nil {
			return nil, err
		}
		sums := map[string]string{}
		for _, f := range e.Files {
			sums[f.Name] = f.SHA256
		}
		for _, f := range c.Files {
			r := path.Join(filepath.ToSlash(rel), f.Name)
			switch {
			case c.Image != "" && f.Name == c.imageArchive():
				b.Images = append(b.Images, ImageArchive{Ref: c.Image, Rel: r, SHA256: sums[f.Name]})
			case f.DestDir != "":
				b.Binaries = append(b.Binaries, Binary{Name: f.Name, Component: c.Name, Version: c.Version, Rel: r, DestDir: f.DestDir, SHA256: sums[f.Name]})
			default:
				b.Files = append(b.Files, Binary{Name: f.Name, Component: c.Name, Version: c.Version, Rel: r, SHA256: sums[f.Name]})
			}
		}
	}
	return b, nil
}

// EmulatedNative lists the programs that nodes running under qemu-user
// (nodes of another architecture than this host's) take in this host's
// architecture, because qemu-user (7.2, Debian 12) cannot run them:
//   - runc clones with CLONE_PARENT to start a container, which qemu-user
//     refuses with EINVAL ("nsexec: unable to spawn stage-1");
//   - containerd-shim-runc-v2 makes itself a child subreaper at start
//     (prctl PR_SET_CHILD_SUBREAPER), which qemu-user answers with EINVAL;
//   - containerd asks whether seccomp works with prctl(PR_SET_SECCOMP),
//     which qemu-user refuses (EINVAL) so the guest cannot filter out the
//     syscalls qemu needs; containerd then refuses every pod sandbox, since
//     the kubelet always asks RuntimeDefault for it ("seccomp is not
//     supported"). ctr goes with it: it imports for its own platform.
//
// The native runc sets the container up (with the host's default seccomp
// profile, which is right: the process it runs is qemu-user, a host
// program) and execs the pod's program, which binfmt_misc hands back to
// qemu-user: pods still run the nodes' architecture, and so do kubelet,
// kube-proxy, etcd, the control plane and everything else. The images are
// relabeled for the native containerd (Bundle.RelabelImages).
func EmulatedNative() []string {
	return []string{"runc", "containerd-shim-runc-v2", "containerd", "ctr"}
}

// RelabelImages is for nodes under qemu-user (EmulatedNative): this host's
// containerd only uses images of its own platform, so each image archive is
// replaced by a copy whose config names hostArch, with the same layers (the
// nodes' architecture's programs, run through binfmt). The copies are
// cached under Root/emulated-<hostArch>/, named by the original's SHA-256,
// each with its own SHA-256 beside it (.sha256), so a later command that
// opens the cluster reads the sum instead of hashing the archive again.
func (b *Bundle) RelabelImages(hostArch string) error {
	for i, im := range b.Images {
		rel := path.Join("emulated-"+hostArch, im.SHA256[:min(16, len(im.SHA256))]+"-"+path.Base(im.Rel))
		dst := filepath.Join(b.Root, filepath.FromSlash(rel))
		sum, err := os.ReadFile(dst + ".sha256")
		if _, statErr := os.Stat(dst); err != nil || statErr != nil {
			if sum, err = relabelCopy(filepath.Join(b.Root, filepath.FromSlash(im.Rel)), dst, im.Ref, hostArch); err != nil {
				return fmt.Errorf("image %s for nodes under emulation: %v", im.Ref, err)
			}
		}
		b.Images[i].Rel, b.Images[i].SHA256 = rel, strings.TrimSpace(string(sum))
	}
	return nil
}

// relabelCopy writes the relabeled copy of src to dst (through a temporary
// file, so a cut run leaves no half archive) and its SHA-256 to dst.sha256.
func relabelCopy(src, dst, ref, hostArch string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	tmp := dst + ".tmp"
	defer os.Remove(tmp)
	if err := images.Relabel(src, tmp, ref, hostArch); err != nil {
		return nil, err
	}
	sum, _, err := fileSHA256(tmp)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, err
	}
	return []byte(sum), os.WriteFile(dst+".sha256", []byte(sum+"\n"), 0o644)
}

// ResolveEmulated is Resolve for nodes that run under qemu-user on a host
// whose cache is host: every file from s (the nodes' architecture), except
// the EmulatedNative programs, which come from host.
func (s *Store) ResolveEmulated(kubeVersion string, host *Store) (*Bundle, error) {
	m, err := ManifestFor(kubeVersion)
	if err != nil {
		return nil, err
	}
	b, err := s.ResolveManifest(m)
	if err != nil {
		return nil, err
	}
	// Only the components that hold a native program must be in host's
	// cache.
	hm := &Manifest{KubernetesVersion: m.KubernetesVersion}
	for _, c := range m.Components {
		if slices.ContainsFunc(c.Files, func(f File) bool { return slices.Contains(EmulatedNative(), f.Name) }) {
			hm.Components = append(hm.Components, c)
		}
	}
	hb, err := host.ResolveManifest(hm)
	if err != nil {
		return nil, fmt.Errorf("%v (%s nodes run under emulation with this host's %s)", err, s.Arch, strings.Join(EmulatedNative(), " and "))
	}
	if hb.Root != b.Root {
		return nil, fmt.Errorf("internal error: the %s and %s caches have different roots", s.Arch, host.Arch)
	}
	for i, bin := range b.Binaries {
		if !slices.Contains(EmulatedNative(), bin.Name) {
			continue
		}
		native, ok := hb.Binary(bin.Name)
		if !ok {
			return nil, fmt.Errorf("internal error: %s missing from the %s cache entry", bin.Name, host.Arch)
		}
		b.Binaries[i] = native
	}
	return b, nil
}
