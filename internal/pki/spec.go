// Package pki creates and checks the cluster's certificates and keys with
// crypto/x509 alone. The whole PKI is one table (Specs), in the spirit of
// kubeadm's certificate list, so `hardway explain pki` can print exactly what
// Ensure builds.
package pki

import (
	"net/netip"
	"slices"

	"hardway.dev/hardway/internal/config"
)

// Usage says what a key pair may be used for.
type Usage string

const (
	UsageCA           Usage = "ca"
	UsageServer       Usage = "server"
	UsageClient       Usage = "client"
	UsageServerClient Usage = "server+client"
	// UsageKeyPair is a bare key pair with no certificate (service accounts).
	UsageKeyPair Usage = "key pair"
)

// Scope says whether an entry exists once per cluster or once per node.
type Scope string

const (
	ScopeCluster      Scope = "cluster"
	ScopeControlPlane Scope = "each control-plane node"
	ScopeWorker       Scope = "each worker node"
)

// AltNames are a certificate's subject alternative names. IPs are kept as
// text so the table prints as written; Ensure parses them.
type AltNames struct {
	DNSNames []string
	IPs      []string
}

// Spec is one row of the PKI table. Specs returns rows already expanded per
// node: Name and CommonName are final and Node is set for per-node rows.
type Spec struct {
	Name string
	// CA names the entry that signs this one; "" for self-signed CAs and for
	// the service-account key pair.
	CA           string
	CommonName   string
	Organization []string
	// SANs computes the subject alternative names; nil means none (clients).
	SANs   func(c *config.Cluster, n config.Node) AltNames
	Usage  Usage
	UsedBy string
	// TrustedBy lists, for a CA, the programs that check certificates
	// against it (its relying parties), by unit or client name. The
	// pictures' legends read it, and a test holds it to the files each
	// unit is given (render.NodeUnits), so no text says a component
	// trusts a CA it never sees.
	TrustedBy []string
	Scope     Scope
	// Node is the node a per-node entry belongs to; zero for cluster entries.
	Node config.Node
}

// IsCA reports whether the entry is a certificate authority.
func (s Spec) IsCA() bool { return s.Usage == UsageCA }

// AltNames evaluates the entry's SANs for its cluster and node.
func (s Spec) AltNames(c *config.Cluster) AltNames {
	if s.SANs == nil {
		return AltNames{}
	}
	return s.SANs(c, s.Node)
}

// row is a table entry before per-node expansion; per-node rows build their
// name and common name from the node name.
type row struct {
	Spec
	name func(node string) string
	cn   func(node string) string
	// when, if set, says whether the row exists for a cluster (an
	// add-on's certificates only while the add-on is on).
	when func(c *config.Cluster) bool
}

