package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/book"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/timing"
	"hardway.dev/hardway/internal/verify"
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

// explainLong lists what explain can teach: every step of up, in order,
// and every topic beyond them.
func explainLong() string {
	var b strings.Builder
	b.WriteString("Teach what a step does, why Kubernetes needs it, and what it produces for this\ncluster: the files each node gets (their paths on the nodes) and where hardway\nkeeps the cluster's certificates and kubeconfigs on this host. Without STEP,\nevery step in order.\n\nSteps of hardway up:\n")
	for _, s := range steps.All() {
		fmt.Fprintf(&b, "  %-14s %s\n", s.Name, s.Title)
	}
	b.WriteString("\nTopics beyond the steps:\n")
	for _, t := range steps.Topics() {
		fmt.Fprintf(&b, "  %-14s %s\n", t.Name, t.Title)
	}
	b.WriteString("\nA cluster that is not built on this host is explained from its config (-c) or the\ndefaults; the first line says which.")
	return b.String()
}

func newExplainCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "explain [STEP|TOPIC]",
		Short: "Teach what a step does, why Kubernetes needs it, and what it produces for this cluster",
		Long:  explainLong(),
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			list := steps.All()
			var topic *steps.Topic
			if len(args) == 1 {
				if t, ok := steps.FindTopic(args[0]); ok {
					topic = &t
				} else if s, ok := steps.Find(list, args[0]); ok {
					list = []steps.Step{s}
				} else {
					var topics []string
					for _, t := range steps.Topics() {
						topics = append(topics, t.Name)
					}
					return fmt.Errorf("no step %q; the steps are: %s; the topics: %s", args[0], strings.Join(steps.Names(list), ", "), strings.Join(topics, ", "))
				}
			}
			dir := state.For(cfg.Name)
			saved, savedErr := config.Load(dir.Config())
			live := savedErr == nil && sameConfig(saved, cfg)
			c, done, err := a.host.Scratch(cfg)
			if err != nil {
				return err
			}
			defer done()
			// The texts are written on a scratch copy of the state, deleted
			// when this command ends: name the cluster's real directory.
			real := func(text string) string { return strings.ReplaceAll(text, c.State.Path(), dir.Path()) }
			fmt.Fprintf(a.out, "%s\n\n", book.Banner(book.Input{Cluster: cfg, Live: live, StateDir: dir.Path(), ConfigFile: a.configFile}, "explain"))
			heading := func(name, title string) {
				t := fmt.Sprintf("%s — %s", name, title)
				fmt.Fprintf(a.out, "%s\n%s\n", t, strings.Repeat("═", len([]rune(t))))
			}
			if topic != nil {
				text, err := topic.Explain(c)
				if err != nil {
					return fmt.Errorf("explain %s: %w", topic.Name, err)
				}
				heading(topic.Name, topic.Title)
				fmt.Fprint(a.out, real(text))
				return nil
			}
			for i, s := range list {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				text, err := s.Explain(c)
				if err != nil {
					return fmt.Errorf("explain %s: %w", s.Name, err)
				}
				heading(s.Name, s.Title)
				fmt.Fprint(a.out, real(text))
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
			if err := checkVersion(cfg); err != nil {
				return err
			}
			if dryRun {
				return a.dryRun(cmd.Context(), cfg, list)
			}
			return a.runUp(cmd.Context(), cfg, list, traceTimings)
		},
	}
	cmd.Flags().BoolVar(&traceTimings, "trace-timings", false, "after the run, print where the time went: per step and node, each remote command, wait, apply and API call")
	cmd.Flags().StringVar(&from, "from", "", "start at this step (resume after a failure)")
	cmd.Flags().StringVar(&only, "only", "", "run only this step")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what each step would do, change nothing")
	return cmd
}

// checkVersion refuses, before anything is written, a kubernetesVersion
// hardway has no pinned artifacts for, and one the existing cluster cannot
// move to in place (a downgrade, a skipped minor version).
func checkVersion(cfg *config.Cluster) error {
	if _, err := artifacts.ManifestFor(cfg.KubernetesVersion); err != nil {
		return err
	}
	saved, err := config.Load(state.For(cfg.Name).Config())
	if err != nil {
		return nil // a new cluster
	}
	return config.CheckVersionChange(saved.KubernetesVersion, cfg.KubernetesVersion)
}

// runUp runs steps against cfg's cluster with the progress display.
func (a *app) runUp(ctx context.Context, cfg *config.Cluster, list []steps.Step, traceTimings bool) error {
	p := newProgress(a.errOut)
	c, err := a.host.Open(ctx, cfg, progressLogger{p: p, v: a.verbosity}, host.NeedNothing)
	if err != nil {
		return err
	}
	if traceTimings {
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
		if se, ok := err.(*steps.StepError); ok {
			return &resumable{err: err, resume: fmt.Sprintf("hardway up --name %s --from %s", cfg.Name, se.Step)}
		}
		return err
	}
	a.summary(cfg, results, time.Since(start))
	return nil
}

// dryRun is `up --dry-run`. For a cluster that exists it runs every step
// in dry-run mode against the live nodes, on a scratch copy of the state, and
// lists the changes a real run would make; for a new cluster it lists the
// steps (everything would be created).
func (a *app) dryRun(ctx context.Context, cfg *config.Cluster, list []steps.Step) error {
	fmt.Fprintf(a.out, "Dry run for cluster %q (%d nodes, Kubernetes %s). Nothing is changed.\n", cfg.Name, len(cfg.Nodes), cfg.KubernetesVersion)
	st, err := a.host.Provider(cfg, a.log()).Status(ctx, cfg.Name)
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
	c, err := a.host.Open(ctx, cfg, a.log(), host.NeedNothing)
	if err != nil {
		return err
	}
	dir, done, err := host.ScratchState(c.State)
	if err != nil {
		return err
	}
	defer done()
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
	var o output
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Run the smoke tests against a running cluster; non-zero exit if any fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.open(cmd.Context(), host.NeedRunning, a.log())
			if err != nil {
				return err
			}
			report := func(r verify.Result) { fmt.Fprintln(a.out, r.Text("  ")) }
			if o == outputTable {
				fmt.Fprintf(a.out, "Verifying cluster %q\n", c.Config.Name)
			} else {
				report = func(verify.Result) {}
			}
			results, err := c.Verify(cmd.Context(), report)
			if ok, eerr := emit(a.out, o, verifyOut{Cluster: c.Config.Name, Passed: err == nil, Checks: checkOuts(results)}); ok && eerr != nil {
				return eerr
			}
			if err == nil && o == outputTable {
				fmt.Fprintln(a.out, "All checks passed.")
			}
			return err
		},
	}
	addOutputFlag(cmd, &o)
	return cmd
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
		Args:    exactArgs(1, "name the version to move to: hardway upgrade VERSION (e.g. v1.37.2)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			if err := config.CheckVersionChange(cfg.KubernetesVersion, args[0]); err != nil {
				return err
			}
			cfg.KubernetesVersion = args[0]
			if err := checkVersion(cfg); err != nil {
				return err
			}
			// Every machine must run: an upgrade that met a stopped one
			// would stop half-way.
			if _, err := a.host.Open(cmd.Context(), cfg, a.log(), host.NeedRunning); err != nil {
				return err
			}
			return a.runUp(cmd.Context(), cfg, steps.All(), false)
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

// exactArgs is cobra.ExactArgs with an error that says what to type.
func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s", usage)
		}
		return nil
	}
}
