package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
)

func controlPlaneStep() Step {
	return Step{
		Name:    "control-plane",
		Title:   "Control plane: kube-apiserver, controller-manager, scheduler + API load balancer",
		Explain: explainControlPlane,
		Run:     runControlPlane,
	}
}

func runControlPlane(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	start := time.Now()
	cps := c.Config.ControlPlanes()
	// Not Admin(): the admin group's binding is made below, once the API
	// servers answer.
	admin, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	// The load balancer first: its health checks decide how gently the API
	// servers' rolling restarts below are noticed by clients.
	lb, err := c.lbTarget()
	if err != nil {
		return nil, err
	}
	changes, err := c.rollout(ctx, lb)
	if err != nil {
		return changes, err
	}
	// The API server first on each node: the other two talk to it. A change
	// to running API servers rolls one node at a time, each ready again
	// before the next restarts, so the load balancer always has one.
	targets, err := c.nodeTargets(cps, func(ctx context.Context, n config.Node, _ time.Time) error {
		return c.waitAPIServer(ctx, admin, n)
	}, controlPlaneUnits()...)
	if err != nil {
		return changes, err
	}
	more, err := c.rollout(ctx, targets)
	changes = append(changes, more...)
	if err != nil || c.DryRun {
		return changes, err
	}
	// Every API server on its own address, then through the load balancer.
	for _, n := range cps {
		if err := c.waitAPIServer(ctx, admin, n); err != nil {
			return changes, err
		}
	}
	if err := c.until(ctx, "/readyz through "+c.Config.APIServerURL(), 500*time.Millisecond, time.Minute, func(ctx context.Context) (bool, error) {
		err := admin.Readyz(ctx)
		return err == nil, err
	}); err != nil {
		return changes, err
	}
	// The admin's rights come from RBAC: the binding first, as the
	// super-admin, then everything else as the admin.
	bound, err := c.ensureAdminBinding(ctx, admin)
	changes = append(changes, bound...)
	if err != nil {
		return changes, err
	}
	// The API server's calls to kubelets, and the approval of kubelets'
	// certificate renewals.
	for _, name := range []string{render.KubeletAPIRBAC, render.KubeletCertificatesRBAC} {
		rbac, err := c.manifest(name)
		if err != nil {
			return changes, err
		}
		applied, err := admin.Apply(ctx, rbac, false)
		changes = append(changes, appliedChanges(applied)...)
		if err != nil {
			return changes, err
		}
	}
	for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
		// A held lease proves a live leader unless this run (re)started the
		// component: then only a renewal after the start counts.
		since := time.Time{}
		if startedUnit(changes, lease) {
			since = start
		}
		if err := c.waitLease(ctx, admin, lease, since); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// waitAPIServer waits for /readyz of the API server on node n, on its own
// address (not through the load balancer).
func (c *Cluster) waitAPIServer(ctx context.Context, admin *kube.Client, n config.Node) error {
	cl, err := admin.ForServer(fmt.Sprintf("https://%s:%d", n.IP, c.Config.Network.APIServerPort))
	if err != nil {
		return err
	}
	if err := c.until(ctx, "/readyz of kube-apiserver on "+n.Name, 500*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Readyz(ctx)
		return err == nil, err
	}); err != nil {
		return fmt.Errorf("%w\n  see its log: hardway logs %s kube-apiserver --name %s", err, n.Name, c.Config.Name)
	}
	return nil
}

// startedUnit reports whether changes (re)started the unit on any node.
func startedUnit(changes []converge.Change, unit string) bool {
	for _, ch := range changes {
		if (ch.Action == converge.Restarted || ch.Action == converge.Started) && ch.Target == "unit "+unit {
			return true
		}
	}
	return false
}

// appliedChanges turns the objects an apply changed into changes.
func appliedChanges(objs []string) []converge.Change {
	out := make([]converge.Change, len(objs))
	for i, o := range objs {
		out[i] = converge.Change{Action: converge.Wrote, Target: o, Reason: "applied through the API"}
	}
	return out
}

// waitLease waits until a leader holds the component's Lease and has renewed
// it after since: a lease left by a process this step restarted stays valid
// for a while and proves nothing.
func (c *Cluster) waitLease(ctx context.Context, admin *kube.Client, name string, since time.Time) error {
	return c.until(ctx, "a leader for "+name, 500*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, error) {
		l, err := admin.Clientset.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if leaseHeld(l, time.Now()) && l.Spec.RenewTime.After(since) {
			return true, nil
		}
		return false, fmt.Errorf("lease %s has no live holder", name)
	})
}

