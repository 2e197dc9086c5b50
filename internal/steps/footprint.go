package steps

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/render"
)

// Footprint is everything hardway installs on node n of c, for `down` on
// machines that are not hardway's to delete: the files, binaries and users
// of the units render declares for it (from the config alone, no PKI), plus
// what those programs create while they run (data directories, pod mounts,
// network devices, pod routes).
func Footprint(c *config.Cluster, n config.Node) (provider.Footprint, error) {
	units, err := render.Footprint(c, n)
	if err != nil {
		return provider.Footprint{}, err
	}
	m, err := artifacts.ManifestFor(c.KubernetesVersion)
	if err != nil {
		return provider.Footprint{}, err
	}
	dest := map[string]string{}
	for _, comp := range m.Components {
		for _, f := range comp.Files {
			if f.DestDir != "" {
				dest[f.Name] = path.Join(f.DestDir, f.Name)
			}
		}
	}
	var fp provider.Footprint
	add := func(list *[]string, items ...string) {
		for _, it := range items {
			if !slices.Contains(*list, it) {
				*list = append(*list, it)
			}
		}
	}
	for _, u := range units {
		fp.Units = append(fp.Units, u.Name)
		for _, f := range u.Files {
			add(&fp.Files, f.Path)
		}
		for _, b := range u.Binaries {
			p, ok := dest[b]
			if !ok {
				return provider.Footprint{}, fmt.Errorf("no artifact of Kubernetes %s installs %s (a bug in hardway)", c.KubernetesVersion, b)
			}
			add(&fp.Files, p)
		}
		if u.User != "" {
			add(&fp.Users, u.User)
		}
	}
	// hardway's own bookkeeping: restart markers, binary stamps, imported
	// image markers.
	add(&fp.Dirs, path.Dir(converge.MarkerDir))
	// The scripts hardway's units run (the kubelet's ExecStartPre, the
	// approver's pass, etcd snapshots): hardway's own directory.
	if slices.ContainsFunc(fp.Files, func(f string) bool { return strings.HasPrefix(f, render.HardwayLibDir+"/") }) {
		add(&fp.Dirs, render.HardwayLibDir)
	}
	if sn, ok := render.SnapshotNode(c); ok && sn.Name == n.Name {
		add(&fp.Dirs, render.EtcdSnapshotDir)
	}
	if n.IsControlPlane() {
		add(&fp.Files, render.AuditLogPath)
		add(&fp.Dirs, render.EtcdDir, render.EtcdDataDir, render.KubernetesDir)
	}
	if n.IsWorker() {
		if c.NodeLocalLB() {
			add(&fp.Dirs, render.KubernetesDir) // the balancer's config
		}
		// containerd's state and its plugins' directory (/opt/containerd),
		// CNI's IP allocations, the pods' logs.
		add(&fp.Dirs, render.KubeletDir, render.KubeProxyDir,
			"/var/lib/containerd", "/run/containerd", "/opt/containerd", "/var/lib/cni", "/var/log/pods", "/var/log/containers")
		add(&fp.Mounts, render.KubeletDir, "/var/lib/containerd", "/run/containerd")
		add(&fp.Links, "cni0")
		fp.Crictl, fp.CRISocket = dest["crictl"], render.ContainerdSocket
		fp.KubeProxy = dest["kube-proxy"]
		if c.Network.KubeProxyMode == config.ProxyIPVS {
			add(&fp.Links, "kube-ipvs0")
		}
	}
	// The cluster's registry (hardway registry, hardway conformance) runs on
	// the first machine when there is no load-balancer machine: down stops
	// it and removes its binary, configuration and images, whether or not
	// it was ever started.
	if registry.Machine(c) == n.Name {
		for _, u := range registry.Units(c) {
			fp.Units = append(fp.Units, u.Name)
			for _, f := range u.Files {
				add(&fp.Files, f.Path)
			}
			for _, b := range u.Binaries {
				add(&fp.Files, path.Join(artifacts.BinDir, b))
			}
		}
		add(&fp.Dirs, path.Dir(registry.ConfigPath), registry.DataDir)
	}
	// Directories other software may share: removed only when empty.
	add(&fp.SharedDirs, path.Dir(render.ContainerdConfig), render.CNIConfDir, path.Dir(render.CNIConfDir), render.CNIBinDir, path.Dir(render.CNIBinDir))
	// containerd's registry hosts (certs.d/HOST/hosts.toml): their
	// directories, which another containerd's configuration may share.
	for _, f := range fp.Files {
		if strings.HasPrefix(f, render.ContainerdCertsDir+"/") {
			add(&fp.SharedDirs, render.ContainerdCertsDir, path.Dir(f))
		}
	}
	if n.IsWorker() {
		add(&fp.SharedDirs, "/run/netns") // the pods' network namespaces (ip netns uses it too)
	}
	if c.Network.PodRoutes == config.PodRoutesDirect {
		for _, r := range render.PodRoutes(c, n) {
			fp.Routes = append(fp.Routes, r.CIDR+" via "+r.NodeIP)
		}
	} else {
		add(&fp.Links, render.VXLANFor(n).Device)
	}
	return fp, nil
}

// Footprints is Footprint for every node, by name.
func Footprints(c *config.Cluster) (map[string]provider.Footprint, error) {
	out := map[string]provider.Footprint{}
	for _, n := range c.Nodes {
		fp, err := Footprint(c, n)
		if err != nil {
			return nil, err
		}
		out[n.Name] = fp
	}
	return out, nil
}
