package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/steps"
)

func newEtcdCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "etcd", Short: "Operate the cluster's etcd: snapshots"}
	snap := &cobra.Command{Use: "snapshot", Short: "Save the whole cluster state to a file, or restore it from one"}
	snap.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Take a consistent snapshot of etcd and write it to FILE (0600), checked before it is written",
		Args:  exactArgs(1, "name the file to write: hardway etcd snapshot save FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.procedure(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				info, err := ops.SnapshotSave(ctx, e, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "saved %s (%d bytes, taken on %s, integrity checked)\nrestore it with: hardway etcd snapshot restore %s --name %s\n", info.File, info.Size, info.Node, info.File, e.Cluster.Config.Name)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's state with a snapshot: every member restored from it, control plane restarted, verified",
		Long: `Follows etcd's disaster-recovery procedure: the API servers and every etcd member
stop, each member's data directory is restored from the same snapshot with a new
cluster token, the members start together, then the control plane; the smoke tests
check the result. Everything written after the snapshot was taken is gone.`,
		Args: exactArgs(1, "name the snapshot to restore: hardway etcd snapshot restore FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A missing or damaged file is refused before the cluster is
			// looked at.
			data, err := ops.ReadSnapshot(args[0], a.nameOrDefault())
			if err != nil {
				return err
			}
			if err := ops.CheckSnapshot(data); err != nil {
				return fmt.Errorf("%s: %v; nothing was changed", args[0], err)
			}
			return a.procedure(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				return ops.SnapshotRestore(ctx, e, args[0])
			})
		},
	})
	snap.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the snapshots etcd.snapshots' schedule saved on the first control-plane node, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.procedure(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				list, err := ops.ScheduledSnapshots(ctx, e)
				if err != nil {
					return err
				}
				if len(list) == 0 {
					fmt.Fprintln(a.out, "no scheduled snapshot yet")
					return nil
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tSNAPSHOT\tSIZE\tSAVED")
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Node, s.Path, s.Size, s.Saved.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	})
	var name string
	fetch := &cobra.Command{
		Use:   "fetch FILE",
		Short: "Copy the newest scheduled snapshot (or --snapshot NAME) from its node to FILE (0600), checked, for restore",
		Args:  exactArgs(1, "name the file to write: hardway etcd snapshot fetch FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.procedure(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				info, err := ops.FetchSnapshot(ctx, e, name, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "fetched %s (%d bytes, from %s, integrity checked)\nrestore it with: hardway etcd snapshot restore %s --name %s\n", info.File, info.Size, info.Node, info.File, e.Cluster.Config.Name)
				return nil
			})
		},
	}
	fetch.Flags().StringVar(&name, "snapshot", "", "which scheduled snapshot (a name from etcd snapshot list); the newest when left out")
	snap.AddCommand(fetch)
	cmd.AddCommand(snap)
	return cmd
}
