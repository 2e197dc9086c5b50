// Package artifacts obtains every binary and pod image a cluster needs, pinned
// to exact versions, and keeps them in a cache the nodes mount read-only.
//
// Each component can come from three places: built from source with the local
// Go toolchain (works with nothing but the Go module proxy), downloaded from
// the official release (verified against a SHA-256 pinned here or, without a
// pin, the checksum the project publishes next to the release), or copied
// from a directory of the user's own binaries (verified by asking each binary
// its version).
package artifacts

import (
	"fmt"
	"sort"
	"strings"

	"hardway.dev/hardway/internal/images"
)

// Where binaries go inside a node. The node copies them there from the cache
// mount so that the cache stays read-only and systemd units use usual paths.
const (
	BinDir = "/usr/local/bin"
	CNIDir = "/opt/cni/bin"
)

// NodeMountDir is where a node sees the cache root (read-only).
const NodeMountDir = "/opt/hardway/artifacts"

// Component is one unit of the manifest: a set of files obtained together
// (they come out of one build or one release archive).
type Component struct {
	Name    string
	Version string
	Files   []File
	// Source says how to build it from source; nil means it cannot be.
	Source *SourceRecipe
	// Release lists official downloads; nil means there is no release form
	// (images are always built locally).
	Release []Download
	// Image is set for pod images: the reference the archive carries.
	Image string
	// DependsOn names components whose files this one consumes (the CoreDNS
	// image packs the coredns binary).
	DependsOn []string
}

// File is one file of a component's cache entry.
type File struct {
	Name string
	// DestDir is where a node installs it; empty for image archives.
	DestDir string
	// VersionArgs and VersionWant check a binary: its output (stdout and
	// stderr) for VersionArgs must contain VersionWant. An empty VersionWant
	// means the file is not a program to check.
	VersionArgs []string
	VersionWant string
	// VersionAnyExit: the program prints its version and then exits non-zero
	// (a CNI plugin run without CNI_COMMAND prints "CNI <name> plugin <v>" and
	// an error).
	VersionAnyExit bool
}

// Recipe kinds for building from source.
type SourceKind string

const (
	// KindKubernetes builds from a generated module that requires
	// k8s.io/kubernetes and pins each staging module by version, because
	// kubernetes' own go.mod replaces them with directories its module zip
	// does not contain. buildDate is stamped from the module proxy's time of
	// the tag, so rebuilds are reproducible.
	KindKubernetes SourceKind = "kubernetes"
	// KindWrapper builds tiny generated main packages against a module (etcd
	// modules replace their siblings with relative paths, so they cannot be
	// built or installed in place).
	KindWrapper SourceKind = "wrapper"
	// KindModuleCopy builds inside a writable copy of the downloaded module
	// (its go.mod has exclude or replace lines that only apply as main module).
	KindModuleCopy SourceKind = "module-copy"
	// KindGoInstall is plain `go install pkg@version`.
	KindGoInstall SourceKind = "go-install"
	// KindGoTest: a test binary (go test -c) and programs from a generated
	// module requiring Requires (the Gateway API conformance suite).
	KindGoTest SourceKind = "go-test"
	// KindPause builds the project's own pause program (embedded source).
	KindPause SourceKind = "pause"
	// KindImage assembles an image archive from other components' files.
	KindImage SourceKind = "image"
	// KindBusybox builds upstream busybox from its source tarball (fetched
	// from the Debian archive, pinned by SHA-256) with make and gcc.
	KindBusybox SourceKind = "busybox"
	// KindDebootstrap makes a Debian root file system with Packages.
	KindDebootstrap SourceKind = "debootstrap"
)

