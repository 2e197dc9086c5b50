package book

import (
	"fmt"
	"path/filepath"

	"hardway.dev/hardway/internal/config"
)

const trafficTitle = "Getting traffic in: Service types, L2 announcements, Gateway and Ingress"

// traffic is the chapter on how a request from outside reaches a pod,
// with this cluster's add-ons and addresses.
func (w *writer) traffic() Chapter {
	c := w.c
	var d doc
	d.p(`
		A pod's address lives on a bridge inside its node; nothing outside the
		cluster can reach it. This chapter follows a request from this host to
		a pod of cluster «%s», through each of the ways Kubernetes offers.`, c.Name)

	d.h2("Service types, one on top of the other")
	d.table([]string{"type", "what it adds", "who makes it work here"}, [][]string{
		{"«ClusterIP»", "a virtual address inside «" + c.Network.ServiceCIDR + "» that every node answers", "kube-proxy's rules on every node"},
		{"«NodePort»", "a port (30000-32767) on every node's own address", "kube-proxy's rules on every node"},
		{"«LoadBalancer»", "an address of its own, outside the cluster's ranges", addonName(c, config.AddonMetalLB, "MetalLB (add-on «metallb»)")},
	})
	d.p(`
		Each type includes the one before it. kube-proxy does not forward
		packets itself: it writes rules into the kernel (iptables chains
		KUBE-SERVICES, KUBE-SVC-…, KUBE-SEP-…) that rewrite the destination of
		a packet for the Service's address to one ready pod's address, chosen
		at random per connection, and for a LoadBalancer Service the same
		rules also match its external address. Look at them with
		«hardway shell %s -- iptables-save -t nat | grep KUBE-SVC».`, w.v.Worker.Name)

	d.h2("How an address becomes reachable: the L2 announcement")
	if c.Addon(config.AddonMetalLB) {
		d.p(`
			MetalLB's controller takes an address from the pool «%s» and writes
			it into the Service's status. That alone reaches nothing: the
			machines on the node network must know which node to send packets
			for that address to. In L2 mode one speaker (elected per Service)
			answers the ARP question "who has this address?" with its node's
			MAC address. The packet then arrives at that node, whose kube-proxy
			rules send it on to a pod, on this node or another. Which speaker
			announced an address is in its log:
			«kubectl -n metallb-system logs ds/speaker | grep announcing».`, c.Network.LoadBalancerIPs)
	} else {
		d.p(`
			This cluster runs without the «metallb» add-on: a LoadBalancer
			Service waits with EXTERNAL-IP «<pending>». Add «metallb» to
			«addons» (with «network.loadBalancerIPs» on machines) and run
			«hardway up».`)
	}

	d.h2("Gateway → HTTPRoute → Service → pods")
	if c.GatewayOn() {
		d.p(`
			One LoadBalancer address per application does not scale, and it
			cannot tell two web sites apart. A gateway is one proxy behind one
			address that reads each request's host name and path and sends it
			to the right Service. In this cluster that proxy is Traefik
			(namespace «traefik»), and its Service of type LoadBalancer gets an
			address from the pool above.`)
		d.list(
			"«GatewayClass traefik»: which program implements Gateways (Traefik's controller name «traefik.io/gateway-controller»).",
			"«Gateway traefik/hardway»: the listeners, port 80 for any host name and port 443 for «*."+c.GatewayDomain()+"» with the certificate hardway issued from «gateway-ca» (Secret «traefik/hardway-gateway-tls»).",
			"an «HTTPRoute» per application: its host names, matches and the Service (and port) to send to; it attaches to the Gateway with «parentRefs».",
			"the Service's EndpointSlices: Traefik sends each request straight to a ready pod's address, not through the Service's ClusterIP.",
		)
		d.p(`
			A route whose backend port is wrong is accepted by the Gateway but
			not resolved: its status says «ResolvedRefs False» and requests get
			an error from Traefik, not from your pod
			(«kubectl describe httproute NAME»). An Ingress says the same in one
			older object; IngressClass «traefik» is the default, so Traefik
			serves those too.`)
		d.pre("sh", fmt.Sprintf(`ADDR=$(kubectl -n traefik get gateway hardway -o jsonpath='{.status.addresses[0].value}')
curl --resolve one.%[1]s:443:$ADDR --cacert %[2]s https://one.%[1]s/`, c.GatewayDomain(), filepath.Join(w.v.State, "pki", "gateway-ca.pem")))
	} else {
		d.p(`
			This cluster runs without the «gateway» add-on. Add «gateway» (it
			needs «metallb») to «addons» and run «hardway up» to get Traefik,
			the Gateway API and Ingress.`)
	}

	d.h2("GitOps")
	d.p(`
		(Left for the GitOps add-on's chapter: how a controller in the cluster
		keeps it equal to a Git repository.)`)
	return Chapter{ID: "traffic", Part: PartNetwork, Title: trafficTitle, Short: "Getting traffic in", Body: d.String()}
}

// addonName says who does a job: the add-on when it is on, else that
// nothing does.
func addonName(c *config.Cluster, addon, who string) string {
	if c.Addon(addon) {
		return who
	}
	return "nothing: add-on «" + addon + "» is off"
}
