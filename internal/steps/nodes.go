package steps

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/provider"
)

func nodesStep() Step {
	return Step{
		Name:    "nodes",
		Title:   "Nodes: one systemd machine per node on a private network",
		Explain: explainNodes,
		Run:     runNodes,
	}
}

func runNodes(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	if c.Provider == nil {
		return nil, fmt.Errorf("no provider configured")
	}
	before, err := c.Provider.Status(ctx, c.Config.Name)
	if err != nil {
		return nil, err
	}
	changes := machineChanges(c.Config, before)
	for _, ch := range changes {
		if ch.Action == converge.Started {
			// A stopped machine is not lost: starting it is a decision of
			// its own (hardway start waits until the cluster serves again).
			return nil, fmt.Errorf("machine %s of cluster %s is stopped (%s); start the cluster with: hardway start --name %s", ch.Node, c.Config.Name, ch.Reason, c.Config.Name)
		}
	}
	removed, err := c.removeLeaving(ctx, before)
	if err != nil {
		return removed, err
	}
	changes = append(removed, changes...)
	if c.DryRun {
		return changes, nil
	}
	nodes, err := c.Provider.Create(ctx, c.Config, c.Create)
	c.forgetNodes()
	if err != nil {
		return nil, fmt.Errorf("%w\n  remove what was created with: hardway down --name %s", err, c.Config.Name)
	}
	for _, ch := range changes[len(removed):] {
		c.Log.Logf(1, "  %s", ch)
	}
	// A fresh node boots systemd in seconds on an idle machine, much
	// slower while builds share its cores.
	if err := provider.WaitAll(ctx, nodes, c.Bound(3*time.Minute)); err != nil {
		return changes, err
	}
	adopted, err := c.adoptAddresses(nodes)
	changes = append(changes, adopted...)
	if err != nil {
		return changes, err
	}
	if c.AfterNodes != nil {
		if err := c.AfterNodes(ctx, nodes); err != nil {
			return changes, err
		}
	}
	return changes, c.checkArtifactMount(ctx, nodes)
}

