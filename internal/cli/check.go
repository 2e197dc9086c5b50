package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/machinecheck"
)

func newCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check this host (or, for providers ssh and lima, every machine) for everything a cluster needs, with a fix for each missing item",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.loadConfig()
			if err != nil {
				return err
			}
			r, err := a.host.Check(cmd.Context(), c, a.log())
			if err != nil {
				return err
			}
			if r.NotYet != "" {
				fmt.Fprintln(a.out, r.NotYet)
				return nil
			}
			if failed := printChecks(a.out, r.Results, c.Name); failed > 0 {
				return fmt.Errorf("%d required check(s) failed; fix them and run `hardway check --name %s` again", failed, c.Name)
			}
			return nil
		},
	}
}

// printChecks is the one printer of check results (this host, machines,
// the cluster): a heading whenever the subject changes, then ✓, ✗
// (required) or ! (advice) with what was found, and the fix under each
// failure. It returns how many required checks failed.
func printChecks(w io.Writer, results []machinecheck.Result, cluster string) int {
	failed, where := 0, ""
	for _, r := range results {
		if wh := r.Where(); wh != where {
			where = wh
			if where == "cluster" {
				wh = "cluster " + cluster
			}
			fmt.Fprintln(w, wh)
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
		fmt.Fprintln(w, line)
		if !r.OK {
			fmt.Fprintf(w, "      fix: %s\n", r.Fix)
			if r.Required {
				failed++
			}
		}
	}
	return failed
}
