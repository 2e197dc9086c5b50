package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// Build labs: hardway takes away one piece that up made, the learner makes
// it again by hand following the chapter, and check says exactly what is
// still missing or wrong (Diagnose) before the smoke tests prove it works.

// The objects of coredns.yaml, which build-coredns leaves out.
const (
	corednsRole    = "system:coredns"
	corednsService = "kube-dns"
)

func buildCoreDNS() Lab {
	return Lab{
		Name:  "build-coredns",
		Title: "build: CoreDNS, by hand",
		Build: true,
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab build-coredns needs a worker node to run CoreDNS; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Values: map[string]string{"ip": c.Network.ClusterDNS, "zone": c.Network.ClusterDomain, "dir": "/tmp/" + c.Name + "-files"}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("hardway left CoreDNS out: kube-system has no CoreDNS Deployment, no kube-dns Service, no Corefile and no\n"+
				"RBAC for it, so no pod can resolve a name. Make it by hand, as step dns does: a ServiceAccount that may\n"+
				"list and watch Services, EndpointSlices, pods and namespaces, the Corefile (zone %s) in a ConfigMap,\n"+
				"a Deployment running CoreDNS, and the kube-dns Service at %s, where every pod's resolv.conf points.",
				t.Values["zone"], t.Values["ip"])
		},
		Evidence: func(t Target) []string {
			return []string{
				"kubectl -n kube-system get deployment,service,configmap,serviceaccount",
				"kubectl -n " + verify.Namespace + " exec deploy/hello -- cat /etc/resolv.conf",
			}
		},
		Reveal: func(t Target) []string {
			return []string{t.hw("explain", "dns"), t.hw("render", "--out", t.Values["dir"])}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("Step dns applies one manifest, coredns.yaml: ServiceAccount coredns, ClusterRole and ClusterRoleBinding\n"+
				"%s, ConfigMap coredns (the Corefile), Deployment coredns and Service %s with clusterIP %s.\n"+
				"The kubelets already send every pod to %s (clusterDNS in kubelet-config.yaml): the Service must have\n"+
				"exactly that address. The manifest is in what this writes, under %s/cluster/manifests/:\n"+
				"  %s\nRead it, then apply it or your own.", corednsRole, corednsService, t.Values["ip"], t.Values["ip"], t.Values["dir"], t.hw("render", "--out", t.Values["dir"]))
		},
		Fix: func(t Target) []string {
			return []string{
				t.hw("render", "--out", t.Values["dir"]),
				"kubectl apply -f " + t.Values["dir"] + "/cluster/manifests/coredns.yaml",
				"kubectl -n kube-system rollout status deployment coredns --timeout=120s",
			}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("The Service gives CoreDNS the address every pod's resolv.conf already names (%s); the Deployment\n"+
				"runs CoreDNS with the Corefile from the ConfigMap; the ClusterRole lets its kubernetes plugin list and\n"+
				"watch the Services and EndpointSlices it answers %s names from.", t.Values["ip"], t.Values["zone"])
		},
		Step:     "dns",
		Probes:   []string{"dns"},
		Diagnose: diagnoseCoreDNS,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return deleteCoreDNS(ctx, e)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// What the learner made may differ from coredns.yaml in fields
			// up's apply would fight over: remove it, then apply the real one.
			if err := deleteCoreDNS(ctx, e); err != nil {
				return err
			}
			_, err := e.Rerun(ctx, "dns")
			return err
		},
	}
}

