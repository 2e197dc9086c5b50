package artifacts

import (
	"fmt"
	"strings"
)

// What hack/bench-peers.sh needs to time hardway against another tool on the
// same machine, from the same Kubernetes: kubeadm, built from the same
// wrapper module as hardway's Kubernetes binaries (so its version, its
// default images and its defaults are those of the cluster's release), and
// kind, pinned. Neither is part of a cluster's bundle: `hardway up` never
// waits for them, `hardway artifacts build --peers` builds them.
const (
	CompKubeadm = "kubeadm"
	CompKind    = "kind"
)

// KindVersion is the kind release the peer benchmark runs; kind v0.33.0's
// go.mod has no replace lines, so `go install` builds it from the proxy.
const KindVersion = "v0.33.0"

// PeersManifest lists the peer tools for a Kubernetes version.
func PeersManifest(kubeVersion string) (*Manifest, error) {
	kr, ok := kubeReleases()[kubeVersion]
	if !ok {
		return nil, fmt.Errorf("kubernetesVersion %s has no pinned artifacts; use one of %s", kubeVersion, strings.Join(SupportedVersions(), ", "))
	}
	kubeadm := kubernetesComponent(kr)
	kubeadm.Name, kubeadm.Release = CompKubeadm, nil
	kubeadm.Source.Packages = []string{"k8s.io/kubernetes/cmd/kubeadm"}
	// kubeadm version -o short prints the stamped gitVersion.
	kubeadm.Files = []File{{Name: "kubeadm", VersionArgs: []string{"version", "-o", "short"}, VersionWant: kubeVersion}}
	return &Manifest{KubernetesVersion: kubeVersion, Components: []Component{
		kubeadm,
		{
			Name:    CompKind,
			Version: KindVersion,
			Files:   []File{{Name: "kind", VersionArgs: []string{"version"}, VersionWant: "kind " + KindVersion + " "}},
			Source: &SourceRecipe{
				Kind:          KindGoInstall,
				Module:        "sigs.k8s.io/kind",
				ModuleVersion: KindVersion,
				Packages:      []string{"sigs.k8s.io/kind"},
			},
		},
	}}, nil
}
