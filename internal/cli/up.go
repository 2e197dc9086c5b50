package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/state"

	"hardway.dev/hardway/internal/steps"
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
				s, ok := steps.Find(list, args[0])
				if !ok {
					return fmt.Errorf("no step %q; the steps are: %s", args[0], strings.Join(steps.Names(list), ", "))
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
	var dryRun bool
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
			if dryRun {
				return a.dryRun(cmd.Context(), cfg, list)
			}
			p := newProgress(a.errOut)
			c, err := a.cluster(cmd.Context(), cfg, progressLogger{p: p, v: a.verbosity})
			if err != nil {
				return err
			}
			if err := saveConfig(c.State, cfg); err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "Building cluster %q: %d nodes, Kubernetes %s (state: %s)\n", cfg.Name, len(cfg.Nodes), cfg.KubernetesVersion, c.State.Path())
			start := time.Now()
			results, err := steps.Run(cmd.Context(), c, list, p)
			if err != nil {
				var se *steps.StepError
				if errors.As(err, &se) {
					return fmt.Errorf("%w\n  fix the cause, then resume with: hardway up --name %s --from %s", err, cfg.Name, se.Step)
				}
				return err
			}
			a.summary(cfg.Name, cfg.Nodes[0].Name, results, time.Since(start))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start at this step (resume after a failure)")
	cmd.Flags().StringVar(&only, "only", "", "run only this step")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what each step would do, change nothing")
	return cmd
}

func (a *app) summary(name, node0 string, results []steps.Result, total time.Duration) {
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
