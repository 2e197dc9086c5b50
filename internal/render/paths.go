package render

// Where things live inside a node. Other steps (installing binaries, starting
// units, checking health) use the same constants, so a path is spelled once.
const (
	BinDir     = "/usr/local/bin"
	CNIBinDir  = "/opt/cni/bin"
	CNIConfDir = "/etc/cni/net.d"
	SystemdDir = "/etc/systemd/system"

	// etcd: its own directory so that the learner sees which files etcd,
	// and only etcd, reads.
	EtcdDir     = "/etc/etcd"
	EtcdDataDir = "/var/lib/etcd"
	// EtcdJoinEnv exists only on a machine that joined a running cluster
	// in place of a lost member (it is not rendered: the etcd step writes
	// it when it swaps the member).
	EtcdJoinEnv = "/etc/etcd/join.env"

	// Control plane.
	KubernetesDir = "/etc/kubernetes"
	PKIDir        = "/etc/kubernetes/pki"
	AuditLogPath  = "/var/log/audit.log"

	// Workers.
	ContainerdConfig = "/etc/containerd/config.toml"
	// ContainerdCertsDir holds one directory per registry host with its
	// hosts.toml (where to pull from, over what); "_default" applies to every
	// registry without a directory of its own.
	ContainerdCertsDir = "/etc/containerd/certs.d"
	ContainerdSocket   = "/run/containerd/containerd.sock"
	KubeletDir         = "/var/lib/kubelet"
	// KubeletCertDir is the kubelet's --cert-dir: where it keeps the
	// certificates it rotates itself (kubelet-client-<time>.pem,
	// kubelet-server-<time>.pem) and the links kubelet-client-current.pem
	// and kubelet-server-current.pem to the pair in use. The kubelet makes
	// the files; hardway's ExecStartPre (KubeletCertsScript) only links or
	// unlinks the current ones.
	KubeletCertDir = KubeletDir + "/pki"
	// KubeletClientCurrent and KubeletServerCurrent are the links the
	// kubelet's certificate stores load first (client-go's
	// util/certificate FileStore, prefixes kubelet-client and
	// kubelet-server).
	KubeletClientCurrent = KubeletCertDir + "/kubelet-client-current.pem"
	KubeletServerCurrent = KubeletCertDir + "/kubelet-server-current.pem"
	// KubeletServingCert and KubeletServingKey are hardway's serving pair
	// for the kubelet (tlsCertFile, tlsPrivateKeyFile): what it serves
	// until it has rotated its own.
	KubeletServingCert = KubeletDir + "/kubelet.pem"
	KubeletServingKey  = KubeletDir + "/kubelet-key.pem"
	// KubeletClientPair is hardway's client pair for the kubelet:
	// certificate and key in one file, the form the kubelet's store reads
	// through kubelet-client-current.pem.
	KubeletClientPair = KubeletDir + "/kubelet-client.pem"
	// HardwayLibDir holds the scripts hardway's units run.
	HardwayLibDir = "/usr/local/lib/hardway"
	// KubeletCertsScript runs before every kubelet start (see its template).
	KubeletCertsScript = HardwayLibDir + "/kubelet-certs.sh"
	KubeProxyDir       = "/var/lib/kube-proxy"
	SysctlFile         = "/etc/sysctl.d/99-kubernetes.conf"

	// HAProxyConfig is where Debian's haproxy.service (in the node image the
	// load balancer runs from) reads its config.
	HAProxyConfig = "/etc/haproxy/haproxy.cfg"
	// NodeLBConfig is the node-local API load balancer's config on
	// machines; not /etc/haproxy, which may serve the machine's own haproxy.
	NodeLBConfig = "/etc/kubernetes/apiserver-lb.cfg"
	// HardwayStateDir holds hardway's own bookkeeping on a node (restart
	// markers, binary stamps, imported images).
	HardwayStateDir = "/var/lib/hardway"
)

// File modes: private keys (and kubeconfigs, which embed one) only for root.
const (
	ModePublic  = 0o644
	ModePrivate = 0o600
	// ModeUnit: a unit file names every key and flag of a component and
	// only systemd (root) reads it (CIS benchmark 1.1.1, 1.1.3, 1.1.5,
	// 1.1.7, 4.1.1).
	ModeUnit = 0o600
)

