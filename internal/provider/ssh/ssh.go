// Package ssh drives machines that exist already (servers, VMs someone else
// made) over SSH with golang.org/x/crypto/ssh: one connection per machine,
// reused for the whole run, one session per command, stdin streamed.
//
// Host keys are checked: a key seen for the first time is recorded in the
// cluster's state directory (keys in ~/.ssh/known_hosts are accepted too),
// and a changed key is refused. A user other than root runs every command
// through `sudo -n`. These are someone's machines: Create changes nothing on
// them, and Delete removes only what hardway installed (provider.Footprint).
package ssh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/provider"
)

// Options configure the provider.
type Options struct {
	// Cluster is the cluster these machines belong to; Nodes and Status of
	// another name find nothing.
	Cluster  string
	Machines []Machine
	Pool     PoolOptions
	// Footprint is what hardway installs on the named node: Stop and Start
	// stop and start its units, Delete removes all of it. It is asked only
	// when one of those runs, so the other commands never build it.
	Footprint func(node string) (provider.Footprint, error)
}

// Provider implements provider.Provider for machines reached over SSH.
type Provider struct {
	o    Options
	pool *Pool
}

var _ provider.Provider = (*Provider)(nil)

// New returns the provider; nothing is dialled yet.
func New(o Options) *Provider {
	return &Provider{o: o, pool: NewPool(o.Pool)}
}

// MachinesFrom reads the machines of a provider-ssh config (defaults filled).
func MachinesFrom(c *config.Cluster) []Machine {
	var out []Machine
	for _, n := range c.Nodes {
		m := Machine{Name: n.Name, IP: n.IP, Role: strings.Join(n.Roles, ",")}
		if s := n.SSH; s != nil {
			m.Address, m.Port, m.User, m.IdentityFile = s.Address, s.Port, s.User, s.IdentityFile
		}
		out = append(out, m)
	}
	return out
}

// Close closes every connection.
func (p *Provider) Close() error { return p.pool.Close() }

func (p *Provider) nodes() []*Node {
	out := make([]*Node, len(p.o.Machines))
	for i, m := range p.o.Machines {
		out[i] = p.pool.Node(m)
	}
	return out
}

// each runs f on every node at once and joins the errors, one per line.
func each(nodes []*Node, f func(i int, n *Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Create implements provider.Provider. The machines exist: it logs in to
// each (recording new host keys, checking sudo) and changes nothing.
func (p *Provider) Create(ctx context.Context, c *config.Cluster, _ provider.CreateOptions) ([]provider.Node, error) {
	if c.Name != p.o.Cluster {
		return nil, fmt.Errorf("the ssh provider was set up for cluster %q, not %q (a bug in hardway)", p.o.Cluster, c.Name)
	}
	nodes := p.nodes()
	if err := each(nodes, func(_ int, n *Node) error { return n.Connect(ctx) }); err != nil {
		return nil, err
	}
	return asProviderNodes(nodes), nil
}

func asProviderNodes(nodes []*Node) []provider.Node {
	out := make([]provider.Node, len(nodes))
	for i, n := range nodes {
		out[i] = n
	}
	return out
}

// Nodes implements provider.Provider without dialling: the first command
// on a node connects.
func (p *Provider) Nodes(_ context.Context, cluster string) ([]provider.Node, error) {
	if cluster != p.o.Cluster {
		return nil, nil
	}
	return asProviderNodes(p.nodes()), nil
}

// StateRunning is what Status reports for a machine hardway can log in to.
const StateRunning = "running"

// Status implements provider.Provider: it logs in to every machine. One
// that cannot be reached is an error naming it and the fix (its state is
// not something hardway can change).
func (p *Provider) Status(ctx context.Context, cluster string) ([]provider.NodeStatus, error) {
	if cluster != p.o.Cluster {
		return nil, nil
	}
	nodes := p.nodes()
	if err := each(nodes, func(_ int, n *Node) error { return n.Connect(ctx) }); err != nil {
		return nil, err
	}
	out := make([]provider.NodeStatus, len(nodes))
	for i, n := range nodes {
		out[i] = provider.NodeStatus{Name: n.m.Name, Container: "ssh " + n.m.target(), IP: n.m.IP, Role: n.m.Role, State: StateRunning}
	}
	return out, nil
}

// Stop implements provider.Provider: the machines are not hardway's to power
// off, so it stops the cluster's services on each (last started first) and
// leaves everything installed.
func (p *Provider) Stop(ctx context.Context, cluster string) ([]string, error) {
	if cluster != p.o.Cluster {
		return nil, nil
	}
	var mu sync.Mutex
	var stopped []string
	err := each(p.nodes(), func(_ int, n *Node) error {
		units, err := p.units(n.m.Name)
		if err != nil || len(units) == 0 {
			return err
		}
		rev := make([]string, len(units))
		for i, u := range units {
			rev[len(units)-1-i] = u
		}
		if _, err := n.Run(ctx, nil, append([]string{"systemctl", "stop"}, rev...)...); err != nil {
			return err
		}
		mu.Lock()
		stopped = append(stopped, fmt.Sprintf("%s (%s)", n.m.Name, strings.Join(rev, ", ")))
		mu.Unlock()
		return nil
	})
	return stopped, err
}

// Start implements provider.Provider: the cluster's services on every
// machine, in their start order (etcd members of a new quorum wait for each
// other, so no unit blocks the others).
func (p *Provider) Start(ctx context.Context, cluster string) ([]provider.Node, error) {
	if cluster != p.o.Cluster {
		return nil, nil
	}
	nodes := p.nodes()
	err := each(nodes, func(_ int, n *Node) error {
		units, err := p.units(n.m.Name)
		if err != nil || len(units) == 0 {
			return err
		}
		_, err = n.Run(ctx, nil, append([]string{"systemctl", "start", "--no-block"}, units...)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return asProviderNodes(nodes), nil
}

// footprint is what hardway installed on the named node.
func (p *Provider) footprint(node string) (provider.Footprint, error) {
	if p.o.Footprint == nil {
		return provider.Footprint{}, fmt.Errorf("node %s: no list of what hardway installed there (a bug in hardway)", node)
	}
	fp, err := p.o.Footprint(node)
	if err != nil {
		return provider.Footprint{}, fmt.Errorf("node %s: what hardway installed there: %w", node, err)
	}
	return fp, nil
}

func (p *Provider) units(node string) ([]string, error) {
	fp, err := p.footprint(node)
	return fp.Units, err
}

// Delete implements provider.Provider: it removes what hardway installed on
// every machine (units, binaries, files, directories, network devices,
// routes, iptables rules, the etcd user) and returns one line per machine.
// The machines themselves stay.
func (p *Provider) Delete(ctx context.Context, cluster string) ([]string, error) {
	if cluster != p.o.Cluster {
		return nil, nil
	}
	nodes := p.nodes()
	removed := make([]string, len(nodes))
	err := each(nodes, func(i int, n *Node) error {
		fp, err := p.footprint(n.m.Name)
		if err != nil {
			return err
		}
		out, err := n.Run(ctx, nil, UninstallArgs(fp)...)
		if err != nil {
			return fmt.Errorf("node %s: removing what hardway installed: %w", n.m.Name, err)
		}
		removed[i] = fmt.Sprintf("hardway's files from %s (%s): %s", n.m.Name, n.m.target(), summary(out))
		return nil
	})
	var out []string
	for _, r := range removed {
		if r != "" {
			out = append(out, r)
		}
	}
	return out, err
}
