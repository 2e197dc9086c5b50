package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/steps"
)

// Stop stops every machine of the cluster; its disks, addresses and state
// stay, so Start brings the same cluster back.
func Stop(ctx context.Context, e steps.Env) ([]string, error) {
	c := e.Cluster
	if err := c.RequireMachines(ctx); err != nil {
		return nil, err
	}
	return c.Provider.Stop(ctx, c.Config.Name)
}

// StartTimings says how long each part of a start took, from the moment
// the machines were started.
type StartTimings struct {
	Machines time.Duration
	Stages   []steps.Stage
	Verify   time.Duration
}

func (t StartTimings) String() string {
	parts := []string{fmt.Sprintf("machines %.1fs", t.Machines.Seconds())}
	for _, s := range t.Stages {
		parts = append(parts, fmt.Sprintf("%s %.1fs", s.Name, s.At.Seconds()))
	}
	parts = append(parts, fmt.Sprintf("verify %.1fs", t.Verify.Seconds()))
	return strings.Join(parts, ", ")
}

// Start starts the machines of a stopped cluster and waits until it serves:
// etcd, the API servers, every kubelet back and Ready, CoreDNS, then the
// smoke tests.
func Start(ctx context.Context, e steps.Env) (StartTimings, error) {
	c := e.Cluster
	var t StartTimings
	if err := c.RequireMachines(ctx); err != nil {
		return t, err
	}
	start := time.Now()
	nodes, err := c.Provider.Start(ctx, c.Config.Name)
	if err != nil {
		return t, err
	}
	if err := provider.WaitAll(ctx, nodes, 3*time.Minute); err != nil {
		return t, err
	}
	t.Machines = time.Since(start)
	e.Log.Logf(0, "  machines running (%.1fs)", t.Machines.Seconds())
	c.ForgetNodes()
	err = c.WaitHealthy(ctx, start, 3*time.Minute, func(s steps.Stage) {
		s.At += t.Machines
		t.Stages = append(t.Stages, s)
		e.Log.Logf(0, "  %s serving (%.1fs)", s.Name, s.At.Seconds())
	})
	if err != nil {
		return t, fmt.Errorf("%w\n  see what is still down: hardway status --name %s", err, c.Config.Name)
	}
	if _, err := e.Rerun(ctx, "verify"); err != nil {
		return t, err
	}
	t.Verify = time.Since(start)
	return t, nil
}
