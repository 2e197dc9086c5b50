// Package artifacts obtains every binary and pod image a cluster needs, pinned
// to exact versions, and keeps them in a cache the nodes mount read-only.
//
// Each component can come from three places: built from source with the local
// Go toolchain (works with nothing but the Go module proxy), downloaded from
// the official release (verified against a SHA-256 pinned here), or copied
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
	// KindPause builds the project's own pause program (embedded source).
	KindPause SourceKind = "pause"
	// KindImage assembles an image archive from other components' files.
	KindImage SourceKind = "image"
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
}

// Download is one official release file.
type Download struct {
	// URL may contain {arch}.
	URL string
	// SHA256 per arch (hex); a missing arch means no pinned checksum.
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

// kubeRelease holds what differs between Kubernetes versions.
type kubeRelease struct {
	version string
	// gitCommit of the tag; empty when not known here (the module proxy does
	// not say). Stamped anyway so versions do not show "$Format:%H$".
	gitCommit string
	crictl    string
	// sha256 of dl.k8s.io/<v>/bin/linux/<arch>/<binary>, by binary then arch.
	sha map[string]map[string]string
}

// kubeReleases is a function, not a package variable, so nothing global can be
// changed by a caller.
func kubeReleases() map[string]kubeRelease {
	return map[string]kubeRelease{
		"v1.37.2": {
			version: "v1.37.2",
			crictl:  "v1.37.0",
			// No published checksums found for v1.37.2 binaries (kubespray's
			// checksums.yml stops at v1.36.4): release download refuses.
			sha: nil,
		},
		"v1.36.3": {
			version: "v1.36.3",
			crictl:  "v1.34.0",
			// From kubespray roles/kubespray_defaults/vars/main/checksums.yml.
			// Only kubelet and kubectl are listed there; the control-plane
			// binaries have no pinned value, so the release form of the
			// component refuses rather than trusting an unverified file.
			sha: map[string]map[string]string{
				"kubelet": {
					"amd64": "46707a53209f826ad0f0d62371ac69cd00e78fd9a8176cf5f6f87f18f7f8b718",
					"arm64": "57205a5daf5883873d87b4914e1e00bdd7707acd075714788cfb0fc1f60bc414",
				},
				"kubectl": {
					"amd64": "ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336",
					"arm64": "3d86f24401c41ae5a46ac50eef8865fe891d3647d324a0836f6c63757a126e62",
				},
			},
		},
	}
}

// kubeBinaryNames are the Kubernetes programs the cluster runs.
func kubeBinaryNames() []string {
	return []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}
}

// Pinned versions of everything that is not Kubernetes itself.
const (
	EtcdVersion       = "v3.6.5"
	ContainerdVersion = "v2.2.0"
	RuncVersion       = "v1.5.2"
	CNIVersion        = "v1.9.0"
	CoreDNSVersion    = "v1.12.4"
)

