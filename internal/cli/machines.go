package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/machinecheck"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/lima"
	"hardway.dev/hardway/internal/provider/ssh"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// providerFor is the provider of cfg's cluster, by cfg.Provider.
func (a *app) providerFor(cfg *config.Cluster, log logx.Logger) (provider.Provider, error) {
	switch cfg.Provider {
	case config.ProviderSSH:
		fps, err := steps.Footprints(cfg)
		if err != nil {
			return nil, err
		}
		return ssh.New(ssh.Options{Cluster: cfg.Name, Machines: ssh.MachinesFrom(cfg), Pool: sshPoolOptions(cfg.Name, log), Footprints: fps}), nil
	case config.ProviderLima:
		return lima.New(lima.Options{Runner: exec.OS{Log: log}, Log: log, Config: cfg, Pool: sshPoolOptions(cfg.Name, log), StateDir: state.For(cfg.Name).Path()}), nil
	default:
		return dockerProviderLogging(log), nil
	}
}

// sshPoolOptions: host keys go to the cluster's state directory, and the
// user's own known_hosts is honoured.
func sshPoolOptions(cluster string, log logx.Logger) ssh.PoolOptions {
	home, _ := os.UserHomeDir()
	o := ssh.PoolOptions{
		KnownHosts:  state.For(cluster).KnownHosts(),
		AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
		Home:        home,
		Log:         log,
		KeepAlive:   30 * time.Second,
	}
	if home != "" {
		o.UserKnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	return o
}

// namedConfig is the config of the cluster a command names: -c FILE, else
// the one `up` saved, else the defaults under --name. It does not
// validate: `down` and `status` must work with a config that no longer does.
func (a *app) namedConfig() (*config.Cluster, error) {
	name, err := a.clusterName()
	if err != nil {
		return nil, err
	}
	c, err := a.readConfig(name)
	if err != nil {
		return nil, err
	}
	c.Name = name
	return c, nil
}

// namedProvider is the provider of the cluster a command names.
func (a *app) namedProvider(log logx.Logger) (provider.Provider, *config.Cluster, error) {
	cfg, err := a.namedConfig()
	if err != nil {
		return nil, nil, err
	}
	p, err := a.providerFor(cfg, log)
	return p, cfg, err
}

// machines is what hardway learned about the machines of a cluster during
// one run: the preflight answers, from which the render facts and the
// architecture of the binaries follow.
type machines struct {
	mu      sync.Mutex
	reports map[string]machinecheck.Report
}

// probe asks every node at once (one command each).
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
func (a *app) settle(c *steps.Cluster, reports map[string]machinecheck.Report) error {
	facts, arch, ok := machinecheck.Facts(c.Config, reports)
	if !ok {
		return nil
	}
	c.Facts = facts
	store, err := a.artifactStore()
	if err != nil {
		return err
	}
	if arch != "" {
		store.Arch = arch
	}
	// For machines of another architecture the error names --arch.
	c.Artifacts, c.ArtifactsErr = store.Resolve(c.Config.KubernetesVersion)
	return nil
}

// setupMachines wires a cluster on machines: its facts come from the
// machines (probed now when they answer, else after the nodes step made
// them), and the check step checks them.
func (a *app) setupMachines(ctx context.Context, c *steps.Cluster) error {
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
			return fmt.Errorf("the machines are not ready:\n  %s\n  details: hardway check --name %s", strings.Join(failed, "\n  "), c.Config.Name)
		}
		return a.settle(c, reports)
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
		if err := a.settle(c, reports); err != nil {
			return err
		}
	}
	c.Preflight = func(ctx context.Context) error {
		if running {
			if err := check(ctx, nodes); err != nil {
				return err
			}
		}
		if c.ArtifactsErr != nil {
			return c.ArtifactsErr
		}
		return nil
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

// checkMachines is `hardway check` for a cluster on machines.
func (a *app) checkMachines(ctx context.Context, cfg *config.Cluster) error {
	log := a.log()
	p, err := a.providerFor(cfg, log)
	if err != nil {
		return err
	}
	c := &steps.Cluster{Config: cfg, State: state.For(cfg.Name), Log: log, Provider: p}
	running, nodes, err := machinesRunning(ctx, c)
	if err != nil {
		return err
	}
	if !running {
		fmt.Fprintf(a.out, "The machines of cluster %q do not exist yet (provider %s): hardway up creates them and checks them then.\n", cfg.Name, cfg.Provider)
		return nil
	}
	reports, err := probeMachines(ctx, cfg, nodes)
	if err != nil {
		return err
	}
	if err := a.settle(c, reports); err != nil {
		return err
	}
	results := machinecheck.Check(cfg, reports)
	_, arch, _ := machinecheck.Facts(cfg, reports)
	art := machinecheck.Result{Name: fmt.Sprintf("artifacts for Kubernetes %s (%s) on this host", cfg.KubernetesVersion, arch), Required: true, OK: c.ArtifactsErr == nil,
		Detail: "in " + artifactCacheDir()}
	if c.ArtifactsErr != nil {
		art.Detail, art.Fix = "missing", c.ArtifactsErr.Error()
	}
	results = append(results, art)
	failed, node := 0, "-"
	for _, r := range results {
		if r.Node != node {
			node = r.Node
			title := "cluster " + cfg.Name
			if node != "" {
				title = "node " + node
			}
			fmt.Fprintln(a.out, title)
		}
		mark := "✓"
		if !r.OK {
			mark = "✗"
			if !r.Required {
				mark = "!"
			}
		}
		line := fmt.Sprintf("  %s %s", mark, r.Name)
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		fmt.Fprintln(a.out, line)
		if !r.OK {
			fmt.Fprintf(a.out, "      fix: %s\n", r.Fix)
			if r.Required {
				failed++
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d required check(s) failed; fix them and run `hardway check --name %s` again", failed, cfg.Name)
	}
	return nil
}
