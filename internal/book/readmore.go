package book

// Each chapter ends with the upstream pages it deepens: Kubernetes' own
// documentation first, then etcd's, containerd's, CNI's and CoreDNS's. The
// book explains this cluster; these pages are the reference it rests on.
// TestReadMore keeps every chapter linked and every link well-formed.

// Link is one upstream page.
type Link struct{ Title, URL string }

// ReadMore lists the upstream pages of each chapter, by chapter id.
func ReadMore() map[string][]Link {
	const k = "https://kubernetes.io/docs/"
	return map[string][]Link{
		"index": {
			{"Kubernetes components", k + "concepts/overview/components/"},
			{"Kubernetes the hard way", "https://github.com/kelseyhightower/kubernetes-the-hard-way"},
		},
		"prerequisites": {
			{"Install Go", "https://go.dev/doc/install"},
			{"Install Docker Engine on Debian", "https://docs.docker.com/engine/install/debian/"},
			{"Docker Desktop for Mac", "https://docs.docker.com/desktop/setup/install/mac-install/"},
		},
		"managed": {
			{"Amazon EKS: what is Amazon EKS", "https://docs.aws.amazon.com/eks/latest/userguide/what-is-eks.html"},
			{"GKE overview", "https://cloud.google.com/kubernetes-engine/docs/concepts/kubernetes-engine-overview"},
			{"AKS core concepts", "https://learn.microsoft.com/en-us/azure/aks/core-aks-concepts"},
		},
		"architecture": {
			{"Cluster architecture", k + "concepts/architecture/"},
			{"PKI certificates and requirements", k + "setup/best-practices/certificates/"},
		},
		"control-loops": {
			{"Controllers", k + "concepts/architecture/controller/"},
			{"Leases", k + "concepts/architecture/leases/"},
		},
		"pod-0-kubectl": {
			{"Kubernetes API concepts", k + "reference/using-api/api-concepts/"},
			{"kubectl", k + "reference/kubectl/"},
			{"Server-side apply", k + "reference/using-api/server-side-apply/"},
		},
		"pod-1-control-plane": {
			{"Deployments", k + "concepts/workloads/controllers/deployment/"},
			{"Kubernetes scheduler", k + "concepts/scheduling-eviction/kube-scheduler/"},
			{"etcd: data model", "https://etcd.io/docs/v3.6/learning/data_model/"},
		},
		"pod-2-auth-network": {
			{"Authenticating", k + "reference/access-authn-authz/authentication/"},
			{"User impersonation", k + "reference/access-authn-authz/authentication/#user-impersonation"},
			{"Using RBAC authorization", k + "reference/access-authn-authz/rbac/"},
			{"Node authorization", k + "reference/access-authn-authz/node/"},
			{"Cluster networking", k + "concepts/cluster-administration/networking/"},
		},
		"pod-3-node": {
			{"Container Runtime Interface", k + "concepts/architecture/cri/"},
			{"Image pull policy", k + "concepts/containers/images/#image-pull-policy"},
			{"containerd's CRI configuration", "https://github.com/containerd/containerd/tree/main/docs/cri"},
			{"CNI bridge plugin", "https://www.cni.dev/plugins/current/main/bridge/"},
		},
		StepChapterID("check"): {
			{"kubeadm implementation details (preflight)", k + "reference/setup-tools/kubeadm/implementation-details/"},
		},
		StepChapterID("nodes"): {
			{"Nodes", k + "concepts/architecture/nodes/"},
		},
		StepChapterID("pki"): {
			{"PKI certificates and requirements", k + "setup/best-practices/certificates/"},
			{"Certificates and certificate signing requests", k + "reference/access-authn-authz/certificate-signing-requests/"},
		},
		StepChapterID("kubeconfigs"): {
			{"Organizing cluster access using kubeconfig files", k + "concepts/configuration/organize-cluster-access-kubeconfig/"},
		},
		StepChapterID("encryption"): {
			{"Encrypting confidential data at rest", k + "tasks/administer-cluster/encrypt-data/"},
		},
		StepChapterID("etcd"): {
			{"Operating etcd clusters for Kubernetes", k + "tasks/administer-cluster/configure-upgrade-etcd/"},
			{"etcd: transport security model", "https://etcd.io/docs/v3.6/op-guide/security/"},
		},
		StepChapterID("control-plane"): {
			{"kube-apiserver", k + "reference/command-line-tools-reference/kube-apiserver/"},
			{"kube-controller-manager", k + "reference/command-line-tools-reference/kube-controller-manager/"},
			{"kube-scheduler", k + "reference/command-line-tools-reference/kube-scheduler/"},
			{"Feature gates", k + "reference/command-line-tools-reference/feature-gates/"},
		},
		StepChapterID("workers"): {
			{"kubelet", k + "reference/command-line-tools-reference/kubelet/"},
			{"Kubelet configuration (v1beta1)", k + "reference/config-api/kubelet-config.v1beta1/"},
			{"kube-proxy", k + "reference/command-line-tools-reference/kube-proxy/"},
			{"containerd's CRI configuration", "https://github.com/containerd/containerd/tree/main/docs/cri"},
		},
		StepChapterID("network"): {
			{"Cluster networking", k + "concepts/cluster-administration/networking/"},
			{"Network plugins", k + "concepts/extend-kubernetes/compute-storage-net/network-plugins/"},
		},
		StepChapterID("dns"): {
			{"DNS for Services and Pods", k + "concepts/services-networking/dns-pod-service/"},
			{"CoreDNS kubernetes plugin", "https://coredns.io/plugins/kubernetes/"},
		},
		StepChapterID("verify"): {
			{"Troubleshooting clusters", k + "tasks/debug/debug-cluster/"},
		},
		"gitops": {
			{"Argo CD's user guide (sync policies, health, tracking)", "https://github.com/argoproj/argo-cd/tree/master/docs/user-guide"},
			{"Argo CD's operator manual (its parts, settings, security)", "https://github.com/argoproj/argo-cd/tree/master/docs/operator-manual"},
		},
		"networking": {
			{"Services", k + "concepts/services-networking/service/"},
			{"Virtual IPs and service proxies", k + "reference/networking/virtual-ips/"},
			{"DNS for Services and Pods", k + "concepts/services-networking/dns-pod-service/"},
			{"CNI bridge plugin", "https://www.cni.dev/plugins/current/main/bridge/"},
		},
		"traffic": {
			{"Service", k + "concepts/services-networking/service/"},
			{"Gateway API", k + "concepts/services-networking/gateway/"},
			{"Ingress", k + "concepts/services-networking/ingress/"},
		},
		"operating": {
			{"Encrypting confidential data at rest", k + "tasks/administer-cluster/encrypt-data/"},
			{"Operating etcd clusters for Kubernetes", k + "tasks/administer-cluster/configure-upgrade-etcd/"},
			{"Auditing", k + "tasks/debug/debug-cluster/audit/"},
		},
		"files": {
			{"PKI certificates and requirements", k + "setup/best-practices/certificates/"},
		},
	}
}

// readMoreSection is a chapter's list of upstream pages in Markdown.
func readMoreSection(id string) string {
	links := ReadMore()[id]
	if len(links) == 0 {
		return ""
	}
	var d doc
	d.h2("Read more upstream")
	items := make([]string, len(links))
	for i, l := range links {
		items[i] = "[" + l.Title + "](" + l.URL + ")"
	}
	d.list(items...)
	return d.String()
}