// ManifestFor returns the pinned manifest for a Kubernetes version.
func ManifestFor(kubeVersion string) (*Manifest, error) {
	kr, ok := kubeReleases()[kubeVersion]
	if !ok {
		return nil, fmt.Errorf("kubernetesVersion %s has no pinned artifacts; use one of %s", kubeVersion, strings.Join(SupportedVersions(), ", "))
	}
	m := &Manifest{KubernetesVersion: kubeVersion}
	m.Components = append(m.Components,
		etcdComponent(), containerdComponent(), runcComponent(), cniComponent(),
		crictlComponent(kr.crictl), corednsComponent(),
		kubernetesComponent(kr),
		pauseImageComponent(), corednsImageComponent(), testappImageComponent(),
	)
	return m, nil
}

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
		c.Release = append(c.Release, Download{
			URL:    "https://dl.k8s.io/release/" + v + "/bin/linux/{arch}/" + b,
			SHA256: kr.sha[b],
			As:     b,
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

func etcdComponent() Component {
	v := EtcdVersion
	bare := strings.TrimPrefix(v, "v")
	return Component{
		Name:    CompEtcd,
		Version: v,
		Files: []File{
			{Name: "etcd", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "etcd Version: " + bare},
			{Name: "etcdctl", DestDir: BinDir, VersionArgs: []string{"version"}, VersionWant: "etcdctl version: " + bare},
		},
		Source: &SourceRecipe{
			Kind: KindWrapper,
			Requires: map[string]string{
				"go.etcd.io/etcd/server/v3":  v,
				"go.etcd.io/etcd/etcdctl/v3": v,
			},
			Mains: map[string]string{
				"etcd":    wrapperMain("go.etcd.io/etcd/server/v3/etcdmain", "etcdmain.Main(os.Args)", true),
				"etcdctl": wrapperMain("go.etcd.io/etcd/etcdctl/v3/ctlv3", "ctlv3.MustStart()", false),
			},
		},
		Release: []Download{{
			URL: "https://github.com/etcd-io/etcd/releases/download/" + v + "/etcd-" + v + "-linux-{arch}.tar.gz",
			SHA256: map[string]string{ // kubespray checksums.yml
				"amd64": "66bad39ed920f6fc15fd74adcb8bfd38ba9a6412f8c7852d09eb11670e88cac3",
				"arm64": "7010161787077b07de29b15b76825ceacbbcedcb77fe2e6832f509be102cab6b",
			},
			Members: map[string]string{
				"etcd-" + v + "-linux-{arch}/etcd":    "etcd",
				"etcd-" + v + "-linux-{arch}/etcdctl": "etcdctl",
			},
		}},
	}
}

// wrapperMain is the source of a generated main package.
func wrapperMain(importPath, call string, needsOS bool) string {
	imports := "\t\"" + importPath + "\"\n"
	if needsOS {
		imports = "\t\"os\"\n\n" + imports
	}
	return "// Code generated by hardway to build a pinned upstream program. DO NOT EDIT.\npackage main\n\nimport (\n" + imports + ")\n\nfunc main() { " + call + " }\n"
}

func containerdComponent() Component {
	v := ContainerdVersion
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
			// The static archive: the dynamic one needs the node's glibc to
			// match the release build host's.
			URL: "https://github.com/containerd/containerd/releases/download/" + v + "/containerd-static-" + strings.TrimPrefix(v, "v") + "-linux-{arch}.tar.gz",
			SHA256: map[string]string{ // kubespray checksums.yml
				"amd64": "2d20037947cbb0def12b8ac0c572b212284c1832bf3c921df1e58975515d1d08",
				"arm64": "5f2a7f451231ff35d8306f874c51606fc9da1e2db56048834a23260f68a78eef",
			},
			Members: map[string]string{
				"bin/containerd":              "containerd",
				"bin/containerd-shim-runc-v2": "containerd-shim-runc-v2",
				"bin/ctr":                     "ctr",
			},
		}},
	}
}

func runcComponent() Component {
	v := RuncVersion
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
			URL:    "https://github.com/opencontainers/runc/releases/download/" + v + "/runc.{arch}",
			SHA256: nil, // no published value found for v1.5.2
			As:     "runc",
		}},
	}
}

func cniComponent() Component {
	v := CNIVersion
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
	dl := Download{
		URL:     "https://github.com/containernetworking/plugins/releases/download/" + v + "/cni-plugins-linux-{arch}-" + v + ".tgz",
		SHA256:  nil, // no published value found for v1.9.0 (kubespray lists v1.9.1)
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
	sha := map[string]map[string]string{
		// kubespray checksums.yml; v1.37.0 is not listed there.
		"v1.34.0": {
			"amd64": "a8ff2a3edb37a98daf3aba7c3b284fe0aa5bff24166d896ab9ef64c8913c9f51",
			"arm64": "c31d252e203df5f4cf37f314bd3092eb79087e791631c1e607087c74b6d0423f",
		},
	}
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
			URL:     "https://github.com/kubernetes-sigs/cri-tools/releases/download/" + v + "/crictl-" + v + "-linux-{arch}.tar.gz",
			SHA256:  sha[v],
			Members: map[string]string{"crictl": "crictl"},
		}},
	}
}

func corednsComponent() Component {
	v := CoreDNSVersion
	bare := strings.TrimPrefix(v, "v")
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
			URL:     "https://github.com/coredns/coredns/releases/download/" + v + "/coredns_" + bare + "_linux_{arch}.tgz",
			SHA256:  nil, // no published value found for v1.12.4
			Members: map[string]string{"coredns": "coredns"},
		}},
	}
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

func corednsImageComponent() Component {
	return Component{
		Name:      CompCoreDNSImage,
		Version:   imageTag(images.CoreDNS),
		Image:     images.CoreDNS,
		Files:     []File{{Name: "coredns.tar"}},
		Source:    &SourceRecipe{Kind: KindImage},
		DependsOn: []string{CompCoreDNS},
	}
}

func testappImageComponent() Component {
	return Component{
		Name:    CompTestAppImage,
		Version: imageTag(images.TestApp),
		Image:   images.TestApp,
		// busybox is kept next to the archive: it is what the image packs,
		// so a rebuild does not need to fetch the .deb again.
		Files:  []File{{Name: "busybox"}, {Name: "testapp.tar"}},
		Source: &SourceRecipe{Kind: KindImage},
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
