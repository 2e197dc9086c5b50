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
	// sizeRE is what Lima accepts for memory and disk sizes.
	sizeRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(GiB|MiB|GB|MB|G|M)$`)
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
	switch c.Provider {
	case ProviderDocker, ProviderSSH, ProviderLima:
	default:
		bad("provider: %q is not supported (supported: docker, ssh, lima)", c.Provider)
	}
	if c.Arch != "" && c.Arch != "amd64" && c.Arch != "arm64" {
		bad("arch: %q: hardway has node images and artifacts for amd64 and arm64 (leave it empty for this host's)", c.Arch)
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
	// Real machines have the addresses they have: nodeSubnet is then only
	// checked when given.
	var nodeNet netip.Prefix
	okNode := false
	if n.NodeSubnet != "" || !c.Machines() {
		nodeNet, okNode = prefix("nodeSubnet", n.NodeSubnet)
	}
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
	switch n.PodRoutes {
	case PodRoutesDirect, PodRoutesVXLAN:
	default:
		bad("network.podRoutes: %q must be direct (one L2 network) or vxlan", n.PodRoutes)
	}
	if c.Provider == ProviderDocker && n.PodRoutes == PodRoutesDirect {
		bad("network.podRoutes: direct does not work between Docker nodes (the --internal network drops packets with pod addresses): remove it or set vxlan")
	}
	if e := n.APIEndpoint; e != "" {
		h, port := c.apiEndpoint()
		if strings.ContainsAny(e, "/ ") || h == "" || port < 1 || port > 65535 || (!nameRE.MatchString(strings.ReplaceAll(h, ".", "-")) && !isIP(h)) {
			bad("network.apiEndpoint: %q is not HOST or HOST:PORT (a load balancer in front of the API servers, e.g. k8s.example.com:6443)", e)
		}
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
		case nd.IP == "" && c.Provider == ProviderLima:
			// The VM's address on the shared network is learned when it
			// starts (the nodes step writes it into the saved config).
		case nd.IP == "" && c.Provider == ProviderSSH:
			bad("%s.ip: missing: give the address the other nodes reach %s at (ssh.address %q is not an IPv4 address)", where, nd.Name, sshAddress(nd))
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
		case okPod && podNet.Contains(ip):
			bad("%s.ip: %s is inside podCIDR %s: pick a podCIDR the machines' network does not use", where, ip, podNet)
		case okSvc && svcNet.Contains(ip):
			bad("%s.ip: %s is inside serviceCIDR %s: pick a serviceCIDR the machines' network does not use", where, ip, svcNet)
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
	c.validateMachines(bad)
	if len(c.Nodes) > 0 && cp == 0 {
		bad("nodes: no node has the control-plane role; at least one must")
	}
	if len(c.Workers()) == 0 && len(c.Nodes) > 0 {
		bad("nodes: no node has the worker role; pods would have nowhere to run")
	}
	if n.LoadBalancerIP != "" && c.Machines() {
		bad("network.loadBalancerIP: only provider docker runs a load-balancer machine; on %s machines every node balances to the API servers itself (127.0.0.1:%d): remove it, or set network.apiEndpoint to your own load balancer", c.Provider, NodeLocalLBPort)
	} else if n.LoadBalancerIP != "" {
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

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func sshAddress(n Node) string {
	if n.SSH == nil {
		return ""
	}
	return n.SSH.Address
}

// validateMachines checks the provider-specific blocks: ssh settings only
// with provider ssh (and complete there), lima settings only with lima.
func (c *Cluster) validateMachines(bad func(format string, a ...any)) {
	if c.Provider != ProviderSSH {
		if c.SSH != nil {
			bad("ssh: only provider ssh reaches nodes over SSH you configure (provider is %s): remove the block or set provider: ssh", c.Provider)
		}
		for i, nd := range c.Nodes {
			if nd.SSH != nil {
				bad("nodes[%d].ssh: only provider ssh reaches nodes over SSH you configure (provider is %s): remove the block or set provider: ssh", i, c.Provider)
			}
		}
	}
	if c.Provider != ProviderLima && c.Lima != nil {
		bad("lima: only provider lima creates VMs (provider is %s): remove the block or set provider: lima", c.Provider)
	}
	if c.Provider == ProviderSSH {
		addrs := map[string]int{}
		for i, nd := range c.Nodes {
			s := nd.SSH
			if s == nil {
				continue // SetDefaults was not run: nothing to say yet
			}
			where := fmt.Sprintf("nodes[%d].ssh", i)
			switch {
			case s.Address == "":
				bad("%s.address: missing: give the host name or IP hardway connects to (or the node's ip)", where)
			case strings.ContainsAny(s.Address, " /@:") && !isIP(s.Address):
				bad("%s.address: %q is not a host name or IP (give the user in ssh.user and the port in ssh.port)", where, s.Address)
			}
			if s.Port < 1 || s.Port > 65535 {
				bad("%s.port: %d is not a port", where, s.Port)
			}
			if s.User == "" || strings.ContainsAny(s.User, " @:/") {
				bad("%s.user: %q is not a user name", where, s.User)
			}
			key := fmt.Sprintf("%s:%d", s.Address, s.Port)
			if j, dup := addrs[key]; dup && s.Address != "" {
				bad("%s.address: %s is also nodes[%d]: every node must be its own machine", where, key, j)
			}
			addrs[key] = i
		}
	}
	if c.Provider == ProviderLima && c.Lima != nil {
		l := c.Lima
		switch l.VMType {
		case "vz", "qemu":
		default:
			bad("lima.vmType: %q must be vz or qemu", l.VMType)
		}
		switch l.Network {
		case "vzNAT", "shared":
		default:
			bad("lima.network: %q must be vzNAT (vmType vz) or shared (socket_vmnet): the nodes and this host must reach each other's addresses", l.Network)
		}
		if l.Network == "vzNAT" && l.VMType != "vz" {
			bad("lima.network: vzNAT needs lima.vmType vz (for qemu use network: shared)")
		}
		if l.CPUs < 1 {
			bad("lima.cpus: %d must be at least 1", l.CPUs)
		}
		for _, f := range []struct{ name, v string }{{"memory", l.Memory}, {"disk", l.Disk}} {
			if !sizeRE.MatchString(f.v) {
				bad("lima.%s: %q is not a size like 4GiB", f.name, f.v)
			}
		}
	}
}
