package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/kubeconfig"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
)

func newKubeconfigCmd(a *app) *cobra.Command {
	var merge bool
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the admin kubeconfig's path (last line); --merge adds it to your kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := a.clusterName()
			if err != nil {
				return err
			}
			dir := state.For(name)
			path := dir.AdminKubeconfig()
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("cluster %q has no admin kubeconfig (%s); create the cluster with: hardway up --name %s", name, path, name)
			}
			if merge {
				target := userKubeconfig()
				ctxName := "hardway-" + name
				if err := kubeconfig.Merge(target, data, ctxName); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "merged context %q into %s (kubectl config use-context %s)\n", ctxName, target, ctxName)
			}
			fmt.Fprintln(a.out, path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&merge, "merge", false, "add or update a context hardway-NAME in $KUBECONFIG or ~/.kube/config")
	return cmd
}

// userKubeconfig is where kubectl looks first.
func userKubeconfig() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return filepath.SplitList(k)[0]
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".kube", "config")
}

func until(t time.Time) string {
	d := time.Until(t)
	if d < 0 {
		return "EXPIRED"
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func newLogsCmd(a *app) *cobra.Command {
	var lines int
	cmd := &cobra.Command{
		Use:   "logs NODE COMPONENT",
		Short: "Show a component's journal on a node (etcd, kube-apiserver, kubelet, containerd, haproxy, ...)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out, err := n.Run(cmd.Context(), nil, "journalctl", "-u", args[1], "--no-pager", "-o", "short-precise", "-n", fmt.Sprint(lines))
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(out)) == "-- No entries --" {
				return fmt.Errorf("no journal for %q on %s; components: %s", args[1], args[0], strings.Join(components(), ", "))
			}
			_, err = a.out.Write(out)
			return err
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 200, "how many of the last lines")
	return cmd
}

func components() []string {
	return []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", render.UnitNodeLB, "kubelet", "kube-proxy", render.PodNetworkUnit, render.UnitPodsStop, "haproxy", render.UnitNoEgress}
}
