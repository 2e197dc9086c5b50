package steps

import (
	"context"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/converge"
)

func checkStep() Step {
	return Step{
		Name:    "check",
		Title:   "Preflight: this host can run the cluster",
		Explain: explainCheck,
		Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
			if c.Preflight == nil {
				return nil, nil
			}
			return nil, c.Preflight(ctx)
		},
	}
}

func explainCheck(c *Cluster) (string, error) {
	var b strings.Builder
	if c.Config.Machines() {
		b.WriteString(checkMachinesProse)
		b.WriteString("\n" + checkWhyProse)
		section(&b, "On the machines")
	} else {
		b.WriteString(checkProse)
		b.WriteString("\n" + checkWhyProse)
		section(&b, "On this host")
	}
	fmt.Fprintf(&b, "  cgroup v1: %v   CAP_SYS_RESOURCE missing: %v   kube-proxy mode: %s\n", c.Facts.CgroupV1, c.Facts.NoSysResource, c.Config.Network.KubeProxyMode)
	fmt.Fprintf(&b, "  Run the checks alone: hardway check --name %s\n", c.Config.Name)
	return b.String(), nil
}
