package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/kubeconfig"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

func newKubeconfigCmd(a *app) *cobra.Command {
	var merge bool
	var user string
	var groups []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the admin kubeconfig's path (last line); --merge adds it to your kubeconfig; --user issues one for a person",
		Long: `Print the path of the admin kubeconfig (its last line), or with --merge add it
to your own kubeconfig as context hardway-NAME.

The admin's certificate is in group ` + pki.AdminGroup + `, which the ClusterRoleBinding of
that name makes cluster-admin: deleting the binding revokes it. A break-glass
super-admin.kubeconfig (group system:masters, allowed before RBAC is asked)
stays beside it in the state directory, for when RBAC itself is broken.

--user NAME issues a short-lived client certificate for one person, signed by
the cluster CA, and writes their kubeconfig (path on the last line). The user
has no rights until a binding gives them some, e.g.
  kubectl create rolebinding jane-edit --clusterrole=edit --user=jane -n default
and deleting the binding revokes them; the certificate itself cannot be
revoked, only outlived (--ttl, at most 720h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user != "" || cmd.Flags().Changed("group") || cmd.Flags().Changed("ttl") {
				if merge {
					return fmt.Errorf("--merge adds the admin kubeconfig, not a user's: drop --merge, or drop --user, --group and --ttl")
				}
				return a.issueUser(pki.UserRequest{Name: user, Groups: groups, TTL: ttl})
			}
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
	cmd.Flags().StringVar(&user, "user", "", "issue a kubeconfig for this person (the certificate's CN): no rights until a binding gives some")
	cmd.Flags().StringArrayVar(&groups, "group", nil, "a group of the user (repeatable), e.g. "+pki.AdminGroup+" for the admin's rights")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the user's certificate lives (1m to 720h)")
	return cmd
}

// issueUser is `hardway kubeconfig --user`: the person's kubeconfig in the
// cluster's state directory, its path on the last line.
func (a *app) issueUser(r pki.UserRequest) error {
	if r.Name == "" {
		return fmt.Errorf("--group and --ttl go with --user NAME: name the person, e.g. --user jane")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	cfg, err := a.namedConfig()
	if err != nil {
		return err
	}
	dir := state.For(cfg.Name)
	path := dir.UserKubeconfig(r.Name)
	cert, err := kubeconfig.IssueUser(dir.PKI(), path, cfg, r, time.Now())
	if err != nil {
		return err
	}
	groups := "no groups"
	if len(r.Groups) > 0 {
		groups = "groups " + strings.Join(r.Groups, ", ")
	}
	fmt.Fprintf(a.out, "user %s (%s), certificate valid until %s\n", r.Name, groups, cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(a.out, "rights come from RBAC only, e.g.: kubectl create rolebinding %s-view --clusterrole=view --user=%s -n default\n", r.Name, r.Name)
	fmt.Fprintln(a.out, path)
	return nil
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

func components() []string { return steps.Components() }
