package book

import (
	"fmt"
	"path/filepath"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/verify"
)

// This file is the one place for the "try it" commands: one table per
// chapter, keyed by chapter id. Add a row to a table to add a command to a
// chapter. Only commands that exist today belong here: the CLI's tests run
// every hardway command of these tables through its command-line parser.

// kubeconfigLine points kubectl at this cluster for the shell session.
func (v vars) kubeconfigLine() string {
	return "export KUBECONFIG=$(" + v.hw("kubeconfig") + " | tail -1)"
}

// tryIts returns every chapter's try-it table.
func tryIts(v vars, steps []StepText) map[string][]Try {
	c := v.C
	cp, wk, chosen := v.CP.Name, v.Worker.Name, v.Chosen.Name
	ns := verify.Namespace
	fqdn := "kubernetes.default.svc." + c.Network.ClusterDomain
	proxyRules := "iptables -t nat -L KUBE-SERVICES -n"
	switch c.Network.KubeProxyMode {
	case "nftables":
		proxyRules = "nft list chain ip kube-proxy services"
	case "ipvs":
		proxyRules = "ipvsadm -Ln"
	}
	t := map[string][]Try{
		"index": {
			{v.kubeconfigLine(), "points kubectl at this cluster for this shell"},
			{"kubectl get nodes -o wide", "the nodes as Kubernetes sees them: " + nodeList(c.Nodes)},
			{v.hw("status"), "the machines behind them and which components run on each"},
			{v.hw("steps"), "the steps of «hardway up», which the chapters follow"},
		},
		"prerequisites": {
			{v.hw("check"), "every prerequisite of this host (and of the machines), each missing one with its fix"},
			{"go version", "the Go toolchain the artifacts are built with"},
			{"docker info --format '{{.ServerVersion}} {{.CgroupVersion}}'", "the engine's version and cgroup version, which decide the nodes' kubelet settings"},
		},
		"managed": {
			{"kubectl get --raw /version", "the API server's version: on a managed service also the provider's build of it"},
			{"kubectl get nodes -o wide", "the machines that run your pods; on a managed service only workers, never the control plane"},
			{v.hw("etcd", "snapshot", "save", "/tmp/"+v.Name+"-etcd.db"), "what no managed service lets you do: a snapshot of the whole cluster state"},
		},
		"architecture": {
			{v.hw("status"), "every node, its IP, role and components with their state"},
			{v.hw("status", "--svg", "/tmp/"+v.Name+"-status.svg"), "the architecture picture again, coloured by each component's health right now"},
			{v.shell(cp, "systemctl list-units 'kube*' etcd.service containerd.service"), "the components of " + cp + " as systemd services"},
			{"kubectl get --raw='/readyz?verbose'", "the API server's own checks, etcd's among them"},
			v.machinesTry(),
		},
		"control-loops": {
			{"kubectl -n kube-system get leases", "which instance leads the controller manager and the scheduler, and the nodes' heartbeats"},
			{"kubectl -n " + ns + " get pods -o wide", "the verify Deployment's pods, one per worker"},
			{"kubectl -n " + ns + " delete pod -l app=hello --wait=false", "deletes them; run the line above again: new pods, new names, a second later"},
			{"kubectl get events -A --sort-by=.lastTimestamp", "what the controllers did, in order"},
		},
		"pod-0-kubectl": {
			{createHello, "a Deployment called hello, answered at once"},
			{"kubectl get deployment hello -v=8", "the GET behind «kubectl get», with headers and body"},
			{"kubectl get pods -l app=hello -o wide", "the pod, its IP and the node it runs on"},
			{v.curlNodes(), "the same API without kubectl: plain HTTPS with the admin certificate"},
			{v.hw("trace", "--http"), "one pod created, watched until Ready and deleted: every HTTP request of the client, with status, latency and Audit-Id"},
		},
		"pod-1-control-plane": {
			{v.etcdctl("get /registry/deployments --prefix --keys-only"), "the keys of every Deployment in etcd, hello's among them"},
			{"kubectl get deployments,replicasets,pods -l app=hello", "the chain the controllers built: Deployment → ReplicaSet → Pod"},
			{"kubectl describe pod -l app=hello", "the pod's events: Scheduled (by the scheduler), Pulled, Created, Started (by the kubelet)"},
			{v.logs(cp, "kube-scheduler"), v.schedulerLogShows(cp)},
			{v.hw("trace"), "a pod launched and measured: the API request, the etcd writes and the binding, with their times and the evidence for each"},
		},
		"pod-2-auth-network": {
			{"kubectl auth whoami", "your user and groups, as the API server sees your certificate"},
			{"kubectl auth can-i create replicasets --as=system:serviceaccount:kube-system:deployment-controller", "yes: the Deployment controller's RBAC role allows it"},
			{"kubectl auth can-i create deployments --as=system:serviceaccount:kube-system:deployment-controller", "no: it only manages ReplicaSets"},
			{"kubectl auth can-i list secrets -A --as=system:node:" + chosen + " --as-group=system:nodes", "no: a kubelet may read only the secrets of its own pods"},
			{"kubectl get pods -l app=hello -o wide", "the pod's IP, from its node's pod CIDR"},
		},
		"pod-3-node": {
			{v.shell(chosen, "crictl pods"), "the pod sandboxes containerd runs on " + chosen + ", as the kubelet sees them over CRI"},
			{v.shell(chosen, "crictl ps"), "their containers"},
			{v.shell(chosen, "ctr -n k8s.io images ls -q"), "the images imported on the node: " + images.Pause + ", " + images.TestApp + ", …"},
			{v.shell(chosen, "runc --root /run/containerd/runc/k8s.io list"), "the same containers one layer down, as runc knows them"},
			{v.shell(chosen, "ls /var/lib/cni/networks/bridge"), "the addresses host-local has handed out on " + chosen},
			{v.shell(chosen, "ip -br link show master cni0"), "one veth per pod, plugged into the cni0 bridge"},
			{"kubectl delete deployment hello", "cleans up: the garbage collector removes the ReplicaSet and the pod"},
			{v.hw("trace", "--svg", "/tmp/"+v.Name+"-launch.svg"), "the whole launch measured, down to RunPodSandbox, the address CNI handed out and StartContainer, also as a sequence picture"},
		},
		"networking": append(v.routeTries(),
			Try{v.shell(wk, proxyRules), "kube-proxy's rules for every Service IP"},
			Try{"kubectl get services,endpointslices -A", "every Service IP and the pod IPs behind it"},
			Try{"kubectl -n " + ns + " exec deploy/hello -- cat /etc/resolv.conf", "what the kubelet wrote into a pod: nameserver " + c.Network.ClusterDNS + " and the search list"},
			Try{"kubectl -n " + ns + " exec deploy/hello -- nslookup " + fqdn, "a DNS answer from CoreDNS: " + c.KubernetesServiceIP()},
			Try{v.shell(wk, "iptables -t mangle -S "+render.NetpolChain), "the rules that hand new pod connections to the NetworkPolicy agent (on a kernel without the nftables queue statement; empty with the netpol add-on off)"},
			Try{"kubectl -n " + render.NetpolNamespace + " logs ds/kube-network-policies -c steer", "which of the two ways this node's kernel steers packets to the agent"},
		),
		"gitops": {
			{"kubectl -n argocd get applications,appprojects", "the Application and its project: sync and health status"},
			{"kubectl -n argocd get pods -o wide", "Argo CD's parts: redis, repo-server, application-controller, server, and the Git server"},
			{"kubectl -n hardway-gitops get deploy,svc,cm", "what Argo CD deployed from Git"},
			{"kubectl -n argocd logs statefulset/argocd-application-controller --tail=20", "the controller comparing and syncing"},
		},
		"traffic": {
			{"kubectl get services -A --field-selector spec.type=LoadBalancer", "every LoadBalancer Service and the EXTERNAL-IP MetalLB gave it"},
			{"kubectl get gatewayclasses,gateways,httproutes -A", "the Gateway API objects: who implements, where it listens, what routes where"},
			{"kubectl get ingress -A", "the Ingresses Traefik serves, with the same address"},
		},
		"operating": {
			{v.hw("certs"), "every certificate: identity, issuer, names, days left"},
			{v.hw("certs", "check", "--within", "720h"), "«ok» and the first certificate to expire, or which expire within 30 days (and a non-zero exit)"},
			{v.hw("status"), "machines and components, one line per node"},
			{v.hw("status", "--svg", "/tmp/"+v.Name+"-status.svg"), "the same as a picture, each component coloured by health"},
			{v.logs(cp, "kube-apiserver"), "the API server's journal on " + cp},
			{"hardway shell " + cp + " --name " + v.Name, "a shell inside " + cp + " (exit with Ctrl-D)"},
			{v.hw("verify"), "the smoke tests, any time"},
			{v.hw("up"), "converges the cluster to its config again; changes nothing if nothing drifted"},
			{v.hw("lab", "list"), "break-and-fix labs: each breaks one real thing (an etcd member, a route, a certificate, CoreDNS, kube-proxy, RBAC, a Service, the scheduler, the controller manager, containerd) for you to find and fix, with graded hints; the PASSED column is this cluster's record"},
			{v.hw("lab", "start", "kube-proxy"), "the first lab to try: Services stop working on one node; «hardway lab hint», «check» and «reset» take it from there"},
		},
		"files": {
			{"hardway render --name " + v.Name + " --out /tmp/" + v.Name + "-files", "every file of every node, written under /tmp/" + v.Name + "-files/NODE/"},
			{v.shell(cp, "ls -l "+render.PKIDir), "the certificates on " + cp + ", private keys readable only by root"},
		},
	}
	stepTries := stepTryIts(v)
	for _, s := range steps {
		tries := append([]Try{stepCheck(v, s.Name)}, stepTries[s.Name]...)
		t[StepChapterID(s.Name)] = tries
	}
	return t
}

