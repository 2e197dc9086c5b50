package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// cluster assembles what the steps run against: config, state directory,
// facts of the machines, the provider and the resolved artifact cache.
func (a *app) cluster(ctx context.Context, cfg *config.Cluster, log logx.Logger) (*steps.Cluster, error) {
	// Container nodes are this host: they see its cgroups and capabilities.
	// Machines report their own (setupMachines).
	var facts render.Facts
	if !cfg.Machines() {
		var err error
		if facts, err = render.DetectHostFacts(); err != nil {
			return nil, err
		}
	}
	store, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	prov, err := a.providerFor(cfg, log)
	if err != nil {
		return nil, err
	}
	c := &steps.Cluster{
		Config:   cfg,
		State:    state.For(cfg.Name),
		Facts:    facts,
		Log:      log,
		Provider: prov,
		Create:   provider.CreateOptions{Image: nodeimage.Tag(), ArtifactsDir: store.Root},
	}
	// Resolved once here: the check step reports a missing artifact, and the
	// later steps need the bundle even when check is skipped (--from).
	c.Artifacts, c.ArtifactsErr = store.Resolve(cfg.KubernetesVersion)
	if cfg.Machines() {
		// Facts, architecture and checks come from the machines, not from
		// this host; nothing is mounted.
		c.Create = provider.CreateOptions{}
		if err := a.setupMachines(ctx, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	c.Preflight = func(ctx context.Context) error {
		if err := a.preflight(ctx, cfg); err != nil {
			return err
		}
		// Binaries and images must exist before any node is touched.
		if c.ArtifactsErr != nil {
			return c.ArtifactsErr
		}
		ok, err := nodeimage.Exists(ctx, a.runner(), c.Create.Image)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("node image %s is not built; run: hardway node-image build", c.Create.Image)
		}
		return nil
	}
	return c, nil
}

// explainCluster is a Cluster for teaching: it never touches Docker and never
// changes the cluster's state. It works on a copy of the state directory (or
// an empty one), so the text shows the cluster's real certificates and files
// while anything generated for it is thrown away.
func (a *app) explainCluster(cfg *config.Cluster) (*steps.Cluster, func(), error) {
	// Machines are not asked (explain touches nothing): their files are
	// shown for a cgroup v2 machine with every capability.
	var facts render.Facts
	if !cfg.Machines() {
		var err error
		if facts, err = render.DetectHostFacts(); err != nil {
			return nil, nil, err
		}
	}
	dir, cleanup, err := scratchState(state.For(cfg.Name))
	if err != nil {
		return nil, nil, err
	}
	c := &steps.Cluster{Config: placeholderIPs(cfg), State: dir, Facts: facts, Log: logx.Discard{}}
	if store, err := a.artifactStore(); err == nil {
		if b, err := store.Resolve(cfg.KubernetesVersion); err == nil {
			c.Artifacts = b
		}
	}
	return c, cleanup, nil
}

// scratchState copies a state directory (if it exists) into a temporary one.
func scratchState(from state.Dir) (state.Dir, func(), error) {
	tmp, err := os.MkdirTemp("", "hardway-scratch-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	if from.Exists() {
		if err := os.CopyFS(tmp, os.DirFS(from.Path())); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("copying %s: %w", from.Path(), err)
		}
	}
	return state.Dir(tmp), cleanup, nil
}

// dryRun is `up --dry-run`. For a cluster that exists it runs every step
// in dry-run mode against the live nodes, on a scratch copy of the state, and
// lists the changes a real run would make; for a new cluster it lists the
// steps (everything would be created).
func (a *app) dryRun(ctx context.Context, cfg *config.Cluster, list []steps.Step) error {
	fmt.Fprintf(a.out, "Dry run for cluster %q (%d nodes, Kubernetes %s). Nothing is changed.\n", cfg.Name, len(cfg.Nodes), cfg.KubernetesVersion)
	p, err := a.providerFor(cfg, a.log())
	if err != nil {
		return err
	}
	st, err := p.Status(ctx, cfg.Name)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintf(a.out, "The cluster does not exist yet: every step would create what it owns.\n")
		fmt.Fprintf(a.out, "Every file these steps write is what `hardway render --out DIR` produces.\n\n")
		for i, s := range list {
			fmt.Fprintf(a.out, "%2d  %-13s %s\n", i+1, s.Name, s.Title)
		}
		fmt.Fprintf(a.out, "\nRead what each does: hardway explain STEP\n")
		return nil
	}
	c, err := a.cluster(ctx, cfg, a.log())
	if err != nil {
		return err
	}
	dir, cleanup, err := scratchState(c.State)
	if err != nil {
		return err
	}
	defer cleanup()
	c.State, c.DryRun = dir, true
	var total []converge.Change
	for _, s := range list {
		changes, err := s.Run(ctx, c)
		if err != nil {
			return fmt.Errorf("dry run of step %s: %w", s.Name, err)
		}
		fmt.Fprintf(a.out, "\n%-13s %s\n", s.Name, converge.Summary(changes))
		for _, ch := range changes {
			fmt.Fprintf(a.out, "  %s\n", ch)
		}
		total = append(total, changes...)
	}
	fmt.Fprintf(a.out, "\nA real run would make %s.\n", converge.Summary(total))
	return nil
}

func newVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Run the smoke tests against a running cluster; non-zero exit if any fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			c, err := a.cluster(cmd.Context(), cfg, a.log())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Verifying cluster %q\n", cfg.Name)
			_, err = c.Verify(cmd.Context(), func(r verify.Result) { fmt.Fprintln(a.out, r.Text("  ")) })
			if err == nil {
				fmt.Fprintln(a.out, "All checks passed.")
			}
			return err
		},
	}
}

// existingConfig is the config of a cluster that exists on this host (see
// loadConfig); without -c it is an error when the cluster has no state.
func (a *app) existingConfig() (*config.Cluster, error) {
	if a.configFile == "" {
		if dir := state.For(a.nameOrDefault()); !fileExists(dir.Config()) {
			return nil, fmt.Errorf("cluster %q has no state on this host (%s); create it with: hardway up --name %s", a.nameOrDefault(), dir.Path(), a.nameOrDefault())
		}
	}
	return a.loadConfig()
}

// preflight runs the host checks for `up`: the required ones must pass.
func (a *app) preflight(ctx context.Context, cfg *config.Cluster) error {
	var failed []string
	for _, r := range hostCheckEnv(a.runner()).checks(ctx, cfg) {
		if !r.ok && r.required {
			failed = append(failed, fmt.Sprintf("%s (%s; fix: %s)", r.name, r.detail, r.hint))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("this host is not ready:\n  %s\n  details: hardway check", strings.Join(failed, "\n  "))
	}
	return nil
}

// placeholderIPs gives nodes without an address (Lima VMs not created yet)
// one from the documentation range 192.0.2.0/24 (RFC 5737), so explain can
// show complete files; the real ones come from the VMs. cfg is not changed.
func placeholderIPs(cfg *config.Cluster) *config.Cluster {
	missing := false
	for _, n := range cfg.Nodes {
		missing = missing || n.IP == ""
	}
	if !missing {
		return cfg
	}
	cp := *cfg
	cp.Nodes = append([]config.Node(nil), cfg.Nodes...)
	for i := range cp.Nodes {
		if cp.Nodes[i].IP == "" {
			cp.Nodes[i].IP = fmt.Sprintf("192.0.2.%d", 10+i)
		}
	}
	return &cp
}
