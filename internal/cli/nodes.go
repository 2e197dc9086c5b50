package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/diagram"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/docker"
	"hardway.dev/hardway/internal/provider/ssh"
	"hardway.dev/hardway/internal/state"
)

func (a *app) runner() exec.Runner { return exec.OS{Log: a.log()} }

// dockerProviderLogging logs through log, e.g. the progress display, so
// -v output does not write over its spinner.
func dockerProviderLogging(log logx.Logger) *docker.Provider {
	return docker.New(docker.Options{Runner: exec.OS{Log: log}, Log: log})
}

// clusterName is --name, else the config file's name, else the default. It
// does not validate: `down` and `status` must work with a config that no
// longer validates.
func (a *app) clusterName() (string, error) {
	if a.name == "" && a.configFile != "" {
		c, err := config.Load(a.configFile)
		if err != nil {
			return "", err
		}
		return c.Name, nil
	}
	return a.nameOrDefault(), nil
}

// artifactCacheDir is the artifact cache root; errors (no home directory)
// fall back to the conventional path so checks still have something to show.
func artifactCacheDir() string {
	root, err := artifacts.DefaultRoot()
	if err != nil {
		return filepath.Join("/root", ".cache", "hardway")
	}
	return root
}

// checkArchFlag refuses, in one line, an --arch hardway has no nodes for.
func checkArchFlag(arch string) error {
	switch arch {
	case "", "amd64", "arm64":
		return nil
	}
	return fmt.Errorf("--arch %q: hardway has node images for amd64 and arm64 (the nodes' architecture; hardway check names it)", arch)
}

func newNodeImageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node-image",
		Short: "The container image every node runs (Debian + systemd, built locally)",
	}
	var o nodeimage.Options
	var sshMachine bool
	var tagArch string
	build := &cobra.Command{
		Use:   "build",
		Short: "Build the node image with debootstrap (no registry needed); skipped when up to date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Runner, o.Log = a.runner(), a.log()
			if err := checkArchFlag(o.Arch); err != nil {
				return err
			}
			if sshMachine {
				if o.Arch != "" && o.Arch != runtime.GOARCH {
					return fmt.Errorf("--ssh builds the SSH machine image for this host's architecture (%s) only", runtime.GOARCH)
				}
				_, err := nodeimage.EnsureSSH(cmd.Context(), o)
				return err
			}
			_, err := nodeimage.Ensure(cmd.Context(), o)
			return err
		},
	}
	build.Flags().BoolVar(&sshMachine, "ssh", false, "also build the SSH machine image ("+nodeimage.SSHRepository+"): the node image plus sshd and a sudo user, to try provider ssh on this host")
	build.Flags().BoolVar(&o.Force, "force", false, "rebuild even when the image for this recipe exists")
	build.Flags().BoolVar(&o.Dockerfile, "dockerfile", false, "use `docker build` FROM debian:bookworm instead of debootstrap (needs a registry)")
	build.Flags().StringVar(&o.Mirror, "mirror", "", "Debian mirror for debootstrap (default: the one in the host's apt sources)")
	build.Flags().StringVar(&o.Arch, "arch", "", "amd64 or arm64: the nodes' architecture, when it is not this host's (needs qemu-user in binfmt_misc: hack/binfmt-arm64.sh enable)")
	tag := &cobra.Command{
		Use:   "tag",
		Short: "Print the image reference of the current recipe",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkArchFlag(tagArch); err != nil {
				return err
			}
			if sshMachine {
				fmt.Fprintln(a.out, nodeimage.SSHTag())
				return nil
			}
			fmt.Fprintln(a.out, nodeimage.TagFor(tagArch))
			return nil
		},
	}
	tag.Flags().BoolVar(&sshMachine, "ssh", false, "the SSH machine image's reference instead")
	tag.Flags().StringVar(&tagArch, "arch", runtime.GOARCH, "amd64 or arm64")
	dockerfile := &cobra.Command{
		Use:   "dockerfile DIR",
		Short: "Write the Dockerfile build context of the same recipe into DIR (for users with a registry)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			if err := nodeimage.WriteDockerContext(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "wrote %s/{Dockerfile,entrypoint,setup.sh}; build with: docker build -t %s %s\n", args[0], nodeimage.Tag(), args[0])
			return nil
		},
	}
	cmd.AddCommand(build, tag, dockerfile)
	return cmd
}

func newStatusCmd(a *app) *cobra.Command {
	var svg string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes (name, IP, role, state) and which components run on each; --svg draws it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := a.namedProvider(a.log())
			if err != nil {
				return err
			}
			return a.printStatus(cmd, p, cfg.Name, svg)
		},
	}
	cmd.Flags().StringVar(&svg, "svg", "", "also write the architecture picture with each component's health to this file")
	return cmd
}

