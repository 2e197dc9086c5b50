package book

import (
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/diagram"
	"hardway.dev/hardway/internal/render"
)

const networkingTitle = "Networking end to end: pods, routes, Services, DNS"

func (w *writer) networking() Chapter {
	c, v := w.c, w.v
	workers := c.Workers()
	vx := render.VXLANFor(v.Worker)
	direct := render.DirectRoutes(c)
	var d doc
	d.p(`
		This chapter follows packets: from a pod to its neighbour on the same
		node, to a pod on another node, to a Service, and to a name. The
		picture has every address involved in cluster «%s».`, c.Name)
	d.img(w.network)

	d.h2("Pod CIDRs: an address block per node")
	d.p(`
		Every worker owns one /24 of the pod network «%s» and hands out its
		pods' addresses from it, without asking anybody: no two nodes can
		ever give out the same address. In the original tutorial, as here,
		the blocks are written into the config (each kubelet gets its
		«podCIDR»); the controller manager runs with
		«--allocate-node-cidrs=false» so it does not hand out blocks of its
		own.`, c.Network.PodCIDR)
	var rows [][]string
	for _, n := range workers {
		first, last := diagram.PodRange(n.PodCIDR)
		row := []string{"«" + n.Name + "»", "«" + n.PodCIDR + "»", "«" + diagram.Gateway(n.PodCIDR) + "»"}
		if !direct {
			row = append(row, "«"+render.VXLANFor(n).Address+"»")
		}
		rows = append(rows, append(row, "«"+first+"» … «"+last+"»"))
	}
	if direct {
		d.table([]string{"Node", "Pod CIDR", "cni0 bridge", "Pod addresses"}, rows)
	} else {
		d.table([]string{"Node", "Pod CIDR", "cni0 bridge", "Tunnel address", "Pod addresses"}, rows)
	}

	d.h2("On one node: a bridge and a veth per pod")
	d.p(`
		When a pod starts, the CNI **bridge** plugin creates a veth pair, moves
		one end into the pod's network namespace as «eth0» and plugs the other
		into the node's «cni0» bridge; **host-local** picks the address. The
		pod's default route points at the bridge's address, so everything the
		pod sends goes to its node first. Two pods on the same node talk
		through the bridge like two machines on one switch. The real
		configuration on «%s»:`, v.Worker.Name)
	d.pre("json", w.nodeFile(v.Worker.Name, render.CNIConfDir+"/10-bridge.conflist"))
	d.p(`
		«"ipMasq": false»: pod traffic keeps its source address inside the pod
		network, as Kubernetes requires. «"mtu": %d»: %s`, render.PodMTUFor(c), podMTUSentence(c))

	if direct {
		w.directRoutes(&d)
		return w.networkingRest(&d)
	}
	d.h2("Between nodes: routes, carried over VXLAN")
	if len(workers) < 2 {
		d.p(`
			With a single worker, «%s», every pod is on the same bridge and no
			route to another node is needed: the rest of this section is what
			a bigger cluster adds (try the default config: three nodes).`, v.Worker.Name)
	}
	d.p(`
		A packet for a pod on another node must first reach that node. The
		original tutorial adds one route per peer: "pod CIDR X is reached via
		node IP Y". hardway keeps those routes, with one twist: %s A packet
		from «%s» to a pod on another node would be dropped on the wire. So
		the route points into a VXLAN device instead, «%s», which wraps the
		packet in UDP (port %d) from node IP to node IP: on the wire, only
		node addresses are seen.`,
		w.whyVXLAN(), firstPod(v.Worker.PodCIDR), vx.Device, vx.Port)
	var routes [][]string
	for _, n := range c.Nodes {
		for _, r := range render.PodRoutes(c, n) {
			routes = append(routes, []string{"«" + n.Name + "»", "«" + r.CIDR + "»", "«" + r.Node + "»", "«" + r.Via + "»", "«" + r.MAC + "»", "«" + r.NodeIP + "»"})
		}
	}
	if len(routes) > 0 {
		d.table([]string{"On node", "Route to", "Pods of", "Via (peer's tunnel address)", "Peer's tunnel MAC", "Sent to (node IP)"}, routes)
	}
	d.p(`
		Nothing is learned at run time: each peer's tunnel MAC is derived from
		its node IP, and the unit writes the route, a permanent neighbour entry
		(tunnel address → MAC) and a forwarding entry (MAC → node IP) for every
		peer. The oneshot unit «%s» does it at every boot; on «%s» it reads:`, render.PodNetworkUnit, v.Worker.Name)
	d.pre("ini", w.nodeFile(v.Worker.Name, render.SystemdDir+"/"+render.PodNetworkUnit+".service"))
	if len(workers) >= 2 {
		a, b := workers[0], workers[1]
		bvx := render.VXLANFor(b)
		d.h3("One packet, hop by hop")
		d.list(
			fmt.Sprintf("A pod on «%s» («%s») sends to «%s», a pod on «%s». Not its subnet: the packet goes to its gateway, «cni0» at «%s».", a.Name, firstPod(a.PodCIDR), firstPod(b.PodCIDR), b.Name, strings.Split(diagram.Gateway(a.PodCIDR), "/")[0]),
			fmt.Sprintf("«%s» routes it: «%s via %s dev %s».", a.Name, b.PodCIDR, bvx.Address, vx.Device),
			fmt.Sprintf("The VXLAN device looks up «%s»'s MAC («%s»), finds it lives at «%s», and sends the whole packet inside a UDP datagram from «%s» to «%s»:%d.", bvx.Address, bvx.MAC, b.IP, a.IP, b.IP, bvx.Port),
			fmt.Sprintf("«%s» receives the datagram on its own «%s», unwraps it and routes the inner packet to «cni0», which delivers it to the pod's veth.", b.Name, bvx.Device),
			"The reply takes the mirror path. Neither pod ever sees a node address.",
		)
	}
	return w.networkingRest(&d)
}