// stepCheck is the one command that shows a step did its job.
func stepCheck(v vars, step string) Try {
	c := v.C
	checks := map[string]Try{
		"check": {"hardway check --name " + v.Name, "each host check with ✓ or ✗ and, for a ✗, the command that fixes it"},
		"nodes": {v.hw("status"), "every node «running», with its IP"},
		"pki":   {v.hw("certs"), "each certificate's CN, groups, issuer, expiry and names"},
		"kubeconfigs": {"kubectl --kubeconfig $(" + v.hw("kubeconfig") + " | tail -1) auth whoami",
			"who the admin kubeconfig says you are: «admin», in the group «hardway:cluster-admins» (bound to «cluster-admin», so deleting that binding revokes it)"},
		"encryption": {v.etcdctl("get /registry/secrets/"+verify.Namespace+"/hardway-encryption-check --print-value-only") + " | head -c 40",
			"a Secret straight out of etcd: it starts with «k8s:enc:aescbc:v1:» and the key's name, the rest is ciphertext (the Secret exists once «hardway verify» has run)"},
		"etcd":          {v.etcdctl("member list -w table"), fmt.Sprintf("%s, all «started»", plural(len(c.ControlPlanes()), "member", "members"))},
		"control-plane": {"kubectl get --raw='/readyz?verbose'", "every check of the API server «ok», etcd's included, then «readyz check passed»"},
		"workers":       {"kubectl get nodes -o wide", "every worker «Ready», with its internal IP and containerd's version"},
		"network":       v.routeTries()[0],
		"dns":           {"kubectl -n " + verify.Namespace + " exec deploy/hello -- nslookup kubernetes.default.svc." + c.Network.ClusterDomain, fmt.Sprintf("the server «%s» answering «%s»", c.Network.ClusterDNS, c.KubernetesServiceIP())},
		"verify":        {v.hw("verify"), "every smoke test with ✓ and how long it took"},
	}
	if t, ok := checks[step]; ok {
		return t
	}
	return Try{v.hw("explain", step), "what this step does and the files it writes"}
}

