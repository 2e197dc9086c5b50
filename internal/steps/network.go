package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/render"
)

// networkStep's title holds for both kinds of routes (network.podRoutes):
// the step's log line and its explain text say which one this cluster uses,
// and `hardway steps` lists the title without a config.
func networkStep() Step {
	return Step{
		Name:    "network",
		Title:   "Pod network: routes to every node's pod CIDR, proved node to node",
		Explain: explainNetwork,
		Run:     runNetwork,
	}
}

func runNetwork(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	targets, err := c.nodeTargets(c.Config.Nodes, nil, networkUnits()...)
	if err != nil {
		return nil, err
	}
	changes, err := c.rollout(ctx, targets)
	if err != nil || c.DryRun {
		return changes, err
	}
	err = c.forEachNode(ctx, c.Config.Nodes, func(ctx context.Context, n config.Node) error {
		// Prove the kernel has the routes, not just that the unit ran.
		out, err := c.shell(ctx, n.Name, "ip -4 route show")
		if err != nil {
			return err
		}
		for _, r := range render.PodRoutes(c.Config, n) {
			via := r.Via
			if c.Config.Network.PodRoutes == config.PodRoutesDirect {
				via = r.NodeIP
			}
			if !strings.Contains(string(out), r.CIDR+" via "+via) {
				return fmt.Errorf("route %s via %s missing after %s started (see: hardway logs %s %s --name %s):\n%s", r.CIDR, via, render.PodNetworkUnit, n.Name, render.PodNetworkUnit, c.Config.Name, out)
			}
		}
		return nil
	})
	if err != nil {
		return changes, err
	}
	return changes, c.probePods(ctx)
}

// probePods proves, right after the routes are set, that packets between
// pod addresses cross the network between every pair of nodes: a network
// that drops them (Docker's --internal bridge, a cloud VPC with
// source/destination checks) would otherwise only show 90 s later, as a DNS
// step that reaches no server.
func (c *Cluster) probePods(ctx context.Context) error {
	direct := c.Config.Network.PodRoutes == config.PodRoutesDirect
	var nodes []probeNode
	for _, n := range c.Config.Nodes {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return err
		}
		nodes = append(nodes, probeNode{Name: n.Name, Node: nd, Addr: render.PodProbeAddr(c.Config, n)})
	}
	pairs, err := probePodNetwork(ctx, nodes, direct)
	if err != nil {
		return err
	}
	mode := "network.podRoutes: vxlan, through the tunnel"
	if direct {
		mode = "network.podRoutes: direct, plain routes"
	}
	if pairs == 0 {
		c.Log.Logf(0, "    one node: no pod traffic crosses the network (%s)", mode)
		return nil
	}
	c.Log.Logf(0, "    pod addresses reach each other across the network: %d node pairs (%s)", pairs, mode)
	return nil
}

// probeNode is one node of the pod network probe.
type probeNode struct {
	Name string
	Node node.Node
	// Addr is the node's address in its own pod CIDR
	// (render.PodProbeAddr); empty for a node without pods, which pings
	// from its node IP.
	Addr string
}

// probeWait bounds each ping: the reply of a working network comes back
// in a millisecond.
const probeWait = 3 * time.Second

// podProbeScript runs on a node. Its first argument is the operation:
//
//	prepare ADDR           make ADDR local: add ADDR/32 to lo unless an
//	                       interface (cni0) has it already
//	cleanup ADDR           remove ADDR/32 from lo again (what prepare added)
//	ping SECS SRC [NAME ADDR]...
//	                       ping every ADDR at once from SRC (empty: the node's
//	                       own address), each for at most SECS seconds;
//	                       print "ok NAME ADDR" or "fail NAME ADDR" for each
const podProbeScript = `set -e
op=$1; shift
case $op in
prepare)
  if ! ip -4 -o addr show | grep -qF " inet $1/"; then ip addr add "$1/32" dev lo; fi ;;
cleanup)
  if ip -4 -o addr show dev lo | grep -qF " inet $1/32 "; then ip addr del "$1/32" dev lo; fi ;;
ping)
  command -v ping >/dev/null 2>&1 || { echo "no ping command on this node: install iputils-ping" >&2; exit 2; }
  secs=$1; src=$2; shift 2
  d=$(mktemp -d)
  i=0
  while [ $# -ge 2 ]; do
    i=$((i+1))
    ( if ping -q -n -c 1 -w "$secs" ${src:+-I "$src"} "$2" >/dev/null 2>&1; then echo "ok $1 $2"; else echo "fail $1 $2"; fi ) >"$d/$i" &
    shift 2
  done
  wait
  cat "$d"/* 2>/dev/null || true
  rm -rf "$d" ;;
*)
  echo "pod probe: unknown operation $op (a bug in hardway)" >&2
  exit 2 ;;
esac`

