package render

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/pki"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Inputs is everything rendering needs. The generators of PKI, kubeconfigs
// and the encryption config run before render; render only places their
// output and writes the files that refer to it.
type Inputs struct {
	Cluster *config.Cluster
	Facts   Facts
	PKI     *pki.Set
	// Kubeconfigs by name: "admin", "kube-proxy", "kube-controller-manager",
	// "kube-scheduler" and "kubelet-<node>".
	Kubeconfigs      map[string][]byte
	EncryptionConfig []byte
	// CoreDNSImage is the image reference of the Kubernetes version's
	// CoreDNS (artifacts.CoreDNSImage).
	CoreDNSImage string
}

// view is what every template sees.
type view struct {
	C    *config.Cluster
	N    config.Node
	F    Facts
	Path paths

	// Values computed in Go so the templates stay plain text.
	EtcdServers     string // comma-separated client URLs of every member
	ServiceIssuer   string
	PauseImage      string
	CoreDNSImage    string
	KubeletClientCN string
	// AdminGroup is the admin kubeconfig's group (pki.AdminGroup).
	AdminGroup    string
	ControlPlanes []config.Node
	PodRoutes     []Route
	VXLAN         VXLAN
	// DirectRoutes: network.podRoutes is direct (plain routes via the
	// peers' node IPs, no tunnel).
	DirectRoutes bool
	// PodMTU is the MTU of pod interfaces: the node network's, less the
	// tunnel's overhead when pods ride VXLAN.
	PodMTU int
	// Machine: the node is a real machine or VM (provider ssh or lima),
	// which may load kernel modules itself, unlike a container node.
	Machine bool
	// LBBind is where the API load balancer listens: on every address of
	// the load-balancer container, or 127.0.0.1 only on each machine.
	LBBind   string
	EtcdUser string
	// PodAPIServer is the API address pods that must not wait for
	// kube-proxy use instead of the kubernetes Service (CoreDNS); zero
	// when every node has its own local balancer (no shared address).
	PodAPIServer HostPort
	// Scheduled etcd snapshots (etcd.snapshots): seconds between two,
	// where they go, the script and the unit that take them.
	SnapshotEverySec                          int
	SnapshotDir, SnapshotScript, SnapshotUnit string
	// The kubelet serving-certificate approver (UnitCSRApproverTimer).
	ApproverEverySec             int
	ApproverScript, ApproverUnit string
	// Registry is the cluster's image registry, "IP:port" (RegistryHost).
	Registry string
	// TLS 1.2 cipher suites every component serves with (TLS 1.3 ones are
	// not configurable and always on).
	TLSCipherSuites    string
	TLSCipherSuiteList []string
	EtcdCipherSuites   string
}

// tlsCipherSuites are the TLS 1.2 suites the Kubernetes components accept:
// ECDHE key exchange (forward secrecy) with AEAD ciphers only, for ECDSA and
// RSA keys (pki.keyAlgorithm may be either). ChaCha20 is spelled the way the
// CIS benchmark lists it for kubelet (component-base accepts both names).
func tlsCipherSuites() []string {
	return []string{
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
		"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
	}
}

// etcdCipherSuites are the same suites by Go's names, the only ones etcd
// knows.
func etcdCipherSuites() []string {
	out := tlsCipherSuites()
	for i, s := range out {
		if strings.HasSuffix(s, "_CHACHA20_POLY1305") {
			out[i] = s + "_SHA256"
		}
	}
	return out
}

// renderer holds the parsed templates; one is built per call, so nothing is
// shared between callers.
type renderer struct{ t *template.Template }

func newRenderer() (*renderer, error) {
	t, err := template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing embedded templates (a bug in hardway): %w", err)
	}
	return &renderer{t: t}, nil
}

func (r *renderer) exec(name string, v view) ([]byte, error) {
	var b bytes.Buffer
	if err := r.t.ExecuteTemplate(&b, name+".tmpl", v); err != nil {
		return nil, fmt.Errorf("rendering %s (a bug in hardway): %w", name, err)
	}
	return b.Bytes(), nil
}

