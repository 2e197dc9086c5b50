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
		Title:   "Pod network: routes to every node's pod CIDR (over VXLAN)",
		Explain: explainNetwork,
		Run:     runNetwork,
	}
}

var routesService = service{
	unit:   render.PodNetworkUnit,
	inputs: []string{"/etc/systemd/system/" + render.PodNetworkUnit + ".service"},
}

func runNetwork(ctx context.Context, c *Cluster) error {
	return c.forEachNode(ctx, c.Config.Nodes, func(ctx context.Context, n config.Node) error {
		if err := c.deploy(ctx, n, false, routesService); err != nil {
			return err
		}
		// Prove the kernel has the routes, not just that the unit ran.
		out, err := c.shell(ctx, n.Name, "ip -4 route show")
		if err != nil {
			return err
		}
		for _, r := range render.PodRoutes(c.Config, n) {
			if !strings.Contains(string(out), r.CIDR+" via "+r.Via) {
				return fmt.Errorf("route %s via %s missing after %s started (see: hardway logs %s %s --name %s):\n%s", r.CIDR, r.Via, render.PodNetworkUnit, n.Name, render.PodNetworkUnit, c.Config.Name, out)
			}
		}
		return nil
	})
}

func explainNetwork(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(networkProse)
	section(&b, "Routes per node")
	rows := [][]string{{"ON NODE", "PODS OF", "DESTINATION", "VIA (TUNNEL)", "TUNNEL TO"}}
	for _, n := range c.Config.Nodes {
		for _, r := range render.PodRoutes(c.Config, n) {
			rows = append(rows, []string{n.Name, r.Node, r.CIDR, r.Via, r.NodeIP})
		}
	}
	if len(rows) == 1 {
		b.WriteString("  One worker: pods are all on the same bridge, no routes needed.\n")
	} else {
		table(&b, rows)
	}
	if err := c.explainFiles(&b, c.Config.Nodes[0], routesService); err != nil {
		return "", err
	}
	return b.String(), nil
}
