package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/diagram"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/ssh"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

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
			o.Runner, o.Log = a.host.Runner(a.log()), a.log()
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
	var o output
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes (name, IP, role, state) and which components run on each; --svg draws it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, cfg, err := a.namedProvider(a.log())
			if err != nil {
				return err
			}
			return a.printStatus(cmd.Context(), p, cfg, svg, o)
		},
	}
	cmd.Flags().StringVar(&svg, "svg", "", "also write the architecture picture with each component's health to this file")
	addOutputFlag(cmd, &o)
	return cmd
}

// nodeOut is one node of `hardway status -o json|yaml`.
type nodeOut struct {
	Name       string            `json:"name"`
	IP         string            `json:"ip"`
	Role       string            `json:"role"`
	State      string            `json:"state"`
	Machine    string            `json:"machine"`
	Kubernetes string            `json:"kubernetes,omitempty"`
	Components map[string]string `json:"components,omitempty"`
	// Error says why the components could not be read.
	Error string `json:"error,omitempty"`
}

type statusOut struct {
	Cluster string    `json:"cluster"`
	Nodes   []nodeOut `json:"nodes"`
	// API is set when the API could not be asked about the nodes.
	API string `json:"api,omitempty"`
}

func (a *app) printStatus(ctx context.Context, p provider.Provider, cfg *config.Cluster, svg string, o output) error {
	name := cfg.Name
	st, err := p.Status(ctx, name)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		if ok, err := emit(a.out, o, statusOut{Cluster: name, Nodes: []nodeOut{}}); ok {
			return err
		}
		if fileExists(state.For(name).Config()) {
			fmt.Fprintf(a.out, "cluster %q has no machines, only its saved state in %s: create them with hardway up --name %s, or forget it with hardway down --name %s\n", name, state.For(name).Path(), name, name)
		} else {
			fmt.Fprintf(a.out, "cluster %q does not exist (the clusters here: hardway list)\n", name)
		}
		if svg != "" {
			return fmt.Errorf("no picture written: cluster %q has no nodes; create it with: hardway up --name %s", name, name)
		}
		return nil
	}
	states, failures := a.componentStates(ctx, p, name, st)
	proxy, err := a.host.Proxy(ctx, cfg, a.log())
	if err != nil {
		return err
	}
	ready := nodeReadiness(ctx, name, proxy, time.Now())
	out := statusOut{Cluster: name, API: ready[""]}
	for _, s := range st {
		out.Nodes = append(out.Nodes, nodeOut{Name: s.Name, IP: s.IP, Role: s.Role, State: s.State, Machine: s.Container,
			Kubernetes: ready[s.Name], Components: states[s.Name], Error: failures[s.Name]})
	}
	if ok, err := emit(a.out, o, out); ok {
		return err
	}
	expected := expectedUnits(cfg)
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIP\tROLE\tSTATE\tCONTAINER\tKUBERNETES\tCOMPONENTS")
	for _, n := range out.Nodes {
		comps := formatHealth(n.Components, expected[n.Name])
		if n.Error != "" {
			comps = "? " + n.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.IP, n.Role, n.State, n.Machine, dashIfEmpty(n.Kubernetes), comps)
	}
	if out.API != "" {
		defer fmt.Fprintf(a.out, "kubernetes: %s (is the control plane up? hardway start --name %s)\n", out.API, name)
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
func nodeReadiness(ctx context.Context, cluster string, proxy func(*http.Request) (*url.URL, error), now time.Time) map[string]string {
	out := map[string]string{}
	kc, err := os.ReadFile(state.For(cluster).AdminKubeconfig())
	if err != nil {
		return out
	}
	cl, err := kube.NewWith(kc, kube.Options{Proxy: proxy})
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
// cluster service, in one command per node: node → unit → state. A node
// that could not be asked is in failures with the reason, not left blank.
func (a *app) componentStates(ctx context.Context, p provider.Provider, cluster string, st []provider.NodeStatus) (states map[string]map[string]string, failures map[string]string) {
	states, failures = map[string]map[string]string{}, map[string]string{}
	nodes, err := p.Nodes(ctx, cluster)
	if err != nil {
		for _, s := range st {
			failures[s.Name] = lines.First(err.Error())
		}
		return states, failures
	}
	running := map[string]bool{}
	for _, s := range st {
		running[s.Name] = s.State == "running"
	}
	for _, n := range nodes {
		if !running[n.Name()] {
			continue
		}
		m, err := steps.UnitStates(ctx, n)
		if err != nil {
			failures[n.Name()] = err.Error()
			continue
		}
		states[n.Name()] = m
	}
	return states, failures
}

// formatHealth is the COMPONENTS column: every unit the node should run
// (expected), with ✓ when active and its state otherwise (a controller
// that exited is "✗ inactive", never left out), then any other unit that is
// not inactive, in the order of components().
func formatHealth(states map[string]string, expected []string) string {
	if states == nil {
		return "-"
	}
	var parts []string
	for _, u := range components() {
		s, ok := states[u]
		if !ok || (s == "inactive" && !slices.Contains(expected, u)) {
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

// expectedUnits is, per machine, the components its roles run: the same
// answer verify and start check against.
func expectedUnits(cfg *config.Cluster) map[string][]string { return steps.ExpectedUnits(cfg) }

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

func newListCmd(a *app) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the clusters on this host: name, provider, nodes, Kubernetes version, running or stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := a.host.List(cmd.Context(), a.log())
			if err != nil {
				return err
			}
			if ok, err := emit(a.out, o, map[string]any{"clusters": list}); ok {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(a.out, "no clusters on this host; create one with: hardway up")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROVIDER\tNODES\tKUBERNETES\tSTATE")
			for _, c := range list {
				st := c.State
				switch {
				case c.Detail != "":
					st += ": " + c.Detail
				case c.Machines > 0 && c.State != host.ClusterRunning:
					st += fmt.Sprintf(" (%d of %d machines running)", c.Running, c.Machines)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, dashIfEmpty(c.Provider), dashIfZero(c.Nodes), dashIfEmpty(c.Kubernetes), st)
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &o)
	return cmd
}

func dashIfZero(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}