func (in Inputs) view(n config.Node) view {
	c := in.Cluster
	cn := "kube-apiserver-kubelet-client"
	if in.PKI != nil {
		if p, ok := in.PKI.Get(pki.APIServerKubeletClient); ok && p.Cert != nil && p.Cert.Subject.CommonName != "" {
			cn = p.Cert.Subject.CommonName
		}
	}
	every := 0
	if s := c.Snapshots(); s != nil {
		every = int(s.Every.Duration / time.Second)
	}
	return view{
		C: c, N: n, F: in.Facts, Path: nodePaths(),
		SnapshotEverySec: every,
		EtcdServers:      strings.Join(c.EtcdEndpoints(), ","),
		ServiceIssuer:    "https://kubernetes.default.svc." + c.Network.ClusterDomain,
		PauseImage:       images.Pause,
		CoreDNSImage:     in.CoreDNSImage,
		KubeletClientCN:  cn,
		AdminGroup:       pki.AdminGroup,
		ControlPlanes:    c.ControlPlanes(),
		PodRoutes:        PodRoutes(c, n),
		VXLAN:            vxlanFor(n),
		DirectRoutes:     c.Network.PodRoutes == config.PodRoutesDirect,
		PodMTU:           podMTU(c),
		Machine:          c.Machines(),
		LBBind:           lbBind(c),
		EtcdUser:         EtcdUser,
		Registry:         RegistryHost(c),
		PodAPIServer:     podAPIServer(c),
		SnapshotDir:      EtcdSnapshotDir,
		SnapshotScript:   EtcdSnapshotScript,
		SnapshotUnit:     EtcdSnapshotService,
		ApproverEverySec: int(CSRApproverEvery / time.Second),
		ApproverScript:   CSRApproverScript,
		ApproverUnit:     CSRApproverService,

		TLSCipherSuites:    strings.Join(tlsCipherSuites(), ","),
		EtcdCipherSuites:   strings.Join(etcdCipherSuites(), ","),
		TLSCipherSuiteList: tlsCipherSuites(),
	}
}

func (in Inputs) check() error {
	if in.Cluster == nil {
		return errors.New("render: no cluster config given (a bug in hardway: load the config first)")
	}
	if in.CoreDNSImage == "" {
		return errors.New("render: no CoreDNS image reference given (a bug in hardway)")
	}
	return nil
}

// collector gathers units and the first error, so NodeUnits reads as a list:
// open a unit, declare what it reads, open the next.
type collector struct {
	in    Inputs
	r     *renderer
	v     view
	units []converge.Unit
	err   error
	// paths: only where files go matters (Footprint); certificates, keys
	// and kubeconfigs are placed without content.
	paths bool
}

func (c *collector) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// unit opens the next unit; the files declared after it belong to it. Its
// unit file comes from the template of the same name.
func (c *collector) unit(name string, binaries ...string) *converge.Unit {
	c.units = append(c.units, converge.Unit{Name: name, Binaries: binaries})
	c.tmpl(SystemdDir+"/"+name+".service", ModeUnit, name+".service")
	return &c.units[len(c.units)-1]
}

func (c *collector) add(f File) {
	if len(c.units) == 0 {
		c.fail(fmt.Errorf("render: %s declared outside a unit (a bug in hardway)", f.Path))
		return
	}
	u := &c.units[len(c.units)-1]
	if f.Owner == "" && u.User != "" && strings.HasPrefix(f.Path, EtcdDir+"/") {
		f.Owner = u.User + ":" + u.User
	}
	u.Files = append(u.Files, f)
}

// tmpl renders template name to path p.
func (c *collector) tmpl(p string, mode os.FileMode, name string) {
	if c.err != nil {
		return
	}
	b, err := c.r.exec(name, c.v)
	if err != nil {
		c.fail(err)
		return
	}
	c.add(File{Path: p, Mode: mode, Data: b})
}

// cert places the certificate (and, when keyPath is set, the key) of a PKI entry.
func (c *collector) cert(name, certPath, keyPath string) {
	p, ok := c.pair(name, func(p pki.Pair) bool { return len(p.CertPEM) > 0 && (keyPath == "" || len(p.KeyPEM) > 0) }, "complete entry (certificate and key)")
	if !ok {
		return
	}
	c.add(File{Path: certPath, Mode: ModePublic, Data: p.CertPEM})
	if keyPath != "" {
		c.add(File{Path: keyPath, Mode: ModePrivate, Data: p.KeyPEM})
	}
}

