package artifacts

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
)

// MetalLBVersion is the MetalLB release hardway builds. v0.15.2 is the
// newest whose whole module graph the Go module proxy serves: v0.16.2
// requires github.com/metallb/frr-k8s v0.0.27, whose zip the proxy refuses
// ("403 Forbidden: This module version is not available", seen
// 2026-12-02), and v0.16.2's internal/bgp/frrk8s uses
// frrv1beta1.AsPathPrependPrefixes, which the served v0.0.26 lacks.
const MetalLBVersion = "v0.15.2"

// Add-on components: built only for a config whose addons name them, and
// resolved apart from the cluster's bundle, so a cluster without add-ons
// never waits for them.
const (
	CompMetalLB                = "metallb"
	CompMetalLBControllerImage = "image-metallb-controller"
	CompMetalLBSpeakerImage    = "image-metallb-speaker"
)

// MetalLB's files in its cache entry: the two programs and its CRDs.
const (
	MetalLBController = "controller"
	MetalLBSpeaker    = "speaker"
	MetalLBCRDs       = "crds.yaml"
)

// metallbCRDFiles are the CustomResourceDefinitions MetalLB's controller and
// speaker watch, as the pinned module's source has them (generated there by
// controller-gen from its API types). Every one must exist: an informer
// on a missing kind never syncs, and the speaker then never starts.
func metallbCRDFiles() []string {
	var out []string
	for _, k := range []string{"bfdprofiles", "bgpadvertisements", "bgppeers", "communities", "ipaddresspools", "l2advertisements", "servicebgpstatuses", "servicel2statuses"} {
		out = append(out, "config/crd/bases/metallb.io_"+k+".yaml")
	}
	return out
}

// MetalLBImages are the references of the controller and speaker images:
// upstream's repository paths, so the cluster's registry (which every
// node's containerd asks first) serves them under the names MetalLB's own
// documentation uses.
func MetalLBImages() (controller, speaker string) {
	return "quay.io/metallb/controller:" + MetalLBVersion, "quay.io/metallb/speaker:" + MetalLBVersion
}

func metallbComponents() []Component {
	ctl, spk := MetalLBImages()
	return []Component{
		{
			Name:    CompMetalLB,
			Version: MetalLBVersion,
			// Not installed on nodes: they run as pods from the images.
			// Neither program has a version flag (they log it at start).
			Files: []File{{Name: MetalLBController}, {Name: MetalLBSpeaker}, {Name: MetalLBCRDs}},
			Source: &SourceRecipe{
				Kind:          KindGoInstall,
				Module:        "go.universe.tf/metallb",
				ModuleVersion: MetalLBVersion,
				Packages:      []string{"go.universe.tf/metallb/controller", "go.universe.tf/metallb/speaker"},
				ModuleFiles:   map[string][]string{MetalLBCRDs: metallbCRDFiles()},
			},
		},
		{Name: CompMetalLBControllerImage, Version: MetalLBVersion, Image: ctl, Files: []File{{Name: "controller.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompMetalLB}},
		{Name: CompMetalLBSpeakerImage, Version: MetalLBVersion, Image: spk, Files: []File{{Name: "speaker.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompMetalLB}},
	}
}

// AddonsManifest lists what the add-ons in addons need: their programs and
// images, and the cluster's registry that serves the images to the nodes.
// Nil when no add-on is on.
func AddonsManifest(kubeVersion string, addons []string) *Manifest {
	m := &Manifest{KubernetesVersion: kubeVersion}
	if slices.Contains(addons, config.AddonMetalLB) {
		m.Components = append(m.Components, metallbComponents()...)
	}
	if slices.Contains(addons, config.AddonNetpol) {
		m.Components = append(m.Components, netpolComponents()...)
	}
	if slices.Contains(addons, config.AddonArgoCD) {
		m.Components = append(m.Components, argocdComponents()...)
	}
	if slices.Contains(addons, config.AddonGateway) {
		m.Components = append(m.Components, gatewayComponents()...)
	}
	if len(m.Components) == 0 {
		return nil
	}
	m.Components = append([]Component{RegistryComponent()}, m.Components...)
	return m
}

// AddonFile is the path on this host of one file of an add-on component
// in b (resolved by ResolveManifest with AddonsManifest).
func (b *Bundle) AddonFile(component, file string) (string, error) {
	for _, f := range b.Files {
		if f.Component == component && f.Name == file {
			return b.HostPath(f.Rel), nil
		}
	}
	return "", fmt.Errorf("%s of %s is not in the artifact cache; run: hardway artifacts build", file, component)
}

// buildMetalLBImage packs one MetalLB program as /<name>: the controller
// as nobody, the speaker as root like upstream's (distroless) image, since
// the NET_RAW its pod adds for ARP is effective only for root.
func (b *Builder) buildMetalLBImage(m *Manifest, c *Component, archive string) (string, error) {
	dep, _ := m.Component(CompMetalLB)
	e, ok := b.Store.Find(dep.Name, dep.Version)
	if !ok {
		return "", notBuilt(dep.Name, dep.Version)
	}
	prog, user := MetalLBController, "65534:65534"
	if c.Name == CompMetalLBSpeakerImage {
		prog, user = MetalLBSpeaker, "0:0"
	}
	img, err := images.ProgramImage(b.Store.Arch, filepath.Join(e.Dir, prog), "/"+prog, user)
	if err != nil {
		return "", err
	}
	return "metallb " + dep.Version + " " + prog + " (" + string(e.Source) + ")", images.WriteArchive(archive, c.Image, img)
}

// copyModuleFiles writes each file of files into dir: the named files of
// the module's source, one YAML stream.
func copyModuleFiles(moduleDir string, files map[string][]string, dir string) error {
	for name, parts := range files {
		var out []byte
		for _, p := range parts {
			b, err := os.ReadFile(filepath.Join(moduleDir, filepath.FromSlash(p)))
			if err != nil {
				return fmt.Errorf("the module source has no %s: %v", p, err)
			}
			out = append(out, "---\n# "+p+"\n"...)
			out = append(out, b...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