// probePodNetwork pings from every node to the pod address of every other
// node that has pods (all nodes at once) and returns how many pairs
// answered, or an error naming the pairs that did not and the fix. With
// direct routes the pod addresses exist only once a pod runs, so they are
// made local on lo for the probe and removed after it.
func probePodNetwork(ctx context.Context, nodes []probeNode, direct bool) (int, error) {
	var targets []probeNode
	for _, n := range nodes {
		if n.Addr != "" {
			targets = append(targets, n)
		}
	}
	each := func(list []probeNode, f func(n probeNode) error) error {
		return parallel(len(list), func(i int) error {
			if err := f(list[i]); err != nil {
				return fmt.Errorf("%s: %w", list[i].Name, err)
			}
			return nil
		})
	}
	if direct {
		// The cleanup runs even when ctx is done: an address left on lo
		// would outlive the run.
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = each(targets, func(n probeNode) error {
				_, err := n.Node.Run(cctx, nil, "sh", "-c", podProbeScript, "probe", "cleanup", n.Addr)
				return err
			})
		}()
		err := each(targets, func(n probeNode) error {
			if _, err := n.Node.Run(ctx, nil, "sh", "-c", podProbeScript, "probe", "prepare", n.Addr); err != nil {
				return fmt.Errorf("making %s local for the pod network probe: %w", n.Addr, err)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	secs := fmt.Sprint(int(probeWait / time.Second))
	results := make([][]string, len(nodes))
	err := parallel(len(nodes), func(i int) error {
		n := nodes[i]
		var peers []string
		for _, t := range targets {
			if t.Name != n.Name {
				peers = append(peers, t.Name, t.Addr)
			}
		}
		if len(peers) == 0 {
			return nil
		}
		out, err := n.Node.Run(ctx, nil, append([]string{"sh", "-c", podProbeScript, "probe", "ping", secs, n.Addr}, peers...)...)
		if err != nil {
			return fmt.Errorf("%s: pod network probe: %w", n.Name, err)
		}
		results[i] = strings.Split(strings.TrimSpace(string(out)), "\n")
		return nil
	})
	if err != nil {
		return 0, err
	}
	pairs := 0
	var failed []string
	for i, n := range nodes {
		from := n.Name
		if n.Addr != "" {
			from += " (" + n.Addr + ")"
		} else {
			from += " (its node IP)"
		}
		for _, l := range results[i] {
			f := strings.Fields(l)
			if len(f) != 3 {
				if l != "" {
					return 0, fmt.Errorf("%s: unexpected line from the pod network probe: %q (a bug in hardway)", n.Name, l)
				}
				continue
			}
			if f[0] == "ok" {
				pairs++
				continue
			}
			failed = append(failed, fmt.Sprintf("%s → %s (%s)", from, f[1], f[2]))
		}
	}
	if len(failed) == 0 {
		return pairs, nil
	}
	what := strings.Join(failed, ", ")
	if len(failed) > 3 {
		what = fmt.Sprintf("%s and %d more pairs", strings.Join(failed[:3], ", "), len(failed)-3)
	}
	if direct {
		return pairs, fmt.Errorf("pods cannot reach pods on other nodes: ping %s got no answer within %s; the network between the nodes drops packets with pod addresses (as Docker's internal bridge and cloud VPCs with source/destination checks do): set network.podRoutes: vxlan in the config and run hardway up again", what, probeWait)
	}
	return pairs, fmt.Errorf("pods cannot reach pods on other nodes: ping %s through VXLAN got no answer within %s; the network between the nodes must carry UDP port 4789 between the node IPs (open it in any firewall or security group between them)", what, probeWait)
}

func explainNetwork(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(networkProse)
	direct := c.Config.Network.PodRoutes == config.PodRoutesDirect
	b.WriteString("\n")
	switch {
	case direct:
		b.WriteString(networkDirectProse)
	case !c.Config.Machines():
		b.WriteString(networkDockerProse)
		b.WriteString("\n" + networkVXLANProse)
	default:
		b.WriteString(networkVXLANProse)
	}
	b.WriteString("\n" + networkProbeProse)
	section(&b, fmt.Sprintf("This cluster: network.podRoutes: %s (provider %s)", c.Config.Network.PodRoutes, c.Config.Provider))
	switch {
	case direct:
		b.WriteString(directRoutesProse)
	case c.Config.Machines():
		b.WriteString(vxlanMachinesProse)
	}
	section(&b, "Routes per node")
	rows := [][]string{{"ON NODE", "PODS OF", "DESTINATION", "VIA (TUNNEL)", "TUNNEL TO"}}
	if direct {
		rows = [][]string{{"ON NODE", "PODS OF", "DESTINATION", "VIA (NODE IP)"}}
	}
	for _, n := range c.Config.Nodes {
		for _, r := range render.PodRoutes(c.Config, n) {
			if direct {
				rows = append(rows, []string{n.Name, r.Node, r.CIDR, r.NodeIP})
				continue
			}
			rows = append(rows, []string{n.Name, r.Node, r.CIDR, r.Via, r.NodeIP})
		}
	}
	if len(rows) == 1 {
		b.WriteString("  One worker: pods are all on the same bridge, no routes needed.\n")
	} else {
		table(&b, rows)
	}
	if err := c.explainUnit(&b, c.Config.Nodes[0], render.PodNetworkUnit); err != nil {
		return "", err
	}
	return b.String(), nil
}