// deleteCoreDNS removes every object of coredns.yaml; missing ones are fine.
func deleteCoreDNS(ctx context.Context, e steps.Env) error {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	cs := admin.Clientset
	ns := corednsNamespace
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, del := range []func() error{
		func() error { return cs.AppsV1().Deployments(ns).Delete(ctx, corednsName, opts) },
		func() error { return cs.CoreV1().Services(ns).Delete(ctx, corednsService, opts) },
		func() error { return cs.CoreV1().ConfigMaps(ns).Delete(ctx, corednsName, opts) },
		func() error { return cs.CoreV1().ServiceAccounts(ns).Delete(ctx, corednsName, opts) },
		func() error { return cs.RbacV1().ClusterRoleBindings().Delete(ctx, corednsRole, opts) },
		func() error { return cs.RbacV1().ClusterRoles().Delete(ctx, corednsRole, opts) },
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// diagnoseCoreDNS names each piece of CoreDNS that is missing or wrong.
func diagnoseCoreDNS(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return nil, err
	}
	return coreDNSProblems(ctx, admin.Clientset, t)
}

func coreDNSProblems(ctx context.Context, cs kubernetes.Interface, t Target) ([]string, error) {
	ns := corednsNamespace
	var out []string
	missing := func(what string, err error) bool {
		if apierrors.IsNotFound(err) {
			out = append(out, what+" does not exist")
			return true
		}
		return false
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, corednsName, metav1.GetOptions{}); err != nil && !missing("ServiceAccount kube-system/coredns", err) {
		return nil, err
	}
	// Any binding of any role will do, as long as the account may watch
	// what the kubernetes plugin reads.
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var role string
	for _, b := range crbs.Items {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == corednsName && s.Namespace == ns && b.RoleRef.Kind == "ClusterRole" {
				role = b.RoleRef.Name
			}
		}
	}
	if role == "" {
		out = append(out, "no ClusterRoleBinding binds ServiceAccount kube-system/coredns to a ClusterRole")
	} else if cr, err := cs.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); err != nil {
		if !missing("ClusterRole "+role+" (bound to coredns)", err) {
			return nil, err
		}
	} else {
		for _, res := range []string{"services", "endpointslices", "namespaces"} {
			ok := false
			for _, r := range cr.Rules {
				if (slices.Contains(r.Resources, res) || slices.Contains(r.Resources, "*")) &&
					(slices.Contains(r.Verbs, "watch") || slices.Contains(r.Verbs, "*")) && (slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "*")) {
					ok = true
				}
			}
			if !ok {
				out = append(out, fmt.Sprintf("ClusterRole %s does not allow list and watch on %s", role, res))
			}
		}
	}
	if cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, corednsName, metav1.GetOptions{}); err != nil {
		if !missing("ConfigMap kube-system/coredns (the Corefile)", err) {
			return nil, err
		}
	} else if !strings.Contains(cm.Data["Corefile"], "kubernetes "+t.Values["zone"]) {
		out = append(out, fmt.Sprintf("the Corefile in ConfigMap kube-system/coredns has no \"kubernetes %s ...\" block: CoreDNS would not answer the cluster's names", t.Values["zone"]))
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, corednsService, metav1.GetOptions{})
	switch {
	case err != nil:
		if !missing("Service kube-system/"+corednsService, err) {
			return nil, err
		}
	default:
		if svc.Spec.ClusterIP != t.Values["ip"] {
			out = append(out, fmt.Sprintf("Service kube-system/%s has ClusterIP %s; pods ask %s (kubelet's clusterDNS): delete it and create it with clusterIP: %s", corednsService, svc.Spec.ClusterIP, t.Values["ip"], t.Values["ip"]))
		}
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 53 && p.Protocol == proto }) {
				out = append(out, fmt.Sprintf("Service kube-system/%s has no port 53/%s", corednsService, proto))
			}
		}
		if len(svc.Spec.Selector) == 0 {
			out = append(out, fmt.Sprintf("Service kube-system/%s selects no pods (no selector)", corednsService))
		}
	}
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, corednsName, metav1.GetOptions{})
	switch {
	case err != nil:
		if !missing("Deployment kube-system/coredns", err) {
			return nil, err
		}
	case dep.Status.AvailableReplicas == 0:
		out = append(out, "Deployment kube-system/coredns has no available pod (kubectl -n kube-system describe deployment coredns)")
	case svc != nil && len(svc.Spec.Selector) > 0:
		for k, v := range svc.Spec.Selector {
			if dep.Spec.Template.Labels[k] != v {
				out = append(out, fmt.Sprintf("Service kube-system/%s selects %s=%s, the CoreDNS pods are labelled %v", corednsService, k, v, dep.Spec.Template.Labels))
			}
		}
	}
	return out, nil
}

