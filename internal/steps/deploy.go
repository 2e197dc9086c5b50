package steps

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/timing"
)

// shell runs a shell snippet on a node by name.
func (c *Cluster) shell(ctx context.Context, name, script string) ([]byte, error) {
	n, err := c.Node(ctx, name)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	defer c.Timings.Since(ctx, timing.Command, name, script, start)
	return node.Sh(ctx, n, script)
}

// forEachNode runs f for every node concurrently and joins the errors.
func (c *Cluster) forEachNode(ctx context.Context, nodes []config.Node, f func(ctx context.Context, n config.Node) error) error {
	return parallel(len(nodes), func(i int) error {
		if err := f(ctx, nodes[i]); err != nil {
			return fmt.Errorf("%s: %w", nodes[i].Name, err)
		}
		return nil
	})
}

// parallel runs f(0..n-1) concurrently and joins the errors, one per line.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n  "))
	}
	return nil
}

// Inputs gathers everything render needs, generating what is missing (the
// PKI, kubeconfigs and encryption config live in the state directory).
func (c *Cluster) Inputs() (render.Inputs, error) {
	set, err := c.ensurePKI()
	if err != nil {
		return render.Inputs{}, err
	}
	kcs, err := c.ensureKubeconfigs()
	if err != nil {
		return render.Inputs{}, err
	}
	enc, err := c.ensureEncryption()
	if err != nil {
		return render.Inputs{}, err
	}
	coredns, err := artifacts.CoreDNSImage(c.Config.KubernetesVersion)
	if err != nil {
		return render.Inputs{}, err
	}
	return render.Inputs{Cluster: c.Config, Facts: c.Facts, PKI: set, Kubeconfigs: kcs, EncryptionConfig: enc, CoreDNSImage: coredns}, nil
}

