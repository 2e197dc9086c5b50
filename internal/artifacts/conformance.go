package artifacts

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// What `hardway conformance` and `hardway registry` need beyond a cluster:
// the upstream e2e test binary, ginkgo to run it in parallel, an image
// registry, and the images the tests run. None of it is part of a cluster's
// bundle, so `hardway up` never waits for it.
const (
	CompE2ETest = "e2e-test"
	// CompE2EBinaries are the Go programs of the e2e images (agnhost, the
	// sample API server), built from the same wrapper module as Kubernetes.
	CompE2EBinaries = "e2e-image-binaries"
	CompGinkgo      = "ginkgo"
	CompRegistry    = "registry"
	// CompBusybox is upstream busybox built from its source tarball.
	CompBusybox = "busybox"
	// CompDebianBase is a Debian root file system (debootstrap) with the
	// tools the e2e tests run inside agnhost and nginx containers.
	CompDebianBase = "e2e-debian-base"
)

// RegistryVersion is the distribution registry hardway runs for a cluster.
// v3.1.2's go.mod has no replace or exclude lines, so `go install` builds
// it from the module proxy.
const RegistryVersion = "v3.1.2"

// BusyboxVersion is the busybox release the e2e busybox image packs
// (registry.k8s.io/e2e-test-images/busybox:1.37.0-2 is upstream's
// busybox:1.37.0). Debian's busybox cannot stand in: Debian reverts
// upstream commit 9c143ce5 (debian/patches/revert-9c143ce52...patch), so its
// ash drops environment variables whose names are not shell identifiers,
// and the ConfigMap/Secret "environment variable names with various
// prefixes" conformance tests see no such variable in `sh -c env`.
const BusyboxVersion = "1.37.0"

// busyboxComponent is upstream busybox, static, built from source: the e2e
// busybox images and the cluster's test app image pack the same binary.
func busyboxComponent() Component {
	return Component{
		Name: CompBusybox, Version: BusyboxVersion,
		Files:  []File{{Name: "busybox", VersionArgs: []string{"--help"}, VersionWant: "BusyBox v" + BusyboxVersion}},
		Source: &SourceRecipe{Kind: KindBusybox, CGO: true},
	}
}

// busyboxSource is the upstream source tarball as Debian's archive keeps it
// (the .orig.tar.bz2 of Debian's busybox package is upstream's
// busybox-1.37.0.tar.bz2, byte for byte), and its pinned SHA-256.
func busyboxSource() (pathInMirror, sha256 string) {
	return "pool/main/b/busybox/busybox_" + BusyboxVersion + ".orig.tar.bz2",
		"3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
}

// debianBaseVersion names the recipe of the Debian base: bump it when
// debianBasePackages changes, so the cache builds it again.
const debianBaseVersion = "bookworm-1"

// DebianBasePackages are installed on debootstrap's minbase for the e2e
// images, each for what tests run inside agnhost (upstream: Alpine with the
// same tools, see test/images/agnhost/Dockerfile) or nginx containers.
func DebianBasePackages() []string {
	return []string{
		"bind9-dnsutils", // dig, nslookup: the DNS conformance tests
		"curl",           // service and network tests
		"netcat-openbsd", // nc: services, ExternalName
		"iproute2",       // ip, ss
		"iputils-ping",   // ping
		"iperf",          // network performance tests
		"socat",          // port-forward tests
		"procps",         // ps
		"wget",           // like busybox's wget in Alpine
		"nginx-light",    // the nginx stand-in
	}
}

// conformanceVersions are, per Kubernetes version, the versions of the test
// tools. ginkgo must be the version k8s.io/kubernetes' go.mod requires: the
// CLI and the library compiled into e2e.test talk over a private protocol
// (TestGinkgoMatchesKubernetesGoMod checks this against the module cache).
func conformanceVersions() map[string]string {
	return map[string]string{
		"v1.37.2": "v2.32.0",
		"v1.36.3": "v2.28.1",
	}
}