func buildPodRoutes() Lab {
	return Lab{
		Name:  "build-pod-routes",
		Title: "build: one node's pod routes, by hand",
		Build: true,
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) < 2 {
				return Target{}, fmt.Errorf("lab build-pod-routes needs 2 worker nodes (routes join their pod networks); cluster %s has %d", c.Name, len(ws))
			}
			v := map[string]string{"mode": c.Network.PodRoutes, "fix": strings.Join(podNetworkCommands(c, ws[0]), "\n")}
			return Target{Cluster: c.Name, Node: ws[0], Peer: ws[1], Values: v}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("hardway left out the pod network of %s: its unit %s is disabled and stopped, so %s has\n"+
				"no route to the other nodes' pods. Pods there reach no pod on another node, and none reaches them.\n"+
				"Build it by hand with ip (and bridge, for VXLAN), as step network shows; leave the unit alone.",
				t.Node.Name, render.PodNetworkUnit, t.Node.Name)
		},
		Evidence: func(t Target) []string { return []string{t.hw("verify")} },
		Reveal: func(t Target) []string {
			return []string{t.shell(t.Node, "ip route"), t.hw("explain", "network")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("%s needs one route per other worker (network.podRoutes: %s), and with VXLAN the tunnel\n"+
				"device, each peer's MAC (bridge fdb: where to send it) and tunnel address (ip neigh). The unit file that\n"+
				"would do it is quoted by %s; type its ExecStart lines yourself.", t.Node.Name, t.Values["mode"], t.hw("explain", "network"))
		},
		Fix: func(t Target) []string {
			var out []string
			for _, c := range strings.Split(t.Values["fix"], "\n") {
				out = append(out, t.shell(t.Node, c))
			}
			return out
		},
		Why: func(t Target) string {
			return "Each route tells the kernel which node holds a pod CIDR; with direct routes the packet goes there as\n" +
				"it is, with VXLAN the device wraps it in UDP to the peer's node IP, found through the fdb entry of the\n" +
				"peer's tunnel MAC. Nothing is learned at run time, so every entry must be written, as you did."
		},
		Step:     "network",
		Probes:   []string{"pod-to-pod"},
		Diagnose: diagnosePodRoutes,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			// ExecStop removes the routes (or the VXLAN device, and its
			// routes with it).
			return run(ctx, e, t.Node, "systemctl", "disable", "--now", render.PodNetworkUnit)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			return rerunPodNetwork(ctx, e, t.Node)
		},
	}
}

// podNetworkCommands are the commands that give node n its pod routes by
// hand: what the hardway-pod-network unit runs, without the unit.
func podNetworkCommands(c *config.Cluster, n config.Node) []string {
	var out []string
	if render.DirectRoutes(c) {
		for _, r := range render.PodRoutes(c, n) {
			out = append(out, fmt.Sprintf("ip route replace %s via %s", r.CIDR, r.NodeIP))
		}
		return out
	}
	vx := render.VXLANFor(n)
	out = append(out,
		fmt.Sprintf("ip link add %s type vxlan id %d local %s dstport %d nolearning", vx.Device, vx.ID, n.IP, vx.Port),
		fmt.Sprintf("ip link set %s address %s mtu %d up", vx.Device, vx.MAC, vx.MTU),
		fmt.Sprintf("ip addr add %s/32 dev %s", vx.Address, vx.Device))
	for _, r := range render.PodRoutes(c, n) {
		out = append(out,
			fmt.Sprintf("bridge fdb append %s dev %s dst %s", r.MAC, vx.Device, r.NodeIP),
			fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", r.Via, r.MAC, vx.Device),
			fmt.Sprintf("ip route replace %s via %s dev %s onlink", r.CIDR, r.Via, vx.Device))
	}
	return out
}

// nodeOutput runs argv on node n and returns what it printed.
func nodeOutput(ctx context.Context, e steps.Env, n config.Node, argv ...string) (string, error) {
	nd, err := e.Cluster.Node(ctx, n.Name)
	if err != nil {
		return "", err
	}
	out, err := nd.Run(ctx, nil, argv...)
	return string(out), err
}

// diagnosePodRoutes compares what the node has with what the unit would
// have written: every route, and with VXLAN the device, the fdb and the
// neighbour entries, each missing or wrong one named with the command that
// writes it.
func diagnosePodRoutes(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	c := e.Cluster.Config
	n := t.Node
	routes, err := nodeOutput(ctx, e, n, "ip", "-o", "-4", "route", "show")
	if err != nil {
		return nil, err
	}
	var link string
	if !render.DirectRoutes(c) {
		dev := render.VXLANFor(n).Device
		link, err = nodeOutput(ctx, e, n, "sh", "-c", "ip -d -o link show "+dev+" 2>/dev/null; echo; ip -o -4 addr show dev "+dev+" 2>/dev/null; echo; bridge fdb show dev "+dev+" 2>/dev/null; echo; ip neigh show dev "+dev+" 2>/dev/null; true")
		if err != nil {
			return nil, err
		}
	}
	return podRouteProblems(c, n, routes, link), nil
}

