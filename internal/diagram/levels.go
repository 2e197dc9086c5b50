package diagram

import (
	"fmt"
	"slices"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// Pictures of the tutorial's levels 2 and 3 and of the control loops, drawn
// with the sequence layout from the config and the PKI table: every name,
// group and CA in them is the one the cluster's certificates carry.

// identity is one client certificate of the table: who shows it to whom.
func identity(specs []pki.Spec, name string) (cn, groups, ca string) {
	i := slices.IndexFunc(specs, func(s pki.Spec) bool { return s.Name == name })
	if i < 0 {
		return name + "?", "", "?"
	}
	s := specs[i]
	groups = strings.Join(s.Organization, ",")
	if groups == "" {
		groups = "none"
	}
	return s.CommonName, groups, s.CA
}

// Identities is level 2: each connection of a pod launch, the client
// certificate it shows (CN and O from the PKI table), the CA the other end
// checks it against, and what authorizes it.
func Identities(c *config.Cluster, specs []pki.Spec) []byte {
	chosen, _ := ChosenWorker(c)
	ps := []participant{
		{"kubectl", []string{"kubectl", "admin kubeconfig"}},
		{"kube-apiserver", []string{"kube-apiserver", fmt.Sprintf(":%d", c.Network.APIServerPort)}},
		{"etcd", []string{"etcd", ":2379"}},
		{"controllers", []string{"controller manager", "and scheduler"}},
		{"kubelet", []string{"kubelet", "on " + chosen.Name + " :10250"}},
	}
	line := func(name, to string) string {
		cn, o, ca := identity(specs, name)
		return fmt.Sprintf("CN=%s O=%s, checked against %s by %s", cn, o, ca, to)
	}
	kubelet := pki.KubeletName(chosen.Name)
	events := []event{
		message("kubectl", "kube-apiserver", line(pki.Admin, "kube-apiserver")),
		note("kube-apiserver", "authorize: RBAC (group "+pki.AdminGroup+" → cluster-admin)"),
		message("kube-apiserver", "etcd", line(pki.APIServerEtcdClient, "etcd")),
		message("controllers", "kube-apiserver", line(pki.ControllerManager, "kube-apiserver")),
		message("controllers", "kube-apiserver", line(pki.Scheduler, "kube-apiserver")),
		note("kube-apiserver", "authorize: RBAC (system:kube-controller-manager, system:kube-scheduler roles)"),
		message("kubelet", "kube-apiserver", line(kubelet, "kube-apiserver")),
		note("kube-apiserver", "authorize: Node authorizer + NodeRestriction: only "+chosen.Name+"'s objects"),
		message("kube-apiserver", "kubelet", line(pki.APIServerKubeletClient, "the kubelet")),
		note("kubelet", "authorize: webhook (SubjectAccessReview) → RBAC system:kubelet-api-admin"),
		note("kubelet", fmt.Sprintf("pods here: %s; routes lead to the other nodes' ranges", chosen.PodCIDR),
			"Service IPs ("+c.Network.ServiceCIDR+"): kube-proxy's "+c.Network.KubeProxyMode+" rules"),
	}
	return sequence(fmt.Sprintf("Level 2 on %q: who each connection says it is, and who checks", c.Name), ps, events)
}

// NodeLevel is level 3: what happens on the chosen worker, from the
// kubelet to a running process, with the node's socket, plugin and
// directory paths.
func NodeLevel(c *config.Cluster) []byte {
	chosen, _ := ChosenWorker(c)
	first, _ := PodRange(chosen.PodCIDR)
	ps := []participant{
		{"kubelet", []string{"kubelet", "on " + chosen.Name}},
		{"containerd", []string{"containerd", render.ContainerdSocket}},
		{"cni", []string{"CNI plugins", render.CNIBinDir}},
		{"shim", []string{"containerd-shim-runc-v2", "one per pod"}},
		{"runc", []string{"runc", "then exits"}},
		{"process", []string{"the container", "a Linux process"}},
	}
	events := []event{
		message("kubelet", "containerd", "RunPodSandbox (CRI over gRPC)"),
		message("containerd", "cni", "ADD: "+render.CNIConfDir+"/10-bridge.conflist"),
		note("cni", "bridge: veth pair, one end in cni0", "host-local: "+first+" from "+chosen.PodCIDR),
		message("containerd", "shim", "start the shim for the sandbox"),
		message("shim", "runc", "create + start pause: namespaces, cgroup"),
		message("kubelet", "containerd", "CreateContainer + StartContainer "+images.TestApp),
		message("shim", "runc", "create: join the pod's namespaces, set cgroups"),
		message("runc", "process", "exec the image's command"),
		note("shim", "keeps the process's stdio, reaps it, reports its exit"),
		message("kubelet", "containerd", "PodSandboxStatus, ContainerStatus → pod status"),
	}
	return sequence(fmt.Sprintf("Level 3 on %q: the node %s, from kubelet to process", c.Name, chosen.Name), ps, events)
}

// ControlLoops draws the loops a Deployment passes through: each watches
// the API, compares what is asked with what is, and writes one change.
func ControlLoops(c *config.Cluster) []byte {
	chosen, _ := ChosenWorker(c)
	ps := []participant{
		{"api", []string{"kube-apiserver", "+ etcd"}},
		{"deploy", []string{"Deployment", "controller"}},
		{"rs", []string{"ReplicaSet", "controller"}},
		{"sched", []string{"kube-scheduler"}},
		{"kubelet", []string{"kubelet", "on " + chosen.Name}},
		{"eps", []string{"EndpointSlice", "controller"}},
		{"proxy", []string{"kube-proxy", "on every node"}},
	}
	events := []event{
		message("deploy", "api", "watch Deployments: hello has no ReplicaSet"),
		message("deploy", "api", "create ReplicaSet hello-<hash>"),
		message("rs", "api", "watch ReplicaSets: wants 1 pod, has 0"),
		message("rs", "api", "create Pod hello-<hash>-<id>"),
		message("sched", "api", "watch Pods without a node"),
		message("sched", "api", "create Binding → "+chosen.Name),
		message("kubelet", "api", "watch Pods on "+chosen.Name),
		message("kubelet", "api", "patch pod status: Running, Ready"),
		message("eps", "api", "watch Pods and Services: a Ready pod matches"),
		message("eps", "api", "update EndpointSlice"),
		message("proxy", "api", "watch EndpointSlices"),
		note("proxy", "rewrite "+c.Network.KubeProxyMode+" rules"),
	}
	return sequence(fmt.Sprintf("Control loops of %q: watch, compare, act", c.Name), ps, events)
}