// ConformanceManifest lists the test tools for a Kubernetes version: the
// registry, ginkgo and e2e.test (built last: ~17 minutes cold on 2 cores).
func ConformanceManifest(kubeVersion string) (*Manifest, error) {
	kr, ok := kubeReleases()[kubeVersion]
	ginkgo, ok2 := conformanceVersions()[kubeVersion]
	if !ok || !ok2 {
		return nil, fmt.Errorf("kubernetesVersion %s has no pinned conformance tools; use one of %s", kubeVersion, strings.Join(SupportedVersions(), ", "))
	}
	e2e := kubernetesComponent(kr)
	e2e.Name, e2e.Release = CompE2ETest, nil
	e2e.Source.Packages = []string{"k8s.io/kubernetes/test/e2e"}
	e2e.Source.TestBinary = true
	// e2e.test --version prints the stamped gitVersion.
	e2e.Files = []File{{Name: "e2e.test", VersionArgs: []string{"--version"}, VersionWant: kubeVersion}}
	return &Manifest{KubernetesVersion: kubeVersion, Components: []Component{
		RegistryComponent(),
		{
			Name:    CompGinkgo,
			Version: ginkgo,
			Files:   []File{{Name: "ginkgo", VersionArgs: []string{"version"}, VersionWant: "Ginkgo Version " + strings.TrimPrefix(ginkgo, "v")}},
			Source: &SourceRecipe{
				Kind:          KindGoInstall,
				Module:        "github.com/onsi/ginkgo/v2",
				ModuleVersion: ginkgo,
				Packages:      []string{"github.com/onsi/ginkgo/v2/ginkgo"},
			},
		},
		e2e,
	}}, nil
}

// RegistryComponent is the distribution registry (the reference OCI
// registry, once docker/distribution), installed on the registry machine.
func RegistryComponent() Component {
	return Component{
		Name:    CompRegistry,
		Version: RegistryVersion,
		Files:   []File{{Name: "registry", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: " " + RegistryVersion}},
		Source: &SourceRecipe{
			Kind:          KindGoInstall,
			Module:        "github.com/distribution/distribution/v3",
			ModuleVersion: RegistryVersion,
			Packages:      []string{"github.com/distribution/distribution/v3/cmd/registry"},
			LDFlags:       []string{"github.com/distribution/distribution/v3/version.version=" + RegistryVersion},
		},
	}
}

// RegistryManifest is what `hardway registry` needs: the registry alone.
func RegistryManifest(kubeVersion string) *Manifest {
	return &Manifest{KubernetesVersion: kubeVersion, Components: []Component{RegistryComponent()}}
}

// Stand-in kinds of an e2e image.
const (
	// Rebuilt: the same program at the same version, built here from its
	// source (the base under it may differ; Note says how).
	Rebuilt = "rebuilt"
	// StandIn: other software or another version that behaves the way the
	// tests rely on.
	StandIn = "stand-in"
)

// E2EImage is one image reference the e2e suite uses and how hardway makes
// it.
type E2EImage struct {
	Ref    string
	Recipe string // imageRecipe* below
	Kind   string // Rebuilt or StandIn
	Note   string
}

// Image recipes: what buildImage assembles for a reference.
const (
	recipeAgnhost = "agnhost"
	recipeBusybox = "busybox"
	recipeNginx   = "nginx"
	recipePause   = "pause"
	recipeEtcd    = "etcd"
	recipeSample  = "sample-apiserver"
	recipeKitten  = "kitten"
	recipeNautil  = "nautilus"
	recipeNonRoot = "nonroot"
	recipeNNP     = "nonewprivs"
	recipeGlibc   = "glibc-dns-testing"
)

// e2eRegistry is where the e2e suite's own images live.
const e2eRegistry = "registry.k8s.io/e2e-test-images/"

