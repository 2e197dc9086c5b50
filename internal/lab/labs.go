package lab

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
	"hardway.dev/hardway/internal/wait"
)

// KubeletAPIBinding is the ClusterRoleBinding of kubelet-api-rbac.yaml: it
// lets the API server's kubelet-client identity use the kubelet API.
const KubeletAPIBinding = "hardway:kube-apiserver-kubelet-client"

// The Kubernetes objects the CoreDNS lab touches (coredns.yaml).
const (
	corednsNamespace = "kube-system"
	corednsName      = "coredns"
	// fieldManager owns what a lab changes through the API, so `up`'s
	// server-side apply (hardway) takes it back.
	fieldManager = "hardway-lab"
)

func etcdMember() Lab {
	return Lab{
		Name:  "etcd-member",
		Title: "one etcd member is down",
		Target: func(c *config.Cluster) (Target, error) {
			cps := c.ControlPlanes()
			if len(cps) < 3 {
				return Target{}, fmt.Errorf("lab etcd-member needs 3 control-plane nodes (quorum survives one member down); cluster %s has %d", c.Name, len(cps))
			}
			return Target{Cluster: c.Name, Node: cps[len(cps)-1], Peer: cps[0]}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Something is wrong with the database on %s. kubectl still works, but the cluster\n"+
				"has lost its safety margin: one more failure and every write stops.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{t.hw("status")}
		},
		Reveal: func(t Target) []string {
			return []string{
				t.shell(t.Peer, strings.Join(steps.EtcdctlArgs(), " ")+" endpoint health --cluster"),
				t.shell(t.Node, "systemctl status etcd"),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The etcd member on %s is stopped (inactive, dead): its endpoint fails the health check. The\n"+
				"other two members still form a quorum (2 of 3), so the API answers.", t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.shell(t.Node, "systemctl start etcd")} },
		Why: func(t Target) string {
			return fmt.Sprintf("Started again, the member on %s keeps its identity and data directory: it rejoins the Raft\n"+
				"cluster, catches up with the writes it missed from the leader, and the health check sees every endpoint\n"+
				"healthy. The cluster survives one more failure again.", t.Node.Name)
		},
		Step:   "etcd",
		Probes: []string{"encryption"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return run(ctx, e, t.Node, "systemctl", "stop", "etcd")
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The etcd step starts a unit that is enabled but not running.
			_, err := e.Rerun(ctx, "etcd")
			return err
		},
	}
}