func (a *app) printStatus(cmd *cobra.Command, p provider.Provider, name, svg string) error {
	st, err := p.Status(cmd.Context(), name)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintf(a.out, "cluster %q has no nodes\n", name)
		if svg != "" {
			return fmt.Errorf("no picture written: cluster %q has no nodes; create it with: hardway up --name %s", name, name)
		}
		return nil
	}
	states := a.componentStates(cmd.Context(), p, name, st)
	ready := nodeReadiness(cmd.Context(), name, time.Now())
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIP\tROLE\tSTATE\tCONTAINER\tKUBERNETES\tCOMPONENTS")
	for _, s := range st {
		k := ready[s.Name]
		if k == "" {
			k = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.IP, s.Role, s.State, s.Container, k, formatHealth(states[s.Name]))
	}
	if msg, ok := ready[""]; ok {
		defer fmt.Fprintf(a.out, "kubernetes: %s (is the control plane up? hardway start --name %s)\n", msg, name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if svg == "" {
		return nil
	}
	return a.writeStatusSVG(name, svg, st, states)
}

// writeStatusSVG draws the cluster as its config describes it, coloured by
// what status saw.
func (a *app) writeStatusSVG(name, path string, st []provider.NodeStatus, states map[string]map[string]string) error {
	cfg, err := a.existingConfig()
	if err != nil {
		return fmt.Errorf("no picture written: %w", err)
	}
	ds := &diagram.Status{Machines: map[string]string{}, Units: states}
	for _, s := range st {
		ds.Machines[s.Name] = s.State
	}
	if err := os.WriteFile(path, diagram.Architecture(cfg, ds), 0o644); err != nil {
		return fmt.Errorf("writing the status picture: %w (choose another --svg path)", err)
	}
	fmt.Fprintf(a.out, "wrote the architecture of cluster %q with each component's health to %s\n", name, path)
	return nil
}

// nodeReadiness is what the API says of each Node, told honestly: Ready
// only while its kubelet still renews its lease (after a restart the Ready
// condition stays true for up to 40 s with nobody behind it).
func nodeReadiness(ctx context.Context, cluster string, now time.Time) map[string]string {
	out := map[string]string{}
	kc, err := os.ReadFile(state.For(cluster).AdminKubeconfig())
	if err != nil {
		return out
	}
	cl, err := kube.New(kc)
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	nodes, err := cl.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		out[""] = "API unreachable"
		return out
	}
	leases, _ := cl.Clientset.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
	renewed := map[string]time.Time{}
	if leases != nil {
		for _, l := range leases.Items {
			if l.Spec.RenewTime != nil {
				renewed[l.Name] = l.Spec.RenewTime.Time
			}
		}
	}
	for _, n := range nodes.Items {
		out[n.Name] = readiness(n, renewed[n.Name], now)
	}
	return out
}

// readiness words one Node's state; leaseAge past which a Ready is stale is
// the kubelet's default lease duration.
func readiness(n corev1.Node, renewed, now time.Time) string {
	const leaseDuration = 40 * time.Second
	state := "NotReady"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			state = "Ready"
		}
	}
	if n.Spec.Unschedulable {
		state += ",SchedulingDisabled"
	}
	if renewed.IsZero() {
		return state + " (no lease yet)"
	}
	if age := now.Sub(renewed); age > leaseDuration {
		return fmt.Sprintf("%s, stale: kubelet silent for %ds", state, int(age.Seconds()))
	}
	return state
}

// componentStates asks systemd on each running node for the state of every
// cluster service, in one command per node: node → unit → state.
func (a *app) componentStates(ctx context.Context, p provider.Provider, cluster string, st []provider.NodeStatus) map[string]map[string]string {
	out := map[string]map[string]string{}
	nodes, err := p.Nodes(ctx, cluster)
	if err != nil {
		return out
	}
	running := map[string]bool{}
	for _, s := range st {
		running[s.Name] = s.State == "running"
	}
	units := components()
	for _, n := range nodes {
		if !running[n.Name()] {
			continue
		}
		res, _ := n.Run(ctx, nil, append([]string{"systemctl", "is-active"}, units...)...)
		states := strings.Fields(string(res))
		m := map[string]string{}
		for i, u := range units {
			if i < len(states) {
				m[u] = states[i]
			}
		}
		out[n.Name()] = m
	}
	return out
}

// formatHealth is the COMPONENTS column: each unit that is not inactive,
// with ✓ when active and its state otherwise, in the order of components().
func formatHealth(states map[string]string) string {
	if states == nil {
		return ""
	}
	var parts []string
	for _, u := range components() {
		s, ok := states[u]
		if !ok || s == "inactive" {
			continue
		}
		mark := "✓"
		if s != "active" {
			mark = "✗ " + s
		}
		parts = append(parts, u+" "+mark)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func newDownCmd(a *app) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Delete the cluster: its node containers (or, on ssh machines, what hardway installed there), its network and its state directory",
		Long: `Deletes the cluster and its state directory.

provider docker: the node containers, their volumes and the network.
provider lima:   the VMs hardway created, with their disks.
provider ssh:    the machines are someone's: only what hardway installed goes
                 (units, binaries, /etc/kubernetes, /etc/etcd, /var/lib/etcd,
                 /var/lib/kubelet, containerd's and CNI's state, pod routes,
                 iptables chains, the etcd user), and only with --yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := a.namedProvider(a.log())
			if err != nil {
				return err
			}
			name := cfg.Name
			if cfg.Provider == config.ProviderSSH && !yes {
				var where []string
				for _, m := range ssh.MachinesFrom(cfg) {
					where = append(where, fmt.Sprintf("%s (%s@%s)", m.Name, m.User, m.Address))
				}
				return fmt.Errorf("cluster %q runs on machines hardway does not own: `hardway down --name %s --yes` removes what hardway installed on %s (units, binaries, its directories, routes, iptables rules, the etcd user) and nothing else", name, name, strings.Join(where, ", "))
			}
			removed, err := p.Delete(cmd.Context(), name)
			for _, r := range removed {
				fmt.Fprintln(a.out, "removed", r)
			}
			if err != nil {
				return fmt.Errorf("%w\n  the state directory %s is kept, so down can run again", err, state.For(name).Path())
			}
			if dir := state.For(name); dir.Exists() {
				if err := os.RemoveAll(dir.Path()); err != nil {
					return fmt.Errorf("removing state directory %s: %w", dir.Path(), err)
				}
				fmt.Fprintln(a.out, "removed state", dir.Path())
				removed = append(removed, dir.Path())
			}
			if len(removed) == 0 {
				fmt.Fprintf(a.out, "cluster %q: nothing to remove\n", name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "provider ssh: really remove what hardway installed on the machines")
	return cmd
}
