package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/state"

	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/timing"
)

func newStepsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "steps",
		Short: "List the steps of `hardway up`, in order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for i, s := range steps.All() {
				fmt.Fprintf(a.out, "%2d  %-13s %s\n", i+1, s.Name, s.Title)
			}
			fmt.Fprintln(a.out, "\nRead any of them with: hardway explain STEP")
			return nil
		},
	}
}

func newExplainCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "explain [STEP]",
		Short: "Teach what a step does, why Kubernetes needs it, and what it produces for this cluster",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			c, cleanup, err := a.explainCluster(cfg)
			if err != nil {
				return err
			}
			defer cleanup()
			list := steps.All()
			if len(args) == 1 {
				if t, ok := steps.FindTopic(args[0]); ok {
					text, err := t.Explain(c)
					if err != nil {
						return fmt.Errorf("explain %s: %w", t.Name, err)
					}
					title := fmt.Sprintf("%s — %s", t.Name, t.Title)
					fmt.Fprintf(a.out, "%s\n%s\n%s", title, strings.Repeat("═", len([]rune(title))), text)
					return nil
				}
				s, ok := steps.Find(list, args[0])
				if !ok {
					var topics []string
					for _, t := range steps.Topics() {
						topics = append(topics, t.Name)
					}
					return fmt.Errorf("no step %q; the steps are: %s; the topics: %s", args[0], strings.Join(steps.Names(list), ", "), strings.Join(topics, ", "))
				}
				list = []steps.Step{s}
			}
			for i, s := range list {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				text, err := s.Explain(c)
				if err != nil {
					return fmt.Errorf("explain %s: %w", s.Name, err)
				}
				title := fmt.Sprintf("%s — %s", s.Name, s.Title)
				fmt.Fprintf(a.out, "%s\n%s\n%s", title, strings.Repeat("═", len([]rune(title))), text)
			}
			return nil
		},
	}
}

func newUpCmd(a *app) *cobra.Command {
	var from, only string
	var dryRun, traceTimings bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the cluster: run every step (or --from/--only one), idempotently",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			list, err := steps.Select(steps.All(), from, only)
			if err != nil {
				return err
			}
			if err := checkVersionChange(cfg); err != nil {
				return err
			}
			if dryRun {
				return a.dryRun(cmd.Context(), cfg, list)
			}
			a.traceTimings = traceTimings
			return a.runUp(cmd.Context(), cfg, list)
		},
	}
	cmd.Flags().BoolVar(&traceTimings, "trace-timings", false, "after the run, print where the time went: per step and node, each remote command, wait, apply and API call")
	cmd.Flags().StringVar(&from, "from", "", "start at this step (resume after a failure)")
	cmd.Flags().StringVar(&only, "only", "", "run only this step")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what each step would do, change nothing")
	return cmd
}

// checkVersionChange refuses a kubernetesVersion the existing cluster cannot
// move to in place (a downgrade, a skipped minor version).
func checkVersionChange(cfg *config.Cluster) error {
	saved, err := config.Load(state.For(cfg.Name).Config())
	if err != nil {
		return nil // a new cluster
	}
	return config.CheckVersionChange(saved.KubernetesVersion, cfg.KubernetesVersion)
}

// runUp runs steps against cfg's cluster with the progress display.
func (a *app) runUp(ctx context.Context, cfg *config.Cluster, list []steps.Step) error {
	p := newProgress(a.errOut)
	c, err := a.cluster(ctx, cfg, progressLogger{p: p, v: a.verbosity})
	if err != nil {
		return err
	}
	if a.traceTimings {
		c.Timings = &timing.Recorder{}
		defer func() {
			fmt.Fprintf(a.errOut, "\nWhere the time went (--trace-timings):\n")
			c.Timings.Report(a.errOut, 15)
		}()
	}
	if saved, err := config.Load(c.State.Config()); err == nil && saved.KubernetesVersion != cfg.KubernetesVersion {
		fmt.Fprintf(a.errOut, "Upgrading cluster %q from Kubernetes %s to %s: etcd one member at a time, then API server, controller-manager and scheduler one node at a time, then each node's kubelet and kube-proxy after a drain (hardway explain upgrade).\n", cfg.Name, saved.KubernetesVersion, cfg.KubernetesVersion)
	}
	if err := saveConfig(c.State, cfg); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "Building cluster %q: %d nodes, Kubernetes %s (state: %s)\n", cfg.Name, len(cfg.Nodes), cfg.KubernetesVersion, c.State.Path())
	start := time.Now()
	results, err := steps.Run(ctx, c, list, p)
	if err != nil {
		var se *steps.StepError
		if errors.As(err, &se) {
			return fmt.Errorf("%w\n  fix the cause, then resume with: hardway up --name %s --from %s", err, cfg.Name, se.Step)
		}
		return err
	}
	a.summary(cfg, results, time.Since(start))
	return nil
}

func newUpgradeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade VERSION",
		Short: "Move the cluster to another Kubernetes version in place, in the order the version-skew policy requires",
		Long: `Sets kubernetesVersion in the cluster's saved config and runs up: etcd one member at a
time, then API server, controller-manager and scheduler one node at a time (each ready
again before the next), then every node's kubelet and kube-proxy after draining it.
The API stays available through the load balancer. Downgrades and skipped minor
versions are refused. Same as editing kubernetesVersion and running hardway up.`,
		Example: "  hardway artifacts build --kubernetes-version v1.37.2\n  hardway upgrade v1.37.2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			if _, err := artifacts.ManifestFor(args[0]); err != nil {
				return err
			}
			if err := config.CheckVersionChange(cfg.KubernetesVersion, args[0]); err != nil {
				return err
			}
			cfg.KubernetesVersion = args[0]
			return a.runUp(cmd.Context(), cfg, steps.All())
		},
	}
}

func (a *app) summary(cfg *config.Cluster, results []steps.Result, total time.Duration) {
	name, node0 := cfg.Name, cfg.Nodes[0].Name
	fmt.Fprintf(a.errOut, "\nCluster %q is up in %s.\n", name, fmtDur(total))
	var slow []string
	var changes []converge.Change
	for _, r := range results {
		slow = append(slow, fmt.Sprintf("%s %s", r.Step.Name, fmtDur(r.Elapsed)))
		changes = append(changes, r.Changes...)
	}
	fmt.Fprintf(a.errOut, "  steps: %s\n", strings.Join(slow, ", "))
	if len(changes) == 0 {
		fmt.Fprintf(a.errOut, "  changes: none (the cluster already matched its config)\n")
	} else {
		fmt.Fprintf(a.errOut, "  changes: %s (list them with -v 1)\n", converge.Summary(changes))
	}
	fmt.Fprintf(a.errOut, "  use it: export KUBECONFIG=$(hardway kubeconfig --name %s | tail -1); kubectl get nodes -o wide\n", name)
	fmt.Fprintf(a.errOut, "  look inside: hardway shell %s --name %s -- systemctl status kubelet\n", node0, name)
	if cfg.Provider == config.ProviderSSH {
		fmt.Fprintf(a.errOut, "  remove what hardway installed (the machines stay): hardway down --name %s --yes\n", name)
		return
	}
	fmt.Fprintf(a.errOut, "  remove it:   hardway down --name %s\n", name)
}

// saveConfig keeps the config a cluster was built with, so verify, status,
// kubeconfig and a later up know it without -c.
func saveConfig(dir state.Dir, cfg *config.Cluster) error {
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir.Path(), 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	return os.WriteFile(dir.Config(), data, 0o600)
}
