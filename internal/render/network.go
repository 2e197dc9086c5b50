package render

import (
	"fmt"
	"net/netip"

	"hardway.dev/hardway/internal/config"
)

// Network is how a cluster's machines are connected, described without
// naming a provider: what explain, the book and the pictures say about the
// node network reads it, and the docker provider names its network and
// containers by the same rules.
type Network struct {
	Kind NetworkKind
	// Name is the node network's own name where hardway creates it (the
	// Docker network); empty otherwise.
	Name string
	// Subnet holds the node IPs; empty when machines have the addresses
	// they have and the config names none.
	Subnet string
	// Host is this host's address on the node network (the Docker bridge's
	// gateway); empty when the host is not on it.
	Host string
	// Isolated: nothing sent on it leaves this host (Docker --internal).
	Isolated bool
	// PodRoutes says how pod traffic crosses it: plain routes to node IPs
	// (direct) or VXLAN between node IPs.
	PodRoutes string
	cluster   string
}

// NetworkKind is the kind of node network.
type NetworkKind string

const (
	// NetworkDocker: containers on a Docker bridge network hardway creates.
	NetworkDocker NetworkKind = "docker"
	// NetworkMachines: machines someone else owns, on one L2 network
	// (provider ssh).
	NetworkMachines NetworkKind = "machines"
	// NetworkLima: Lima VMs on Lima's shared network (provider lima).
	NetworkLima NetworkKind = "lima"
)

// NodeNetwork describes c's node network.
func NodeNetwork(c *config.Cluster) Network {
	n := Network{Subnet: c.Network.NodeSubnet, PodRoutes: c.Network.PodRoutes, cluster: c.Name}
	switch c.Provider {
	case config.ProviderSSH:
		n.Kind = NetworkMachines
	case config.ProviderLima:
		n.Kind = NetworkLima
	default:
		n.Kind, n.Name, n.Isolated = NetworkDocker, DockerNetworkName(c.Name), c.IsIsolated()
		if p, err := netip.ParsePrefix(c.Network.NodeSubnet); err == nil {
			n.Host = p.Masked().Addr().Next().String()
		}
	}
	return n
}

// Machine is what the machine of a node is called outside the cluster:
// its container for Docker, else the node's own name.
func (n Network) Machine(node string) string {
	if n.Kind == NetworkDocker {
		return DockerContainerName(n.cluster, node)
	}
	return node
}

// Describe is one line about the network, for pictures and summaries.
func (n Network) Describe() string {
	switch n.Kind {
	case NetworkDocker:
		s := fmt.Sprintf("Docker network %s: %s", n.Name, n.Subnet)
		if n.Isolated {
			s += ", --internal (nothing leaves this host)"
		}
		return s + "; this host is " + n.Host
	case NetworkLima:
		return "Lima's shared network (lima0 in each VM): " + orAny(n.Subnet)
	default:
		return "the machines' own network: " + orAny(n.Subnet)
	}
}

func orAny(subnet string) string {
	if subnet == "" {
		return "the addresses the machines have"
	}
	return subnet
}

// DockerNetworkName is the Docker network of a cluster's containers.
func DockerNetworkName(cluster string) string { return "hardway-" + cluster }

// DockerContainerName is the container of a node.
func DockerContainerName(cluster, node string) string { return cluster + "-" + node }
