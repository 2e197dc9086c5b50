package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/render"
)

// The netpol add-on: NetworkPolicy enforced by kube-network-policies, SIG
// Network's reference agent, built from source. It needs nothing of the
// CNI but that pod traffic crosses the node's netfilter hooks, which the
// bridge (br_netfilter) and the routes between nodes give it.
func netpolAddon() addon {
	return addon{
		name:      config.AddonNetpol,
		title:     "NetworkPolicy, enforced: kube-network-policies " + artifacts.NetpolVersion,
		prose:     netpolProse,
		images:    []string{artifacts.NetpolImage()},
		install:   installNetpol,
		objects:   netpolObjects,
		namespace: render.NetpolNamespace,
		explain:   explainNetpol,
	}
}

func netpolObjects(c *Cluster) ([]byte, error) {
	return render.NetpolManifests(c.Config, artifacts.NetpolVersion, artifacts.NetpolImage())
}

func installNetpol(ctx context.Context, c *Cluster, admin *kube.Client) ([]converge.Change, error) {
	objs, err := netpolObjects(c)
	if err != nil {
		return nil, err
	}
	applied, err := admin.Apply(ctx, objs, c.DryRun)
	changes := appliedChanges(applied)
	if err != nil || c.DryRun {
		return changes, err
	}
	return changes, c.waitNetpol(ctx, admin)
}

// waitNetpol waits until an agent is ready on every node: its readiness
// probe passes once it has read the API and listens on its queue.
func (c *Cluster) waitNetpol(ctx context.Context, admin *kube.Client) error {
	ns := render.NetpolNamespace
	return c.until(ctx, "a ready NetworkPolicy agent on every node", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		ds, err := admin.Clientset.AppsV1().DaemonSets(ns).Get(ctx, "kube-network-policies", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := ds.Status
		if st.ObservedGeneration >= ds.Generation && st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled {
			return true, nil
		}
		return false, fmt.Errorf("%d of %d ready (kubectl -n %s describe pods; kubectl -n %s logs ds/kube-network-policies -c steer)", st.NumberReady, st.DesiredNumberScheduled, ns, ns)
	})
}

func explainNetpol(c *Cluster, b *strings.Builder) error {
	fmt.Fprintf(b, "  Pod CIDR whose new connections are judged: %s; netfilter queue %d.\n", c.Config.Network.PodCIDR, render.NetpolQueue)
	fmt.Fprintf(b, "  Where the kernel has the nftables queue statement (CONFIG_NFT_QUEUE), the agent's own\n  table inet %s sends those packets to the queue. Where it has not, the steer\n  container writes iptables chain %s (table mangle, jumped to from POSTROUTING) with\n  NFQUEUE rules to the same queue; its log says which: kubectl -n %s logs ds/kube-network-policies -c steer\n",
		render.NetpolTable, render.NetpolChain, render.NetpolNamespace)
	objs, err := netpolObjects(c)
	if err != nil {
		return err
	}
	section(b, "The manifests applied")
	b.WriteString(indent(string(objs), "  │ "))
	return nil
}

const netpolProse = `A NetworkPolicy says which pods may talk to a pod (ingress) and to whom
it may talk (egress). The API server only stores it: enforcing it is the
network plugin's job, and the bridge plugin this cluster uses enforces
nothing. Without an agent a policy is accepted and does nothing.

kube-network-policies (SIG Network's reference implementation, the one kind
runs) is that agent: a DaemonSet pod on every node, on the node's own
network. It watches pods, namespaces and NetworkPolicies, and netfilter
hands it the first packet of each new connection from or to a pod through
a queue (NFQUEUE). It looks up the source and destination pods by IP,
evaluates the egress policies of the one and the ingress policies of the
other, and answers accept or drop. conntrack remembers the answer for the
rest of the connection, so only first packets leave the kernel.

Because it judges packets, not routes, it needs nothing of the CNI: traffic
between pods on one node crosses the bridge (br_netfilter hands bridged
packets to netfilter), traffic between nodes the routes or the VXLAN
device, and both pass the node's POSTROUTING hook, after kube-proxy's DNAT
turned a Service address into a pod's.

hardway builds the agent from source, packs it with busybox into an image,
pushes it into the cluster's own registry and applies a namespace, RBAC and
the DaemonSet.
`
