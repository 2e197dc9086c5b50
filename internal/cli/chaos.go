package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/chaos"
	"hardway.dev/hardway/internal/config"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/provider/docker"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// newChaosCmd is the fault soak behind hack/chaos.sh: hidden, because it
// breaks the cluster on purpose.
func newChaosCmd(a *app) *cobra.Command {
	var o chaos.Options
	var kinds, report string
	var seed int64
	cmd := &cobra.Command{
		Use:    "chaos [--duration 30m] [--faults N] [--kinds K,...] [--seed N] [--report FILE]",
		Short:  "Fault soak: kill, restart, freeze, cut off and fill the cluster's machines under a writer and a Service poller, then check nothing acknowledged was lost",
		Hidden: true,
		Long: `While one client creates ConfigMaps through the API load balancer as fast as it
can (remembering each acknowledged one) and a poller asks a NodePort Service on
every node, faults hit random machines of this cluster at random intervals, one
at a time: kill -9 of etcd, kube-apiserver, kubelet or containerd, a machine
restarted (docker restart), frozen (docker pause) or cut off from the others
(iptables DROP on its interface) for --hold-min..--hold-max, a bounded file
written on its disk. After each fault it measures how long until the API, the
Service on that machine and every unit there answered again. Afterwards: every
acknowledged write must be readable, every etcd member's hashkv at one revision
must agree, and verify must pass; the exit code says whether they did.
Only Docker machines of this cluster are touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := chaos.ParseKinds(kinds)
			if err != nil {
				return err
			}
			if o.Duration <= 0 || o.MaxFaults < 1 {
				return fmt.Errorf("--duration %s --faults %d: want a positive duration and at least 1 fault", o.Duration, o.MaxFaults)
			}
			o.Kinds = ks
			if seed == 0 {
				seed = time.Now().UnixNano()
			}
			o.Seed = uint64(seed)
			return a.chaos(cmd.Context(), o, report)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", 30*time.Minute, "how long faults keep coming")
	f.IntVar(&o.MaxFaults, "faults", 1000, "stop after this many faults")
	f.StringVar(&kinds, "kinds", "", "comma-separated fault kinds (default all: kill-etcd,kill-apiserver,kill-kubelet,kill-containerd,restart,pause,partition,disk)")
	f.Int64Var(&seed, "seed", 0, "random seed (default: the time; printed, so a run can be repeated)")
	f.DurationVar(&o.HoldMin, "hold-min", 10*time.Second, "shortest pause, partition or disk fill")
	f.DurationVar(&o.HoldMax, "hold-max", 30*time.Second, "longest pause, partition or disk fill")
	f.DurationVar(&o.GapMin, "gap-min", time.Second, "shortest time between a recovery and the next fault")
	f.DurationVar(&o.GapMax, "gap-max", 8*time.Second, "longest time between a recovery and the next fault")
	f.DurationVar(&o.RecoverBound, "recover-bound", 3*time.Minute, "a fault not healed by then counts as not recovered")
	f.StringVar(&report, "report", "", "also write the whole report as JSON to this file")
	return cmd
}

func (a *app) chaos(ctx context.Context, o chaos.Options, reportFile string) error {
	return a.procedure(ctx, host.NeedRunning, func(ctx context.Context, e steps.Env) error {
		c := e.Cluster
		cfg := c.Config
		if cfg.Provider != "" && cfg.Provider != config.ProviderDocker {
			return fmt.Errorf("chaos faults Docker machines only; cluster %s uses provider %s", cfg.Name, cfg.Provider)
		}
		run := a.host.Runner(a.log())
		hostCmd := func(ctx context.Context, argv []string) ([]byte, error) {
			return run.Run(ctx, hexec.Cmd{Name: argv[0], Args: argv[1:]})
		}
		var targets []chaos.Target
		for _, n := range cfg.Nodes {
			t := chaos.Target{Node: n.Name, IP: n.IP, Container: docker.ContainerName(cfg.Name, n.Name), ControlPlane: n.IsControlPlane(), Worker: n.IsWorker()}
			// Only this cluster's own containers: the label says whose.
			out, err := hostCmd(ctx, []string{"docker", "inspect", "-f", "{{index .Config.Labels \"" + docker.LabelCluster + "\"}}", t.Container})
			if err != nil || strings.TrimSpace(string(out)) != cfg.Name {
				return fmt.Errorf("container %s is not a machine of cluster %s (%s); chaos touches nothing else", t.Container, cfg.Name, strings.TrimSpace(string(out)))
			}
			targets = append(targets, t)
		}
		admin, err := c.Admin()
		if err != nil {
			return err
		}
		fast, err := admin.Fast(10 * time.Second)
		if err != nil {
			return err
		}
		expected := steps.ExpectedUnits(cfg)
		var endpoints []string
		for _, n := range cfg.ControlPlanes() {
			endpoints = append(endpoints, "https://"+n.IP+":2379")
		}
		env := chaos.Env{
			Targets: targets,
			Host:    hostCmd,
			Client:  fast.Clientset,
			Members: len(endpoints),
			APIReady: func(ctx context.Context, t chaos.Target) error {
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				if err := admin.Readyz(rctx); err != nil {
					return fmt.Errorf("through the load balancer: %v", err)
				}
				if !t.ControlPlane {
					return nil
				}
				own, err := admin.ForServer("https://" + t.IP + ":6443")
				if err != nil {
					return err
				}
				return own.Readyz(rctx)
			},
			UnitsDown: func(ctx context.Context, node string) ([]string, error) {
				nd, err := c.Node(ctx, node)
				if err != nil {
					return nil, err
				}
				uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				st, err := steps.UnitStates(uctx, nd)
				if err != nil {
					return nil, err
				}
				var down []string
				for _, u := range expected[node] {
					if st[u] != "active" {
						down = append(down, u+" "+st[u])
					}
				}
				return down, nil
			},
			Etcdctl: func(ctx context.Context, args ...string) ([]byte, error) {
				var last error
				for _, n := range cfg.ControlPlanes() {
					nd, err := c.Node(ctx, n.Name)
					if err != nil {
						last = err
						continue
					}
					ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
					out, err := nd.Run(ectx, nil, append(append(steps.EtcdctlArgs(endpoints...), "--command-timeout=10s"), args...)...)
					cancel()
					if err == nil {
						return out, nil
					}
					last = err
				}
				return nil, last
			},
			Verify: func(ctx context.Context) ([]string, error) {
				var failed []string
				_, err := c.Verify(ctx, func(r verify.Result) {
					if r.Err != nil {
						failed = append(failed, r.Text("  "))
					}
				})
				return failed, err
			},
			Progress: func(out chaos.Outcome) {
				fmt.Fprintln(a.out, chaos.Line(out))
			},
			Log: func(s string) { fmt.Fprintln(a.out, s) },
		}
		fmt.Fprintf(a.out, "chaos on cluster %s: seed %d, for %s or %d faults (%s)\n", cfg.Name, o.Seed, o.Duration, o.MaxFaults, kindList(o.Kinds))
		r, err := chaos.Run(ctx, env, o)
		if r != nil {
			r.Cluster = cfg.Name
			fmt.Fprintf(a.out, "\n%s", r.Table())
			if reportFile != "" {
				b, jerr := json.MarshalIndent(r, "", "  ")
				if jerr == nil {
					jerr = os.WriteFile(reportFile, b, 0o644)
				}
				if jerr != nil {
					return fmt.Errorf("--report %s: %v", reportFile, jerr)
				}
			}
		}
		if err != nil {
			return err
		}
		if p := r.Problems(); len(p) > 0 {
			return fmt.Errorf("the soak found %d problems: %s", len(p), strings.Join(p, "; "))
		}
		return nil
	})
}

func kindList(ks []chaos.Kind) string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}
