package book

import (
	"fmt"

	"hardway.dev/hardway/internal/render"
)

const architectureTitle = "The architecture of this cluster"

func (w *writer) architecture() Chapter {
	c, v := w.c, w.v
	cps, workers := c.ControlPlanes(), c.Workers()
	port := c.Network.APIServerPort
	var d doc
	where := fmt.Sprintf("the control plane runs on %s and workloads run on %s", nodeNames(cps), nodeNames(workers))
	if nodeNames(cps) == nodeNames(workers) {
		where = fmt.Sprintf("every node (%s) does both, as in the original tutorial", nodeNames(cps))
	}
	d.p(`
		A Kubernetes cluster does two kinds of work: it *decides* what should
		run where, and it *runs* it. The deciding is the **control plane**
		(etcd, kube-apiserver, kube-controller-manager, kube-scheduler); the
		running is the **worker** machinery (containerd, kubelet, kube-proxy).
		In cluster «%s», %s.`, c.Name, where)
	d.img(w.arch)
	d.p(`
		Read the picture from the top. You sit on this host with «kubectl» and
		the admin certificate. Your requests go to %s. Inside every node, the
		boxes are systemd services; the arrows say who opens the connection
		and the «as …» lines say which certificate it shows.`, apiTarget(w))

	d.h2("One hub, many spokes")
	d.p(`
		Look at which arrows end at the API server: all of them. The
		controller manager, the scheduler, every kubelet and kube-proxy, CoreDNS
		and you only ever talk to kube-apiserver. Only the API server talks to
		etcd, and etcd makes sure of it: it trusts only certificates of its own
		CA, which signs no one else's. That is the most important fact about
		the architecture: the API
		server is the single front door, so it is the one place that
		authenticates, authorizes, validates and records every change, and every
		other component is a client that *watches* the objects it cares about
		and *writes back* what it did.`)
	d.p(`
		There is one arrow the other way round: the API server calls the
		kubelets on port «10250» for «kubectl logs», «exec» and «port-forward»,
		with a certificate of its own («kube-apiserver-kubelet-client»).`)

	d.h2("Every component, its address and its identity")
	lb := c.APIServerURL()
	rows := [][]string{
		{"etcd", nodeNames(cps), "«:2379» clients, «:2380» peers", "its peers", "«NODE» (certificate «etcd-peer-NODE»); it accepts only certificates its own CA, «etcd-ca», signed"},
		{"kube-apiserver", nodeNames(cps), fmt.Sprintf("«:%d» on every address", port), "every etcd member; kubelets on «:10250»", "«kube-apiserver-etcd-client», «kube-apiserver-kubelet-client»"},
		{"kube-controller-manager", nodeNames(cps), "«127.0.0.1:10257» (health, metrics)", fmt.Sprintf("«%s»", c.LocalAPIServerURL()), "«system:kube-controller-manager»"},
		{"kube-scheduler", nodeNames(cps), "«127.0.0.1:10259» (health, metrics)", fmt.Sprintf("«%s»", c.LocalAPIServerURL()), "«system:kube-scheduler»"},
		{"kubelet", nodeNames(workers), "«:10250» (its HTTPS API)", "«" + lb + "»; containerd's socket", "«system:node:NODE», group «system:nodes»"},
		{"kube-proxy", nodeNames(workers), "«:10256» (health)", "«" + lb + "»", "«system:kube-proxy», group «system:node-proxier»"},
		{"containerd", nodeNames(workers), "«unix://" + render.ContainerdSocket + "»", "runc, the CNI plugins", "none: a local socket only root can open"},
		{render.PodNetworkUnit, "every node", "nothing (it sets up the kernel and exits)", "nobody", "none"},
		{render.UnitPodsStop, nodeNames(workers), "nothing (it stops the node's pods when the machine shuts down)", "containerd, through crictl", "none"},
	}
	if c.Network.LoadBalancerIP != "" {
		rows = append(rows, []string{"haproxy", fmt.Sprintf("container «%s»", render.NodeNetwork(c).Machine("lb")), fmt.Sprintf("«%s:%d»", c.Network.LoadBalancerIP, port), "every kube-apiserver, checking «/readyz» every second", "none: it passes TLS through untouched"})
	}
	d.table([]string{"Component", "Runs on", "Listens on", "Calls", "As (certificate CN)"}, rows)
	d.p(`
		The controller manager and the scheduler run on every control-plane
		node but talk only to the API server on the same node, at
		«%s»: they never leave the machine. Kubelets and kube-proxy use the
		address in their kubeconfig, «%s», so they keep working when any one
		control-plane node goes away.`, c.LocalAPIServerURL(), lb)

	d.h2("The machines")
	d.b.WriteString(w.machines())
	d.p(`
		Because every component is an ordinary systemd service, the tools you
		would use on a real server work: «%s» lists them, «%s» shows one's
		journal. The chapter on %s tells more about the nodes.`,
		v.shell(v.CP.Name, "systemctl list-units 'kube*' etcd.service containerd.service"), v.logs(v.CP.Name, "kube-apiserver"), w.stepLink("nodes"))

	d.h2("What survives a failure")
	if len(cps) >= 3 {
		d.p(`
			With %d control-plane nodes, etcd needs %d members for a quorum and
			survives the loss of %d. The load balancer stops sending requests to
			an API server whose «/readyz» fails. The controller manager and the
			scheduler run everywhere but act on one node at a time: they hold a
			*lease* in the API, and when its holder disappears another instance
			takes the lease over within seconds (%s).`,
			len(cps), len(cps)/2+1, (len(cps)-1)/2, chapterLink("control-loops", "control loops"))
	} else {
		d.p(`
			With %s, this cluster has one of everything that matters: if that
			node stops, the API stops with it. That is fine for learning; the
			original tutorial's three control-plane nodes, an etcd quorum and a
			load balancer are the default config (three nodes), if you want to
			watch a cluster survive the loss of a node.`, plural(len(cps), "control-plane node", "control-plane nodes"))
	}

	d.h2("Where things live")
	d.table([]string{"Path (in a node)", "What"}, [][]string{
		{"«" + render.SystemdDir + "/*.service»", "one unit per component: read the flags there"},
		{"«" + render.BinDir + "», «" + render.CNIBinDir + "»", "the binaries, copied from the artifact cache"},
		{"«" + render.EtcdDir + "»", "etcd's certificates (and only etcd's)"},
		{"«" + render.KubernetesDir + "»", "control-plane configs and kubeconfigs; certificates in «" + render.PKIDir + "»"},
		{"«" + render.EtcdDataDir + "»", "etcd's database"},
		{"«" + render.KubeletDir + "», «" + render.KubeProxyDir + "»", "the kubelet's and kube-proxy's config, kubeconfig and certificates"},
		{"«/etc/containerd», «" + render.CNIConfDir + "»", "containerd's config and the CNI network config"},
		{"«" + render.AuditLogPath + "»", "the API server's audit log"},
	})
	d.p(`
		On this host, «%s» holds the cluster's certificates, kubeconfigs,
		encryption key and the config it was built with. %s lists every file
		of every node.`, w.in.StateDir, chapterLink("files", "The appendix"))
	return Chapter{ID: "architecture", Part: PartStart, Title: architectureTitle, Short: "Architecture", Body: d.String()}
}

// apiTarget names where clients send API requests, in words.
func apiTarget(w *writer) string {
	c := w.c
	if c.Network.LoadBalancerIP != "" {
		return fmt.Sprintf("the load balancer at «%s», which passes each connection to one of the API servers", c.APIServerURL())
	}
	return fmt.Sprintf("the only API server, at «%s»", c.APIServerURL())
}
