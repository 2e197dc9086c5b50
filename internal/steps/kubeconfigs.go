package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kubeconfig"
	"hardway.dev/hardway/internal/pki"
)

func kubeconfigsStep() Step {
	return Step{
		Name:    "kubeconfigs",
		Title:   "Kubeconfigs: server, CA and identity for each client",
		Explain: explainKubeconfigs,
		Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
			if _, err := c.ensureKubeconfigs(); err != nil {
				return nil, err
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			var out []converge.Change
			for _, name := range c.kubeconfigsChanged {
				out = append(out, converge.Change{Action: converge.Wrote, Target: "kubeconfig " + name})
			}
			return out, nil
		},
	}
}

func (c *Cluster) ensureKubeconfigs() (map[string][]byte, error) {
	set, err := c.ensurePKI()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kubeconfigs != nil {
		return c.kubeconfigs, nil
	}
	changed, err := kubeconfig.Ensure(c.State.Kubeconfigs(), c.Config, set)
	if err != nil {
		return nil, err
	}
	kcs, err := kubeconfig.Build(c.Config, set)
	if err != nil {
		return nil, err
	}
	for _, name := range changed {
		c.Log.Logf(1, "  host: wrote kubeconfig %s", name)
	}
	c.kubeconfigs, c.kubeconfigsChanged = kcs, changed
	return kcs, nil
}

func explainKubeconfigs(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(kubeconfigsProse)
	section(&b, fmt.Sprintf("The kubeconfigs of cluster %q (in %s)", c.Config.Name, c.State.Kubeconfigs()))
	rows := [][]string{{"KUBECONFIG", "USER (CN)", "SERVER", "USED BY"}}
	specs := kubeconfig.Specs(c.Config)
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Key < specs[j].Key })
	for _, s := range specs {
		rows = append(rows, []string{s.Key + ".kubeconfig", s.User, s.Server, s.UsedBy})
	}
	table(&b, rows)
	fmt.Fprintf(&b, "\nThe admin is in group %s, which only the ClusterRoleBinding of that name\n"+
		"makes cluster-admin (the control-plane step applies it as the super-admin):\n"+
		"deleting it revokes the admin kubeconfig. super-admin.kubeconfig (group %s,\n"+
		"allowed before RBAC is asked) never leaves the state directory above.\n"+
		"A person gets a short-lived one of their own: hardway kubeconfig --user NAME --name %s\n",
		pki.AdminGroup, pki.MastersGroup, c.Config.Name)
	fmt.Fprintf(&b, "\nUse the admin one from this host: export KUBECONFIG=$(hardway kubeconfig --name %s | tail -1)\n", c.Config.Name)
	return b.String(), nil
}