// stepTryIts are the commands of each step's chapter after its check.
func stepTryIts(v vars) map[string][]Try {
	c := v.C
	cp, wk := v.CP.Name, v.Worker.Name
	state := func(p string) string { return filepath.Join(v.State, p) }
	return map[string][]Try{
		"check": {
			{v.hw("explain", "check"), "the facts this host reported"},
		},
		"nodes": {
			v.machinesTry(),
			{v.shell(cp, "systemctl is-system-running"), "systemd's own verdict on " + cp},
		},
		"pki": {
			{"openssl x509 -in " + state("pki/kube-apiserver.pem") + " -noout -subject -issuer -ext subjectAltName", "the API server certificate: every name and IP clients may use"},
			{"openssl verify -CAfile " + state("pki/ca.pem") + " " + state("pki/admin.pem"), "proof that the CA signed your certificate"},
		},
		"kubeconfigs": {
			{"ls " + state("kubeconfigs"), "one kubeconfig per identity"},
			{"kubectl config view --minify", "the admin kubeconfig, certificates redacted: server " + c.APIServerURL()},
		},
		"encryption": {
			{"kubectl -n " + verify.Namespace + " get secret hardway-encryption-check -o jsonpath='{.data.password}'", "the same Secret through the API: decrypted (and base64-encoded) for whoever may read it"},
		},
		"etcd": {
			{v.etcdctl("endpoint status --cluster -w table"), "each member's version, database size, leader flag and Raft term"},
			{v.logs(cp, "etcd"), "etcd's journal on " + cp},
		},
		"control-plane": {
			{"kubectl -n kube-system get leases kube-controller-manager kube-scheduler", "the leaders"},
			{v.shell(cp, "systemctl cat kube-apiserver"), "the API server's unit with every flag"},
			{v.logs(cp, "kube-apiserver"), "its journal"},
		},
		"workers": {
			{v.shell(wk, "systemctl status kubelet containerd kube-proxy --no-pager"), "the three worker services on " + wk},
			{v.logs(wk, "kubelet"), "the kubelet's journal"},
		},
		"network": append(v.routeTries()[1:],
			Try{v.logs(wk, render.PodNetworkUnit), "what the unit did at boot"},
		),
		"dns": {
			{"kubectl -n kube-system get deployment,service,pods -l k8s-app=kube-dns -o wide", "CoreDNS: two replicas behind the Service at " + c.Network.ClusterDNS},
		},
		"verify": {
			{"kubectl -n " + verify.Namespace + " get all -o wide", "what the smoke tests left behind: a Deployment and a NodePort Service"},
		},
	}
}