func table() []row {
	return append([]row{
		{Spec: Spec{Name: CA, CommonName: "kubernetes-ca", Usage: UsageCA, Scope: ScopeCluster,
			TrustedBy: []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"},
			UsedBy:    "signs the identities of the Kubernetes components and users; they trust it (--client-ca-file, --root-ca-file, kubelet clientCAFile, kubeconfigs' certificate-authority-data). etcd does not: it has its own CA"}},
		{Spec: Spec{Name: EtcdCA, CommonName: "etcd-ca", Usage: UsageCA, Scope: ScopeCluster,
			TrustedBy: []string{"etcd", "kube-apiserver", "etcdctl"},
			UsedBy:    "signs etcd's member certificates and the only clients etcd accepts (the API server's, and the health-check client); etcd trusts nothing else (--trusted-ca-file, --peer-trusted-ca-file), so no kubelet or admin certificate opens the database"}},
		{Spec: Spec{Name: FrontProxyCA, CommonName: "front-proxy-ca", Usage: UsageCA, Scope: ScopeCluster,
			TrustedBy: []string{"kube-apiserver", "kube-controller-manager"},
			UsedBy:    "aggregation layer: kube-apiserver --requestheader-client-ca-file; extension apiservers trust requests proxied with a cert it signed"}},
		{Spec: Spec{Name: Admin, CA: CA, CommonName: "admin", Organization: []string{AdminGroup}, Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "you, through kubectl (admin kubeconfig); group " + AdminGroup + " is bound to the ClusterRole cluster-admin by the ClusterRoleBinding of that name, so deleting the binding revokes it"}},
		{Spec: Spec{Name: SuperAdmin, CA: CA, CommonName: "super-admin", Organization: []string{MastersGroup}, Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "break glass: super-admin.kubeconfig, kept only in the state directory; group " + MastersGroup + " is allowed everything before RBAC is asked, so hardway uses it only where RBAC may not be ready (creating the admin group's binding)"}},
		{Spec: Spec{Name: "kubelet-<node>", CA: CA, Organization: []string{"system:nodes"}, Usage: UsageServerClient, Scope: ScopeWorker,
			SANs: func(_ *config.Cluster, n config.Node) AltNames {
				return AltNames{DNSNames: []string{n.Name}, IPs: []string{n.IP}}
			},
			UsedBy: "kubelet, until it renews them itself (CSRs, signed by the controller manager): its client cert (kubelet-client.pem, linked as pki/kubelet-client-current.pem, which its kubeconfig names; the Node authorizer and NodeRestriction admission key on system:node:<node>) and its serving cert for :10250 (tlsCertFile)"},
			name: KubeletName, cn: func(n string) string { return "system:node:" + n }},
		{Spec: Spec{Name: ControllerManager, CA: CA, CommonName: "system:kube-controller-manager", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-controller-manager's kubeconfig; the built-in RBAC role of the same name grants its rights"}},
		{Spec: Spec{Name: Scheduler, CA: CA, CommonName: "system:kube-scheduler", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-scheduler's kubeconfig; the built-in RBAC role system:kube-scheduler grants its rights"}},
		{Spec: Spec{Name: KubeProxy, CA: CA, CommonName: "system:kube-proxy", Organization: []string{"system:node-proxier"}, Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-proxy's kubeconfig; group system:node-proxier is bound to the built-in role of that name"}},
		{Spec: Spec{Name: APIServer, CA: CA, CommonName: "kube-apiserver", Usage: UsageServer, Scope: ScopeCluster,
			SANs:   apiServerSANs,
			UsedBy: "kube-apiserver serving cert (--tls-cert-file): valid for the load balancer, every control-plane node and the in-cluster kubernetes Service"}},
		{Spec: Spec{Name: APIServerKubeletClient, CA: CA, CommonName: "kube-apiserver-kubelet-client", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-apiserver → kubelet (logs, exec, port-forward: --kubelet-client-certificate); no system:masters, the control-plane step binds this user to the role system:kubelet-api-admin"}},
		{Spec: Spec{Name: APIServerEtcdClient, CA: EtcdCA, CommonName: "kube-apiserver-etcd-client", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-apiserver → etcd (--etcd-certfile); etcd accepts any client certificate the etcd CA signed, and nothing else"}},
		{Spec: Spec{Name: EtcdHealthcheckClient, CA: EtcdCA, CommonName: "kube-etcd-healthcheck-client", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "etcdctl on control-plane nodes (/etc/etcd/healthcheck-client.pem) and hardway's own etcd checks: separate from the API server's identity, so a leaked copy can be revoked alone"}},
		{Spec: Spec{Name: "etcd-server-<node>", CA: EtcdCA, Usage: UsageServerClient, Scope: ScopeControlPlane,
			SANs:   etcdSANs,
			UsedBy: "etcd client port :2379 (--cert-file)"},
			name: EtcdServerName, cn: func(n string) string { return n }},
		{Spec: Spec{Name: "etcd-peer-<node>", CA: EtcdCA, Usage: UsageServerClient, Scope: ScopeControlPlane,
			SANs:   etcdSANs,
			UsedBy: "etcd member-to-member traffic on :2380 (--peer-cert-file): server to its peers and client to them"},
			name: EtcdPeerName, cn: func(n string) string { return n }},
		{Spec: Spec{Name: FrontProxyClient, CA: FrontProxyCA, CommonName: "front-proxy-client", Usage: UsageClient, Scope: ScopeCluster,
			UsedBy: "kube-apiserver → extension apiservers (--proxy-client-cert-file), e.g. metrics-server"}},
		{Spec: Spec{Name: ServiceAccount, Usage: UsageKeyPair, Scope: ScopeCluster,
			UsedBy: "kube-apiserver signs service-account tokens with the private key (--service-account-signing-key-file: every pod's token, through the TokenRequest API) and verifies them with the public key (--service-account-key-file); kube-controller-manager holds the private key only for legacy token Secrets (type kubernetes.io/service-account-token) someone creates by hand"}},
	}, gatewayRows()...)
}

func apiServerSANs(c *config.Cluster, _ config.Node) AltNames {
	a := AltNames{
		DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + c.Network.ClusterDomain, "localhost"},
		IPs: []string{c.KubernetesServiceIP(), "127.0.0.1"},
	}
	for _, n := range c.ControlPlanes() {
		a.DNSNames = append(a.DNSNames, n.Name)
		a.IPs = append(a.IPs, n.IP)
	}
	if c.Network.LoadBalancerIP != "" {
		a.IPs = append(a.IPs, c.Network.LoadBalancerIP)
	}
	// Published: clients outside dial the published address (127.0.0.1 is
	// named above already).
	if c.Published() && !slices.Contains(a.IPs, c.Network.APIPublishAddress) {
		a.IPs = append(a.IPs, c.Network.APIPublishAddress)
	}
	// The user's own load balancer passes TLS through: clients check this
	// certificate against the name they dialled.
	if h := c.APIEndpointHost(); h != "" {
		if ip, err := netip.ParseAddr(h); err == nil {
			a.IPs = append(a.IPs, ip.String())
		} else {
			a.DNSNames = append(a.DNSNames, h)
		}
	}
	return a
}

func etcdSANs(_ *config.Cluster, n config.Node) AltNames {
	return AltNames{DNSNames: []string{n.Name, "localhost"}, IPs: []string{n.IP, "127.0.0.1"}}
}

// Specs returns the PKI of c, per-node rows expanded, CAs first so that a
// caller walking the list meets every signer before what it signs.
func Specs(c *config.Cluster) []Spec {
	var out []Spec
	for _, r := range table() {
		if r.when != nil && !r.when(c) {
			continue
		}
		var nodes []config.Node
		switch r.Scope {
		case ScopeControlPlane:
			nodes = c.ControlPlanes()
		case ScopeWorker:
			nodes = c.Workers()
		default:
			out = append(out, r.Spec)
			continue
		}
		for _, n := range nodes {
			s := r.Spec
			s.Name, s.CommonName, s.Node = r.name(n.Name), r.cn(n.Name), n
			out = append(out, s)
		}
	}
	return out
}