// units renders node n and returns the named units, in the order named. A
// name the node does not run is a bug in the caller.
func (c *Cluster) units(n config.Node, names ...string) ([]converge.Unit, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	all, err := render.NodeUnits(in, n)
	if err != nil {
		return nil, err
	}
	out := make([]converge.Unit, 0, len(names))
	for _, name := range names {
		found := false
		for _, u := range all {
			if u.Name == name {
				out = append(out, u)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("node %s runs no unit %s (a bug in hardway)", n.Name, name)
		}
	}
	return out, nil
}

// convergeOptions tells converge where each binary comes from.
func (c *Cluster) convergeOptions() converge.Options {
	return converge.Options{Binary: func(name string) (converge.Binary, error) {
		if c.Artifacts == nil {
			return converge.Binary{}, c.artifactsMissing()
		}
		b, ok := c.Artifacts.Binary(name)
		if !ok {
			return converge.Binary{}, fmt.Errorf("no artifact provides %s; run: hardway artifacts build", name)
		}
		return converge.Binary{Name: b.Name, Dst: path.Join(b.DestDir, b.Name), SHA256: b.SHA256,
			HostPath: c.Artifacts.HostPath(b.Rel), CacheRel: b.Rel}, nil
	}}
}

// target is one machine to converge and how to tell it is healthy again.
type target struct {
	node  string
	units []converge.Unit
	// gate, when set, waits until the node serves again after its running
	// units were restarted at since.
	gate func(ctx context.Context, since time.Time) error
	// before and after, when set, run around a rolled node's changes (a
	// kubelet upgrade drains the node first and uncordons it after).
	before func(ctx context.Context, p *converge.Plan) (after func(ctx context.Context) error, err error)
}

// nodeTargets renders the named units for each node.
func (c *Cluster) nodeTargets(nodes []config.Node, gate func(ctx context.Context, n config.Node, since time.Time) error, unitNames ...string) ([]target, error) {
	var out []target
	for _, n := range nodes {
		us, err := c.units(n, unitNames...)
		if err != nil {
			return nil, err
		}
		t := target{node: n.Name, units: us}
		if gate != nil {
			n := n
			t.gate = func(ctx context.Context, since time.Time) error { return gate(ctx, n, since) }
		}
		out = append(out, t)
	}
	return out, nil
}

// rollout converges targets. Every node is probed at once (one command
// each). Nodes where nothing running restarts (first starts, new files for
// stopped units) are changed together; nodes whose running services restart
// go one at a time, each gated on its health, so etcd keeps its quorum and
// the API stays reachable through the load balancer while a change rolls
// through the cluster. In a dry run nothing is changed and the plan is
// returned.
func (c *Cluster) rollout(ctx context.Context, targets []target) ([]converge.Change, error) {
	plans := make([]*converge.Plan, len(targets))
	nodes := make([]node.Node, len(targets))
	var missing []converge.Change
	var mu sync.Mutex
	err := parallel(len(targets), func(i int) error {
		n, err := c.Node(ctx, targets[i].node)
		if err != nil && c.DryRun {
			// The machine would be made by the nodes step: all of it is new.
			mu.Lock()
			defer mu.Unlock()
			for _, u := range targets[i].units {
				missing = append(missing, converge.Change{Node: targets[i].node, Action: converge.Started, Target: "unit " + u.Name, Reason: "new machine: every file and binary is written"})
			}
			return nil
		}
		if err != nil {
			return err
		}
		nodes[i] = n
		start := time.Now()
		plans[i], err = c.plan(ctx, n, targets[i])
		c.Timings.Since(ctx, timing.Plan, targets[i].node, unitList(targets[i].units), start)
		if err != nil {
			return fmt.Errorf("%s: %w", targets[i].node, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var changes []converge.Change
	if c.DryRun {
		for _, p := range plans {
			if p != nil {
				changes = append(changes, p.Changes()...)
			}
		}
		return append(changes, missing...), nil
	}
	var together, rolling []int
	for i, p := range plans {
		switch {
		case p.Empty():
		case len(p.RestartsRunning()) > 0 && targets[i].gate != nil && len(targets) > 1:
			rolling = append(rolling, i)
		default:
			together = append(together, i)
		}
	}
	results := make([][]converge.Change, len(targets))
	err = parallel(len(together), func(j int) error {
		i := together[j]
		var err error
		results[i], err = c.apply(ctx, nodes[i], plans[i])
		return err
	})
	if err != nil {
		return collectChanges(results), err
	}
	for _, i := range rolling {
		c.Log.Logf(1, "  %s: restarting %s (one node at a time)", targets[i].node, strings.Join(plans[i].RestartsRunning(), ", "))
		var after func(ctx context.Context) error
		if targets[i].before != nil {
			var err error
			if after, err = targets[i].before(ctx, plans[i]); err != nil {
				return collectChanges(results), err
			}
		}
		since := time.Now()
		var err error
		if results[i], err = c.apply(ctx, nodes[i], plans[i]); err != nil {
			return collectChanges(results), err
		}
		gateStart := time.Now()
		err = targets[i].gate(ctx, since)
		c.Timings.Since(ctx, timing.Gate, targets[i].node, unitList(targets[i].units), gateStart)
		if err != nil {
			return collectChanges(results), fmt.Errorf("%s did not come back after its restart, so the rollout stopped there: %w", targets[i].node, err)
		}
		if after != nil {
			if err := after(ctx); err != nil {
				return collectChanges(results), err
			}
		}
	}
	return collectChanges(results), nil
}

func collectChanges(results [][]converge.Change) []converge.Change {
	var out []converge.Change
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// unitList names units for timings.
func unitList(units []converge.Unit) string {
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = u.Name
	}
	return strings.Join(names, ",")
}

// plan compares t's units with its node, from the run's probe of that node
// when there is one that covers them; otherwise it probes every unit the
// node runs (one command), so the steps after this one need not ask again.
func (c *Cluster) plan(ctx context.Context, n node.Node, t target) (*converge.Plan, error) {
	opts := c.convergeOptions()
	var snap *converge.Snapshot
	c.mu.Lock()
	caching := c.run != nil
	if caching {
		snap = c.run.probes[t.node]
	}
	c.mu.Unlock()
	if snap != nil {
		if p, err := snap.Plan(t.units, opts); !errors.Is(err, converge.ErrNotCovered) {
			return p, err
		}
	}
	units := t.units
	if all, ok := c.allUnits(t.node); caching && ok {
		units = all
	}
	snap, err := converge.Probe(ctx, n, units, opts)
	if err != nil && len(units) != len(t.units) {
		// A unit of another step could not be probed (its binary is not
		// built, say): that step will say so; this one probes its own.
		units = t.units
		snap, err = converge.Probe(ctx, n, units, opts)
	}
	if err != nil {
		return nil, err
	}
	if caching {
		c.mu.Lock()
		if c.run != nil {
			c.run.probes[t.node] = snap
		}
		c.mu.Unlock()
	}
	return snap.Plan(t.units, opts)
}

// allUnits is every unit a node of the config runs; false for a machine
// that is not one (the load balancer).
func (c *Cluster) allUnits(name string) ([]converge.Unit, bool) {
	for _, n := range c.Config.Nodes {
		if n.Name != name {
			continue
		}
		in, err := c.Inputs()
		if err != nil {
			return nil, false
		}
		all, err := render.NodeUnits(in, n)
		return all, err == nil
	}
	return nil, false
}

// forgetProbe drops the run's probe of a node once something there changed.
func (c *Cluster) forgetProbe(node string) {
	c.mu.Lock()
	if c.run != nil {
		delete(c.run.probes, node)
	}
	c.mu.Unlock()
}

// apply carries out one node's plan and logs each change at -v 1.
func (c *Cluster) apply(ctx context.Context, n node.Node, p *converge.Plan) ([]converge.Change, error) {
	start := time.Now()
	defer c.forgetProbe(n.Name())
	changes, err := converge.Apply(ctx, n, p, func(format string, args ...any) { c.Log.Logf(2, "  "+format, args...) })
	c.Timings.Since(ctx, timing.Apply, n.Name(), converge.Summary(p.Changes()), start)
	var ue *converge.UnitError
	if errors.As(err, &ue) {
		return nil, fmt.Errorf("%w\n  see its log: hardway logs %s %s --name %s", err, ue.Node, ue.Unit, c.Config.Name)
	}
	if err != nil {
		return nil, err
	}
	for _, ch := range changes {
		c.Log.Logf(1, "  %s", ch)
	}
	return changes, nil
}

// lbTarget is the load balancer machine, when the cluster has one.
func (c *Cluster) lbTarget() ([]target, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	us, err := render.LoadBalancerUnits(in)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return []target{{node: provider.LBName, units: us}}, nil
}

// explainUnit prints the files a unit gets on node n.
func (c *Cluster) explainUnit(b *strings.Builder, n config.Node, unit string) error {
	us, err := c.units(n, unit)
	if err != nil {
		return err
	}
	u := us[0]
	section(b, fmt.Sprintf("Files for %s on %s", u.Name, n.Name))
	for _, f := range u.Files {
		owner := ""
		if f.Owner != "" {
			owner = ", owner " + f.Owner
		}
		if showable(f.Path) {
			fmt.Fprintf(b, "\n  %s (mode %o%s):\n", f.Path, f.Mode.Perm(), owner)
			b.WriteString(indent(string(f.Data), "    │ "))
			continue
		}
		fmt.Fprintf(b, "  %s (mode %o%s, %d bytes)\n", f.Path, f.Mode.Perm(), owner, len(f.Data))
	}
	if u.User != "" {
		fmt.Fprintf(b, "  runs as system user %s (created by this step)\n", u.User)
	}
	var bins []string
	for _, name := range u.Binaries {
		if b, err := c.convergeOptions().Binary(name); err == nil {
			bins = append(bins, b.Dst)
		}
	}
	if len(bins) > 0 {
		from := "from the artifact cache, " + NodeArtifactsDir
		if c.Config.Machines() {
			from = "streamed over SSH from this host's artifact cache when their hash differs"
		}
		fmt.Fprintf(b, "  binaries: %s (%s)\n", strings.Join(bins, ", "), from)
	}
	return nil
}

// showable reports whether explain may print a file's content: configs and
// units, never keys, kubeconfigs (they embed a key) or the encryption
// config (it is the key to every Secret).
func showable(p string) bool {
	switch {
	case strings.HasSuffix(p, "-key.pem"), strings.Contains(p, "kubeconfig"), strings.HasSuffix(p, "encryption-config.yaml"):
		return false
	}
	for _, ext := range []string{".service", ".yaml", ".toml", ".conflist", ".conf"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// manifest renders one cluster-level manifest (applied through the API).
func (c *Cluster) manifest(name string) ([]byte, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	ms, err := render.Manifests(in)
	if err != nil {
		return nil, err
	}
	m, ok := ms[name]
	if !ok {
		return nil, fmt.Errorf("no manifest %s (a bug in hardway)", name)
	}
	return m, nil
}
