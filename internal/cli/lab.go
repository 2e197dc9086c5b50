package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/lab"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

func newLabCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Break-and-fix labs: break one real thing, find the cause, fix it, check it, reset",
		Long: `Break-and-fix labs. Each lab breaks one real thing in a running cluster and
tells you the symptom. Find the cause and fix it with the tools you would use
on any cluster (kubectl, hardway shell, hardway logs), then let
"hardway lab check" probe the cluster the way "hardway verify" does.
"hardway lab hint" gives one hint at a time, each a little more: the
symptom's evidence, then the command that shows the cause, then the cause
and the fix. Once check passes it says what broke, why the fix works and
which chapter explains it; "hardway lab list" shows the labs this cluster
has passed. "hardway lab reset" restores the cluster with the steps of
"hardway up" and runs every smoke test. One lab at a time per cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var o output
	list := &cobra.Command{
		Use:   "list",
		Short: "List the labs, which one is active on the cluster and which it has passed",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.labList(o) },
	}
	addOutputFlag(list, &o)
	cmd.AddCommand(list, &cobra.Command{
		Use:   "start NAME",
		Short: "Break the cluster the way lab NAME says and show the symptom",
		Args:  exactArgs(1, "name the lab to start: hardway lab start NAME (the labs: hardway lab list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A misspelt lab is the learner's to fix before any cluster
			// matters.
			if _, err := lab.Find(args[0]); err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				l, t, err := lab.Start(ctx, e, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Lab %s started on cluster %q: %s.\n\nThe symptom:\n%s\n\n", l.Name, t.Cluster, l.Title, indent(l.Symptom(t)))
				fmt.Fprintf(a.out, "kubectl for this cluster:   export KUBECONFIG=$(hardway kubeconfig --name %s | tail -1)\n", t.Cluster)
				fmt.Fprintf(a.out, "When you think it is fixed: hardway lab check --name %s\n", t.Cluster)
				fmt.Fprintf(a.out, "Stuck:                      hardway lab hint --name %s\n", t.Cluster)
				fmt.Fprintf(a.out, "Done, or give up:           hardway lab reset --name %s (restores the cluster)\n", t.Cluster)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Probe the cluster like verify does: passes once the active lab is fixed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withCluster(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				name := e.Cluster.Config.Name
				first := true
				l, err := lab.Check(ctx, e, func(r verify.Result) {
					if first {
						fmt.Fprintf(a.out, "Checking cluster %q\n", name)
						first = false
					}
					fmt.Fprintln(a.out, r.Text("  "))
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Fixed: lab %s is solved.\n\n", l.Name)
				if t, err := l.TargetIn(e.Cluster.Config); err == nil {
					fmt.Fprintf(a.out, "%s\n\n", l.Debrief(t))
				}
				fmt.Fprintf(a.out, "End it with: hardway lab reset --name %s\n", name)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "hint",
		Short: "Give the active lab's next hint: the symptom's evidence, the command that shows the cause, the fix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			c, err := a.host.Open(cmd.Context(), cfg, a.log(), host.NeedNothing)
			if err != nil {
				return err
			}
			g, err := lab.NextHint(steps.Env{Cluster: c})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Lab %s: %s.\n\nHint %d of %d. %s", g.Lab.Name, g.Lab.Title, g.N, g.Total, g.Text)
			if g.N < g.Total {
				fmt.Fprintf(a.out, "\nStill stuck: hardway lab hint --name %s (the next hint)\n", g.Target.Cluster)
			} else {
				fmt.Fprintf(a.out, "\nThat was the last hint. Then: hardway lab check --name %s\n", g.Target.Cluster)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "reset",
		Short: "Restore the cluster after the active lab (the steps of up, then every smoke test) and end the lab",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withCluster(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				start := time.Now()
				l, err := lab.Reset(ctx, e)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Cluster %q restored in %s: lab %s ended, every smoke test passes.\n", e.Cluster.Config.Name, fmtDur(time.Since(start)), l.Name)
				return nil
			})
		},
	})
	return cmd
}

// labOut is one lab of `hardway lab list -o json|yaml`.
type labOut struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Active bool   `json:"active"`
	// Passed is when this cluster first passed the lab's check.
	Passed *time.Time `json:"passed,omitempty"`
	// Unavailable says why this cluster cannot run it.
	Unavailable string `json:"unavailable,omitempty"`
}

func (a *app) labList(o output) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	var active string
	if r, err := lab.Active(state.For(cfg.Name)); err == nil && r != nil {
		active = r.Lab
	}
	passed, err := lab.Passed(state.For(cfg.Name))
	if err != nil {
		return err
	}
	var labs []labOut
	for _, l := range lab.All() {
		lo := labOut{Name: l.Name, Title: l.Title, Active: l.Name == active}
		if at, ok := passed[l.Name]; ok {
			lo.Passed = &at
		}
		if _, err := l.TargetIn(cfg); err != nil {
			lo.Unavailable = err.Error()
		}
		labs = append(labs, lo)
	}
	if ok, err := emit(a.out, o, map[string]any{"cluster": cfg.Name, "labs": labs}); ok {
		return err
	}
	fmt.Fprintf(a.out, "%-19s %-7s %s\n", "LAB", "PASSED", "WHAT BREAKS")
	done := 0
	for _, l := range labs {
		note := ""
		if l.Unavailable != "" {
			note = " (not on this cluster: " + l.Unavailable + ")"
		}
		if l.Active {
			note = " (active on cluster " + cfg.Name + ")"
		}
		mark := "-"
		if l.Passed != nil {
			mark = "✓"
			done++
		}
		fmt.Fprintf(a.out, "%-19s %-7s %s%s\n", l.Name, mark, l.Title, note)
	}
	fmt.Fprintf(a.out, "\nCluster %s has passed %d of %d labs. Start one: hardway lab start NAME --name %s\n", cfg.Name, done, len(labs), cfg.Name)
	return nil
}
