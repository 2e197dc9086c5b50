package pki

import (
	"crypto/x509"
	"slices"
)

// Names of the cluster-wide entries of the certificate table. Per-node entries
// are built with KubeletName, EtcdServerName and EtcdPeerName.
const (
	CA                     = "ca"
	EtcdCA                 = "etcd-ca"
	FrontProxyCA           = "front-proxy-ca"
	Admin                  = "admin"
	SuperAdmin             = "super-admin"
	ControllerManager      = "kube-controller-manager"
	Scheduler              = "kube-scheduler"
	KubeProxy              = "kube-proxy"
	APIServer              = "kube-apiserver"
	APIServerKubeletClient = "apiserver-kubelet-client"
	APIServerEtcdClient    = "apiserver-etcd-client"
	EtcdHealthcheckClient  = "etcd-healthcheck-client"
	FrontProxyClient       = "front-proxy-client"
	// ServiceAccount is a bare key pair (no certificate): the apiserver signs
	// service-account tokens with the private key and verifies with the public.
	ServiceAccount = "service-account"
)

// AdminGroup is the group of the admin kubeconfig's certificate. The
// control-plane step binds it to the ClusterRole cluster-admin with the
// ClusterRoleBinding of the same name, so deleting that binding revokes
// every certificate in the group, which system:masters (checked before RBAC,
// never revocable short of a new CA) would not allow. The prefix is
// hardway's own, like kubeadm's "kubeadm:cluster-admins": "system:" is
// reserved for Kubernetes, and the name tells who made the binding.
const AdminGroup = "hardway:cluster-admins"

// MastersGroup is the group the API server authorizes before RBAC: only the
// break-glass super-admin identity is in it.
const MastersGroup = "system:masters"

func KubeletName(node string) string    { return "kubelet-" + node }
func EtcdServerName(node string) string { return "etcd-server-" + node }
func EtcdPeerName(node string) string   { return "etcd-peer-" + node }

// Pair is one entry of the PKI as PEM. For ServiceAccount, CertPEM holds the
// PEM public key instead of a certificate and Cert is nil.
type Pair struct {
	Name    string
	CertPEM []byte
	KeyPEM  []byte
	Cert    *x509.Certificate
	// TrustPEM, for a CA, is what its relying parties trust: the CA, plus
	// the CA it replaces while a rotation is under way. Components that
	// verify peers read it; only signing uses CertPEM and KeyPEM.
	TrustPEM []byte
}

// Trust is TrustPEM, or CertPEM when the pair has no separate bundle.
func (p Pair) Trust() []byte {
	if len(p.TrustPEM) > 0 {
		return p.TrustPEM
	}
	return p.CertPEM
}

// Set is the whole PKI of a cluster, by name.
type Set struct{ pairs map[string]Pair }

func NewSet(pairs ...Pair) *Set {
	s := &Set{pairs: map[string]Pair{}}
	for _, p := range pairs {
		s.pairs[p.Name] = p
	}
	return s
}

// Get returns the named pair; ok is false when the set has none.
func (s *Set) Get(name string) (Pair, bool) {
	p, ok := s.pairs[name]
	return p, ok
}

// Names lists the set's entries, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.pairs))
	for n := range s.pairs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
