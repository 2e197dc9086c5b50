// Package ops holds the day-2 procedures that change a running cluster in
// several rolled-out stages: certificate renewal, CA rotation, encryption
// key rotation. Each stage writes the new desired state on this host and
// then runs the ordinary steps of `hardway up`, whose rollouts restart one
// node at a time, gated on its health, so the API and etcd's quorum stay up.
// Every stage is recorded before it is rolled out, so running the same
// command again after an interruption continues where it stopped.
package ops

import (
	"context"
	"fmt"

	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/steps"
)

// Env is what a procedure runs with.
type Env struct {
	Cluster  *steps.Cluster
	Progress steps.Progress
	// Log receives one line per stage, for the user.
	Log logx.Logger
}

// rollout runs the named steps of `up`, in the order `up` runs them.
func (e Env) rollout(ctx context.Context, names ...string) ([]steps.Result, error) {
	var list []steps.Step
	for _, name := range names {
		s, ok := steps.Find(steps.All(), name)
		if !ok {
			return nil, fmt.Errorf("no step %q (a bug in hardway)", name)
		}
		list = append(list, s)
	}
	e.Cluster.Reload()
	return steps.Run(ctx, e.Cluster, list, e.Progress)
}

// certSteps are the steps a change of certificates goes through: the
// host-side material, then every unit that reads it, rolled node by node.
func certSteps() []string { return []string{"pki", "kubeconfigs", "etcd", "control-plane", "workers"} }
