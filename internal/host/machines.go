package host

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/machinecheck"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// Report is what `hardway check` found: the results, or why nothing could
// be checked yet.
type Report struct {
	Results []machinecheck.Result
	// NotYet says why the machines were not asked (Lima VMs that up
	// creates and checks then); Results is empty.
	NotYet string
}

// Check is `hardway check`: this host for container nodes, else every
// machine of the cluster and the artifacts they need.
func (h *Host) Check(ctx context.Context, cfg *config.Cluster, log logx.Logger) (Report, error) {
	if !cfg.Machines() {
		results := h.Checks(h.Runner(log)).Host(ctx, cfg)
		access, why := h.Access(ctx, cfg, log)
		if access == config.AccessPublished {
			why += fmt.Sprintf("; the API is published on %s:%d, everything else goes through a node", cfg.Network.APIPublishAddress, cfg.Network.APIPublishPort)
		}
		results = append(results, machinecheck.Result{Host: true, Name: "how this host reaches the nodes", OK: true, Detail: access + ": " + why})
		return Report{Results: results}, nil
	}
	c := &steps.Cluster{Config: cfg, State: state.For(cfg.Name), Log: log, Provider: h.Provider(cfg, log)}
	running, nodes, err := machinesRunning(ctx, c)
	if err != nil {
		return Report{}, err
	}
	if !running {
		return Report{NotYet: fmt.Sprintf("The machines of cluster %q do not exist yet (provider %s): hardway up creates them and checks them then.", cfg.Name, cfg.Provider)}, nil
	}
	reports, err := probeMachines(ctx, cfg, nodes)
	if err != nil {
		return Report{}, err
	}
	h.settle(c, reports)
	results := machinecheck.Check(cfg, reports)
	_, arch, _ := machinecheck.Facts(cfg, reports)
	art := machinecheck.Result{Name: fmt.Sprintf("artifacts for Kubernetes %s (%s) on this host", cfg.KubernetesVersion, arch), Required: true, OK: c.ArtifactsErr == nil,
		Detail: "in " + h.Cache}
	if c.ArtifactsErr != nil {
		art.Detail, art.Fix = "missing", c.ArtifactsErr.Error()
	}
	return Report{Results: append(results, art)}, nil
}

// machines is what hardway learned about the machines of a cluster during
// one run: the preflight answers, from which the render facts and the
// architecture of the binaries follow.
type machines struct {
	mu      sync.Mutex
	reports map[string]machinecheck.Report
}

// probeMachines asks every node at once (one command each).
func probeMachines(ctx context.Context, cfg *config.Cluster, nodes []provider.Node) (map[string]machinecheck.Report, error) {
	byName := map[string]provider.Node{}
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	reports := map[string]machinecheck.Report{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(cfg.Nodes))
	for i, cn := range cfg.Nodes {
		n, ok := byName[cn.Name]
		if !ok {
			errs[i] = fmt.Errorf("node %s: no machine for it (provider %s): run hardway up --name %s", cn.Name, cfg.Provider, cfg.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fp, err := steps.Footprint(cfg, cn)
			if err != nil {
				errs[i] = err
				return
			}
			r, err := machinecheck.Probe(ctx, n, machinecheck.SpecFor(cfg, cn, fp.Units))
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			reports[cn.Name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return reports, errors.Join(errs...)
}

// settle takes the render facts and the binaries' architecture from the
// machines' answers.
func (h *Host) settle(c *steps.Cluster, reports map[string]machinecheck.Report) {
	facts, arch, ok := machinecheck.Facts(c.Config, reports)
	if !ok {
		return
	}
	c.Facts = facts
	store := h.Store()
	if arch != "" {
		store.Arch = arch
	}
	// For machines of another architecture the error names --arch.
	c.Artifacts, c.ArtifactsErr = store.Resolve(c.Config.KubernetesVersion)
	c.Addons, c.AddonsErr = ResolveAddons(store, c.Config)
}

// setupMachines wires a cluster on machines: its facts come from the
// machines (probed now when they answer, else after the nodes step made
// them), and the check step checks them.
func (h *Host) setupMachines(ctx context.Context, c *steps.Cluster) error {
	var m machines
	check := func(ctx context.Context, nodes []provider.Node) error {
		m.mu.Lock()
		reports := m.reports
		m.mu.Unlock()
		if reports == nil {
			var err error
			if reports, err = probeMachines(ctx, c.Config, nodes); err != nil {
				return err
			}
			m.mu.Lock()
			m.reports = reports
			m.mu.Unlock()
		}
		if failed := machinecheck.Failed(machinecheck.Check(c.Config, reports)); len(failed) > 0 {
			return fmt.Errorf("the machines are not ready:\n  %s\n  details: hardway check --name %s", joinLines(failed), c.Config.Name)
		}
		h.settle(c, reports)
		return nil
	}
	running, nodes, err := machinesRunning(ctx, c)
	if err != nil {
		return err
	}
	if running {
		reports, err := probeMachines(ctx, c.Config, nodes)
		if err != nil {
			return err
		}
		m.reports = reports
		h.settle(c, reports)
	}
	c.Preflight = func(ctx context.Context) error {
		if running {
			if err := check(ctx, nodes); err != nil {
				return err
			}
		}
		return c.ArtifactsErr
	}
	c.AfterNodes = check
	return nil
}

// machinesRunning reports whether every machine of the cluster answers, and
// returns them. Unreachable SSH machines are an error (nothing else would
// work); Lima VMs that do not exist yet are not.
func machinesRunning(ctx context.Context, c *steps.Cluster) (bool, []provider.Node, error) {
	st, err := c.Provider.Status(ctx, c.Config.Name)
	if err != nil {
		return false, nil, err
	}
	up := map[string]bool{}
	for _, s := range st {
		up[s.Name] = s.State == "running"
	}
	for _, n := range c.Config.Nodes {
		if !up[n.Name] {
			return false, nil, nil
		}
	}
	nodes, err := c.Provider.Nodes(ctx, c.Config.Name)
	return err == nil, nodes, err
}