// paths is what templates see as .Path: every file a flag points at.
type paths struct {
	Bin, CNIBin, CNIConf, ContainerdSocket, ContainerdConfig, ContainerdCerts string

	EtcdCA, EtcdServerCert, EtcdServerKey, EtcdPeerCert, EtcdPeerKey, EtcdData string
	EtcdHealthcheckCert, EtcdHealthcheckKey, EtcdJoinEnv                       string

	CA, CAKey, CASigning, APIServerCert, APIServerKey       string
	APIServerEtcdCA                                         string
	KubeletClientCert, KubeletClientKey                     string
	EtcdClientCert, EtcdClientKey                           string
	FrontProxyCA, FrontProxyClientCert, FrontProxyClientKey string
	ServiceAccountPub, ServiceAccountKey                    string

	EncryptionConfig, AuditPolicy, AuditLog, AuthenticationConfig     string
	AdmissionConfig                                                   string
	ControllerManagerKubeconfig, SchedulerKubeconfig, SchedulerConfig string

	KubeletConfig, KubeletKubeconfig, KubeletCert, KubeletKey, KubeletCA string
	KubeletCertDir, KubeletClientPair, KubeletClientCurrent              string
	KubeletServerCurrent, KubeletCertsScript                             string
	KubeProxyConfig, KubeProxyKubeconfig, Sysctl                         string
	NodeLBConfig                                                         string
}

func nodePaths() paths {
	k := KubernetesDir
	p := PKIDir
	return paths{
		Bin: BinDir, CNIBin: CNIBinDir, CNIConf: CNIConfDir,
		ContainerdSocket: ContainerdSocket, ContainerdConfig: ContainerdConfig, ContainerdCerts: ContainerdCertsDir,

		EtcdCA:         EtcdDir + "/ca.pem",
		EtcdServerCert: EtcdDir + "/server.pem",
		EtcdServerKey:  EtcdDir + "/server-key.pem",
		EtcdPeerCert:   EtcdDir + "/peer.pem",
		EtcdPeerKey:    EtcdDir + "/peer-key.pem",
		EtcdData:       EtcdDataDir,
		// etcdctl on the node authenticates with this one (not the
		// server's certificate, not the API server's).
		EtcdHealthcheckCert: EtcdDir + "/healthcheck-client.pem",
		EtcdHealthcheckKey:  EtcdDir + "/healthcheck-client-key.pem",
		EtcdJoinEnv:         EtcdJoinEnv,

		CA:    p + "/ca.pem",
		CAKey: p + "/ca-key.pem",
		// The CA certificate alone, beside its key, for signing: ca.pem is
		// what components trust, which during a CA rotation holds two.
		CASigning: p + "/ca-signing.pem",
		// What the API server trusts etcd with: the etcd CA, not the
		// cluster CA.
		APIServerEtcdCA:      p + "/etcd-ca.pem",
		APIServerCert:        p + "/kube-apiserver.pem",
		APIServerKey:         p + "/kube-apiserver-key.pem",
		KubeletClientCert:    p + "/apiserver-kubelet-client.pem",
		KubeletClientKey:     p + "/apiserver-kubelet-client-key.pem",
		EtcdClientCert:       p + "/apiserver-etcd-client.pem",
		EtcdClientKey:        p + "/apiserver-etcd-client-key.pem",
		FrontProxyCA:         p + "/front-proxy-ca.pem",
		FrontProxyClientCert: p + "/front-proxy-client.pem",
		FrontProxyClientKey:  p + "/front-proxy-client-key.pem",
		ServiceAccountPub:    p + "/service-account.pem",
		ServiceAccountKey:    p + "/service-account-key.pem",

		EncryptionConfig:            k + "/encryption-config.yaml",
		AuditPolicy:                 k + "/audit-policy.yaml",
		AuditLog:                    AuditLogPath,
		AuthenticationConfig:        k + "/authentication-config.yaml",
		AdmissionConfig:             k + "/admission-config.yaml",
		ControllerManagerKubeconfig: k + "/kube-controller-manager.kubeconfig",
		SchedulerKubeconfig:         k + "/kube-scheduler.kubeconfig",
		SchedulerConfig:             k + "/kube-scheduler.yaml",

		KubeletConfig:     KubeletDir + "/kubelet-config.yaml",
		KubeletKubeconfig: KubeletDir + "/kubeconfig",
		KubeletCA:         KubeletDir + "/ca.pem",
		// What the kubelet starts on until it has rotated its own.
		KubeletCert:          KubeletServingCert,
		KubeletKey:           KubeletServingKey,
		KubeletCertDir:       KubeletCertDir,
		KubeletClientPair:    KubeletClientPair,
		KubeletClientCurrent: KubeletClientCurrent,
		KubeletServerCurrent: KubeletServerCurrent,
		KubeletCertsScript:   KubeletCertsScript,
		KubeProxyConfig:      KubeProxyDir + "/kube-proxy-config.yaml",
		KubeProxyKubeconfig:  KubeProxyDir + "/kubeconfig",
		Sysctl:               SysctlFile,
		NodeLBConfig:         NodeLBConfig,
	}
}
