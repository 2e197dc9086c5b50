package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// ValidationError carries every problem found, one per line, so a user fixes
// a config in one pass instead of one error per run.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid cluster config:\n  - " + strings.Join(e.Problems, "\n  - ")
}

var (
	versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	// Node names become hostnames, container names and certificate CNs.
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// reservedNodeNames: "lb" is the load balancer machine, "cluster" the
	// directory of cluster-level files in `hardway render`.
	reservedNodeNames = map[string]bool{"lb": true, "cluster": true}
)

// Validate checks the (defaulted) cluster. It returns warnings that do not
// stop a run, and a *ValidationError listing every problem when there is any.
func (c *Cluster) Validate() (warnings []string, err error) {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }

	if !nameRE.MatchString(c.Name) || len(c.Name) > 40 {
		bad("name: %q must be lower-case letters, digits and '-', at most 40 characters", c.Name)
	}
	if !versionRE.MatchString(c.KubernetesVersion) {
		bad("kubernetesVersion: %q is not a version like v1.37.2", c.KubernetesVersion)
	}
	if c.Provider != ProviderDocker {
		bad("provider: %q is not supported (supported: docker)", c.Provider)
	}
	switch c.PKI.KeyAlgorithm {
	case KeyECDSA, KeyRSA:
	default:
		bad("pki.keyAlgorithm: %q must be ecdsa or rsa", c.PKI.KeyAlgorithm)
	}
	if c.PKI.CertValidity.Duration <= 0 || c.PKI.CAValidity.Duration <= 0 {
		bad("pki: validities must be positive")
	} else if c.PKI.CertValidity.Duration > c.PKI.CAValidity.Duration {
		bad("pki.certValidity: %s outlives the CA (%s)", c.PKI.CertValidity, c.PKI.CAValidity)
	}

	n := c.Network
	prefix := func(field, v string) (netip.Prefix, bool) {
		pf, err := netip.ParsePrefix(v)
		if err != nil || !pf.Addr().Is4() {
			bad("network.%s: %q is not an IPv4 CIDR like 10.0.0.0/16", field, v)
			return netip.Prefix{}, false
		}
		return pf.Masked(), true
	}
	nodeNet, okNode := prefix("nodeSubnet", n.NodeSubnet)
	podNet, okPod := prefix("podCIDR", n.PodCIDR)
	svcNet, okSvc := prefix("serviceCIDR", n.ServiceCIDR)
	nets := []struct {
		name string
		p    netip.Prefix
		ok   bool
	}{{"nodeSubnet", nodeNet, okNode}, {"podCIDR", podNet, okPod}, {"serviceCIDR", svcNet, okSvc}}
	for i := range nets {
		for j := i + 1; j < len(nets); j++ {
			if nets[i].ok && nets[j].ok && nets[i].p.Overlaps(nets[j].p) {
				bad("network: %s %s overlaps %s %s", nets[i].name, nets[i].p, nets[j].name, nets[j].p)
			}
		}
	}
	if dns, err := netip.ParseAddr(n.ClusterDNS); err != nil {
		bad("network.clusterDNS: %q is not an IP address", n.ClusterDNS)
	} else if okSvc && !svcNet.Contains(dns) {
		bad("network.clusterDNS: %s is outside serviceCIDR %s", dns, svcNet)
	} else if okSvc && dns.String() == c.KubernetesServiceIP() {
		bad("network.clusterDNS: %s is taken by the kubernetes Service (first address of serviceCIDR)", dns)
	}
	if !nameRE.MatchString(strings.ReplaceAll(n.ClusterDomain, ".", "-")) {
		bad("network.clusterDomain: %q is not a DNS domain", n.ClusterDomain)
	}
	switch n.KubeProxyMode {
	case ProxyIPTables, ProxyNFTables, ProxyIPVS:
	default:
		bad("network.kubeProxyMode: %q must be iptables, nftables or ipvs", n.KubeProxyMode)
	}
	if n.APIServerPort < 1 || n.APIServerPort > 65535 {
		bad("network.apiServerPort: %d is not a port", n.APIServerPort)
	}
	if okNode && nodeNet.Bits() > 29 {
		bad("network.nodeSubnet: %s is too small (use /29 or larger)", nodeNet)
	}

	if len(c.Nodes) == 0 {
		bad("nodes: at least one node is needed")
	}
	names := map[string]int{}
	ips := map[string]string{}
	pods := map[string]string{}
	cp := 0
	for i, nd := range c.Nodes {
		where := fmt.Sprintf("nodes[%d]", i)
		if !nameRE.MatchString(nd.Name) {
			bad("%s.name: %q must be lower-case letters, digits and '-'", where, nd.Name)
		}
		if reservedNodeNames[nd.Name] {
			bad("%s.name: %q is reserved (hardway uses it for the load balancer or the cluster's own files)", where, nd.Name)
		}
		if j, dup := names[nd.Name]; dup {
			bad("%s.name: %q is also nodes[%d]", where, nd.Name, j)
		}
		names[nd.Name] = i
		for _, r := range nd.Roles {
			if r != RoleControlPlane && r != RoleWorker {
				bad("%s.roles: %q is not a role (control-plane, worker)", where, r)
			}
		}
		if nd.IsControlPlane() {
			cp++
		}
		ip, err := netip.ParseAddr(nd.IP)
		switch {
		case nd.IP == "":
			bad("%s.ip: no address left in nodeSubnet %s for this node", where, n.NodeSubnet)
		case err != nil || !ip.Is4():
			bad("%s.ip: %q is not an IPv4 address", where, nd.IP)
		case okNode && !nodeNet.Contains(ip):
			bad("%s.ip: %s is outside nodeSubnet %s", where, ip, nodeNet)
		case okNode && (ip == nodeNet.Addr() || ip == nodeNet.Addr().Next()):
			bad("%s.ip: %s is the network or gateway address of %s", where, ip, nodeNet)
		case ip.String() == n.LoadBalancerIP:
			bad("%s.ip: %s is also network.loadBalancerIP", where, ip)
		}
		if other, dup := ips[nd.IP]; dup && nd.IP != "" {
			bad("%s.ip: %s is also used by %s", where, nd.IP, other)
		}
		ips[nd.IP] = nd.Name
		if nd.IsWorker() {
			pc, err := netip.ParsePrefix(nd.PodCIDR)
			switch {
			case nd.PodCIDR == "":
				bad("%s.podCIDR: podCIDR %s has no /24 left for this node (too many nodes; use a larger podCIDR)", where, n.PodCIDR)
			case err != nil:
				bad("%s.podCIDR: %q is not a CIDR", where, nd.PodCIDR)
			case okPod && !podNet.Contains(pc.Addr()):
				bad("%s.podCIDR: %s is outside podCIDR %s", where, pc, podNet)
			default:
				if other, dup := pods[pc.Masked().String()]; dup {
					bad("%s.podCIDR: %s is also used by %s", where, pc, other)
				}
				pods[pc.Masked().String()] = nd.Name
			}
		}
	}
	if len(c.Nodes) > 0 && cp == 0 {
		bad("nodes: no node has the control-plane role; at least one must")
	}
	if len(c.Workers()) == 0 && len(c.Nodes) > 0 {
		bad("nodes: no node has the worker role; pods would have nowhere to run")
	}
	if n.LoadBalancerIP != "" {
		lb, err := netip.ParseAddr(n.LoadBalancerIP)
		if err != nil {
			bad("network.loadBalancerIP: %q is not an IP address", n.LoadBalancerIP)
		} else if okNode && !nodeNet.Contains(lb) {
			bad("network.loadBalancerIP: %s is outside nodeSubnet %s", lb, nodeNet)
		}
	}
	if cp > 1 && cp%2 == 0 {
		warnings = append(warnings, fmt.Sprintf("%d control-plane nodes make an even etcd cluster: it tolerates no more failures than %d members and needs a larger quorum; prefer an odd count", cp, cp-1))
	}
	if len(p) > 0 {
		return warnings, &ValidationError{Problems: p}
	}
	return warnings, nil
}