// pairFile places the certificate and key of a PKI entry in one file
// (private: it holds the key).
func (c *collector) pairFile(name, p string) {
	pr, ok := c.pair(name, func(p pki.Pair) bool { return len(p.CertPEM) > 0 && len(p.KeyPEM) > 0 }, "complete entry (certificate and key)")
	if !ok {
		return
	}
	c.add(File{Path: p, Mode: ModePrivate, Data: append(append([]byte{}, pr.CertPEM...), pr.KeyPEM...)})
}

// trust places what a CA's relying parties trust: the CA certificate, and
// during a rotation the one it replaces as well.
func (c *collector) trust(name, path string) {
	if p, ok := c.pair(name, func(p pki.Pair) bool { return len(p.Trust()) > 0 }, "certificate"); ok {
		c.add(File{Path: path, Mode: ModePublic, Data: p.Trust()})
	}
}

// key places only the private key of a PKI entry (the controller manager
// signs with the service-account key and needs no public half).
func (c *collector) key(name, keyPath string) {
	if p, ok := c.pair(name, func(p pki.Pair) bool { return len(p.KeyPEM) > 0 }, "key"); ok {
		c.add(File{Path: keyPath, Mode: ModePrivate, Data: p.KeyPEM})
	}
}

// pair looks up a PKI entry that has what complete checks, recording the
// first failure; what names the missing part in the error.
func (c *collector) pair(name string, complete func(pki.Pair) bool, what string) (pki.Pair, bool) {
	if c.err != nil {
		return pki.Pair{}, false
	}
	if c.paths {
		// Footprint: only where the files go matters; they get no content.
		return pki.Pair{}, true
	}
	if c.in.PKI == nil {
		c.fail(errors.New("render: no PKI given: generate the PKI before rendering node files"))
		return pki.Pair{}, false
	}
	p, ok := c.in.PKI.Get(name)
	if !ok || !complete(p) {
		c.fail(fmt.Errorf("render: the PKI has no %q %s for node %s: regenerate the PKI", name, what, c.v.N.Name))
		return pki.Pair{}, false
	}
	return p, true
}

func (c *collector) kubeconfig(name, p string) {
	if c.err != nil {
		return
	}
	if c.paths {
		c.add(File{Path: p, Mode: ModePrivate})
		return
	}
	b, ok := c.in.Kubeconfigs[name]
	if !ok || len(b) == 0 {
		c.fail(fmt.Errorf("render: no %q kubeconfig for node %s: build the kubeconfigs before rendering node files", name, c.v.N.Name))
		return
	}
	// A kubeconfig embeds a client key: private.
	c.add(File{Path: p, Mode: ModePrivate, Data: b})
}

// last is the file declared last (to mark it NoRestart); a dummy when an
// earlier error stopped the declaring.
func (c *collector) last() *File {
	if c.err != nil || len(c.units) == 0 || len(c.units[len(c.units)-1].Files) == 0 {
		return &File{}
	}
	u := &c.units[len(c.units)-1]
	return &u.Files[len(u.Files)-1]
}

// RegistryPort is where the cluster's image registry listens.
const RegistryPort = 5000

// RegistryHost is the cluster's image registry, "IP:port": on the load
// balancer machine when the cluster has one (it runs no pods, so the
// registry competes with no workload), else on the first node.
func RegistryHost(c *config.Cluster) string {
	ip := c.Network.LoadBalancerIP
	if ip == "" && len(c.Nodes) > 0 {
		ip = c.Nodes[0].IP
	}
	return fmt.Sprintf("%s:%d", ip, RegistryPort)
}

// registryHostDir is containerd's directory name for a host:port. containerd
// looks for both "10.0.0.2:5000" and "10.0.0.2_5000_"; the second is a valid
// file name on every system a rendered tree may be copied to.
func registryHostDir(hostPort string) string {
	if i := strings.LastIndex(hostPort, ":"); i > 0 {
		return hostPort[:i] + "_" + hostPort[i+1:] + "_"
	}
	return hostPort
}