// MapE2EImages decides, for every reference `e2e.test --list-images` prints,
// how hardway makes it; the rest are returned as unavailable (sorted).
// References on other registries than the suite's public ones (a private
// registry, an invalid one) are never made: tests use them to see a pull
// fail.
func MapE2EImages(kubeVersion string, refs []string) (known []E2EImage, unavailable []string, err error) {
	kr, ok := kubeReleases()[kubeVersion]
	if !ok {
		return nil, nil, fmt.Errorf("kubernetesVersion %s has no pinned artifacts; use one of %s", kubeVersion, strings.Join(SupportedVersions(), ", "))
	}
	seen := map[string]bool{}
	for _, raw := range refs {
		ref := strings.TrimSpace(raw)
		if ref == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		t, err := name.NewTag(ref, name.StrictValidation)
		if err != nil {
			return nil, nil, fmt.Errorf("e2e.test --list-images printed %q, which is not an image reference with a tag: %v", ref, err)
		}
		repo, tag := t.Context().Name(), t.TagStr()
		im := E2EImage{Ref: ref, Kind: Rebuilt}
		switch {
		case repo == e2eRegistry+"agnhost":
			im.Recipe = recipeAgnhost
			im.Note = "agnhost from k8s.io/kubernetes " + kubeVersion + " (test/images/agnhost) on a Debian bookworm base with the tools of upstream's Alpine base"
			if tag != agnhostVersion(kubeVersion) {
				im.Kind = StandIn
				im.Note = "agnhost " + agnhostVersion(kubeVersion) + " (from k8s.io/kubernetes " + kubeVersion + ") tagged " + tag + ", on a Debian bookworm base"
			}
		case repo == e2eRegistry+"busybox":
			im.Recipe = recipeBusybox
			im.Note = "upstream busybox " + BusyboxVersion + " built from source, static, every applet linked in /bin"
			if !strings.HasPrefix(tag, BusyboxVersion) {
				im.Kind = StandIn
				im.Note = "upstream busybox " + BusyboxVersion + " tagged " + tag
			}
		case repo == e2eRegistry+"nginx":
			im.Recipe, im.Kind = recipeNginx, StandIn
			im.Note = "Debian's nginx 1.22 (not nginx " + strings.SplitN(tag, "-", 2)[0] + "): serves /usr/share/nginx/html on port 80 in the foreground, like upstream's image"
		case repo == "registry.k8s.io/pause":
			im.Recipe, im.Kind = recipePause, StandIn
			im.Note = "hardway's own pause program (Go), the cluster's sandbox image"
		case repo == "registry.k8s.io/etcd":
			im.Recipe = recipeEtcd
			im.Note = "etcd " + kr.etcd + ", the cluster's own etcd build, at /usr/local/bin/etcd"
			if !strings.HasPrefix(tag, strings.TrimPrefix(kr.etcd, "v")+"-") {
				im.Kind = StandIn
				im.Note = "etcd " + kr.etcd + " (the cluster's) tagged " + tag
			}
		case repo == e2eRegistry+"sample-apiserver":
			im.Recipe = recipeSample
			im.Note = "k8s.io/sample-apiserver " + stagingVersion(kubeVersion) + " (the suite tests this release's sample API server)"
		case repo == e2eRegistry+"kitten", repo == e2eRegistry+"nautilus":
			im.Recipe = strings.TrimPrefix(repo, e2eRegistry)
			im.Note = "the agnhost image with test/images/" + im.Recipe + "/html of k8s.io/kubernetes " + kubeVersion + "; its /etc/os-release says it stands in for Alpine Linux"
		case repo == e2eRegistry+"nonroot":
			im.Recipe = recipeNonRoot
			im.Note = "the Debian bookworm base with USER 1234, like upstream's (debian-base)"
		case repo == e2eRegistry+"nonewprivs":
			im.Recipe, im.Kind = recipeNNP, StandIn
			im.Note = "nnp from k8s.io/kubernetes " + kubeVersion + " (test/images/nonewprivs), setuid root, on upstream busybox " + BusyboxVersion + " instead of Alpine"
		case repo == e2eRegistry+"glibc-dns-testing":
			im.Recipe = recipeGlibc
			im.Note = "Debian bookworm with dnsutils, like upstream's (bookworm-slim), and the cluster's CoreDNS " + kr.coredns + " as /coredns"
		default:
			unavailable = append(unavailable, ref)
			continue
		}
		known = append(known, im)
	}
	sort.Slice(known, func(i, j int) bool { return known[i].Ref < known[j].Ref })
	sort.Strings(unavailable)
	return known, unavailable, nil
}

// agnhostVersion is the agnhost version in k8s.io/kubernetes' tree
// (test/images/agnhost/VERSION), which the suite pins for that release.
// Only versions read in the module are listed: for another, every agnhost
// tag is reported as a stand-in.
func agnhostVersion(kubeVersion string) string {
	return map[string]string{"v1.37.2": "2.66.1"}[kubeVersion]
}