// whyVXLAN says why this cluster's pod packets travel inside VXLAN.
func (w *writer) whyVXLAN() string {
	if w.net.Kind == render.NetworkDocker {
		return fmt.Sprintf("the nodes are on the Docker network «%s», created with «--internal», which drops every packet whose addresses are not in «%s».", w.net.Name, w.c.Network.NodeSubnet)
	}
	return "the config says «network.podRoutes: vxlan», for a network between the machines that drops packets whose addresses are not the machines' own (a cloud VPC with source/destination checks, a routed network, a Docker bridge)."
}

// directRoutes is the between-nodes section for plain routes.
func (w *writer) directRoutes(d *doc) {
	c, v := w.c, w.v
	workers := c.Workers()
	d.h2("Between nodes: one plain route per peer")
	if len(workers) < 2 {
		d.p(`
			With a single worker, «%s», every pod is on the same bridge and no
			route to another node is needed: the rest of this section is what
			a bigger cluster adds.`, v.Worker.Name)
	}
	d.p(`
		A packet for a pod on another node must first reach that node. This
		cluster does what the original tutorial does: one route per peer,
		"pod CIDR X is reached via node IP Y" («network.podRoutes: direct»).
		The nodes share one network (%s), so the next hop is on-link: the
		packet leaves with its pod addresses unchanged, addressed (by ARP) to
		the peer's MAC. That only works on a network that carries packets
		whose addresses are not the machines' own; where one drops them (a
		cloud VPC with source/destination checks, a routed network, a Docker
		bridge), «podRoutes: vxlan» carries them inside UDP between node IPs.`, w.net.Describe())
	var routes [][]string
	for _, n := range c.Nodes {
		for _, r := range render.PodRoutes(c, n) {
			routes = append(routes, []string{"«" + n.Name + "»", "«" + r.CIDR + "»", "«" + r.Node + "»", "«" + r.NodeIP + "»"})
		}
	}
	if len(routes) > 0 {
		d.table([]string{"On node", "Route to", "Pods of", "Via (peer's node IP)"}, routes)
	}
	d.p(`
		The oneshot unit «%s» writes these routes at every boot; on «%s» it
		reads:`, render.PodNetworkUnit, v.Worker.Name)
	d.pre("ini", w.nodeFile(v.Worker.Name, render.SystemdDir+"/"+render.PodNetworkUnit+".service"))
	if len(workers) >= 2 {
		a, b := workers[0], workers[1]
		d.h3("One packet, hop by hop")
		d.list(
			fmt.Sprintf("A pod on «%s» («%s») sends to «%s», a pod on «%s». Not its subnet: the packet goes to its gateway, «cni0» at «%s».", a.Name, firstPod(a.PodCIDR), firstPod(b.PodCIDR), b.Name, strings.Split(diagram.Gateway(a.PodCIDR), "/")[0]),
			fmt.Sprintf("«%s» routes it: «%s via %s».", a.Name, b.PodCIDR, b.IP),
			fmt.Sprintf("It leaves «%s» unchanged, source «%s», destination «%s», in a frame addressed to «%s»'s MAC.", a.Name, firstPod(a.PodCIDR), firstPod(b.PodCIDR), b.Name),
			fmt.Sprintf("«%s» sees a packet for its own pod CIDR and routes it to «cni0», which delivers it to the pod's veth.", b.Name),
			"The reply takes the mirror path.",
		)
	}
}