func podRoute() Lab {
	return Lab{
		Name:  "pod-route",
		Title: "a node lost its route to another node's pods",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) < 2 {
				return Target{}, fmt.Errorf("lab pod-route needs 2 worker nodes (routes join their pod networks); cluster %s has %d", c.Name, len(ws))
			}
			for _, r := range render.PodRoutes(c, ws[0]) {
				if r.Node != ws[1].Name {
					continue
				}
				// The route the unit writes: plain to the node IP, or into
				// the VXLAN device at the peer's tunnel address.
				v := map[string]string{"cidr": r.CIDR, "via": r.Via, "over": "the VXLAN tunnel " + vxlanDevice(),
					"route": fmt.Sprintf("ip route replace %s via %s dev %s onlink", r.CIDR, r.Via, vxlanDevice())}
				if render.DirectRoutes(c) {
					v["via"], v["over"], v["route"] = r.NodeIP, ws[1].Name+"'s node IP, on the shared network", fmt.Sprintf("ip route replace %s via %s", r.CIDR, r.NodeIP)
				}
				return Target{Cluster: c.Name, Node: ws[0], Peer: ws[1], Values: v}, nil
			}
			return Target{}, fmt.Errorf("node %s has no route to %s's pods (a bug in hardway)", ws[0].Name, ws[1].Name)
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Pods on %s and pods on %s cannot talk to each other: connections between\n"+
				"them time out. Every node is Ready, every pod Running, and traffic within each node works.", t.Node.Name, t.Peer.Name)
		},
		Evidence: func(t Target) []string {
			return []string{t.hw("verify")}
		},
		Reveal: func(t Target) []string {
			return []string{t.shell(t.Node, "ip route"), t.hw("explain", "network")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("%s has no route to %s's pod CIDR %s (it should go via %s, %s). Packets for\n"+
				"those pods follow the default route instead, out of the cluster network, where they are dropped.\n"+
				"Connections from %s's pods fail too: the replies would need that route.\n"+
				"The unit %s sets up every route of the node at boot; restarting it puts them back.\n"+
				"Adding just the one route works too: %s",
				t.Node.Name, t.Peer.Name, t.Values["cidr"], t.Values["via"], t.Values["over"], t.Peer.Name, render.PodNetworkUnit,
				t.shell(t.Node, t.Values["route"]))
		},
		Fix: func(t Target) []string {
			return []string{t.shell(t.Node, "systemctl restart "+render.PodNetworkUnit)}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("%s is a oneshot unit whose ExecStart lines write every route of the node with\n"+
				"ip route replace, which changes nothing for a route that is there: restarted, it runs them again and the\n"+
				"missing route to %s is back. The routes are not learned from anywhere; they come from the config.", render.PodNetworkUnit, t.Values["cidr"])
		},
		Step:   "network",
		Probes: []string{"pod-to-pod"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return run(ctx, e, t.Node, "ip", "route", "del", t.Values["cidr"])
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			return rerunPodNetwork(ctx, e, t.Node)
		},
	}
}

// rerunPodNetwork runs the network step so that it restarts node's
// pod-network unit. The unit may have run already (a oneshot that stays
// "active"), and the step would not run it again: a restart marker, the
// mark of an interrupted run, makes it restart the unit (and enable it).
func rerunPodNetwork(ctx context.Context, e steps.Env, node config.Node) error {
	n, err := e.Cluster.Node(ctx, node.Name)
	if err != nil {
		return err
	}
	if err := n.WriteFile(ctx, path.Join(converge.MarkerDir, render.PodNetworkUnit), nil, 0o644); err != nil {
		return err
	}
	_, err = e.Rerun(ctx, "network")
	return err
}

// vxlanDevice is the tunnel device routes to other nodes' pods go through.
func vxlanDevice() string { return render.VXLANFor(config.Node{}).Device }