func leaseHeld(l *coordinationv1.Lease, now time.Time) bool {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return false
	}
	return now.Before(s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second))
}

func explainControlPlane(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(controlPlaneProse)
	cps := c.Config.ControlPlanes()
	section(&b, "Where it runs")
	rows := [][]string{{"NODE", "API SERVER", "CONTROLLER-MANAGER / SCHEDULER"}}
	for _, n := range cps {
		rows = append(rows, []string{n.Name, fmt.Sprintf("https://%s:%d", n.IP, c.Config.Network.APIServerPort), "127.0.0.1 only (leader-elected)"})
	}
	table(&b, rows)
	switch lb := c.Config.Network.LoadBalancerIP; {
	case c.Config.NodeLocalLB():
		b.WriteString("\n")
		b.WriteString(nodeLocalLBProse)
		fmt.Fprintf(&b, "\n  kubelet and kube-proxy: %s (haproxy, unit %s, config %s) → %s\n", c.Config.NodeAPIServerURL(), render.UnitNodeLB, render.NodeLBConfig, strings.Join(apiServerAddrs(c), ", "))
		fmt.Fprintf(&b, "  you (admin kubeconfig): %s%s\n", c.Config.APIServerURL(), adminNote(c))
	case lb != "":
		fmt.Fprintf(&b, "\n  Load balancer: haproxy at %s (container %s-%s), TCP to every API server; the admin kubeconfig points at %s.\n", lb, c.Config.Name, provider.LBName, c.Config.APIServerURL())
	default:
		fmt.Fprintf(&b, "\n  One control-plane node: no load balancer; clients use %s directly.\n", c.Config.APIServerURL())
	}
	for _, u := range []string{render.UnitAPIServer, render.UnitControllerManager, render.UnitScheduler} {
		if err := c.explainUnit(&b, cps[0], u); err != nil {
			return "", err
		}
	}
	section(&b, "Why some flags matter")
	for _, l := range apiserverFlagNotes {
		fmt.Fprintf(&b, "  %-40s %s\n", l[0], l[1])
	}
	return b.String(), nil
}

// nodeLocalLBProse explains the load balancer of clusters on machines.
var nodeLocalLBProse = dedent(`
	  On machines there is no load-balancer container, and a load-balancer
	  machine would be one more machine to own and a single point of failure.
	  So every worker runs its own: haproxy on 127.0.0.1:6444 (nothing outside
	  the machine can reach it), in TCP mode in front of every API server,
	  checking /readyz each second. kubelet and kube-proxy talk to it, and any
	  API server may go down without a node losing the API. Controller
	  manager and scheduler use the API server on their own machine. Your
	  admin kubeconfig points at the first control-plane node, or at
	  network.apiEndpoint when you run a load balancer of your own.
`)

func apiServerAddrs(c *Cluster) []string {
	var out []string
	for _, n := range c.Config.ControlPlanes() {
		out = append(out, fmt.Sprintf("%s:%d", n.IP, c.Config.Network.APIServerPort))
	}
	return out
}

func adminNote(c *Cluster) string {
	if c.Config.Network.APIEndpoint != "" {
		return " (network.apiEndpoint: your load balancer, named in the API server certificate)"
	}
	return " (the first control-plane node; set network.apiEndpoint to use a load balancer of your own)"
}

// apiserverFlagNotes says why the less obvious API server flags are there.
var apiserverFlagNotes = [][2]string{
	{"--authorization-mode=Node,RBAC", "kubelets may only touch their own Node and its pods' objects; everyone else by RBAC"},
	{"--enable-admission-plugins", "NodeRestriction stops a kubelet from editing other nodes' labels or pods; DenyServiceExternalIPs stops a Service from claiming external IPs (CVE-2020-8554)"},
	{"--encryption-provider-config", "Secrets are encrypted with aescbc before they reach etcd"},
	{"--etcd-certfile/--etcd-keyfile", "a client identity used only for etcd"},
	{"--kubelet-client-certificate", "a separate identity for calls to kubelets (logs, exec, port-forward)"},
	{"--kubelet-certificate-authority", "the API server verifies each kubelet's serving certificate"},
	{"--service-account-signing-key-file", "signs the tokens pods use; --service-account-key-file verifies them"},
	{"--admission-control-config-file", "Pod Security admission's defaults: the levels enforced, warned and audited in namespaces that set none, and the exempt namespaces"},
	{"--authentication-config", "anonymous requests are allowed only for /livez, /readyz and /healthz"},
	{"--audit-policy-file / --audit-log-*", "who did what, without logging Secret contents"},
}