// SourceRecipe says how to build a component with the Go toolchain.
type SourceRecipe struct {
	Kind          SourceKind
	Module        string // module path
	ModuleVersion string
	// Packages are import paths (KindGoInstall, KindKubernetes) or
	// directories relative to the module root (KindModuleCopy). The binary is
	// named after the last path element, or after the module for ".".
	Packages []string
	// Mains are generated main packages (KindWrapper): binary → source.
	Mains map[string]string
	// Requires are extra modules a wrapper needs (path → version).
	Requires map[string]string
	CGO      bool
	Tags     []string
	// LDFlags are -X settings; -s -w are always added.
	LDFlags []string
	// NeedsSeccomp: cgo links libseccomp, so the build host needs its headers.
	NeedsSeccomp bool
	// StaticCGO links a cgo program statically (like upstream's release
	// runc), so nodes need neither libseccomp2 nor a matching glibc.
	StaticCGO bool
	// TestBinary (KindKubernetes): the one package is a test package,
	// compiled with `go test -c` into <last path element>.test.
	TestBinary bool
	// ModuleFiles (KindGoInstall, KindModuleCopy) are files taken from the
	// module's source into the entry: entry file name → paths in the
	// module, joined as one YAML stream (an add-on's CRDs, generated
	// upstream from its types).
	ModuleFiles map[string][]string
	// Nested (KindModuleCopy) are modules of the same repository and
	// version that the module's go.mod replaces with a directory of its
	// own (replace M => ./dir): a module zip leaves out every directory
	// that has a go.mod of its own, so each is downloaded by its module
	// path and put there (directory → module path).
	Nested map[string]string
	// GoToolchain (e.g. go1.27.3) is the Go release the module's go line
	// needs when it is newer than this host's go: the go command then
	// fetches that toolchain from the Go module proxy (golang.org/toolchain)
	// by itself, GOTOOLCHAIN set for this build only.
	GoToolchain string
	// ImageRecipe (KindImage) names what to assemble when the component's
	// name does not say it (the e2e images).
	ImageRecipe string
	// Overlay (KindModuleCopy) are files written into the module's copy
	// before the build: path in the module → content (what the module zip
	// lacks but the build needs, like Traefik's webui/static).
	Overlay map[string]string
}

// Download is one official release file and what vouches for its SHA-256.
type Download struct {
	// URL may contain {arch}.
	URL string
	// Sum is the checksum file the project publishes next to the release.
	// It is used when hardway pins no SHA-256 for the arch.
	Sum PublishedSum
	// SHA256 per arch (hex), pinned in hardway's manifest (pins.go). A pin
	// wins: the published sum is then not consulted at all, so a pin that
	// disagrees with it decides (and a download that matches only the
	// published sum fails, naming the pin).
	SHA256 map[string]string
	// Members maps a path inside a .tar.gz to the file name in the entry;
	// nil means the download is itself the single file named As.
	Members map[string]string
	As      string
}

// Manifest is every component for one Kubernetes version.
type Manifest struct {
	KubernetesVersion string
	Components        []Component
}

// Component returns the named component.
func (m *Manifest) Component(name string) (*Component, bool) {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i], true
		}
	}
	return nil, false
}

// SupportedVersions lists the Kubernetes versions the manifest pins.
func SupportedVersions() []string {
	v := []string{"v1.37.2", "v1.36.3"}
	sort.Strings(v)
	return v
}

// Component names.
const (
	CompKubernetes   = "kubernetes"
	CompEtcd         = "etcd"
	CompContainerd   = "containerd"
	CompRunc         = "runc"
	CompCNI          = "cni-plugins"
	CompCrictl       = "crictl"
	CompCoreDNS      = "coredns"
	CompPauseImage   = "image-pause"
	CompCoreDNSImage = "image-coredns"
	CompTestAppImage = "image-testapp"
)

// kubeRelease is one row of the version table: a Kubernetes release and the
// version of every other component that goes with it.
type kubeRelease struct {
	version string
	// gitCommit of the tag; empty when not known here (the module proxy does
	// not say). Stamped anyway so versions do not show "$Format:%H$".
	gitCommit string
	// What upstream validates for this release (see kubeReleases).
	etcd, coredns, cni, crictl string
	// Kubernetes names no versions for these; they are hardway's choice.
	containerd, runc string
}

