package artifacts

import (
	"path/filepath"

	"hardway.dev/hardway/internal/images"
)

// NetpolVersion is the kube-network-policies release hardway builds: the
// reference NetworkPolicy agent of SIG Network (the one kind installs), the
// newest on the Go module proxy. v0.8.0 over v0.7.0: the same dataplane,
// plus NRI, through which the agent learns a new pod's IP from containerd
// before the API has it (a first packet of a fresh pod is then judged by
// its labels instead of as an unknown address).
const NetpolVersion = "v0.8.0"

// Add-on components of the netpol add-on.
const (
	CompNetpol      = "kube-network-policies"
	CompNetpolImage = "image-kube-network-policies"
)

// NetpolProgram is the agent in its cache entry: go install names a
// program after its package, and upstream's main package is ./cmd.
const NetpolProgram = "cmd"

// NetpolImage is the agent's image reference: upstream's repository path,
// like MetalLB's images.
func NetpolImage() string {
	return "registry.k8s.io/networking/kube-network-policies:" + NetpolVersion
}

func netpolComponents() []Component {
	return []Component{
		// The image packs busybox too (the cluster's own component, so
		// already built): the steering container runs the node's iptables
		// through busybox chroot (steps/netpol.go says why).
		busyboxComponent(),
		{
			Name:    CompNetpol,
			Version: NetpolVersion,
			// Not installed on nodes: it runs as a pod from the image. It
			// has no version flag (it logs its flags at start).
			Files: []File{{Name: NetpolProgram}},
			Source: &SourceRecipe{
				Kind:          KindGoInstall,
				Module:        "sigs.k8s.io/kube-network-policies",
				ModuleVersion: NetpolVersion,
				Packages:      []string{"sigs.k8s.io/kube-network-policies/cmd"},
			},
		},
		{Name: CompNetpolImage, Version: NetpolVersion, Image: NetpolImage(), Files: []File{{Name: "kube-network-policies.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompNetpol, CompBusybox}},
	}
}

// buildNetpolImage packs the agent as /bin/netpol (upstream's path) and
// busybox as /bin/busybox, run as root: nfqueue and netfilter need
// CAP_NET_ADMIN, effective only for root.
func (b *Builder) buildNetpolImage(m *Manifest, c *Component, archive string) (string, error) {
	agent, _ := m.Component(CompNetpol)
	ea, ok := b.Store.Find(agent.Name, agent.Version)
	if !ok {
		return "", notBuilt(agent.Name, agent.Version)
	}
	bb, _ := m.Component(CompBusybox)
	eb, ok := b.Store.Find(bb.Name, bb.Version)
	if !ok {
		return "", notBuilt(bb.Name, bb.Version)
	}
	img, err := images.NetpolImage(b.Store.Arch, filepath.Join(ea.Dir, NetpolProgram), filepath.Join(eb.Dir, "busybox"))
	if err != nil {
		return "", err
	}
	return "kube-network-policies " + agent.Version + " (" + string(ea.Source) + "), busybox " + bb.Version, images.WriteArchive(archive, c.Image, img)
}