// EtcdUser is the system account etcd runs as.
const EtcdUser = "etcd"

// Units of a node, by name. Steps pick theirs by these names.
const (
	UnitEtcd              = "etcd"
	UnitAPIServer         = "kube-apiserver"
	UnitControllerManager = "kube-controller-manager"
	UnitScheduler         = "kube-scheduler"
	UnitContainerd        = "containerd"
	UnitKubelet           = "kubelet"
	UnitKubeProxy         = "kube-proxy"
	UnitHAProxy           = "haproxy"
	// UnitNodeLB is the node-local API load balancer on machines: its own
	// unit and config, so a haproxy the machine runs for something else is
	// left alone.
	UnitNodeLB = "hardway-apiserver-lb"
	// UnitPodsStop stops the node's pods at shutdown (see its template).
	UnitPodsStop = "hardway-pods-stop"
	// UnitNoEgress drops the default route of the load-balancer machine of
	// a published cluster (see its template).
	UnitNoEgress = "hardway-no-egress"
	// UnitEtcdSnapshotTimer starts EtcdSnapshotService on etcd.snapshots'
	// schedule, on the first control-plane node. The timer is what runs
	// (and what converge starts); the oneshot service and its script are
	// files of the timer's unit, so a change to them restarts the timer.
	UnitEtcdSnapshotTimer = EtcdSnapshotService + ".timer"
	EtcdSnapshotService   = "hardway-etcd-snapshot"
	// UnitCSRApproverTimer starts CSRApproverService every
	// CSRApproverEvery on every control-plane node: it approves the
	// kubelets' serving-certificate requests, which nothing in Kubernetes
	// approves (see approve-kubelet-serving.sh.tmpl). As with the snapshot
	// timer, the timer is what runs and what converge starts; the oneshot
	// service and its script are files of the timer's unit.
	UnitCSRApproverTimer = CSRApproverService + ".timer"
	CSRApproverService   = "hardway-csr-approver"
)

// CSRApproverScript is the script CSRApproverService runs, and
// CSRApproverEvery how often: a kubelet whose serving certificate is due
// waits at most that long for the new one.
const (
	CSRApproverScript = HardwayLibDir + "/approve-kubelet-serving.sh"
	CSRApproverEvery  = 30 * time.Second
)

// Where scheduled snapshots live on the first control-plane node, and the
// script that takes them.
const (
	EtcdSnapshotDir    = "/var/lib/etcd-snapshots"
	EtcdSnapshotScript = HardwayLibDir + "/etcd-snapshot.sh"
)

// SnapshotNode is the node that takes scheduled snapshots (the first
// control-plane node), and false when c schedules none.
func SnapshotNode(c *config.Cluster) (config.Node, bool) {
	if c.Snapshots() == nil || len(c.ControlPlanes()) == 0 {
		return config.Node{}, false
	}
	return c.ControlPlanes()[0], true
}

// lbBind is the listen address of the API load balancer's haproxy.
func lbBind(c *config.Cluster) string {
	if c.NodeLocalLB() {
		return fmt.Sprintf("127.0.0.1:%d", config.NodeLocalLBPort)
	}
	return fmt.Sprintf("*:%d", c.Network.APIServerPort)
}

// podMTU is the pod interfaces' MTU for the cluster's pod routes.
func podMTU(c *config.Cluster) int {
	if c.Network.PodRoutes == config.PodRoutesDirect {
		return nodeMTU
	}
	return PodMTU
}

// NodeUnits returns every systemd unit node n runs, each with the binaries
// and files it reads, in start order. A file read by several units (the CA)
// is declared under each, so a change restarts all of them. A node with
// both roles gets both sets.
func NodeUnits(in Inputs, n config.Node) ([]converge.Unit, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return nodeUnits(in, n, false)
}