// podRouteProblems compares a node's routes (ip -o -4 route show) and, with
// VXLAN, its tunnel device, address, fdb and neighbours (link) with what
// the unit would write.
func podRouteProblems(c *config.Cluster, n config.Node, routes, link string) []string {
	var out []string
	routeTo := func(cidr string) string {
		for _, l := range strings.Split(routes, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == cidr {
				return strings.Join(f, " ")
			}
		}
		return ""
	}
	if render.DirectRoutes(c) {
		for _, r := range render.PodRoutes(c, n) {
			got := routeTo(r.CIDR)
			switch {
			case got == "":
				out = append(out, fmt.Sprintf("%s has no route to %s (%s's pods): ip route add %s via %s", n.Name, r.CIDR, r.Node, r.CIDR, r.NodeIP))
			case !strings.Contains(got+" ", " via "+r.NodeIP+" "):
				out = append(out, fmt.Sprintf("%s routes %s as \"%s\"; it must go via %s, %s's node IP", n.Name, r.CIDR, got, r.NodeIP, r.Node))
			}
		}
		return out
	}
	vx := render.VXLANFor(n)
	if !strings.Contains(link, vx.Device+":") {
		return append(out, fmt.Sprintf("%s has no VXLAN device %s: ip link add %s type vxlan id %d local %s dstport %d nolearning", n.Name, vx.Device, vx.Device, vx.ID, n.IP, vx.Port))
	}
	for _, want := range []struct{ has, what string }{
		{fmt.Sprintf("vxlan id %d ", vx.ID), fmt.Sprintf("VNI %d (id %d)", vx.ID, vx.ID)},
		{"local " + n.IP + " ", "local " + n.IP},
		{fmt.Sprintf("dstport %d ", vx.Port), fmt.Sprintf("dstport %d", vx.Port)},
		{"link/ether " + vx.MAC + " ", "address " + vx.MAC + " (other nodes send to this MAC)"},
		{fmt.Sprintf("mtu %d ", vx.MTU), fmt.Sprintf("mtu %d", vx.MTU)},
		{",UP", "the UP flag (ip link set " + vx.Device + " up)"},
	} {
		// A VXLAN device reports "state UNKNOWN" even when up: the UP flag
		// in <...> is what "ip link set up" sets.
		if want.has == ",UP" && strings.Contains(link, "<UP") {
			continue
		}
		if !strings.Contains(link, want.has) {
			out = append(out, fmt.Sprintf("%s: device %s lacks %s", n.Name, vx.Device, want.what))
		}
	}
	if !strings.Contains(link, "inet "+vx.Address+"/32") {
		out = append(out, fmt.Sprintf("%s: %s has no address %s/32: ip addr add %s/32 dev %s", n.Name, vx.Device, vx.Address, vx.Address, vx.Device))
	}
	for _, r := range render.PodRoutes(c, n) {
		if !strings.Contains(link, r.MAC+" dst "+r.NodeIP) {
			out = append(out, fmt.Sprintf("%s: no fdb entry sends %s's tunnel MAC %s to %s: bridge fdb append %s dev %s dst %s", n.Name, r.Node, r.MAC, r.NodeIP, r.MAC, vx.Device, r.NodeIP))
		}
		if !strings.Contains(link, r.Via+" lladdr "+r.MAC) {
			out = append(out, fmt.Sprintf("%s: no neighbour entry %s → %s: ip neigh replace %s lladdr %s dev %s nud permanent", n.Name, r.Via, r.MAC, r.Via, r.MAC, vx.Device))
		}
		got := routeTo(r.CIDR)
		switch {
		case got == "":
			out = append(out, fmt.Sprintf("%s has no route to %s (%s's pods): ip route add %s via %s dev %s onlink", n.Name, r.CIDR, r.Node, r.CIDR, r.Via, vx.Device))
		case !strings.Contains(got+" ", " via "+r.Via+" ") || !strings.Contains(got+" ", " dev "+vx.Device+" "):
			out = append(out, fmt.Sprintf("%s routes %s as \"%s\"; it must go via %s dev %s (onlink)", n.Name, r.CIDR, got, r.Via, vx.Device))
		}
	}
	return out
}