// networkingRest is the networking chapter after the pod routes: Services
// and DNS, the same whatever carries the packets.
func (w *writer) networkingRest(d *doc) Chapter {
	c := w.c

	d.h2("Services: an address nobody has")
	d.p(`
		Pods come and go with new addresses; a Service gives them one stable
		virtual IP from «%s». No interface anywhere has that address. Instead,
		**kube-proxy** on every worker watches Services and their
		EndpointSlices and writes packet-rewriting rules (here in «%s» mode):
		a packet to a Service IP and port gets its destination rewritten (DNAT)
		to one ready pod, chosen at random, before the routing decision. The
		routes above do the rest.`, c.Network.ServiceCIDR, c.Network.KubeProxyMode)
	d.table([]string{"Service", "Virtual IP", "Goes to"}, [][]string{
		{"«default/kubernetes»", fmt.Sprintf("«%s:443»", c.KubernetesServiceIP()), fmt.Sprintf("every API server: %s, port «%d» (the API server writes these endpoints itself, from «--advertise-address»)", nodeIPs(c.ControlPlanes()), c.Network.APIServerPort)},
		{"«kube-system/kube-dns»", fmt.Sprintf("«%s:53»", c.Network.ClusterDNS), "the CoreDNS pods, UDP and TCP"},
		{"a NodePort Service", "a port in 30000-32767 on every node IP", "the Service's pods, from anywhere that reaches a node (this host included)"},
	})
	d.p(`
		Two kernel settings make this work inside the nodes («%s»):
		«net.ipv4.ip_forward = 1» lets a node route pod packets at all, and
		«net.bridge.bridge-nf-call-iptables = 1» makes packets crossing «cni0»
		pass through the rules, so a pod can reach a Service whose pod is on
		the same bridge. Traffic from pods to anything outside the pod network
		(node IPs, the API server) is masqueraded to the node's address by a
		rule the pod-network unit adds, so replies find their way back.`, render.SysctlFile)

	d.h2("DNS: names for Services")
	d.p(`
		The kubelet writes every pod's «/etc/resolv.conf»: «nameserver %s»,
		a search list starting with the pod's namespace
		(«NAMESPACE.svc.%[2]s svc.%[2]s %[2]s») and «options ndots:5». CoreDNS
		runs as a Deployment of two pods behind the «kube-dns» Service at that
		address; its «kubernetes» plugin watches Services and EndpointSlices
		and answers:`, c.Network.ClusterDNS, c.Network.ClusterDomain)
	d.list(
		"«SERVICE.NAMESPACE.svc."+c.Network.ClusterDomain+"» → the Service's virtual IP (for example «kubernetes.default.svc."+c.Network.ClusterDomain+"» → «"+c.KubernetesServiceIP()+"»);",
		"a short name like «hello» from inside the Service's namespace, thanks to the search list;",
		"reverse lookups of Service and pod IPs.",
	)
	if c.IsIsolated() {
		d.p(`
			The cluster network is isolated, so CoreDNS forwards no other names:
			there is no resolver it could reach.`)
	}
	d.p(`%s installs CoreDNS and waits for a real answer from inside a pod.`, w.stepLink("dns"))
	w.networkPolicy(d)
	return Chapter{ID: "networking", Part: PartNetwork, Title: networkingTitle, Short: "Networking end to end", Body: d.String()}
}

// nodeFile is the content of a node file as hardway renders it; files that
// hold secrets (keys, kubeconfigs, the encryption config) are never quoted.
func (w *writer) nodeFile(node, path string) string {
	for _, f := range w.in.Files[node] {
		if f.Path != path {
			continue
		}
		if step, _ := FileRole(f.Path); step == "pki" || step == "kubeconfigs" || step == "encryption" {
			return fmt.Sprintf("(%s holds a secret: read it on the node with hardway shell %s --name %s -- cat %s)", path, node, w.c.Name, path)
		}
		return redact(string(f.Data))
	}
	return fmt.Sprintf("(%s has no %s; run hardway render --name %s --out DIR to see every file)", node, path, w.c.Name)
}

// firstPod is the first address host-local gives a pod in cidr.
func firstPod(cidr string) string {
	first, _ := diagram.PodRange(cidr)
	return first
}