// Footprint returns node n's units as NodeUnits does, with every path but
// without the content of certificates, keys and kubeconfigs: what hardway
// installs there, known from the config alone (for `hardway down` on
// machines that are not hardway's to delete).
func Footprint(c *config.Cluster, n config.Node) ([]converge.Unit, error) {
	return nodeUnits(Inputs{Cluster: c, CoreDNSImage: "-", EncryptionConfig: []byte("-")}, n, true)
}

func nodeUnits(in Inputs, n config.Node, pathsOnly bool) ([]converge.Unit, error) {
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	c := &collector{in: in, r: r, v: in.view(n), paths: pathsOnly}
	P := c.v.Path

	if n.IsControlPlane() {
		// etcd runs as its own user, which owns its keys and data
		// directory: a bug in etcd cannot read the cluster's other keys.
		etcd := c.unit(UnitEtcd, "etcd", "etcdctl", "etcdutl")
		etcd.NoBlock, etcd.User = true, EtcdUser
		c.trust(pki.EtcdCA, P.EtcdCA)
		c.cert(pki.EtcdServerName(n.Name), P.EtcdServerCert, P.EtcdServerKey)
		c.cert(pki.EtcdPeerName(n.Name), P.EtcdPeerCert, P.EtcdPeerKey)
		if c.cert(pki.EtcdHealthcheckClient, P.EtcdHealthcheckCert, P.EtcdHealthcheckKey); c.err == nil {
			// etcdctl's identity: etcd itself does not read it.
			u := &c.units[len(c.units)-1]
			u.Files[len(u.Files)-1].NoRestart = true
			u.Files[len(u.Files)-2].NoRestart = true
		}

		if sn, ok := SnapshotNode(in.Cluster); ok && sn.Name == n.Name {
			// Runs as root: it reads the health-check client's key, which
			// etcd's user owns.
			c.units = append(c.units, converge.Unit{Name: UnitEtcdSnapshotTimer})
			c.tmpl(SystemdDir+"/"+UnitEtcdSnapshotTimer, ModeUnit, UnitEtcdSnapshotTimer)
			c.tmpl(SystemdDir+"/"+EtcdSnapshotService+".service", ModeUnit, EtcdSnapshotService+".service")
			c.tmpl(EtcdSnapshotScript, ModePublic, "etcd-snapshot.sh")
		}

		c.unit(UnitAPIServer, "kube-apiserver", "kubectl")
		c.trust(pki.CA, P.CA)
		c.trust(pki.EtcdCA, P.APIServerEtcdCA)
		c.cert(pki.APIServer, P.APIServerCert, P.APIServerKey)
		c.cert(pki.APIServerKubeletClient, P.KubeletClientCert, P.KubeletClientKey)
		c.cert(pki.APIServerEtcdClient, P.EtcdClientCert, P.EtcdClientKey)
		c.trust(pki.FrontProxyCA, P.FrontProxyCA)
		c.cert(pki.FrontProxyClient, P.FrontProxyClientCert, P.FrontProxyClientKey)
		c.cert(pki.ServiceAccount, P.ServiceAccountPub, P.ServiceAccountKey)
		if len(in.EncryptionConfig) == 0 && c.err == nil {
			c.fail(errors.New("render: no encryption config given: create it before rendering control-plane files"))
		}
		c.add(File{Path: P.EncryptionConfig, Mode: ModePrivate, Data: in.EncryptionConfig})
		c.tmpl(P.AuditPolicy, ModePublic, "audit-policy.yaml")
		c.tmpl(P.AuthenticationConfig, ModePublic, "authentication-config.yaml")
		c.tmpl(P.AdmissionConfig, ModePublic, "admission-config.yaml")

		c.unit(UnitControllerManager, "kube-controller-manager")
		c.trust(pki.CA, P.CA)
		c.cert(pki.CA, P.CASigning, P.CAKey)
		c.trust(pki.FrontProxyCA, P.FrontProxyCA)
		c.key(pki.ServiceAccount, P.ServiceAccountKey)
		c.kubeconfig(pki.ControllerManager, P.ControllerManagerKubeconfig)

		c.unit(UnitScheduler, "kube-scheduler")
		c.kubeconfig(pki.Scheduler, P.SchedulerKubeconfig)
		c.tmpl(P.SchedulerConfig, ModePublic, "kube-scheduler.yaml")

		// Approves kubelet serving certificates with kubectl as
		// system:kube-controller-manager (its kubeconfig; RBAC in
		// kubelet-certificates-rbac.yaml). On every control-plane node, so
		// a lost one stops nothing.
		c.units = append(c.units, converge.Unit{Name: UnitCSRApproverTimer, Binaries: []string{"kubectl"}})
		c.tmpl(SystemdDir+"/"+UnitCSRApproverTimer, ModeUnit, UnitCSRApproverTimer)
		c.tmpl(SystemdDir+"/"+CSRApproverService+".service", ModeUnit, CSRApproverService+".service")
		c.tmpl(CSRApproverScript, ModePublic, "approve-kubelet-serving.sh")
		c.kubeconfig(pki.ControllerManager, P.ControllerManagerKubeconfig)
	}
	if n.IsWorker() {
		c.unit(UnitContainerd, "containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl",
			"bridge", "host-local", "loopback", "portmap")
		c.tmpl(P.ContainerdConfig, ModePublic, "containerd-config.toml")
		// Read at each pull, not at start: a change needs no restart.
		c.tmpl(ContainerdCertsDir+"/_default/hosts.toml", ModePublic, "hosts-default.toml")
		c.last().NoRestart = true
		c.tmpl(ContainerdCertsDir+"/"+registryHostDir(c.v.Registry)+"/hosts.toml", ModePublic, "hosts-registry.toml")
		c.last().NoRestart = true
		c.tmpl(CNIConfDir+"/10-bridge.conflist", ModePublic, "10-bridge.conflist")
		c.tmpl(CNIConfDir+"/99-loopback.conf", ModePublic, "99-loopback.conf")
		c.tmpl(P.Sysctl, ModePublic, "99-kubernetes.conf")
		// crictl reads it, not containerd: no restart when it changes.
		if c.tmpl("/etc/crictl.yaml", ModePublic, "crictl.yaml"); c.err == nil {
			u := &c.units[len(c.units)-1]
			u.Files[len(u.Files)-1].NoRestart = true
		}

		// Its unit file is its only file, and a restart would stop every
		// pod on the node: a change is written (and reloaded), never
		// restarted.
		c.unit(UnitPodsStop)
		c.last().NoRestart = true

		if in.Cluster.NodeLocalLB() {
			// Before kubelet and kube-proxy: their kubeconfigs point at it.
			// haproxy comes from the machine's package (no artifact).
			c.unit(UnitNodeLB)
			c.tmpl(P.NodeLBConfig, ModePublic, "haproxy.cfg")
		}

		c.unit(UnitKubelet, "kubelet")
		// 0600: CIS 4.1.9 (it names the node's key and who may call it).
		c.tmpl(P.KubeletConfig, ModePrivate, "kubelet-config.yaml")
		c.kubeconfig(pki.KubeletName(n.Name), P.KubeletKubeconfig)
		// The same pair twice: the serving store falls back to
		// tlsCertFile/tlsPrivateKeyFile, the client one reads cert and key
		// from one file (kubelet-client-current.pem links to it).
		c.cert(pki.KubeletName(n.Name), P.KubeletCert, P.KubeletKey)
		c.pairFile(pki.KubeletName(n.Name), P.KubeletClientPair)
		c.trust(pki.CA, P.KubeletCA)
		c.tmpl(P.KubeletCertsScript, ModePublic, "kubelet-certs.sh")

		c.unit(UnitKubeProxy, "kube-proxy")
		c.tmpl(P.KubeProxyConfig, ModePublic, "kube-proxy-config.yaml")
		c.kubeconfig(pki.KubeProxy, P.KubeProxyKubeconfig)
	}
	c.unit(PodNetworkUnit)
	if c.err != nil {
		return nil, c.err
	}
	return c.units, nil
}