// kubeReleases is the version table: everything that differs between
// Kubernetes versions is here and nowhere else. It is a function, not a
// package variable, so nothing global can be changed by a caller.
//
// Where the versions come from (read in the k8s.io/kubernetes module of each
// tag, `go mod download -json k8s.io/kubernetes@vX`):
//   - etcd: cmd/kubeadm/app/constants/constants.go, DefaultEtcdVersion
//     (v1.37.2: "3.7.0-0", v1.36.3: "3.6.8-0"); build/dependencies.yaml agrees.
//     Exception: v1.36.3 gets the newest 3.6 patch, v3.6.16, because etcd
//     supports a rolling upgrade to 3.7 only from 3.6.11 or later
//     (etcd.io/docs/v3.7/upgrades/upgrade_3_7), and hardway upgrades a
//     v1.36.3 cluster to v1.37.2 in place.
//   - coredns: the same file's CoreDNSVersion (v1.37.2: v1.14.6, v1.36.3:
//     v1.14.2).
//   - cni: build/dependencies.yaml "cni" (1.9.1 for both).
//   - crictl: matched to the Kubernetes minor, as cri-tools versions itself
//     (crictl vX.Y is the one tested against Kubernetes vX.Y).
//     build/dependencies.yaml names an older one (1.36.0 for v1.37.2, 1.35.0
//     for v1.36.3), and cri-tools v1.35.0 is not served by the Go module proxy
//     (403), so it could not be built from source here anyway.
//
// Every version is served by the Go module proxy and builds with the recipes
// below (checked with `hardway artifacts build --source source`).
func kubeReleases() map[string]kubeRelease {
	return map[string]kubeRelease{
		"v1.37.2": {
			version:    "v1.37.2",
			etcd:       "v3.7.0",
			coredns:    "v1.14.6",
			cni:        "v1.9.1",
			crictl:     "v1.37.0",
			containerd: "v2.2.0",
			runc:       "v1.5.2",
		},
		"v1.36.3": {
			version:    "v1.36.3",
			etcd:       "v3.6.16",
			coredns:    "v1.14.2",
			cni:        "v1.9.1",
			crictl:     "v1.36.0",
			containerd: "v2.2.0",
			runc:       "v1.5.2",
		},
	}
}

// kubeBinaryNames are the Kubernetes programs the cluster runs.
func kubeBinaryNames() []string {
	return []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}
}

// ManifestFor returns the pinned manifest for a Kubernetes version.
func ManifestFor(kubeVersion string) (*Manifest, error) {
	kr, ok := kubeReleases()[kubeVersion]
	if !ok {
		return nil, fmt.Errorf("kubernetesVersion %s has no pinned artifacts; use one of %s", kubeVersion, strings.Join(SupportedVersions(), ", "))
	}
	m := &Manifest{KubernetesVersion: kubeVersion}
	m.Components = append(m.Components,
		etcdComponent(kr.etcd), containerdComponent(kr.containerd), runcComponent(kr.runc), cniComponent(kr.cni),
		crictlComponent(kr.crictl), corednsComponent(kr.coredns),
		kubernetesComponent(kr),
		pauseImageComponent(), corednsImageComponent(kr.coredns), busyboxComponent(), testappImageComponent(),
	)
	pins := pinnedSHA256()
	for i := range m.Components {
		for j := range m.Components[i].Release {
			d := &m.Components[i].Release[j]
			d.SHA256 = pins[d.URL]
		}
	}
	return m, nil
}

// Where each project publishes the SHA-256 of its release files, and in which
// form, as read in its own release scripts:
//   - Kubernetes: dl.k8s.io/release/vX/bin/linux/ARCH/BIN.sha256 holds the
//     bare digest (kubernetes.io/docs/tasks/tools/install-kubectl-linux/
//     checks it with `echo "$(cat kubectl.sha256)  kubectl" | sha256sum
//     --check`).
//   - etcd: one SHA256SUMS per release, `shasum -a 256` over every archive
//     ("hex  etcd-vX-linux-ARCH.tar.gz" lines), uploaded to the GitHub release
//     by scripts/release.sh (go.etcd.io/etcd/v3@v3.7.0).
//   - containerd: ARCHIVE.sha256sum, `sha256sum ARCHIVE` (one "hex  name"
//     line), from the Makefile's release and static-release targets
//     (github.com/containerd/containerd/v2@v2.2.0).
//   - runc: one runc.sha256sum per release, `sha256sum runc.ARCH...` plus the
//     source tarball (one line per file), from script/release_build.sh
//     (github.com/opencontainers/runc@v1.5.2).
//   - CNI plugins: ARCHIVE.sha256, `sha256sum ARCHIVE | tee` (one "hex  name"
//     line), from .github/workflows/release.yaml
//     (github.com/containernetworking/plugins@v1.9.1).
//   - crictl: ARCHIVE.sha256 holds the bare digest (`sha256sum -b | sed | awk
//     '{print $1}'`), from hack/release.sh (sigs.k8s.io/cri-tools@v1.37.0).
//   - CoreDNS: ARCHIVE.sha256, `sha256sum ARCHIVE` (one "hex  name" line),
//     from .github/workflows/release.yml and Makefile.release
//     (github.com/coredns/coredns@v1.14.6).

