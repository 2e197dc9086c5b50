package steps

import (
	"context"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
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

func runNetwork(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	targets, err := c.nodeTargets(c.Config.Nodes, nil, networkUnits()...)
	if err != nil {
		return nil, err
	}
	changes, err := c.rollout(ctx, targets)
	if err != nil || c.DryRun {
		return changes, err
	}
	return changes, c.forEachNode(ctx, c.Config.Nodes, func(ctx context.Context, n config.Node) error {
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
}

func explainNetwork(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(networkProse)
	direct := c.Config.Network.PodRoutes == config.PodRoutesDirect
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