// NodeFiles returns every file node n receives, sorted by path: the files
// of all its units, each once.
func NodeFiles(in Inputs, n config.Node) ([]File, error) {
	units, err := NodeUnits(in, n)
	if err != nil {
		return nil, err
	}
	return unitFiles(units), nil
}

func unitFiles(units []converge.Unit) []File {
	seen := map[string]bool{}
	var out []File
	for _, u := range units {
		for _, f := range u.Files {
			if !seen[f.Path] {
				seen[f.Path] = true
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// ClusterFiles returns the files kept on the host, with paths relative to
// the cluster's directory (DIR/cluster/): what a user needs to reach the
// cluster and to re-create it.
func ClusterFiles(in Inputs) ([]File, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	admin, ok := in.Kubeconfigs["admin"]
	if !ok || len(admin) == 0 {
		return nil, errors.New("render: no \"admin\" kubeconfig: build the kubeconfigs before rendering cluster files")
	}
	if in.PKI == nil {
		return nil, errors.New("render: no PKI given: generate the PKI before rendering cluster files")
	}
	ca, ok := in.PKI.Get(pki.CA)
	if !ok || len(ca.CertPEM) == 0 {
		return nil, errors.New("render: the PKI has no CA certificate: regenerate the PKI")
	}
	doc, err := in.Cluster.Marshal()
	if err != nil {
		return nil, fmt.Errorf("render: writing the cluster config as YAML: %w", err)
	}
	return []File{
		{Path: "admin.kubeconfig", Mode: ModePrivate, Data: admin},
		{Path: "ca.pem", Mode: ModePublic, Data: ca.CertPEM},
		{Path: "cluster.yaml", Mode: ModePublic, Data: doc},
	}, nil
}

// LoadBalancerUnits returns the API load balancer's unit (haproxy, from the
// node image's Debian package, so no binary), or nothing when the cluster has
// none (network.loadBalancerIP empty).
func LoadBalancerUnits(in Inputs) ([]converge.Unit, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Cluster.Network.LoadBalancerIP == "" {
		return nil, nil
	}
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	b, err := r.exec("haproxy.cfg", in.view(config.Node{}))
	if err != nil {
		return nil, err
	}
	var units []converge.Unit
	if in.Cluster.Published() {
		ne, err := r.exec(UnitNoEgress+".service", in.view(config.Node{}))
		if err != nil {
			return nil, err
		}
		units = append(units, converge.Unit{Name: UnitNoEgress, Files: []File{{Path: SystemdDir + "/" + UnitNoEgress + ".service", Mode: ModeUnit, Data: ne}}})
	}
	return append(units, converge.Unit{Name: UnitHAProxy, Files: []File{{Path: HAProxyConfig, Mode: ModePublic, Data: b}}}), nil
}

// LoadBalancerFiles returns the load balancer's files.
func LoadBalancerFiles(in Inputs) ([]File, error) {
	units, err := LoadBalancerUnits(in)
	if err != nil {
		return nil, err
	}
	return unitFiles(units), nil
}

// AdminRBAC is the manifest binding the admin group to cluster-admin.
const AdminRBAC = "admin-rbac.yaml"

// KubeletAPIRBAC lets the API server's kubelet client call kubelets;
// KubeletCertificatesRBAC lets kubelets' certificate requests be approved
// (the client ones by kube-controller-manager, the serving ones by
// UnitCSRApproverTimer). The control-plane step applies both.
const (
	KubeletAPIRBAC          = "kubelet-api-rbac.yaml"
	KubeletCertificatesRBAC = "kubelet-certificates-rbac.yaml"
)

// Manifests returns the cluster-level objects applied through the API once it
// answers, by file name.
func Manifests(in Inputs) (map[string][]byte, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range []string{AdminRBAC, KubeletAPIRBAC, KubeletCertificatesRBAC, "coredns.yaml"} {
		b, err := r.exec(name, in.view(config.Node{}))
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// Write writes files under dir keeping their paths (dir/etc/...), each with
// its mode. A file is written to a temporary name first and renamed, so a
// reader never sees half a file.
func Write(dir string, files []File) error {
	for _, f := range files {
		slash := filepath.ToSlash(f.Path)
		rel := path.Clean("/" + slash)
		if rel == "/" || slices.Contains(strings.Split(slash, "/"), "..") {
			return fmt.Errorf("render: refusing to write %q: a file path must name a file without \"..\"", f.Path)
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating directory for %s: %w", dst, err)
		}
		if err := fsutil.WriteFileAtomic(dst, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// PodNetworkUnit is the oneshot unit that connects this node's pods to the
// other nodes' pods.
const PodNetworkUnit = "hardway-pod-network"

// VXLAN is this node's end of the pod network tunnel.
type VXLAN struct {
	Device  string
	ID      int
	Port    int
	MTU     int
	MAC     string
	Address string // the pod CIDR's network address; empty on nodes without pods
}

// nodeMTU is the MTU hardway assumes for the node network (Ethernet).
const nodeMTU = 1500

// vxlanOverhead is what VXLAN adds to each packet (outer IP, UDP, VXLAN and
// Ethernet headers); pod interfaces must be this much smaller than the node's.
const vxlanOverhead = 50

// PodMTU is the MTU of pod interfaces: a 1500-byte node network minus VXLAN.
const PodMTU = nodeMTU - vxlanOverhead

// Route sends a pod CIDR to the node that owns it: through the tunnel, or
// with direct routes straight to NodeIP.
type Route struct {
	Node, CIDR string
	Via        string // the peer's tunnel address (vxlan)
	NodeIP     string // where the tunnel packets go
	MAC        string // the peer's tunnel MAC
}

// vtepMAC derives a node's tunnel MAC from its IP, so every node can know
// every other's without asking: a locally administered unicast address.
func vtepMAC(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return "0e:68:77:00:00:00"
	}
	b := a.As4()
	return fmt.Sprintf("0e:68:77:%02x:%02x:%02x", b[1], b[2], b[3])
}

// vtepAddr is the tunnel address of a node: the network address of its pod
// CIDR, which host-local IPAM never hands to a pod.
func vtepAddr(n config.Node) string {
	p, err := netip.ParsePrefix(n.PodCIDR)
	if err != nil {
		return ""
	}
	return p.Masked().Addr().String()
}

// PodProbeAddr is the address in node n's pod CIDR that the network step
// pings from and to, to prove packets between pod addresses cross the
// network: with VXLAN the tunnel's own address (already on the node), with
// direct routes the bridge's gateway (the first address, on cni0 once a pod
// runs). Empty for a node without a pod CIDR.
func PodProbeAddr(c *config.Cluster, n config.Node) string {
	p, err := netip.ParsePrefix(n.PodCIDR)
	if err != nil {
		return ""
	}
	if c.Network.PodRoutes == config.PodRoutesDirect {
		return p.Masked().Addr().Next().String()
	}
	return vtepAddr(n)
}

func vxlanFor(n config.Node) VXLAN {
	return VXLAN{Device: "hardway.vxlan", ID: 4242, Port: 4789, MTU: PodMTU, MAC: vtepMAC(n.IP), Address: vtepAddr(n)}
}

// PodRoutes are the routes node n needs: every other worker's pod CIDR
// through the tunnel.
func PodRoutes(c *config.Cluster, n config.Node) []Route {
	var out []Route
	for _, w := range c.Workers() {
		if w.Name != n.Name && w.PodCIDR != "" {
			out = append(out, Route{Node: w.Name, CIDR: w.PodCIDR, Via: vtepAddr(w), NodeIP: w.IP, MAC: vtepMAC(w.IP)})
		}
	}
	return out
}

// HostPort is an address in two parts, as environment variables want it.
type HostPort struct {
	Host string
	Port int
}

// podAPIServer is the address of the API that every node already uses (the
// load-balancer container, or the only control-plane node), for pods that
// must reach the API before kube-proxy has written the kubernetes
// Service's rules. Machines with a balancer on each node have no such
// shared address: their pods keep the Service.
func podAPIServer(c *config.Cluster) HostPort {
	if c.NodeLocalLB() {
		return HostPort{}
	}
	if c.Network.LoadBalancerIP != "" {
		return HostPort{Host: c.Network.LoadBalancerIP, Port: c.Network.APIServerPort}
	}
	if cps := c.ControlPlanes(); len(cps) == 1 {
		return HostPort{Host: cps[0].IP, Port: c.Network.APIServerPort}
	}
	return HostPort{}
}
