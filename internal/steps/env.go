package steps

import (
	"context"
	"fmt"
	"time"

	"hardway.dev/hardway/internal/logx"
)

// Env is what a procedure on an existing cluster runs with (the day-2
// operations of internal/ops, the labs): the cluster, up's progress display
// for the steps it runs again, and a logger for the lines it tells the user.
type Env struct {
	Cluster  *Cluster
	Progress Progress
	Log      logx.Logger
}

// Rerun runs the named steps of `up`, in the order given, after forgetting
// what this run read from the state directory (a procedure changes those
// files between rollouts).
func (e Env) Rerun(ctx context.Context, names ...string) ([]Result, error) {
	var list []Step
	for _, name := range names {
		s, ok := Find(All(), name)
		if !ok {
			return nil, fmt.Errorf("no step %q (a bug in hardway)", name)
		}
		list = append(list, s)
	}
	e.Cluster.Reload()
	return Run(ctx, e.Cluster, list, e.Progress)
}

// CoreDNS is the Deployment the dns step applies.
const (
	CoreDNSNamespace = "kube-system"
	CoreDNSName      = "coredns"
)

// RestartCoreDNS replaces every CoreDNS pod (pods read their Corefile and
// CA once, at start) and waits until the new ones are available.
func (c *Cluster) RestartCoreDNS(ctx context.Context, fieldManager string) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	return admin.RolloutRestart(ctx, CoreDNSNamespace, CoreDNSName, fieldManager, 2*time.Minute)
}