// nodeList names nodes for a table cell.
func nodeList(ns []config.Node) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}

// routeTries show the pod routes on the first worker: the routing table
// first (the network step's check), then the VXLAN device when there is
// one.
func (v vars) routeTries() []Try {
	wk := v.Worker.Name
	if render.DirectRoutes(v.C) {
		return []Try{
			{v.shell(wk, "ip route"), "on " + wk + ": its own pod CIDR on cni0 and a route for each other worker's pod CIDR via that node's IP"},
			{v.shell(wk, "ip neigh"), "the peers' MAC addresses, learned by ARP: pod packets go to them as they are"},
		}
	}
	dev := render.VXLANFor(v.Worker).Device
	return []Try{
		{v.shell(wk, "ip route"), "on " + wk + ": its own pod CIDR on cni0, a route for each other worker's pod CIDR through " + dev},
		{v.shell(wk, "ip -d link show "+dev), "the VXLAN device: VNI, local address, port"},
		{v.shell(wk, "bridge fdb show dev "+dev), "which node IP each peer's tunnel MAC is sent to"},
	}
}

// schedulerLogShows says what the scheduler's journal holds at the
// verbosity its unit runs with: it logs each binding ("Successfully bound
// pod to node") only from -v=2.
func (v vars) schedulerLogShows(cp string) string {
	if n := v.SchedulerV; n >= 2 {
		return fmt.Sprintf("the scheduler's log on %s: it runs with --v=%d, so the leader logs each binding («Successfully bound pod to node»)", cp, n)
	}
	return fmt.Sprintf("the scheduler's log on %s: leader election and errors; it runs with --v=%d and logs a binding only from --v=2, so look for bindings in the audit log, which «hardway trace» reads", cp, v.SchedulerV)
}
