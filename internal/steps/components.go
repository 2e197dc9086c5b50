package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/render"
)

// Components are the systemd units a machine of a cluster may run, in the
// order status lists them.
func Components() []string {
	return []string{render.UnitEtcd, render.UnitAPIServer, render.UnitControllerManager, render.UnitScheduler, render.UnitContainerd,
		render.UnitNodeLB, render.UnitKubelet, render.UnitKubeProxy, render.PodNetworkUnit, render.UnitPodsStop, "haproxy", render.UnitNoEgress,
		render.UnitEtcdSnapshotTimer, render.UnitCSRApproverTimer, registry.Unit}
}

// ExpectedUnits is, per machine, the components its roles run (the
// load-balancer machine runs haproxy): the one answer to "what should be
// active there" for status, verify and start. hardway-pods-stop is left out:
// it is active only around a shutdown. The registry is expected where it runs
// once the config has add-ons: their pods pull from it, so a registry that is
// down breaks every add-on pod that is rescheduled, and it must show in
// status and fail verify like any other component.
func ExpectedUnits(cfg *config.Cluster) map[string][]string {
	out := map[string][]string{}
	if cfg.Network.LoadBalancerIP != "" {
		out[provider.LBName] = []string{"haproxy"}
		if cfg.Published() {
			out[provider.LBName] = append(out[provider.LBName], render.UnitNoEgress)
		}
	}
	for _, n := range cfg.Nodes {
		fp, err := Footprint(cfg, n)
		if err != nil {
			continue
		}
		for _, u := range fp.Units {
			// The footprint names the registry's unit wherever it may run
			// (down removes it); it is expected only with add-ons, below.
			if u != render.UnitPodsStop && u != registry.Unit && slices.Contains(Components(), u) {
				out[n.Name] = append(out[n.Name], u)
			}
		}
	}
	if len(cfg.Addons) > 0 && len(cfg.Nodes) > 0 {
		m := registry.Machine(cfg)
		out[m] = append(out[m], registry.Unit)
	}
	return out
}

// UnitStates asks systemd on n, in one command, for the state of every
// unit of Components (active, inactive, failed, activating, ...).
func UnitStates(ctx context.Context, n node.Node) (map[string]string, error) {
	units := Components()
	// is-active exits non-zero when any unit is not active; its output
	// still has one line per unit. Only a missing answer is a failure to
	// ask.
	res, err := n.Run(ctx, nil, append([]string{"systemctl", "is-active"}, units...)...)
	lines := strings.Fields(string(res))
	if re, ok := exec.IsRunError(err); ok && len(lines) == 0 {
		lines = strings.Fields(string(re.Stdout))
	}
	if len(lines) != len(units) {
		why := "no answer"
		if err != nil {
			why = strings.SplitN(err.Error(), "\n", 2)[0]
		}
		return nil, fmt.Errorf("cannot ask systemd: %s", why)
	}
	m := map[string]string{}
	for i, u := range units {
		m[u] = lines[i]
	}
	return m, nil
}

// DownUnit is an expected component that is not active.
type DownUnit struct {
	Node, Unit, State string
}

func (d DownUnit) String() string { return d.Node + ": " + d.Unit + " " + d.State }

// settled: systemd does nothing more about a unit in these states by
// itself (no restart is pending), so waiting longer changes nothing.
func settled(state string) bool { return state == "inactive" || state == "failed" }

// DownComponents returns the expected components of every machine that are
// not active, waiting up to bound while any of them is still on its way
// (activating, or waiting for Restart=always): right after a start or a
// crash that is normal, a unit that stays inactive or failed is not.
func (c *Cluster) DownComponents(ctx context.Context, bound time.Duration) ([]DownUnit, error) {
	expected := ExpectedUnits(c.Config)
	names := make([]string, 0, len(expected))
	for name := range expected {
		names = append(names, name)
	}
	slices.Sort(names)
	var down []DownUnit
	err := c.until(ctx, "every expected component active", time.Second, bound, func(ctx context.Context) (bool, error) {
		down = nil
		moving := false
		// Every machine at once: one command each.
		states := make([]map[string]string, len(names))
		err := parallel(len(names), func(i int) error {
			n, err := c.Node(ctx, names[i])
			if err != nil {
				return err
			}
			if states[i], err = UnitStates(ctx, n); err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		for i, name := range names {
			states := states[i]
			for _, u := range expected[name] {
				if s := states[u]; s != "active" {
					down = append(down, DownUnit{Node: name, Unit: u, State: s})
					moving = moving || !settled(s)
				}
			}
		}
		if len(down) > 0 && moving {
			return false, fmt.Errorf("not active yet: %s", joinDown(down))
		}
		return true, nil
	})
	if err != nil && len(down) == 0 {
		return nil, err
	}
	return down, nil
}

func joinDown(down []DownUnit) string {
	parts := make([]string, len(down))
	for i, d := range down {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

// CheckComponents is verify's check of the machines: nil when every
// expected component is active, else one line naming each one that is not,
// where to see why and how to start them again (up starts every unit that
// is not running).
func (c *Cluster) CheckComponents(ctx context.Context, bound time.Duration) error {
	down, err := c.DownComponents(ctx, bound)
	if err != nil {
		return err
	}
	if len(down) == 0 {
		return nil
	}
	return fmt.Errorf("not active: %s; see why: hardway logs %s %s --name %s; start again: hardway up --name %s",
		joinDown(down), down[0].Node, down[0].Unit, c.Config.Name, c.Config.Name)
}
