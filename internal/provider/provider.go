// Package provider is the provider-neutral view of the machines a cluster runs
// on: something that creates them from a config, finds them again later by
// cluster name, reports their state and deletes them. The docker package is
// the one implementation today; a VM or SSH provider would satisfy the same
// interface.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/node"
)

// RoleLB is the role of the API load-balancer machine, which is not a
// cluster node (no kubelet) but is driven like one.
const RoleLB = "lb"

// LBName is the node name of the load balancer.
const LBName = "lb"

// ArtifactsMount is where a node sees the host's artifact cache, read-only.
// It equals artifacts.NodeMountDir.
const ArtifactsMount = "/opt/hardway/artifacts"

// Node is one machine a provider made.
type Node interface {
	node.Node
	// Role is the config roles joined by "," ("control-plane,worker"), or
	// RoleLB.
	Role() string
	// WaitForSystemd waits until systemd in the machine reports "running"
	// (or "degraded": one failed unit must not block the cluster; steps check
	// their own services).
	WaitForSystemd(ctx context.Context, timeout time.Duration) error
	// Attach returns the command line that runs argv in the machine from
	// this host with the user's terminal attached (docker exec -it, ssh -t):
	// `hardway shell` execs it.
	Attach(tty bool, env []string, argv []string) []string
}

// CreateOptions are the inputs of Create beyond the cluster config.
type CreateOptions struct {
	// Image is the node image reference (nodeimage.Tag()).
	Image string
	// ArtifactsDir is a host directory mounted read-only at ArtifactsMount;
	// empty mounts nothing.
	ArtifactsDir string
}

// NodeStatus is one line of `hardway status`.
type NodeStatus struct {
	Name      string // node name (config), or LBName
	Container string // provider's name for it
	IP        string
	Role      string
	State     string // provider's words: running, exited, created, ...
}

// Provider creates and finds the machines of clusters.
type Provider interface {
	// Create makes every node of c (and the load balancer when
	// c.Network.LoadBalancerIP is set) and starts them. It is idempotent:
	// machines that exist and match are kept (and started when stopped).
	// It does not wait for systemd; see WaitAll.
	Create(ctx context.Context, c *config.Cluster, opts CreateOptions) ([]Node, error)
	// Nodes returns the machines of the named cluster in config order, the
	// load balancer last. A cluster that does not exist has none.
	Nodes(ctx context.Context, cluster string) ([]Node, error)
	Status(ctx context.Context, cluster string) ([]NodeStatus, error)
	// Delete removes every machine and network of the cluster, also after a
	// half-failed Create, and returns what it removed.
	Delete(ctx context.Context, cluster string) ([]string, error)
	// Stop stops every machine of the cluster, keeping its disks, and
	// returns the ones it stopped; Start starts them again (same addresses)
	// and returns them all. Neither creates anything.
	Stop(ctx context.Context, cluster string) ([]string, error)
	Start(ctx context.Context, cluster string) ([]Node, error)
}

// NodeRemover is a provider that can remove one machine of a cluster and
// keep the others (up does, for a node no longer in the config). Providers
// without it refuse to shrink a cluster, naming the machine.
type NodeRemover interface {
	// RemoveNode removes the machine of node name of cluster, with its
	// disks; a machine that is already gone is no error.
	RemoveNode(ctx context.Context, cluster, name string) error
}

// Footprint is everything hardway installs on one machine, for providers
// whose machines are not hardway's to delete (ssh): `down` removes exactly
// this and nothing else. It is derived from render.NodeUnits (what a node
// runs is data) plus the directories those programs fill at run time.
type Footprint struct {
	// Units in start order; stopped, disabled and removed last one first.
	Units []string
	// Files hardway wrote, unit files and binaries included.
	Files []string
	// Dirs hardway's programs own entirely (data, state, certificates):
	// removed with everything in them, never crossing into another mount.
	Dirs []string
	// SharedDirs may hold files of other software (/opt/cni/bin): removed
	// only when empty once hardway's files are gone.
	SharedDirs []string
	// Mounts are directories whose sub-mounts (pod volumes, container root
	// file systems) are unmounted before anything is removed.
	Mounts []string
	// Links are network devices hardway created (VXLAN, the CNI bridge).
	Links []string
	// Routes are "CIDR via IP" pod routes to peers.
	Routes []string
	Users  []string
	// Crictl and CRISocket remove the pods before containerd stops, so no
	// container outlives the cluster; KubeProxy --cleanup removes its rules.
	Crictl, CRISocket, KubeProxy string
}

// ErrNotFound is returned (wrapped) when a named node does not exist.
var ErrNotFound = errors.New("not found")

// WaitAll waits for systemd on every node at once and returns every failure.
func WaitAll(ctx context.Context, nodes []Node, timeout time.Duration) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.WaitForSystemd(ctx, timeout)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// NodeByName finds one node of the cluster among p's, or says which nodes
// there are (both errors match ErrNotFound).
func NodeByName(ctx context.Context, p Provider, cluster, name string) (Node, error) {
	nodes, err := p.Nodes(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		if n.Name() == name {
			return n, nil
		}
		names = append(names, n.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("cluster %q has no nodes (%w): create it first", cluster, ErrNotFound)
	}
	return nil, fmt.Errorf("cluster %q has no node %q (%w); its nodes: %s", cluster, name, ErrNotFound, strings.Join(names, ", "))
}