func kubeletCert() Lab {
	const cert, key = render.KubeletServingCert, render.KubeletServingKey
	return Lab{
		Name:  "kubelet-cert",
		Title: "a kubelet serves another node's certificate",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) < 2 {
				return Target{}, fmt.Errorf("lab kubelet-cert needs 2 worker nodes (one lends its certificate); cluster %s has %d", c.Name, len(ws))
			}
			node := ws[1]
			return Target{Cluster: c.Name, Node: node, Peer: ws[(1+1)%len(ws)]}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("kubectl logs, exec and port-forward fail for every pod on %s; on the other nodes\n"+
				"they work. %s is Ready and its pods run.", t.Node.Name, t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s logs --tail 1 $(kubectl -n %s get pods -o name --field-selector spec.nodeName=%s | head -1)", verify.Namespace, verify.Namespace, t.Node.Name)}
		},
		Reveal: func(t Target) []string {
			return []string{
				t.shell(t.Node, "openssl x509 -in "+cert+" -noout -subject -ext subjectAltName"),
				"kubectl get node " + t.Node.Name + " -o wide",
				"kubectl get csr",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The kubelet on %s serves HTTPS with %s's certificate (CN=system:node:%s, IP %s). The API\n"+
				"server calls kubelets at their InternalIP (%s) and checks the certificate names it: it does not, so\n"+
				"logs, exec and port-forward to %s fail with an x509 error. (The kubelet's client certificate is\n"+
				"another pair, %s, and fine: the node stays Ready.)\n"+
				"The kubelet noticed too: its certificate names another node, so it asked at once for one of its own\n"+
				"(serverTLSBootstrap; kubectl get csr shows the request Pending). This lab stopped\n"+
				"%s on the control-plane nodes, which would have approved it within %d s.\n"+
				"The workers step of up compares every file of the node with what it should be: it writes back %s's\n"+
				"own certificate and restarts its kubelet; the control-plane step starts the approver again.",
				t.Node.Name, t.Peer.Name, t.Peer.Name, t.Peer.IP, t.Node.IP, t.Node.Name, render.KubeletClientCurrent,
				render.UnitCSRApproverTimer, int(render.CSRApproverEvery.Seconds()), t.Node.Name)
		},
		Fix: func(t Target) []string {
			return []string{t.hw("up", "--only", "workers"), t.hw("up", "--only", "control-plane")}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("up compares every file of every node (SHA-256, mode, owner) with what it renders from the\n"+
				"state directory: %s and its key differ on %s, so it writes back that node's own\n"+
				"pair and restarts its kubelet, which then serves a certificate naming system:node:%s and %s.\n"+
				"The API server's check of the kubelet's serving certificate (--kubelet-certificate-authority) passes\n"+
				"again. The second up starts %s, as up starts every unit that is not running:\n"+
				"with it, a kubelet whose certificate names the wrong node heals itself, its request for its own\n"+
				"names approved within %d s.",
				cert, t.Node.Name, t.Node.Name, t.Node.IP, render.UnitCSRApproverTimer, int(render.CSRApproverEvery.Seconds()))
		},
		Step:     "pki",
		Probes:   []string{"logs", "exec", "port-forward"},
		Diagnose: diagnoseServing,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			// First, or the kubelet's request for its own certificate
			// would be approved within render.CSRApproverEvery.
			if err := stopApprovers(ctx, e); err != nil {
				return err
			}
			from, err := e.Cluster.Node(ctx, t.Peer.Name)
			if err != nil {
				return err
			}
			to, err := e.Cluster.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			for _, f := range []struct {
				path string
				mode os.FileMode
			}{{cert, 0o644}, {key, 0o600}} {
				data, err := from.ReadFile(ctx, f.path)
				if err != nil {
					return err
				}
				if err := to.WriteFile(ctx, f.path, data, f.mode); err != nil {
					return err
				}
			}
			return restartKubelets(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// control-plane starts the approvers; the file differs from
			// the rendered one: workers writes it back and restarts that
			// kubelet.
			_, err := e.Rerun(ctx, "control-plane", "workers")
			return err
		},
	}
}