func kubernetesComponent(kr kubeRelease) Component {
	v := kr.version
	major, minor := kubeMajorMinor(v)
	var ld []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ld = append(ld,
			pkg+".gitVersion="+v,
			pkg+".gitMajor="+major,
			pkg+".gitMinor="+minor,
			pkg+".gitTreeState=clean",
			pkg+".gitCommit="+kr.gitCommit,
		)
	}
	c := Component{
		Name:    CompKubernetes,
		Version: v,
		Source: &SourceRecipe{
			Kind:          KindKubernetes,
			Module:        "k8s.io/kubernetes",
			ModuleVersion: v,
			LDFlags:       ld,
		},
	}
	for _, b := range kubeBinaryNames() {
		f := File{Name: b, DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "Kubernetes " + v}
		if b == "kubectl" {
			f.VersionArgs = []string{"version", "--client"}
			f.VersionWant = "Client Version: " + v
		}
		c.Files = append(c.Files, f)
		c.Source.Packages = append(c.Source.Packages, "k8s.io/kubernetes/cmd/"+b)
		u := "https://dl.k8s.io/release/" + v + "/bin/linux/{arch}/" + b
		c.Release = append(c.Release, Download{
			URL: u,
			Sum: PublishedSum{URL: u + ".sha256", Format: SumBare},
			As:  b,
		})
	}
	return c
}

