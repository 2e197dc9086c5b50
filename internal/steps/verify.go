package steps

import (
	"time"

	"context"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/verify"
)

func verifyStep() Step {
	return Step{
		Name:    "verify",
		Title:   "Smoke tests: pods, services, DNS, logs/exec/port-forward, NodePort, encryption",
		Explain: explainVerify,
		Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
			if c.DryRun {
				return nil, nil
			}
			_, err := c.Verify(ctx, func(r verify.Result) { c.Log.Logf(0, "%s", r.Text("    ")) })
			// The smoke tests' own objects are test fixtures, not changes.
			return nil, err
		},
	}
}

// VerifyEnv is what the smoke tests need from this cluster; the labs run
// some of them on their own (verify.RunSome).
func (c *Cluster) VerifyEnv() (verify.Env, error) {
	admin, err := c.Admin()
	if err != nil {
		return verify.Env{}, err
	}
	gw, err := c.gatewayVerifyEnv()
	if err != nil {
		return verify.Env{}, err
	}
	var ips []string
	for _, n := range c.Config.Workers() {
		ips = append(ips, n.IP)
	}
	return verify.Env{
		REST: admin.REST, Client: admin.Clientset, NodeIPs: ips, Workers: len(c.Config.Workers()),
		ClusterDomain: c.Config.Network.ClusterDomain, EtcdGet: c.EtcdGet, Proxy: c.Proxy, CheckTimeout: c.Bound(time.Minute),
		// A unit on its way back (Restart=always) gets 30 s; one that
		// stays inactive or failed fails at once.
		Components:   func(ctx context.Context) error { return c.CheckComponents(ctx, 30*time.Second) },
		LoadBalancer: c.Config.Addon(config.AddonMetalLB), LoadBalancerFromPod: c.Config.Published(),
		NetworkPolicy: c.Config.Addon(config.AddonNetpol),
		GitOps:        c.gitOpsCheck(),
		Gateway:       gw,
	}, nil
}

// Verify runs every smoke test and fails if any fails. A stopped or
// missing machine is named first, with the command that brings it back,
// instead of every check timing out on an API that is not there.
func (c *Cluster) Verify(ctx context.Context, report func(verify.Result)) ([]verify.Result, error) {
	if err := c.RequireRunning(ctx); err != nil {
		return nil, err
	}
	env, err := c.VerifyEnv()
	if err != nil {
		return nil, err
	}
	results := verify.Run(ctx, env, report)
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d of %d checks failed: %s (inspect: kubectl get all -n %s)", len(failed), len(results), strings.Join(failed, ", "), verify.Namespace)
	}
	return results, nil
}

func explainVerify(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(verifyProse)
	section(&b, "The checks, in order")
	for _, ch := range verify.Checks() {
		if ch.When != nil {
			fmt.Fprintf(&b, "  %s (when metallb is in addons)\n", ch.Name)
			continue
		}
		fmt.Fprintf(&b, "  %s\n", ch.Name)
	}
	fmt.Fprintf(&b, "\nThe test objects stay in namespace %s (kubectl get all -n %s).\nRun the checks any time: hardway verify --name %s\n", verify.Namespace, verify.Namespace, c.Config.Name)
	return b.String(), nil
}