func corednsCorefile() Lab {
	return Lab{
		Name:  "coredns-corefile",
		Title: "a typo in CoreDNS's configuration",
		Target: func(c *config.Cluster) (Target, error) {
			zone := c.Network.ClusterDomain
			return Target{Cluster: c.Name, Values: map[string]string{"zone": zone, "typo": typo(zone)}}, nil
		},
		Symptom: func(t Target) string {
			return "Pods cannot find Services by name any more: nslookup kubernetes.default from a pod fails.\n" +
				"Services still answer at their IPs, and the CoreDNS pods are Running and Ready."
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s exec deploy/hello -- nslookup kubernetes.default", verify.Namespace)}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}'",
				"kubectl -n kube-system logs -l k8s-app=kube-dns --tail 20",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The Corefile's kubernetes plugin serves the zone %s instead of %s. CoreDNS answers\n"+
				"names of %s from the API, and has nowhere to send the rest (no upstream on an isolated cluster).\n"+
				"CoreDNS reads the file at start and reloads it within a minute or two of a change (reload plugin);\n"+
				"restarting the pods applies a fix at once.", t.Values["typo"], t.Values["zone"], t.Values["zone"])
		},
		Fix: func(t Target) []string {
			return []string{
				fmt.Sprintf("kubectl -n kube-system get configmap coredns -o yaml | sed 's/kubernetes %s /kubernetes %s /' | kubectl replace -f -", t.Values["typo"], t.Values["zone"]),
				"kubectl -n kube-system rollout restart deployment coredns",
				"kubectl -n kube-system rollout status deployment coredns",
			}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("The ConfigMap is the Corefile every CoreDNS pod reads. With the zone %s back, the kubernetes\n"+
				"plugin answers names under it from the Services and EndpointSlices it watches; the rollout restart makes\n"+
				"new pods read the file at once instead of waiting for the reload plugin.", t.Values["zone"])
		},
		Step:   "dns",
		Probes: []string{"dns"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			cms := admin.Clientset.CoreV1().ConfigMaps(corednsNamespace)
			cm, err := cms.Get(ctx, corednsName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			from, to := "kubernetes "+t.Values["zone"]+" ", "kubernetes "+t.Values["typo"]+" "
			if !strings.Contains(cm.Data["Corefile"], from) {
				return fmt.Errorf("the Corefile in configmap kube-system/coredns has no %q; restore it with: hardway up --name %s --only dns", strings.TrimSpace(from), t.Cluster)
			}
			cm.Data["Corefile"] = strings.Replace(cm.Data["Corefile"], from, to, 1)
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				return err
			}
			// New pods read the broken file at once; the running ones would
			// take a minute or two to reload it.
			return e.Cluster.RestartCoreDNS(ctx, fieldManager)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The dns step applies coredns.yaml, but running pods would pick
			// the file up only after the reload plugin's interval: apply it,
			// restart the pods, then let the step wait for a real answer.
			in, err := e.Cluster.Inputs()
			if err != nil {
				return err
			}
			ms, err := render.Manifests(in)
			if err != nil {
				return err
			}
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			if _, err := admin.Apply(ctx, ms["coredns.yaml"], false); err != nil {
				return err
			}
			if err := e.Cluster.RestartCoreDNS(ctx, fieldManager); err != nil {
				return err
			}
			_, err = e.Rerun(ctx, "dns")
			return err
		},
	}
}

// typo swaps the last two letters of a DNS zone: cluster.local becomes
// cluster.locla, the kind of slip a hand edit makes.
func typo(zone string) string {
	if len(zone) < 2 {
		return zone + "x"
	}
	b := []byte(zone)
	b[len(b)-1], b[len(b)-2] = b[len(b)-2], b[len(b)-1]
	return string(b)
}

