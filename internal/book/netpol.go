package book

import (
	"fmt"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

// networkPolicy is the networking chapter's section on NetworkPolicy: how
// the netpol add-on enforces it on this cluster, with the chain and table
// names the nodes have, or that nothing enforces it when the add-on is off.
func (w *writer) networkPolicy(d *doc) {
	c := w.c
	d.h2("NetworkPolicy: who may talk to whom")
	if !c.Addon(config.AddonNetpol) {
		d.p(`
			The bridge plugin forwards every packet it is given: it enforces no
			NetworkPolicy. This cluster's «addons» leave out «netpol», so a policy
			is stored by the API server and changes nothing. Add «netpol» to
			«addons» and run «hardway up» to have policies enforced.`)
		return
	}
	d.p(`
		A NetworkPolicy selects pods and lists what may reach them (ingress)
		and where they may go (egress); a pod selected for a direction accepts
		only what some policy allows. The bridge plugin knows nothing of
		policies. The %s add-on runs SIG Network's reference agent,
		kube-network-policies, as a DaemonSet in namespace «%s» on every node's
		own network, and it judges connections, not routes: the first packet of
		each new connection from or to a pod («%s») goes to userspace through
		netfilter queue «%d»; the agent looks up the pods behind its source and
		destination addresses, evaluates the source's egress and the
		destination's ingress policies, and answers accept or drop. conntrack
		remembers the answer, so the rest of the connection never leaves the
		kernel, and a policy applies to the next new connection as soon as the
		agent's watch has it: nothing is rewritten when policies change.`,
		w.stepLink(config.AddonNetpol), render.NetpolNamespace, c.Network.PodCIDR, render.NetpolQueue)
	d.p(`
		Where the packet is taken matters. Both paths of this cluster's pod
		traffic cross the node's netfilter hooks: between pods on one node the
		bridge, with «net.bridge.bridge-nf-call-iptables = 1»; between nodes the
		routes. The packet is queued in POSTROUTING, after kube-proxy's DNAT
		turned a Service address into a pod's (policies name pods, not
		Services) and before masquerading hides the pod's address.`)
	d.table([]string{"where", "what", "who writes it"}, [][]string{
		{fmt.Sprintf("nftables «table inet %s», chains «postrouting» and «prerouting»", render.NetpolTable), fmt.Sprintf("«ct state established,related accept», «meta skuid 0 accept» (the node's root: kubelet probes), then «queue to %d» for the pods some policy selects (sets «podips-v4», «podips-v6»)", render.NetpolQueue), "the agent itself, where the kernel has the nftables queue statement (CONFIG_NFT_QUEUE)"},
		{fmt.Sprintf("iptables «-t mangle», chain «%s», jumped to first from «POSTROUTING»", render.NetpolChain), fmt.Sprintf("«RELATED,ESTABLISHED → RETURN», «--uid-owner 0 → RETURN», then «-s %[1]s» and «-d %[1]s» «→ NFQUEUE --queue-num %[2]d --queue-bypass»", c.Network.PodCIDR, render.NetpolQueue), "the pod's «steer» container, where the kernel lacks it: its nftables table is refused whole, while iptables' «NFQUEUE» target reaches the same queue"},
	})
	d.p(`
		The «steer» container says in its log which of the two this kernel
		uses, and removes its chain (and the agent's table) when the pod is
		deleted, so taking «netpol» out of «addons» leaves no rule on a node.
		A node whose agent is not listening lets packets pass
		(«--queue-bypass», the agent's «--fail-open»): a gap in enforcement
		rather than a node whose pods cannot connect at all.`)
}
