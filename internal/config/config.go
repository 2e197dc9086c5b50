// Package config holds the versioned Cluster document that describes a hardway
// cluster, its defaults and its validation.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	kjson "sigs.k8s.io/json"
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
	// Isolated keeps the cluster network without a route off the machine
	// (Docker --internal). Pods then only run locally imported images.
	Isolated *bool   `json:"isolated,omitempty"`
	Network  Network `json:"network"`
	PKI      PKI     `json:"pki"`
	Nodes    []Node  `json:"nodes,omitempty"`
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
}

type PKI struct {
	KeyAlgorithm string   `json:"keyAlgorithm,omitempty"`
	CAValidity   Duration `json:"caValidity,omitempty"`
	CertValidity Duration `json:"certValidity,omitempty"`
}

type Node struct {
	Name    string   `json:"name"`
	IP      string   `json:"ip,omitempty"`
	Roles   []string `json:"roles,omitempty"`
	PodCIDR string   `json:"podCIDR,omitempty"`
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

// Load reads a config file strictly (unknown fields are errors) and fills defaults.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML document strictly and fills defaults.
func Parse(data []byte) (*Cluster, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	c := &Cluster{}
	strict, err := kjson.UnmarshalStrict(js, c, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return nil, &ValidationError{Problems: msgs}
	}
	if c.APIVersion == "" || c.Kind == "" {
		return nil, fmt.Errorf("missing apiVersion/kind: start the file with \"apiVersion: %s\" and \"kind: %s\"", APIVersion, Kind)
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		return nil, fmt.Errorf("unsupported %s/%s: this hardway reads apiVersion %s, kind %s", c.APIVersion, c.Kind, APIVersion, Kind)
	}
	c.SetDefaults()
	return c, nil
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
	def(&n.NodeSubnet, "10.240.0.0/24")
	def(&n.PodCIDR, "10.200.0.0/16")
	def(&n.ServiceCIDR, "10.32.0.0/24")
	def(&n.ClusterDNS, "10.32.0.10")
	def(&n.ClusterDomain, "cluster.local")
	def(&n.KubeProxyMode, ProxyIPTables)
	if n.APIServerPort == 0 {
		n.APIServerPort = 6443
	}
	def(&c.PKI.KeyAlgorithm, KeyECDSA)
	if c.PKI.CAValidity.Duration == 0 {
		c.PKI.CAValidity.Duration = 10 * 365 * 24 * time.Hour
	}
	if c.PKI.CertValidity.Duration == 0 {
		c.PKI.CertValidity.Duration = 365 * 24 * time.Hour
	}
	if len(c.Nodes) == 0 {
		c.Nodes = make([]Node, DefaultNodeCount)
	}
	subnet, subnetErr := netip.ParsePrefix(n.NodeSubnet)
	pods, podsErr := netip.ParsePrefix(n.PodCIDR)
	for i := range c.Nodes {
		nd := &c.Nodes[i]
		def(&nd.Name, fmt.Sprintf("node-%d", i))
		if len(nd.Roles) == 0 {
			nd.Roles = []string{RoleControlPlane, RoleWorker}
		}
		if nd.IP == "" && subnetErr == nil {
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
	if n.LoadBalancerIP == "" && len(c.ControlPlanes()) > 1 && subnetErr == nil {
		if ip, ok := nthAddr(subnet.Masked(), 2); ok {
			n.LoadBalancerIP = ip.String()
		}
	}
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
// the load balancer when there is one, else the only control-plane node.
func (c *Cluster) APIHost() string {
	if c.Network.LoadBalancerIP != "" {
		return c.Network.LoadBalancerIP
	}
	if cps := c.ControlPlanes(); len(cps) > 0 {
		return cps[0].IP
	}
	return "127.0.0.1"
}

// APIServerURL is the admin kubeconfig's server.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://%s:%d", c.APIHost(), c.Network.APIServerPort)
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
	ip, _ := nthAddr(p.Masked(), 1)
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

func nthAddr(p netip.Prefix, n int) (netip.Addr, bool) {
	a := p.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
		if !a.IsValid() || !p.Contains(a) {
			return netip.Addr{}, false
		}
	}
	return a, true
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
