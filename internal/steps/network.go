package steps

import (
	"context"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

func networkStep() Step {
	return Step{
		Name:    "network",
		Title:   "Pod network routes: each node's pod CIDR via that node",
		Explain: explainNetwork,
		Run:     runNetwork,
	}
}

const routesUnit = "hardway-pod-routes"

// podRoutes are the routes node n needs: every other worker's pod CIDR via
// that worker's IP.
func podRoutes(c *config.Cluster, n config.Node) [][2]string {
	var out [][2]string
	for _, w := range c.Workers() {
		if w.Name != n.Name && w.PodCIDR != "" {
			out = append(out, [2]string{w.PodCIDR, w.IP})
		}
	}
	return out
}

// routesFile is a oneshot unit that (re)adds the routes at boot, so a node
// that restarts gets them back without a new `hardway up`.
func routesFile(c *config.Cluster, n config.Node) render.File {
	var b strings.Builder
	b.WriteString("# Written by hardway: routes to the other nodes' pod networks.\n")
	b.WriteString("# With the CNI bridge plugin there is no overlay: a packet for a pod on\n")
	b.WriteString("# another node is routed to that node's IP, which owns that pod CIDR.\n")
	b.WriteString("[Unit]\nDescription=Routes to the pod CIDRs of the other nodes\nAfter=network.target\n\n")
	b.WriteString("[Service]\nType=oneshot\nRemainAfterExit=yes\n")
	for _, r := range podRoutes(c, n) {
		fmt.Fprintf(&b, "ExecStart=/sbin/ip route replace %s via %s\n", r[0], r[1])
	}
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return render.File{Path: "/etc/systemd/system/" + routesUnit + ".service", Mode: render.ModePublic, Data: []byte(b.String())}
}

func runNetwork(ctx context.Context, c *Cluster) error {
	return c.forEachNode(ctx, c.Config.Nodes, func(ctx context.Context, n config.Node) error {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return err
		}
		changed, err := syncFiles(ctx, nd, []render.File{routesFile(c.Config, n)})
		if err != nil {
			return err
		}
		verb := "start"
		if len(changed) > 0 {
			verb = "restart"
		}
		script := fmt.Sprintf("systemctl daemon-reload && systemctl enable --quiet %[1]s && systemctl %[2]s %[1]s", routesUnit, verb)
		if len(changed) == 0 {
			script = fmt.Sprintf("systemctl enable --quiet %[1]s && systemctl start %[1]s", routesUnit)
		}
		if _, err := c.shell(ctx, n.Name, script); err != nil {
			return err
		}
		// Prove the kernel has them, not just the unit.
		out, err := c.shell(ctx, n.Name, "ip -4 route show")
		if err != nil {
			return err
		}
		for _, r := range podRoutes(c.Config, n) {
			if !strings.Contains(string(out), r[0]+" via "+r[1]) {
				return fmt.Errorf("route %s via %s missing after %s started:\n%s", r[0], r[1], routesUnit, out)
			}
		}
		return nil
	})
}

func explainNetwork(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(networkProse)
	section(&b, "Routes per node")
	rows := [][]string{{"ON NODE", "DESTINATION", "VIA"}}
	for _, n := range c.Config.Nodes {
		for _, r := range podRoutes(c.Config, n) {
			rows = append(rows, []string{n.Name, r[0], r[1]})
		}
	}
	if len(rows) == 1 {
		b.WriteString("  One node: pods are all on the same bridge, no routes needed.\n")
	} else {
		table(&b, rows)
	}
	n := c.Config.Nodes[0]
	f := routesFile(c.Config, n)
	fmt.Fprintf(&b, "\n  %s on %s (so routes come back after a node restart):\n", f.Path, n.Name)
	b.WriteString(indent(string(f.Data), "    │ "))
	return b.String(), nil
}
