package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/steps"
)

func newStopCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop every machine of the cluster, keeping its disks and state (hardway start brings it back)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.procedure(cmd.Context(), host.NeedMachines, func(ctx context.Context, e steps.Env) error {
				stopped, err := ops.Stop(ctx, e)
				if err != nil {
					return err
				}
				if len(stopped) == 0 {
					fmt.Fprintf(a.out, "cluster %q is already stopped; start it with: hardway start --name %s\n", e.Cluster.Config.Name, e.Cluster.Config.Name)
					return nil
				}
				for _, n := range stopped {
					fmt.Fprintln(a.out, "stopped", n)
				}
				fmt.Fprintf(a.out, "start it again with: hardway start --name %s\n", e.Cluster.Config.Name)
				return nil
			})
		},
	}
}

func newStartCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "start",
		Short: "Start a stopped cluster and wait until it serves: etcd, API, every node Ready, DNS, smoke tests",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.procedure(cmd.Context(), host.NeedMachines, func(ctx context.Context, e steps.Env) error {
				fmt.Fprintf(a.errOut, "Starting cluster %q\n", e.Cluster.Config.Name)
				t, err := ops.Start(ctx, e)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.errOut, "Cluster %q serves again %s after its machines started (%s).\n", e.Cluster.Config.Name, fmtDur(t.Verify.Round(100*time.Millisecond)), t)
				return nil
			})
		},
	}
}