// kubeMajorMinor turns v1.37.2 into "1", "37".
func kubeMajorMinor(v string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// etcdComponent builds etcd and etcdctl. Checked against etcd v3.7.0: every
// flag etcd.service.tmpl passes is still registered in
// server/embed/config.go or server/etcdmain/config.go (3.7 removed only the
// v2 store flags, which hardway never used), etcdmain.Main and
// ctlv3.MustStart still exist, and the version lines still read "etcd
// Version: " and "etcdctl version: ".
func etcdComponent(v string) Component {
	bare := strings.TrimPrefix(v, "v")
	base := "https://github.com/etcd-io/etcd/releases/download/" + v + "/"
	return Component{
		Name:    CompEtcd,
		Version: v,
		Files: []File{
			{Name: "etcd", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "etcd Version: " + bare},
			{Name: "etcdctl", DestDir: BinDir, VersionArgs: []string{"version"}, VersionWant: "etcdctl version: " + bare},
			// etcdutl works on data files, not a running member: restoring
			// a snapshot needs it (etcdctl lost that command in 3.6).
			{Name: "etcdutl", DestDir: BinDir, VersionArgs: []string{"version"}, VersionWant: "etcdutl version: " + bare},
		},
		Source: &SourceRecipe{
			Kind: KindWrapper,
			Requires: map[string]string{
				"go.etcd.io/etcd/server/v3":  v,
				"go.etcd.io/etcd/etcdctl/v3": v,
				"go.etcd.io/etcd/etcdutl/v3": v,
			},
			Mains: map[string]string{
				"etcd":    wrapperMain("go.etcd.io/etcd/server/v3/etcdmain", "etcdmain.Main(os.Args)", true),
				"etcdctl": wrapperMain("go.etcd.io/etcd/etcdctl/v3/ctlv3", "ctlv3.MustStart()", false),
				// etcdutl's own main package cannot be imported: this one
				// assembles the commands its library exports.
				"etcdutl": etcdutlMain,
			},
		},
		Release: []Download{{
			URL: base + "etcd-" + v + "-linux-{arch}.tar.gz",
			Sum: PublishedSum{URL: base + "SHA256SUMS", Format: SumLines},
			Members: map[string]string{
				"etcd-" + v + "-linux-{arch}/etcd":    "etcd",
				"etcd-" + v + "-linux-{arch}/etcdctl": "etcdctl",
				"etcd-" + v + "-linux-{arch}/etcdutl": "etcdutl",
			},
		}},
	}
}

// etcdutlMain is a main package for etcdutl: the snapshot commands
// (restore, status) and version, from etcdutl's exported library.
const etcdutlMain = `// Code generated by hardway to build a pinned upstream program. DO NOT EDIT.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

func main() {
	root := &cobra.Command{Use: "etcdutl", Short: "etcd's offline tool (snapshot restore and status), built by hardway"}
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple", "output format: simple, json, table")
	root.AddCommand(etcdutl.NewSnapshotCommand(), etcdutl.NewVersionCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
`

// wrapperMain is the source of a generated main package.
func wrapperMain(importPath, call string, needsOS bool) string {
	imports := "\t\"" + importPath + "\"\n"
	if needsOS {
		imports = "\t\"os\"\n\n" + imports
	}
	return "// Code generated by hardway to build a pinned upstream program. DO NOT EDIT.\npackage main\n\nimport (\n" + imports + ")\n\nfunc main() { " + call + " }\n"
}

func containerdComponent(v string) Component {
	// The static archive: the dynamic one needs the node's glibc to match
	// the release build host's.
	u := "https://github.com/containerd/containerd/releases/download/" + v + "/containerd-static-" + strings.TrimPrefix(v, "v") + "-linux-{arch}.tar.gz"
	return Component{
		Name:    CompContainerd,
		Version: v,
		Files: []File{
			{Name: "containerd", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: " " + v},
			{Name: "containerd-shim-runc-v2", DestDir: BinDir, VersionArgs: []string{"-v"}, VersionWant: "Version:  " + v},
			{Name: "ctr", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: " " + v},
		},
		Source: &SourceRecipe{
			Kind:          KindModuleCopy,
			Module:        "github.com/containerd/containerd/v2",
			ModuleVersion: v,
			Packages:      []string{"./cmd/containerd", "./cmd/containerd-shim-runc-v2", "./cmd/ctr"},
			Tags:          []string{"urfave_cli_no_docs"},
			LDFlags:       []string{"github.com/containerd/containerd/v2/version.Version=" + v},
		},
		Release: []Download{{
			URL: u,
			Sum: PublishedSum{URL: u + ".sha256sum", Format: SumLines},
			Members: map[string]string{
				"bin/containerd":              "containerd",
				"bin/containerd-shim-runc-v2": "containerd-shim-runc-v2",
				"bin/ctr":                     "ctr",
			},
		}},
	}
}

func runcComponent(v string) Component {
	base := "https://github.com/opencontainers/runc/releases/download/" + v + "/"
	return Component{
		Name:    CompRunc,
		Version: v,
		Files: []File{
			{Name: "runc", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "runc version " + strings.TrimPrefix(v, "v")},
		},
		Source: &SourceRecipe{
			Kind:          KindModuleCopy,
			Module:        "github.com/opencontainers/runc",
			ModuleVersion: v,
			Packages:      []string{"."},
			// Without seccomp pods fail with "seccomp not supported"; the
			// libpathrs tag of upstream's Makefile needs a Rust library.
			CGO:          true,
			Tags:         []string{"seccomp", "urfave_cli_no_docs", "netgo", "osusergo"},
			NeedsSeccomp: true,
			StaticCGO:    true,
		},
		Release: []Download{{
			URL: base + "runc.{arch}",
			Sum: PublishedSum{URL: base + "runc.sha256sum", Format: SumLines},
			As:  "runc",
		}},
	}
}

func cniComponent(v string) Component {
	c := Component{
		Name:    CompCNI,
		Version: v,
		Source: &SourceRecipe{
			Kind:          KindGoInstall,
			Module:        "github.com/containernetworking/plugins",
			ModuleVersion: v,
			LDFlags:       []string{"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=" + v},
		},
	}
	u := "https://github.com/containernetworking/plugins/releases/download/" + v + "/cni-plugins-linux-{arch}-" + v + ".tgz"
	dl := Download{
		URL:     u,
		Sum:     PublishedSum{URL: u + ".sha256", Format: SumLines},
		Members: map[string]string{},
	}
	for _, p := range []string{"main/bridge", "ipam/host-local", "main/loopback", "meta/portmap"} {
		name := p[strings.LastIndex(p, "/")+1:]
		// A CNI plugin run without CNI_COMMAND prints "CNI <name> plugin <version>".
		c.Files = append(c.Files, File{Name: name, DestDir: CNIDir, VersionWant: "plugin " + v, VersionAnyExit: true})
		c.Source.Packages = append(c.Source.Packages, c.Source.Module+"/plugins/"+p)
		dl.Members["./"+name] = name
	}
	c.Release = []Download{dl}
	return c
}

func crictlComponent(v string) Component {
	u := "https://github.com/kubernetes-sigs/cri-tools/releases/download/" + v + "/crictl-" + v + "-linux-{arch}.tar.gz"
	return Component{
		Name:    CompCrictl,
		Version: v,
		Files: []File{
			{Name: "crictl", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "crictl version " + v},
		},
		Source: &SourceRecipe{
			Kind:          KindGoInstall,
			Module:        "sigs.k8s.io/cri-tools",
			ModuleVersion: v,
			Packages:      []string{"sigs.k8s.io/cri-tools/cmd/crictl"},
			LDFlags:       []string{"sigs.k8s.io/cri-tools/pkg/version.Version=" + v},
		},
		Release: []Download{{
			URL:     u,
			Sum:     PublishedSum{URL: u + ".sha256", Format: SumBare},
			Members: map[string]string{"crictl": "crictl"},
		}},
	}
}

func corednsComponent(v string) Component {
	bare := strings.TrimPrefix(v, "v")
	u := "https://github.com/coredns/coredns/releases/download/" + v + "/coredns_" + bare + "_linux_{arch}.tgz"
	return Component{
		Name:    CompCoreDNS,
		Version: v,
		Files: []File{
			// Not installed on nodes: it runs as a pod from the image.
			{Name: "coredns", VersionArgs: []string{"-version"}, VersionWant: "CoreDNS-" + bare},
		},
		Source: &SourceRecipe{
			Kind:          KindGoInstall,
			Module:        "github.com/coredns/coredns",
			ModuleVersion: v,
			Packages:      []string{"github.com/coredns/coredns"},
		},
		Release: []Download{{
			URL:     u,
			Sum:     PublishedSum{URL: u + ".sha256", Format: SumLines},
			Members: map[string]string{"coredns": "coredns"},
		}},
	}
}

// CoreDNSImage is the reference of the CoreDNS image a cluster of
// kubeVersion runs (no cache needed: explain and render use it too).
func CoreDNSImage(kubeVersion string) (string, error) {
	m, err := ManifestFor(kubeVersion)
	if err != nil {
		return "", err
	}
	c, ok := m.Component(CompCoreDNSImage)
	if !ok {
		return "", fmt.Errorf("the manifest of %s has no CoreDNS image (a bug in hardway)", kubeVersion)
	}
	return c.Image, nil
}

// imageTag is the tag part of an image reference.
func imageTag(ref string) string { return ref[strings.LastIndex(ref, ":")+1:] }

func pauseImageComponent() Component {
	return Component{
		Name:    CompPauseImage,
		Version: imageTag(images.Pause),
		Image:   images.Pause,
		Files:   []File{{Name: "pause"}, {Name: "pause.tar"}},
		Source:  &SourceRecipe{Kind: KindPause},
	}
}

// corednsImageComponent packs the coredns binary of version v, tagged with
// that version.
func corednsImageComponent(v string) Component {
	return Component{
		Name:      CompCoreDNSImage,
		Version:   v,
		Image:     images.CoreDNSRef(v),
		Files:     []File{{Name: "coredns.tar"}},
		Source:    &SourceRecipe{Kind: KindImage},
		DependsOn: []string{CompCoreDNS},
	}
}

// testappImageComponent packs upstream busybox (the component the e2e
// busybox images use too): Debian's static busybox 1.35 crashed in
// `wget -T`, which every smoke test runs.
func testappImageComponent() Component {
	return Component{
		Name:      CompTestAppImage,
		Version:   imageTag(images.TestApp),
		Image:     images.TestApp,
		Files:     []File{{Name: "testapp.tar"}},
		Source:    &SourceRecipe{Kind: KindImage},
		DependsOn: []string{CompBusybox},
	}
}

// imageArchive is the file of an image component that holds the archive.
func (c *Component) imageArchive() string {
	for _, f := range c.Files {
		if strings.HasSuffix(f.Name, ".tar") {
			return f.Name
		}
	}
	return ""
}
