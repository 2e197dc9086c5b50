package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// Which config a command works on, and how the cluster is opened: the one
// place that decides it for every command.
//
//   loadConfig      -c FILE, else the config the cluster was built with
//                   (saved by up), else the defaults; --name applied;
//                   validated. For commands that may make a cluster.
//   existingConfig  the same, but without -c the cluster must have state.
//   namedConfig     the same lookup, unvalidated: down, status, shell and
//                   logs must work on a cluster whose config no longer
//                   validates.
//   open            existingConfig, then host.Open with what must exist.
//   procedure       open with up's progress display, then a procedure.

// loadConfig reads the config (see above) and validates it. Reading the
// saved config matters: `hardway up --from dns` after a failed `up -c
// one-node.yaml` must not rebuild the cluster from the defaults.
func (a *app) loadConfig() (*config.Cluster, error) {
	c, err := a.readConfig(a.nameOrDefault())
	if err != nil {
		return nil, err
	}
	if a.name != "" {
		c.Name = a.name
	}
	warnings, err := c.Validate()
	for _, w := range warnings {
		fmt.Fprintln(a.errOut, "warning:", w)
	}
	return c, err
}

// readConfig is -c FILE, else the config cluster name was built with, else
// the defaults; unvalidated.
func (a *app) readConfig(name string) (*config.Cluster, error) {
	if a.configFile != "" {
		return config.Load(a.configFile)
	}
	if saved := state.For(name).Config(); fileExists(saved) {
		return config.Load(saved)
	}
	return config.Default(), nil
}

func (a *app) nameOrDefault() string {
	if a.name != "" {
		return a.name
	}
	return config.DefaultName
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// existingConfig is the config of a cluster that exists on this host (see
// loadConfig); without -c it is an error when the cluster has no state.
func (a *app) existingConfig() (*config.Cluster, error) {
	if a.configFile == "" {
		if dir := state.For(a.nameOrDefault()); !fileExists(dir.Config()) {
			return nil, fmt.Errorf("cluster %q has no state on this host (%s); create it with: hardway up --name %s (the clusters here: hardway list)", a.nameOrDefault(), dir.Path(), a.nameOrDefault())
		}
	}
	return a.loadConfig()
}

// clusterName is --name, else the config file's name, else the default. It
// does not validate the config.
func (a *app) clusterName() (string, error) {
	if a.name == "" && a.configFile != "" {
		c, err := config.Load(a.configFile)
		if err != nil {
			return "", err
		}
		return c.Name, nil
	}
	return a.nameOrDefault(), nil
}

// namedConfig is the config of the cluster a command names, unvalidated.
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
	return a.host.Provider(cfg, log), cfg, nil
}

// open opens the existing cluster the command names; need says how much
// of it must exist (checked before anything contacts it).
func (a *app) open(ctx context.Context, need host.Need, log logx.Logger) (*steps.Cluster, error) {
	cfg, err := a.existingConfig()
	if err != nil {
		return nil, err
	}
	return a.host.Open(ctx, cfg, log, need)
}

// withCluster opens the existing cluster with up's progress display and
// runs f, a procedure of internal/ops or internal/lab.
func (a *app) withCluster(ctx context.Context, need host.Need, f func(ctx context.Context, e steps.Env) error) error {
	p := newProgress(a.errOut)
	log := progressLogger{p: p, v: a.verbosity}
	c, err := a.open(ctx, need, log)
	if err != nil {
		return err
	}
	return f(ctx, steps.Env{Cluster: c, Progress: p, Log: log})
}

// procedure is withCluster, then says how long the procedure took.
func (a *app) procedure(ctx context.Context, need host.Need, f func(ctx context.Context, e steps.Env) error) error {
	start := time.Now()
	return a.withCluster(ctx, need, func(ctx context.Context, e steps.Env) error {
		if err := f(ctx, e); err != nil {
			return err
		}
		fmt.Fprintf(a.errOut, "\nDone in %s.\n", fmtDur(time.Since(start)))
		return nil
	})
}

// node finds a running node of the named cluster by name.
func (a *app) node(ctx context.Context, nodeName string) (provider.Node, error) {
	p, cfg, err := a.namedProvider(a.log())
	if err != nil {
		return nil, err
	}
	return provider.NodeByName(ctx, p, cfg.Name, nodeName)
}

// builder is an artifact builder for store that prints one line per
// component.
func (a *app) builder(store *artifacts.Store) *artifacts.Builder {
	log := a.log()
	b := &artifacts.Builder{
		Store:        store,
		Run:          a.host.Runner(log),
		Log:          log,
		OnProgress:   func(p artifacts.Progress) { printProgress(a.out, p) },
		DebianMirror: os.Getenv("HARDWAY_DEBIAN_MIRROR"),
	}
	if b.DebianMirror == "" {
		b.DebianMirror = nodeimage.HostMirror(os.DirFS("/"))
	}
	if a.verbosity >= 1 {
		b.Stream = a.errOut
	}
	return b
}
