// Package config holds the versioned Cluster document that describes a hardway
// cluster, its defaults and its validation.
package config

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	APIVersion = "hardway.dev/v1alpha1"
	Kind       = "Cluster"

	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"

	ProxyIPTables = "iptables"
	ProxyNFTables = "nftables"
	ProxyIPVS     = "ipvs"

	KeyECDSA = "ecdsa"
	KeyRSA   = "rsa"

	ProviderDocker = "docker"
	// ProviderSSH drives machines that exist already (servers, VMs made by
	// someone else) over SSH.
	ProviderSSH = "ssh"
	// ProviderLima creates one Lima VM per node with limactl, then drives
	// it over SSH like ProviderSSH.
	ProviderLima = "lima"

	// PodRoutesDirect: the tutorial's plain routes, "PODCIDR via NODEIP";
	// the nodes must share one L2 network that forwards any address.
	PodRoutesDirect = "direct"
	// PodRoutesVXLAN: the same per-peer routes through a VXLAN device, for
	// networks that drop packets with pod addresses (Docker --internal,
	// cloud VPCs with source/destination checks, routed L3 networks).
	PodRoutesVXLAN = "vxlan"

	// NodeLocalLBPort is where the node-local API load balancer listens
	// (127.0.0.1 only) on machines without a load-balancer container.
	NodeLocalLBPort = 6444

	DefaultSSHUser = "root"
	DefaultSSHPort = 22

	DefaultName              = "hardway"
	DefaultKubernetesVersion = "v1.37.2"
	DefaultNodeCount         = 3
)