// stagingVersion maps v1.37.2 to v0.37.2, the version of the staging modules.
func stagingVersion(kubeVersion string) string {
	_, minor := kubeMajorMinor(kubeVersion)
	_, patch, _ := strings.Cut(strings.TrimPrefix(kubeVersion, "v1."+minor), ".")
	return "v0." + minor + "." + patch
}

// E2EImageManifest lists what makes the given images, ingredients first:
// the e2e programs, busybox, the Debian base, the cluster's etcd and pause,
// then one image component per reference (named e2e-image-<recipe>, versioned
// by its tag).
func E2EImageManifest(kubeVersion string, imgs []E2EImage) (*Manifest, error) {
	cm, err := ManifestFor(kubeVersion)
	if err != nil {
		return nil, err
	}
	kr := kubeReleases()[kubeVersion]
	bins := kubernetesComponent(kr)
	bins.Name, bins.Release = CompE2EBinaries, nil
	bins.Source.Packages = []string{"k8s.io/kubernetes/test/images/agnhost", "k8s.io/kubernetes/test/images/nonewprivs", "k8s.io/sample-apiserver"}
	bins.Files = []File{{Name: "agnhost"}, {Name: "nonewprivs"}, {Name: "sample-apiserver"}}
	etcd, _ := cm.Component(CompEtcd)
	pause, _ := cm.Component(CompPauseImage)
	coredns, _ := cm.Component(CompCoreDNS)
	m := &Manifest{KubernetesVersion: kubeVersion, Components: []Component{
		bins,
		busyboxComponent(),
		{
			Name: CompDebianBase, Version: debianBaseVersion,
			Files:  []File{{Name: "rootfs.tar.gz"}},
			Source: &SourceRecipe{Kind: KindDebootstrap, Packages: DebianBasePackages()},
		},
		*etcd, *pause, *coredns,
	}}
	for _, im := range imgs {
		t, err := name.NewTag(im.Ref, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("e2e image %q: %v", im.Ref, err)
		}
		c := Component{
			Name:    "e2e-image-" + im.Recipe,
			Version: t.TagStr(),
			Image:   im.Ref,
			Files:   []File{{Name: "image.tar"}},
			Source:  &SourceRecipe{Kind: KindImage, ImageRecipe: im.Recipe},
		}
		switch im.Recipe {
		case recipeAgnhost, recipeKitten, recipeNautil:
			c.DependsOn = []string{CompE2EBinaries, CompDebianBase}
		case recipeNginx, recipeNonRoot:
			c.DependsOn = []string{CompDebianBase}
		case recipeBusybox:
			c.DependsOn = []string{CompBusybox}
		case recipeNNP:
			c.DependsOn = []string{CompBusybox, CompE2EBinaries}
		case recipeGlibc:
			c.DependsOn = []string{CompDebianBase, CompCoreDNS}
		case recipeSample:
			c.DependsOn = []string{CompE2EBinaries}
		case recipeEtcd:
			c.DependsOn = []string{CompEtcd}
		case recipePause:
			c.DependsOn = []string{CompPauseImage}
		}
		// Two tags of one recipe (nginx 1.27 and 1.28) are two cache
		// entries: the tag is the version.
		m.Components = append(m.Components, c)
	}
	return m, nil
}

// ImagePaths maps the reference of every image component of m to its
// archive on the host; each must be cached.
func (s *Store) ImagePaths(m *Manifest) (map[string]string, error) {
	out := map[string]string{}
	for i := range m.Components {
		c := &m.Components[i]
		if c.Image == "" {
			continue
		}
		e, ok := s.Find(c.Name, c.Version)
		if !ok {
			return nil, notBuilt(c.Name, c.Version)
		}
		out[c.Image] = filepath.Join(e.Dir, c.imageArchive())
	}
	return out, nil
}

// Path is a cached file of a component of m.
func (s *Store) Path(m *Manifest, component, file string) (string, error) {
	c, ok := m.Component(component)
	if !ok {
		return "", fmt.Errorf("internal error: no component %s in the manifest", component)
	}
	e, ok := s.Find(c.Name, c.Version)
	if !ok {
		return "", notBuilt(c.Name, c.Version)
	}
	return filepath.Join(e.Dir, file), nil
}