// adoptAddresses takes the IP of every node the config leaves without one
// from its machine (a Lima VM learns its address when it boots) and saves
// the config, so certificates, etcd peers and routes use it from now on.
func (c *Cluster) adoptAddresses(nodes []provider.Node) ([]converge.Change, error) {
	var changes []converge.Change
	for i, n := range c.Config.Nodes {
		if n.IP != "" {
			continue
		}
		for _, m := range nodes {
			if m.Name() == n.Name && m.IP() != "" {
				c.Config.Nodes[i].IP = m.IP()
				changes = append(changes, converge.Change{Node: n.Name, Action: converge.Wrote, Target: "node IP " + m.IP(), Reason: "assigned by the machine's network"})
			}
		}
		if c.Config.Nodes[i].IP == "" {
			return changes, fmt.Errorf("node %s has no IP in the config and its machine reports none: give it one (nodes[%d].ip)", n.Name, i)
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	data, err := c.Config.Marshal()
	if err != nil {
		return changes, err
	}
	if err := fsutil.WriteFileAtomic(c.State.Config(), data, 0o600); err != nil {
		return changes, fmt.Errorf("saving the nodes' addresses in %s: %w", c.State.Config(), err)
	}
	return changes, nil
}

// machineChanges says which machines Create will make or start.
func machineChanges(cfg *config.Cluster, have []provider.NodeStatus) []converge.Change {
	state := map[string]string{}
	for _, s := range have {
		state[s.Name] = s.State
	}
	want := []string{}
	for _, n := range cfg.Nodes {
		want = append(want, n.Name)
	}
	if cfg.Network.LoadBalancerIP != "" {
		want = append(want, provider.LBName)
	}
	var out []converge.Change
	for _, name := range want {
		switch st, ok := state[name]; {
		case !ok:
			out = append(out, converge.Change{Node: name, Action: converge.Created, Target: "machine " + name})
		case st != "running":
			out = append(out, converge.Change{Node: name, Action: converge.Started, Target: "machine " + name, Reason: "was " + st})
		}
	}
	return out
}

// checkArtifactMount makes sure every node that mounts the artifact cache
// sees it. A bind mount keeps pointing at the directory that existed when
// the machine started: if the cache was deleted and rebuilt since, the node
// sees an empty directory and every install would fail later with a puzzling
// error.
func (c *Cluster) checkArtifactMount(ctx context.Context, nodes []provider.Node) error {
	if c.Artifacts == nil || len(c.Artifacts.Binaries) == 0 {
		return nil
	}
	for _, n := range nodes {
		m, ok := n.(node.ArtifactMount)
		if !ok || n.Role() == provider.RoleLB {
			continue
		}
		probe := path.Join(m.ArtifactDir(), c.Artifacts.Binaries[0].Rel)
		if _, err := n.Run(ctx, nil, "test", "-r", probe); err != nil {
			return fmt.Errorf("node %s does not see the artifact cache (%s is missing: was the cache rebuilt after the node started?); restart its machines so they mount it again: hardway stop --name %s && hardway start --name %s", n.Name(), probe, c.Config.Name, c.Config.Name)
		}
	}
	return nil
}

func explainNodes(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(nodesProse)
	cfg := c.Config
	b.WriteString("\n")
	switch cfg.Provider {
	case config.ProviderSSH:
		b.WriteString(nodesSSHProse)
	case config.ProviderLima:
		b.WriteString(nodesLimaProse)
	default:
		b.WriteString(nodesDockerProse)
	}
	section(&b, fmt.Sprintf("The nodes of cluster %q (provider %s)", cfg.Name, cfg.Provider))
	if cfg.Machines() {
		rows := [][]string{{"NODE", "IP", "ROLES", "POD CIDR", "REACHED AT"}}
		for _, n := range cfg.Nodes {
			at := "the VM's SSH port (limactl)"
			if n.SSH != nil {
				at = fmt.Sprintf("ssh %s@%s -p %d", n.SSH.User, n.SSH.Address, n.SSH.Port)
			}
			rows = append(rows, []string{n.Name, dash(n.IP), strings.Join(n.Roles, ","), dash(n.PodCIDR), at})
		}
		table(&b, rows)
		if cfg.Provider == config.ProviderLima {
			fmt.Fprintf(&b, "\n  VMs: Lima %s, %d CPUs, %s memory, %s disk each, network %s (the IP comes from it when the VM boots;\n  until then these texts show addresses from 192.0.2.0/24, the documentation range)\n",
				cfg.Lima.VMType, cfg.Lima.CPUs, cfg.Lima.Memory, cfg.Lima.Disk, cfg.Lima.Network)
		}
		fmt.Fprintf(&b, "\n  Binaries: streamed from this host's artifact cache over SSH, each only when its SHA-256 differs\n")
		fmt.Fprintf(&b, "  Host keys: recorded on first contact in the cluster's state directory (known_hosts), checked on every connection\n")
		if cfg.Provider == config.ProviderLima {
			fmt.Fprintf(&b, "  Delete the VMs with their disks: hardway down --name %s\n", cfg.Name)
		} else {
			fmt.Fprintf(&b, "  Remove what hardway installed (the machines stay): hardway down --name %s --yes\n", cfg.Name)
		}
	} else {
		rows := [][]string{{"NODE", "IP", "ROLES", "POD CIDR"}}
		for _, n := range cfg.Nodes {
			rows = append(rows, []string{n.Name, n.IP, strings.Join(n.Roles, ","), dash(n.PodCIDR)})
		}
		if lb := cfg.Network.LoadBalancerIP; lb != "" {
			rows = append(rows, []string{provider.LBName, lb, "API load balancer (haproxy)", "-"})
		}
		table(&b, rows)
		isolated := "--internal: no route off this machine"
		if !cfg.IsIsolated() {
			isolated = "NAT to the outside allowed (isolated: false)"
		}
		fmt.Fprintf(&b, "\n  Network: %s, %s\n", cfg.Network.NodeSubnet, isolated)
		fmt.Fprintf(&b, "  Artifact cache: mounted read-only at %s in every node\n", NodeArtifactsDir)
	}
	fmt.Fprintf(&b, "  Open a shell: hardway shell %s --name %s\n", cfg.Nodes[0].Name, cfg.Name)
	return b.String(), nil
}