func kubeProxy() Lab {
	return Lab{
		Name:  "kube-proxy",
		Title: "kube-proxy is gone from one node",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab kube-proxy needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Node: ws[len(ws)-1]}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("On %s, Services stopped working: from its pods a ClusterIP times out, and its NodePorts\n"+
				"refuse connections. Pod IPs still answer, and on the other nodes Services work.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{t.hw("verify")}
		},
		Reveal: func(t Target) []string {
			return []string{t.shell(t.Node, "systemctl status kube-proxy"), t.shell(t.Node, "iptables -t nat -L KUBE-SERVICES -n")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("kube-proxy on %s is stopped and disabled, and its rules were flushed (as after a reboot with the\n"+
				"unit disabled). Nothing turns a Service's IP into a pod's IP there any more: the KUBE-SERVICES chain is gone.", t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.shell(t.Node, "systemctl enable --now kube-proxy")} },
		Why: func(t Target) string {
			return fmt.Sprintf("enable --now starts kube-proxy and makes it start at every boot. At start it lists every Service\n"+
				"and EndpointSlice from the API and writes their rules in one sync, KUBE-SERVICES included: on %s a\n"+
				"ClusterIP and a NodePort turn into a pod's address again.", t.Node.Name)
		},
		Step:   "workers",
		Probes: []string{"service", "nodeport"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			if err := run(ctx, e, t.Node, "systemctl", "disable", "--now", "kube-proxy"); err != nil {
				return err
			}
			// A stopped kube-proxy leaves its rules behind, and Services
			// would go on working until they change: remove them, as a
			// reboot would.
			return run(ctx, e, t.Node, "kube-proxy", "--cleanup")
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The workers step enables and starts a unit that is neither.
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}

func kubeletRBAC() Lab {
	return Lab{
		Name:  "kubelet-rbac",
		Title: "the API server may no longer use the kubelet API",
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab kubelet-rbac needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Values: map[string]string{"user": "kube-apiserver-kubelet-client"}}, nil
		},
		Symptom: func(t Target) string {
			return "kubectl logs, exec and port-forward fail with Forbidden, for every pod on every node.\n" +
				"kubectl get works, the nodes are Ready and the pods run."
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s logs deployment/hello --tail 1", verify.Namespace)}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl auth can-i get nodes/proxy --as " + t.Values["user"],
				"kubectl get clusterrolebinding " + KubeletAPIBinding,
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The ClusterRoleBinding %s is gone. The API server calls kubelets as the user %s;\n"+
				"kubelets ask the API server whether that user may (webhook authorization), and without the binding to\n"+
				"system:kubelet-api-admin the answer is no. Kubelets remember a denial for 30 s. The control-plane\n"+
				"step of up applies the binding too (kubelet-api-rbac.yaml): %s",
				KubeletAPIBinding, t.Values["user"], t.hw("up", "--only", "control-plane"))
		},
		Fix: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl create clusterrolebinding %s --clusterrole=system:kubelet-api-admin --user=%s", KubeletAPIBinding, t.Values["user"])}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("The binding grants the ClusterRole system:kubelet-api-admin (nodes/proxy, nodes/log, ...) to the\n"+
				"user %s, the CN of the certificate the API server shows kubelets. Each kubelet asks the API\n"+
				"server (a SubjectAccessReview) and is now told yes, once its cached denial (30 s) has expired.", t.Values["user"])
		},
		Step:   "control-plane",
		Probes: []string{"logs", "exec", "port-forward"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			err = admin.Clientset.RbacV1().ClusterRoleBindings().Delete(ctx, KubeletAPIBinding, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			// Kubelets cache an allowed answer for 5 minutes: restarted,
			// they ask again and are told no.
			return restartKubelets(ctx, e, e.Cluster.Config.Workers()...)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// control-plane applies kubelet-api-rbac.yaml again.
			_, err := e.Rerun(ctx, "control-plane")
			return err
		},
	}
}

// run runs argv on node n.
func run(ctx context.Context, e steps.Env, n config.Node, argv ...string) error {
	nd, err := e.Cluster.Node(ctx, n.Name)
	if err != nil {
		return err
	}
	_, err = nd.Run(ctx, nil, argv...)
	return err
}

// restartKubelets restarts the kubelet on nodes and waits until each has
// renewed its lease since, and its node is Ready again.
func restartKubelets(ctx context.Context, e steps.Env, nodes ...config.Node) error {
	since := time.Now()
	for _, n := range nodes {
		if err := run(ctx, e, n, "systemctl", "restart", "kubelet"); err != nil {
			return err
		}
	}
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	cs := admin.Clientset
	for _, n := range nodes {
		err := wait.Until(ctx, "kubelet on "+n.Name+" back and Ready", 500*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, error) {
			l, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if l.Spec.RenewTime == nil || !l.Spec.RenewTime.After(since) {
				return false, fmt.Errorf("lease last renewed %v", l.Spec.RenewTime)
			}
			nd, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range nd.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, fmt.Errorf("node not Ready")
		})
		if err != nil {
			return fmt.Errorf("%w (see: hardway logs %s kubelet --name %s)", err, n.Name, e.Cluster.Config.Name)
		}
	}
	return nil
}
