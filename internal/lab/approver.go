package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/wait"
)

// Labs that break a kubelet's serving certificate stop the serving-
// certificate approver first: a kubelet whose certificate expired, or names
// another node, asks for a new one at once (serverTLSBootstrap), and the
// approver would grant it within render.CSRApproverEvery, healing the lab
// before the learner looks. Their Restore starts it again with the
// control-plane step of up, which starts every unit that is not running.

// stopApprovers stops the approver's timer (and a pass under way) on every
// control-plane node.
func stopApprovers(ctx context.Context, e steps.Env) error {
	for _, n := range e.Cluster.Config.ControlPlanes() {
		if err := run(ctx, e, n, "systemctl", "stop", render.UnitCSRApproverTimer, render.CSRApproverService+".service"); err != nil {
			return err
		}
	}
	return nil
}

// approverProblems names every control-plane node whose approver timer is
// not active, with the command that starts it.
func approverProblems(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	var out []string
	for _, n := range e.Cluster.Config.ControlPlanes() {
		state, err := nodeOutput(ctx, e, n, "systemctl", "is-active", render.UnitCSRApproverTimer)
		if s := strings.TrimSpace(state); s != "active" {
			if s == "" {
				return nil, fmt.Errorf("asking %s about %s: %v", n.Name, render.UnitCSRApproverTimer, err)
			}
			out = append(out, fmt.Sprintf("%s is %s on %s: nothing there approves the kubelets' serving certificates (start it: %s)",
				render.UnitCSRApproverTimer, s, n.Name, t.hw("up", "--only", "control-plane")))
		}
	}
	return out, nil
}

// servingBound is how long a check waits for a kubelet to serve a good
// certificate once the approvers run: up starts their timers, whose first
// pass comes 5 s later (OnActiveSec), and the signing takes a second, so
// the kubelet has it by the time up returns or soon after; the check's
// whole budget (CheckTimeout) is the bound.
const servingBound = CheckTimeout

// servingProblem waits (up to bound) until the kubelet on n serves a
// certificate valid now that names n, and says what it serves otherwise.
func servingProblem(ctx context.Context, e steps.Env, n config.Node, bound time.Duration) (string, error) {
	var last string
	err := wait.Until(ctx, "the kubelet on "+n.Name+" serving a valid certificate of its own", 2*time.Second, bound, func(ctx context.Context) (bool, error) {
		r := ops.KubeletNodeCerts(ctx, e.Cluster, n, 10*time.Second)
		if r.Err != nil {
			return false, r.Err
		}
		last = servingCertProblem(n, r.Certs, time.Now())
		return last == "", nil
	})
	if last != "" {
		return last, nil
	}
	return "", err
}

// servingCertProblem says what is wrong with the serving certificate among
// certs, the ones the kubelet on n uses, at now ("" when nothing is).
func servingCertProblem(n config.Node, certs []ops.KubeletCert, now time.Time) string {
	for _, c := range certs {
		if c.Use != ops.KubeletServing {
			continue
		}
		i := c.Info
		switch {
		case i.CommonName != "system:node:"+n.Name:
			return fmt.Sprintf("the kubelet on %s serves %s, a certificate for %s, not system:node:%s", n.Name, c.Path, i.CommonName, n.Name)
		case !now.Before(i.NotAfter):
			return fmt.Sprintf("the kubelet on %s has only %s, which expired on %s: it serves nothing until its request for a new one (kubectl get csr) is approved",
				n.Name, c.Path, i.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(i.NotBefore):
			return fmt.Sprintf("the kubelet on %s serves %s, valid only from %s", n.Name, c.Path, i.NotBefore.UTC().Format(time.RFC3339))
		}
		return ""
	}
	return fmt.Sprintf("the kubelet on %s has no serving certificate (%s, %s)", n.Name, render.KubeletServerCurrent, render.KubeletServingCert)
}

// diagnoseServing is the Diagnose of the labs that break a kubelet's serving
// certificate: the approvers must run again, and then the kubelet must
// serve a good certificate (the approver's pass comes within servingBound).
func diagnoseServing(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	out, err := approverProblems(ctx, e, t)
	if err != nil || len(out) > 0 {
		return out, err
	}
	p, err := servingProblem(ctx, e, t.Node, servingBound)
	if err != nil {
		return nil, err
	}
	if p != "" {
		out = append(out, p)
	}
	return out, nil
}
