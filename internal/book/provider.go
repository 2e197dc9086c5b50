package book

import (
	"fmt"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/lima"
	"hardway.dev/hardway/internal/render"
)

// What the book says about the machines and the network between them comes
// from render.NodeNetwork: Docker containers on an internal Docker network,
// machines of someone else's on one L2 network, or Lima VMs on Lima's
// network; and from the cluster's pod routes (direct or VXLAN). Nothing
// here names a provider the cluster does not use.

// orAll is a node subnet for a table cell: machines may have none.
func orAll(subnet string) string {
	if subnet == "" {
		return "any"
	}
	return subnet
}

// nodeAddressesFrom says who hands out the node IPs.
func (w *writer) nodeAddressesFrom() string {
	switch w.net.Kind {
	case render.NetworkDocker:
		return "hardway, in the config; Docker gives each node container its address when it is created"
	case render.NetworkLima:
		return "Lima's network, when each VM boots; hardway writes it into the saved config (until then, this book shows addresses from 192.0.2.0/24, the documentation range)"
	}
	return "whoever runs the machines (you, or your DHCP server); the config names them"
}

// nodeNetworkCell is the welcome table's description of the node network.
func (w *writer) nodeNetworkCell() string {
	switch w.net.Kind {
	case render.NetworkDocker:
		return fmt.Sprintf("«%s», the Docker network «%s» of its own (isolated: %v)", w.c.Network.NodeSubnet, w.net.Name, w.net.Isolated)
	case render.NetworkLima:
		return w.net.Describe() + ", one VM per node"
	}
	return "the machines' own network: «" + orAll(w.c.Network.NodeSubnet) + "»; hardway reaches them over SSH"
}

// podRoutesCell names the pod routes for the welcome table.
func podRoutesCell(c *config.Cluster) string {
	if render.DirectRoutes(c) {
		return "«direct»: one plain route per peer, pod packets cross the node network as they are"
	}
	return fmt.Sprintf("«vxlan»: one route per peer through «%s», pod packets travel inside UDP between node IPs", render.VXLANFor(config.Node{}).Device)
}

// podMTUSentence says why the pod interfaces have their MTU.
func podMTUSentence(c *config.Cluster) string {
	mtu := render.PodMTUFor(c)
	if render.DirectRoutes(c) {
		return fmt.Sprintf("The MTU is %d, the node network's: with direct routes nothing is added to a pod's packets.", mtu)
	}
	return fmt.Sprintf("The MTU is %d, 50 bytes below the node network's, to leave room for VXLAN.", mtu)
}

// machines is the architecture chapter's paragraph about the nodes.
func (w *writer) machines() string {
	c, v := w.c, w.v
	var d doc
	switch w.net.Kind {
	case render.NetworkDocker:
		d.p(`
			A node here is a Docker container that boots systemd as its first
			process, like a small virtual machine. Container «%s» is node «%s», on
			the Docker network «%s» («%s»). Each node keeps «/var» on its own
			volume, so containerd's images and etcd's data survive a restart, and
			sees the host's artifact cache read-only, so binaries are copied from
			there instead of being pushed through «docker exec».`,
			w.net.Machine(v.CP.Name), v.CP.Name, w.net.Name, c.Network.NodeSubnet)
	case render.NetworkLima:
		d.p(`
			A node here is a Lima VM: hardway wrote a Lima template per node and
			created the VMs with «limactl» (VM «%s» is node «%s»). Each VM has
			its address on %s, and hardway drives it over SSH, with the address, user and key «limactl show-ssh» gives.
			Binaries travel inside the tar stream of the files, once, and only
			when their content differs from what the VM has.`,
			lima.Instance(c.Name, v.CP.Name), v.CP.Name, w.net.Describe())
	default:
		d.p(`
			A node here is one of your machines: hardway did not create it, it
			connects to «%s» over SSH (its host key recorded in the state
			directory on first contact) and runs every command there, through
			«sudo -n» for a user other than root. The machines share one network
			(%s). Binaries travel inside the tar stream of the files, once, and
			only when their content differs from what the machine has.`,
			v.CP.IP, w.net.Describe())
	}
	return d.String()
}

// machinesTry is the command that lists this cluster's machines from
// outside it.
func (v vars) machinesTry() Try {
	switch render.NodeNetwork(v.C).Kind {
	case render.NetworkDocker:
		return Try{"docker ps --filter label=dev.hardway.cluster=" + v.Name, "the containers that are this cluster's machines, the load balancer's among them"}
	case render.NetworkLima:
		return Try{"limactl list", "the Lima VMs, this cluster's named «" + v.Name + "-NODE»"}
	}
	return Try{"hardway check --name " + v.Name, "every machine asked over SSH: system, architecture, cgroups, kernel modules, ports, clocks"}
}

// binariesFrom says how binaries reach the nodes.
func (w *writer) binariesFrom() string {
	if w.net.Kind == render.NetworkDocker {
		return fmt.Sprintf("Binaries are not in the table: they are copied from the artifact cache, which every node sees read-only at «%s», into «%s» and «%s».", provider.ArtifactsMount, render.BinDir, render.CNIBinDir)
	}
	return fmt.Sprintf("Binaries are not in the table: they travel from this host's artifact cache over SSH, inside the same tar stream as the files, into «%s» and «%s», and only when their content differs from the machine's copy.", render.BinDir, render.CNIBinDir)
}

// needs is the welcome chapter's "what you need" about the machines.
func (w *writer) needs() []string {
	switch w.net.Kind {
	case render.NetworkDocker:
		return []string{
			"A Linux machine with Docker where «" + w.v.Build + "» has run (the README's «make up» does everything from a fresh Debian or Ubuntu).",
			"Nothing else: the nodes are containers on this host and nothing is pulled from the internet.",
		}
	case render.NetworkLima:
		return []string{
			"«limactl» on this host (Lima), where «" + w.v.Build + "» has created one VM per node; the README's machines section says how to get it on macOS and Linux.",
			"The artifact cache on this host: binaries go to the VMs over SSH, nothing is pulled on them.",
		}
	}
	return []string{
		"Machines you own, reachable over SSH with a key, as root or a user with passwordless sudo, on one network; «hardway check» asks each one what it needs.",
		"The artifact cache on this host, where «" + w.v.Build + "» has run: binaries go to the machines over SSH, nothing is pulled on them.",
	}
}
