package artifacts

import (
	"fmt"
	"path/filepath"
	"strings"

	"hardway.dev/hardway/internal/images"
)

// ArgoCDVersion is the Argo CD release hardway builds.
//
// Its go.mod says go 1.27.0 (newer than the go this project pins for its
// own builds), so the build runs under GOTOOLCHAIN=go1.27.3, which the go
// command fetches from the Go module proxy as the module
// golang.org/toolchain. The go.mod also replaces
// github.com/argoproj/argo-cd/gitops-engine/v3 with ./gitops-engine, a
// directory with a go.mod of its own, which a module zip never contains:
// the build copies the module out of the cache and puts the gitops-engine
// module of the same version (served on its own) into that directory.
// Built alone, gitops-engine/v3 fails (the module list says "all-failed"),
// because its own go.mod is not the main module then; inside argo-cd it is
// only a package tree.
const ArgoCDVersion = "v3.6.1"

// argocdGoToolchain is the Go release Argo CD's go line needs.
const argocdGoToolchain = "go1.27.3"

// Add-on components of argocd.
const (
	CompArgoCD           = "argocd"
	CompArgoCDBase       = "argocd-debian-base"
	CompArgoCDImage      = "image-argocd"
	CompArgoCDRedisImage = "image-argocd-redis"
)

// Files of the argocd entry: the one program (upstream's multicall binary:
// it runs as argocd-server, argocd-repo-server, argocd-application-
// controller ... by the name it is called by, argv[0] or
// ARGOCD_BINARY_NAME) and the CRDs of the pinned module.
const (
	ArgoCDProgram = "argocd"
	ArgoCDCRDs    = "crds.yaml"
)

// argocdBaseVersion names the recipe of the images' Debian base: bump it
// when argocdBasePackages changes, so the cache builds it again.
const argocdBaseVersion = "bookworm-argocd-1"

// argocdBasePackages are installed on debootstrap's minbase: git, which
// the repo-server runs to fetch (go-git only lists refs) and whose git
// daemon serves the cluster's own repository; redis-server for Argo CD's
// cache (upstream runs the redis image from Docker Hub, which no registry
// here serves); ca-certificates for HTTPS repositories.
func argocdBasePackages() []string {
	return []string{"git", "redis-server", "ca-certificates"}
}

// argocdCRDFiles are the CRDs of the pinned module's manifests/crds
// (generated there from its API types): Application and AppProject, which
// the controller reconciles, and ApplicationSet, whose informer
// argocd-server starts even with the ApplicationSet controller off.
func argocdCRDFiles() []string {
	return []string{"manifests/crds/application-crd.yaml", "manifests/crds/appproject-crd.yaml", "manifests/crds/applicationset-crd.yaml"}
}

// ArgoCDImages are the references of the two images: Argo CD's own name for
// its program, and Redis for its cache (Debian's redis-server, on the same
// base: the registry keeps the shared layer once).
func ArgoCDImages() (argocd, redis string) {
	return "quay.io/argoproj/argocd:" + ArgoCDVersion, "hardway.local/argocd-redis:" + ArgoCDVersion
}

func argocdComponents() []Component {
	img, redis := ArgoCDImages()
	return []Component{
		{
			Name:    CompArgoCD,
			Version: ArgoCDVersion,
			// Not installed on nodes: it runs as pods from the image.
			Files: []File{
				{Name: ArgoCDProgram, VersionArgs: []string{"version", "--client", "--short"}, VersionWant: "argocd: " + ArgoCDVersion},
				{Name: ArgoCDCRDs},
			},
			Source: &SourceRecipe{
				Kind:          KindModuleCopy,
				Module:        "github.com/argoproj/argo-cd/v3",
				ModuleVersion: ArgoCDVersion,
				Packages:      []string{"./cmd"},
				Nested:        map[string]string{"gitops-engine": "github.com/argoproj/argo-cd/gitops-engine/v3"},
				GoToolchain:   argocdGoToolchain,
				// version as upstream's Makefile stamps it (from the VERSION
				// file, without the v); gitTag makes the version exactly the
				// tag, without a commit suffix.
				LDFlags: []string{
					"github.com/argoproj/argo-cd/v3/common.version=" + strings.TrimPrefix(ArgoCDVersion, "v"),
					"github.com/argoproj/argo-cd/v3/common.gitTag=" + ArgoCDVersion,
					"github.com/argoproj/argo-cd/v3/common.gitTreeState=clean",
				},
				ModuleFiles: map[string][]string{ArgoCDCRDs: argocdCRDFiles()},
			},
		},
		{
			Name: CompArgoCDBase, Version: argocdBaseVersion,
			Files:  []File{{Name: "rootfs.tar.gz"}},
			Source: &SourceRecipe{Kind: KindDebootstrap, Packages: argocdBasePackages()},
		},
		// The cache keys an entry by name and version: the suffix names the
		// image's recipe (2: git-verify-wrapper.sh, without which the
		// repo-server renders nothing), so a changed recipe is built anew.
		{Name: CompArgoCDImage, Version: ArgoCDVersion + "-2", Image: img, Files: []File{{Name: "argocd.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompArgoCD, CompArgoCDBase}},
		{Name: CompArgoCDRedisImage, Version: ArgoCDVersion, Image: redis, Files: []File{{Name: "redis.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompArgoCDBase}},
	}
}

// buildArgoCDImage packs the argocd program or Redis on the Debian base.
func (b *Builder) buildArgoCDImage(m *Manifest, c *Component, archive string) (string, error) {
	baseDep, _ := m.Component(CompArgoCDBase)
	be, ok := b.Store.Find(baseDep.Name, baseDep.Version)
	if !ok {
		return "", notBuilt(baseDep.Name, baseDep.Version)
	}
	base, err := images.LoadBase(filepath.Join(be.Dir, "rootfs.tar.gz"))
	if err != nil {
		return "", err
	}
	origin := "debian " + baseDep.Version + " (" + strings.Join(argocdBasePackages(), " ") + ")"
	if c.Name == CompArgoCDRedisImage {
		img, err := images.RedisImage(b.Store.Arch, base)
		if err != nil {
			return "", err
		}
		return "redis-server of " + origin, images.WriteArchive(archive, c.Image, img)
	}
	dep, _ := m.Component(CompArgoCD)
	e, ok := b.Store.Find(dep.Name, dep.Version)
	if !ok {
		return "", notBuilt(dep.Name, dep.Version)
	}
	img, err := images.ArgoCDImage(b.Store.Arch, base, filepath.Join(e.Dir, ArgoCDProgram))
	if err != nil {
		return "", fmt.Errorf("argocd image: %w", err)
	}
	return "argocd " + dep.Version + " (" + string(e.Source) + ") on " + origin, images.WriteArchive(archive, c.Image, img)
}