// Cluster is the whole user-facing description of one cluster.
type Cluster struct {
	APIVersion        string `json:"apiVersion"`
	Kind              string `json:"kind"`
	Name              string `json:"name,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Provider          string `json:"provider,omitempty"`
	// Arch is the nodes' CPU architecture (amd64 or arm64) for provider
	// docker: which node image and artifacts they run. Empty means this
	// host's; another one runs under qemu-user emulation (binfmt_misc).
	// Machines (ssh, lima) report their own.
	Arch string `json:"arch,omitempty"`
	// Isolated keeps the cluster network without a route off the machine
	// (Docker --internal). Pods then only run locally imported images.
	Isolated *bool   `json:"isolated,omitempty"`
	Network  Network `json:"network"`
	PKI      PKI     `json:"pki"`
	// Etcd holds settings of the etcd members beyond what the nodes say.
	Etcd *Etcd `json:"etcd,omitempty"`
	// SSH holds what nodes share about how hardway reaches them (provider
	// ssh); each node's ssh block overrides it and adds the address.
	SSH   *SSHDefaults `json:"ssh,omitempty"`
	Lima  *Lima        `json:"lima,omitempty"`
	Nodes []Node       `json:"nodes,omitempty"`
	// Addons are installed by up, each in a step of its own (KnownAddons);
	// one left out is removed. No omitempty: "addons: []" (none) must
	// survive a save, or the defaults would bring them back.
	Addons []string `json:"addons"`
	// PodSecurity is the Pod Security admission default of namespaces.
	PodSecurity PodSecurity `json:"podSecurity"`

	// src is where Parse read the config, so Validate can name the line
	// of each problem; nil for a config made in code.
	src *source
}

// SSHDefaults are the ssh settings every node inherits.
type SSHDefaults struct {
	User string `json:"user,omitempty"`
	Port int    `json:"port,omitempty"`
	// IdentityFile is a private key; empty asks ssh-agent ($SSH_AUTH_SOCK).
	IdentityFile string `json:"identityFile,omitempty"`
}

// NodeSSH is how hardway reaches one node.
type NodeSSH struct {
	// Address is a host name or IP; it defaults to the node's ip.
	Address      string `json:"address,omitempty"`
	User         string `json:"user,omitempty"`
	Port         int    `json:"port,omitempty"`
	IdentityFile string `json:"identityFile,omitempty"`
}

// Lima sizes the VMs provider lima creates.
type Lima struct {
	// VMType is vz (macOS 13+, Virtualization.framework) or qemu.
	VMType string `json:"vmType,omitempty"`
	// Network is the VM network the nodes share and this host reaches them
	// on: vzNAT (vmType vz) or shared (socket_vmnet, any vmType).
	Network string `json:"network,omitempty"`
	CPUs    int    `json:"cpus,omitempty"`
	Memory  string `json:"memory,omitempty"`
	Disk    string `json:"disk,omitempty"`
}

type Network struct {
	NodeSubnet    string `json:"nodeSubnet,omitempty"`
	PodCIDR       string `json:"podCIDR,omitempty"`
	ServiceCIDR   string `json:"serviceCIDR,omitempty"`
	ClusterDNS    string `json:"clusterDNS,omitempty"`
	ClusterDomain string `json:"clusterDomain,omitempty"`
	KubeProxyMode string `json:"kubeProxyMode,omitempty"`
	// LoadBalancerIP is where the API load balancer listens; the admin
	// kubeconfig points there. Empty with a single control-plane node means
	// "talk to that node directly".
	LoadBalancerIP string `json:"loadBalancerIP,omitempty"`
	APIServerPort  int    `json:"apiServerPort,omitempty"`
	// PodRoutes is how pod packets reach other nodes: direct or vxlan.
	PodRoutes string `json:"podRoutes,omitempty"`
	// APIEndpoint is a host name or IP (optionally :port) of a load
	// balancer the user runs in front of the API servers: the admin
	// kubeconfig points there and the API server certificate names it.
	APIEndpoint string `json:"apiEndpoint,omitempty"`
	// HostAccess is how this host reaches the nodes (provider docker):
	// routed (it has a route to the node subnet: dockerd runs here),
	// published (it has none: Docker Desktop, colima, a rootless or remote
	// engine; the API is published on APIPublishAddress:APIPublishPort and
	// everything else hardway does goes through a node), or auto (hardway
	// looks where the engine's bridges are; the saved config keeps what it
	// found).
	HostAccess string `json:"hostAccess,omitempty"`
	// APIPublishAddress and APIPublishPort are where the API load balancer
	// is published on the engine's host when HostAccess is published.
	APIPublishAddress string `json:"apiPublishAddress,omitempty"`
	APIPublishPort    int    `json:"apiPublishPort,omitempty"`
	// LoadBalancerIPs are the addresses MetalLB gives LoadBalancer
	// Services ("FIRST-LAST" or a CIDR), free addresses on the node
	// network; Docker nodes get the top of the node subnet by default.
	LoadBalancerIPs string `json:"loadBalancerIPs,omitempty"`
}

// The values of network.hostAccess.
const (
	AccessAuto      = "auto"
	AccessRouted    = "routed"
	AccessPublished = "published"
)

// Published reports whether this host reaches the cluster only through
// the published API port and through its nodes.
func (c *Cluster) Published() bool { return c.Network.HostAccess == AccessPublished }

// DefaultPublishPort is the API's published port when the config names
// none: derived from the cluster name (20000-39999), so clusters side by
// side get different ports and a cluster keeps its port.
func DefaultPublishPort(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 20000 + int(h.Sum32()%20000)
}

type PKI struct {
	KeyAlgorithm string   `json:"keyAlgorithm,omitempty"`
	CAValidity   Duration `json:"caValidity,omitempty"`
	CertValidity Duration `json:"certValidity,omitempty"`
}

// Etcd holds settings of the etcd members.
type Etcd struct {
	// Snapshots, when set, has the first control-plane node save a checked
	// snapshot of etcd on a schedule (a systemd timer), keeping the newest.
	Snapshots *EtcdSnapshots `json:"snapshots,omitempty"`
}

// EtcdSnapshots is the schedule of automatic snapshots.
type EtcdSnapshots struct {
	// Every is the time between two snapshots (the first one that long
	// after the timer starts).
	Every Duration `json:"every"`
	// Keep is how many snapshots stay on the node; older ones are removed.
	Keep int `json:"keep,omitempty"`
}

// DefaultSnapshotsKept is etcd.snapshots.keep when the file leaves it out.
const DefaultSnapshotsKept = 24

// Snapshots is the snapshot schedule, nil when there is none.
func (c *Cluster) Snapshots() *EtcdSnapshots {
	if c.Etcd == nil {
		return nil
	}
	return c.Etcd.Snapshots
}

type Node struct {
	Name    string   `json:"name"`
	IP      string   `json:"ip,omitempty"`
	Roles   []string `json:"roles,omitempty"`
	PodCIDR string   `json:"podCIDR,omitempty"`
	// SSH is how hardway reaches the node (provider ssh).
	SSH *NodeSSH `json:"ssh,omitempty"`
}

// Duration is a time.Duration written as "8760h" in YAML.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 8760h)", s)
	}
	d.Duration = v
	return nil
}

func (n Node) Has(role string) bool {
	for _, r := range n.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func (n Node) IsControlPlane() bool { return n.Has(RoleControlPlane) }
func (n Node) IsWorker() bool       { return n.Has(RoleWorker) }

// Default returns the cluster used when no file is given: three nodes, each
// running both the control plane and workloads, as in the original tutorial.
func Default() *Cluster {
	c := &Cluster{APIVersion: APIVersion, Kind: Kind}
	c.SetDefaults()
	return c
}

// Load reads a config file strictly (unknown fields, duplicate keys and
// values of the wrong type are errors) and fills defaults. Every problem
// names the file and line.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(path, data)
}

// Parse decodes a YAML document strictly and fills defaults. Problems name
// the line ("line 3: ..."). The error is a *ValidationError listing every
// problem at once: what the document says wrongly, and what Validate finds
// in the rest.
func Parse(data []byte) (*Cluster, error) { return parse("", data) }

func parse(file string, data []byte) (*Cluster, error) {
	c, d := decode(data)
	if c == nil {
		return nil, d.errorFor(file)
	}
	c.SetDefaults()
	d.checkZeros(c)
	c.src = &source{file: file, lines: d.lines}
	c.src.loaded = c.clone()
	if len(d.problems) == 0 {
		return c, nil
	}
	// Validate the rest too, so one run shows every problem; leave out
	// what it says about a field that could not be read (that field now
	// holds a default, not what the file meant).
	_, vps := c.validate()
	sortByLine(d.problems)
	failed := map[string]bool{} // the paths of decode problems
	inside := map[string]bool{} // and every path that contains one
	for _, dp := range d.problems {
		failed[dp.path] = true
		for _, a := range ancestors(dp.path) {
			inside[a] = true
		}
	}
	for _, p := range vps {
		follows := p.path != "" && inside[p.path]
		for _, a := range ancestors(p.path) {
			follows = follows || a != "" && failed[a]
		}
		if !follows {
			p.line, p.dflt = c.src.locate(c, p.path)
			d.problems = append(d.problems, p)
		}
	}
	return nil, d.errorFor(file)
}

func (d *decoder) errorFor(file string) error {
	out := make([]string, len(d.problems))
	for i, p := range d.problems {
		out[i] = p.text(file)
	}
	return &ValidationError{Problems: out}
}

// clone is a deep copy (no pointer or slice shared with c).
func (c *Cluster) clone() *Cluster {
	out := *c
	out.src = nil
	if c.Isolated != nil {
		v := *c.Isolated
		out.Isolated = &v
	}
	if c.SSH != nil {
		v := *c.SSH
		out.SSH = &v
	}
	if c.Lima != nil {
		v := *c.Lima
		out.Lima = &v
	}
	out.Addons = slices.Clone(c.Addons)
	out.PodSecurity.ExemptNamespaces = slices.Clone(c.PodSecurity.ExemptNamespaces)
	if c.Nodes != nil {
		out.Nodes = make([]Node, len(c.Nodes))
		for i, n := range c.Nodes {
			n.Roles = slices.Clone(n.Roles)
			if n.SSH != nil {
				v := *n.SSH
				n.SSH = &v
			}
			out.Nodes[i] = n
		}
	}
	return &out
}

// Marshal writes the cluster (with defaults filled) as YAML.
func (c *Cluster) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// SetDefaults fills every field left empty. It never overrides what the user set.
func (c *Cluster) SetDefaults() {
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Name, DefaultName)
	def(&c.KubernetesVersion, DefaultKubernetesVersion)
	def(&c.Provider, ProviderDocker)
	if c.Isolated == nil {
		t := true
		c.Isolated = &t
	}
	n := &c.Network
	if !c.Machines() {
		// The Docker network hardway creates. Real machines have the
		// addresses they have: a subnet there is only a check, when given.
		def(&n.NodeSubnet, "10.240.0.0/24")
	}
	def(&n.PodCIDR, "10.200.0.0/16")
	def(&n.ServiceCIDR, "10.32.0.0/24")
	def(&n.ClusterDNS, "10.32.0.10")
	def(&n.ClusterDomain, "cluster.local")
	def(&n.KubeProxyMode, ProxyIPTables)
	if n.APIServerPort == 0 {
		n.APIServerPort = 6443
	}
	if c.Machines() {
		def(&n.PodRoutes, PodRoutesDirect)
	} else {
		def(&n.PodRoutes, PodRoutesVXLAN)
		def(&n.HostAccess, AccessAuto)
		def(&n.APIPublishAddress, "127.0.0.1")
		if n.APIPublishPort == 0 {
			n.APIPublishPort = DefaultPublishPort(c.Name)
		}
	}
	if c.Provider == ProviderLima {
		if c.Lima == nil {
			c.Lima = &Lima{}
		}
		def(&c.Lima.VMType, "vz")
		def(&c.Lima.Network, "vzNAT")
		if c.Lima.CPUs == 0 {
			c.Lima.CPUs = 2
		}
		def(&c.Lima.Memory, "4GiB")
		def(&c.Lima.Disk, "20GiB")
	}
	def(&c.PKI.KeyAlgorithm, KeyECDSA)
	if c.PKI.CAValidity.Duration == 0 {
		c.PKI.CAValidity.Duration = 10 * 365 * 24 * time.Hour
	}
	if c.PKI.CertValidity.Duration == 0 {
		c.PKI.CertValidity.Duration = 365 * 24 * time.Hour
	}
	if s := c.Snapshots(); s != nil && s.Keep == 0 {
		s.Keep = DefaultSnapshotsKept
	}
	if len(c.Nodes) == 0 {
		c.Nodes = make([]Node, DefaultNodeCount)
	}
	// Addresses are derived only from IPv4 ranges: anything else is
	// refused by Validate once, at the range, not again at each address
	// derived from it.
	subnet, subnetErr := ipv4Prefix(n.NodeSubnet)
	pods, podsErr := ipv4Prefix(n.PodCIDR)
	for i := range c.Nodes {
		nd := &c.Nodes[i]
		def(&nd.Name, fmt.Sprintf("node-%d", i))
		if len(nd.Roles) == 0 {
			nd.Roles = []string{RoleControlPlane, RoleWorker}
		}
		if c.Provider == ProviderSSH {
			c.sshDefaults(nd)
		}
		if nd.IP == "" && subnetErr == nil && !c.Machines() {
			if ip, ok := nthAddr(subnet.Masked(), 10+i); ok {
				nd.IP = ip.String()
			}
		}
		if nd.PodCIDR == "" && podsErr == nil && nd.IsWorker() {
			if p, ok := nthSubnet(pods.Masked(), 24, i); ok {
				nd.PodCIDR = p.String()
			}
		}
	}
	// Published clusters always have a load-balancer machine: it is the
	// one machine on a network that can publish a port, so the nodes stay
	// on the internal one.
	if n.LoadBalancerIP == "" && (len(c.ControlPlanes()) > 1 || c.Published()) && subnetErr == nil && !c.Machines() {
		if ip, ok := nthAddr(subnet.Masked(), 2); ok {
			n.LoadBalancerIP = ip.String()
		}
	}
	c.addonDefaults(subnet, subnetErr == nil)
	c.podSecurityDefaults()
}

// sshDefaults fills a node's ssh block from the cluster's, and the node's IP
// and ssh address from each other: a machine known by IP needs it once.
func (c *Cluster) sshDefaults(nd *Node) {
	if nd.SSH == nil {
		nd.SSH = &NodeSSH{}
	}
	s := nd.SSH
	var d SSHDefaults
	if c.SSH != nil {
		d = *c.SSH
	}
	if s.User == "" {
		s.User = d.User
	}
	if s.User == "" {
		s.User = DefaultSSHUser
	}
	if s.Port == 0 {
		s.Port = d.Port
	}
	if s.Port == 0 {
		s.Port = DefaultSSHPort
	}
	if s.IdentityFile == "" {
		s.IdentityFile = d.IdentityFile
	}
	if s.Address == "" {
		s.Address = nd.IP
	}
	if nd.IP == "" {
		if a, err := netip.ParseAddr(s.Address); err == nil && a.Is4() {
			nd.IP = a.String()
		}
	}
}

// Machines reports whether the nodes are machines hardway does not create
// as containers (provider ssh or lima): no load-balancer container, no
// artifact mount, and `down` removes what hardway installed instead of the
// machines.
func (c *Cluster) Machines() bool { return c.Provider == ProviderSSH || c.Provider == ProviderLima }

// NodeLocalLB reports whether every worker runs its own API load balancer
// on 127.0.0.1:NodeLocalLBPort (machines with more than one control-plane
// node, where no load-balancer container exists).
func (c *Cluster) NodeLocalLB() bool {
	return c.Machines() && len(c.ControlPlanes()) > 1
}

// ControlPlanes returns the nodes that run etcd and the control plane.
func (c *Cluster) ControlPlanes() []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.IsControlPlane() {
			out = append(out, n)
		}
	}
	return out
}

// Workers returns the nodes that run kubelet and pods.
func (c *Cluster) Workers() []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.IsWorker() {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node called name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// APIHost is the address clients outside the control plane use for the API:
// the user's endpoint when given, the published address when this host
// cannot reach the nodes, the load balancer when there is one, else the
// first control-plane node.
func (c *Cluster) APIHost() string {
	if h, _ := c.apiEndpoint(); h != "" {
		return h
	}
	if c.Published() {
		return c.Network.APIPublishAddress
	}
	if c.Network.LoadBalancerIP != "" {
		return c.Network.LoadBalancerIP
	}
	if cps := c.ControlPlanes(); len(cps) > 0 {
		return cps[0].IP
	}
	return "127.0.0.1"
}

// apiEndpoint splits network.apiEndpoint into host and port (the API
// server port when it names none).
func (c *Cluster) apiEndpoint() (string, int) {
	e := c.Network.APIEndpoint
	if e == "" {
		return "", 0
	}
	if h, p, err := net.SplitHostPort(e); err == nil {
		if port, err := strconv.Atoi(p); err == nil {
			return h, port
		}
	}
	return e, c.Network.APIServerPort
}

// APIEndpointHost is the host of network.apiEndpoint ("" when unset), for
// the API server certificate.
func (c *Cluster) APIEndpointHost() string {
	h, _ := c.apiEndpoint()
	return h
}

// APIServerURL is the admin kubeconfig's server.
func (c *Cluster) APIServerURL() string {
	if h, p := c.apiEndpoint(); h != "" {
		return "https://" + net.JoinHostPort(h, strconv.Itoa(p))
	}
	if c.Published() {
		return "https://" + net.JoinHostPort(c.Network.APIPublishAddress, strconv.Itoa(c.Network.APIPublishPort))
	}
	return fmt.Sprintf("https://%s:%d", c.APIHost(), c.Network.APIServerPort)
}

// NodeAPIServerURL is what kubelets and kube-proxy use: the node-local load
// balancer on machines with several API servers, else the load-balancer
// container, else the only control-plane node. Never network.apiEndpoint:
// that one serves people outside the cluster, and nodes should not depend
// on it.
func (c *Cluster) NodeAPIServerURL() string {
	if c.NodeLocalLB() {
		return fmt.Sprintf("https://127.0.0.1:%d", NodeLocalLBPort)
	}
	host := c.Network.LoadBalancerIP
	if host == "" {
		if cps := c.ControlPlanes(); len(cps) > 0 {
			host = cps[0].IP
		}
	}
	return fmt.Sprintf("https://%s:%d", host, c.Network.APIServerPort)
}

// LocalAPIServerURL is what components on a control-plane node use.
func (c *Cluster) LocalAPIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.Network.APIServerPort)
}

// KubernetesServiceIP is the first address of the service CIDR, which the
// apiserver claims for the "kubernetes" Service.
func (c *Cluster) KubernetesServiceIP() string {
	p, err := netip.ParsePrefix(c.Network.ServiceCIDR)
	if err != nil {
		return ""
	}
	ip, ok := nthAddr(p.Masked(), 1)
	if !ok {
		return ""
	}
	return ip.String()
}

// EtcdEndpoints lists every etcd member's client URL.
func (c *Cluster) EtcdEndpoints() []string {
	var out []string
	for _, n := range c.ControlPlanes() {
		out = append(out, fmt.Sprintf("https://%s:2379", n.IP))
	}
	return out
}

// EtcdInitialCluster is etcd's --initial-cluster value.
func (c *Cluster) EtcdInitialCluster() string {
	var out []string
	for _, n := range c.ControlPlanes() {
		out = append(out, fmt.Sprintf("%s=https://%s:2380", n.Name, n.IP))
	}
	return strings.Join(out, ",")
}

// IsIsolated reports whether the cluster network is cut off from the outside.
func (c *Cluster) IsIsolated() bool { return c.Isolated == nil || *c.Isolated }

// ipv4Prefix parses an IPv4 CIDR.
func ipv4Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err == nil && !p.Addr().Is4() {
		err = fmt.Errorf("%s is not IPv4", s)
	}
	return p, err
}

// nthAddr is the n-th address after p's first (IPv4), if p holds it.
func nthAddr(p netip.Prefix, n int) (netip.Addr, bool) {
	if !p.Addr().Is4() || n < 0 || uint64(n) >= uint64(1)<<(32-p.Bits()) {
		return netip.Addr{}, false
	}
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// nthSubnet returns the i-th /bits subnet inside p.
func nthSubnet(p netip.Prefix, bits, i int) (netip.Prefix, bool) {
	if !p.Addr().Is4() || bits < p.Bits() || bits > 32 {
		return netip.Prefix{}, false
	}
	if i >= 1<<(bits-p.Bits()) {
		return netip.Prefix{}, false
	}
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i) << (32 - bits)
	out := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(out, bits), true
}
