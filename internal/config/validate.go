package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// ValidationError carries every problem found, one per line, so a user fixes
// a config in one pass instead of one error per run. A problem reads
// "FILE:LINE: field.path: what is wrong, what is expected: the fix".
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid cluster config:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// MaxControlPlanes is the most etcd members hardway builds. etcd has no
// hard limit, but its FAQ says a cluster "probably should have no more
// than seven nodes": every write waits for a majority, so each member
// slows writes, and 7 already tolerate 3 failures.
const MaxControlPlanes = 7

var (
	versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	// Node names become hostnames, container names and certificate CNs.
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// reservedNodeNames: "lb" is the load balancer machine, "cluster" the
	// directory of cluster-level files in `hardway render`.
	reservedNodeNames = map[string]bool{"lb": true, "cluster": true}
	// sizeRE is what Lima accepts for memory and disk sizes.
	sizeRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)? ?(GiB|MiB|GB|MB|G|M)$`)
)

// ipv6Only is the one line said about an IPv6 value, at the field the
// user wrote: nothing derived from it is checked again.
const ipv6Only = "is IPv6; hardway is IPv4-only until dual-stack exists"

// Validate checks the (defaulted) cluster. It returns warnings that do not
// stop a run, and a *ValidationError listing every problem when there is any.
// For a config read by Load or Parse each problem names the line the value
// came from, or says "(default)".
func (c *Cluster) Validate() (warnings []string, err error) {
	warnings, ps := c.validate()
	if len(ps) == 0 {
		return warnings, nil
	}
	file := ""
	if c.src != nil {
		file = c.src.file
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		p.line, p.dflt = c.src.locate(c, p.path)
		out[i] = p.text(file)
	}
	return warnings, &ValidationError{Problems: out}
}

// Bounds of etcd.snapshots.
const (
	MinSnapshotEvery = time.Minute
	MaxSnapshotEvery = 7 * 24 * time.Hour
	MaxSnapshotsKept = 1000
)

func (c *Cluster) validate() (warnings []string, p []problem) {
	bad := func(path, format string, a ...any) {
		p = append(p, problem{path: path, msg: fmt.Sprintf(format, a...)})
	}

	if err := ValidateName(c.Name); err != nil {
		bad("name", "%v", err)
	}
	if !versionRE.MatchString(c.KubernetesVersion) {
		bad("kubernetesVersion", "%s is not a version like %s: write vMAJOR.MINOR.PATCH", q(c.KubernetesVersion), DefaultKubernetesVersion)
	}
	switch c.Provider {
	case ProviderDocker, ProviderSSH, ProviderLima:
	default:
		bad("provider", "%s is not supported (supported: docker, ssh, lima)", q(c.Provider))
	}
	if c.Arch != "" && c.Arch != "amd64" && c.Arch != "arm64" {
		bad("arch", "%s: hardway has node images and artifacts for amd64 and arm64 (leave it out for this host's)", q(c.Arch))
	}
	switch c.PKI.KeyAlgorithm {
	case KeyECDSA, KeyRSA:
	default:
		bad("pki.keyAlgorithm", "%s must be ecdsa or rsa", q(c.PKI.KeyAlgorithm))
	}
	okValidity := true
	for _, v := range []struct {
		field   string
		d       Duration
		example string
	}{{"caValidity", c.PKI.CAValidity, "87600h"}, {"certValidity", c.PKI.CertValidity, "8760h"}} {
		if v.d.Duration <= 0 {
			bad("pki."+v.field, "%s must be positive, like %s", v.d, v.example)
			okValidity = false
		}
	}
	if okValidity && c.PKI.CertValidity.Duration > c.PKI.CAValidity.Duration {
		bad("pki.certValidity", "%s outlives the CA (pki.caValidity %s): make it shorter, or the CA longer", c.PKI.CertValidity, c.PKI.CAValidity)
	}
	if s := c.Snapshots(); s != nil {
		// A snapshot of a busy etcd takes seconds; more often than each
		// minute they would overlap. Past a week one is of little use.
		if s.Every.Duration < MinSnapshotEvery || s.Every.Duration > MaxSnapshotEvery {
			bad("etcd.snapshots.every", "%s must be between 1m and 168h, like 1h", s.Every)
		}
		if s.Keep < 1 || s.Keep > MaxSnapshotsKept {
			bad("etcd.snapshots.keep", "%d must be between 1 and %d (each snapshot is a copy of the whole database on the node's disk)", s.Keep, MaxSnapshotsKept)
		}
	}

	n := c.Network
	prefix := func(field, v, example string) (netip.Prefix, bool) {
		pf, err := netip.ParsePrefix(v)
		switch {
		case err != nil:
			bad("network."+field, "%s is not an IPv4 CIDR like %s", q(v), example)
		case !pf.Addr().Is4():
			bad("network."+field, "%s %s: use an IPv4 CIDR like %s", v, ipv6Only, example)
		default:
			return pf.Masked(), true
		}
		return netip.Prefix{}, false
	}
	// Real machines have the addresses they have: nodeSubnet is then only
	// checked when given.
	var nodeNet netip.Prefix
	okNode := false
	if n.NodeSubnet != "" || !c.Machines() {
		nodeNet, okNode = prefix("nodeSubnet", n.NodeSubnet, "10.240.0.0/24")
	}
	podNet, okPod := prefix("podCIDR", n.PodCIDR, "10.200.0.0/16")
	svcNet, okSvc := prefix("serviceCIDR", n.ServiceCIDR, "10.32.0.0/24")
	nets := []struct {
		name string
		p    netip.Prefix
		ok   bool
	}{{"nodeSubnet", nodeNet, okNode}, {"podCIDR", podNet, okPod}, {"serviceCIDR", svcNet, okSvc}}
	for i := range nets {
		for j := i + 1; j < len(nets); j++ {
			if nets[i].ok && nets[j].ok && nets[i].p.Overlaps(nets[j].p) {
				bad("network."+nets[j].name, "%s overlaps %s %s: give each range its own addresses", nets[j].p, nets[i].name, nets[i].p)
			}
		}
	}
	dnsExample := ""
	if ip, ok := nthAddr(svcNet, 10); okSvc && ok {
		dnsExample = ", like " + ip.String()
	}
	if dns, err := netip.ParseAddr(n.ClusterDNS); err != nil {
		bad("network.clusterDNS", "%s is not an IP address: use one inside serviceCIDR%s", q(n.ClusterDNS), dnsExample)
	} else if !dns.Is4() {
		bad("network.clusterDNS", "%s %s: use an IPv4 address inside serviceCIDR%s", n.ClusterDNS, ipv6Only, dnsExample)
	} else if okSvc && !svcNet.Contains(dns) {
		bad("network.clusterDNS", "%s is outside serviceCIDR %s: use an address inside it%s", dns, svcNet, dnsExample)
	} else if okSvc && dns.String() == c.KubernetesServiceIP() {
		bad("network.clusterDNS", "%s is taken by the kubernetes Service (first address of serviceCIDR): use another%s", dns, dnsExample)
	}
	if !isDNSName(n.ClusterDomain) {
		bad("network.clusterDomain", "%s is not a DNS domain like cluster.local", q(n.ClusterDomain))
	}
	switch n.KubeProxyMode {
	case ProxyIPTables, ProxyNFTables, ProxyIPVS:
	default:
		bad("network.kubeProxyMode", "%s must be iptables, nftables or ipvs", q(n.KubeProxyMode))
	}
	if n.APIServerPort < 1 || n.APIServerPort > 65535 {
		bad("network.apiServerPort", "%d is not a port: use 1 to 65535, like 6443", n.APIServerPort)
	}
	switch n.PodRoutes {
	case PodRoutesDirect, PodRoutesVXLAN:
	default:
		bad("network.podRoutes", "%s must be direct (one L2 network) or vxlan", q(n.PodRoutes))
	}
	if c.Provider == ProviderDocker && n.PodRoutes == PodRoutesDirect {
		bad("network.podRoutes", "direct does not work between Docker nodes (the --internal network drops packets with pod addresses): remove it or set vxlan")
	}
	if e := n.APIEndpoint; e != "" {
		h, port := c.apiEndpoint()
		if strings.ContainsAny(e, "/ ") || h == "" || port < 1 || port > 65535 || (!isDNSName(h) && !isIP(h)) {
			bad("network.apiEndpoint", "%s is not HOST or HOST:PORT (a load balancer in front of the API servers, e.g. k8s.example.com:6443)", q(e))
		}
	}
	switch n.HostAccess {
	case "":
		if !c.Machines() {
			bad("network.hostAccess", "is empty: use auto, routed or published")
		}
	case AccessAuto, AccessRouted, AccessPublished:
		if c.Machines() {
			bad("network.hostAccess", "%s is for provider docker (machines are reached at their own addresses): remove it", q(n.HostAccess))
		}
	default:
		bad("network.hostAccess", "%s must be auto, routed (this host has a route to the nodes) or published (it has none: Docker Desktop, a remote or rootless engine)", q(n.HostAccess))
	}
	if !c.Machines() {
		if a, err := netip.ParseAddr(n.APIPublishAddress); err != nil || !a.Is4() {
			bad("network.apiPublishAddress", "%s is not an IPv4 address of the engine's host, like 127.0.0.1", q(n.APIPublishAddress))
		}
		if n.APIPublishPort < 1 || n.APIPublishPort > 65535 {
			bad("network.apiPublishPort", "%d is not a port: use 1 to 65535, like 26443", n.APIPublishPort)
		}
	}
	if okNode && nodeNet.Bits() > 29 {
		bad("network.nodeSubnet", "%s is too small (use /29 or larger)", nodeNet)
	}

	if len(c.Nodes) == 0 {
		bad("nodes", "%s", emptyList("nodes"))
	}
	names := map[string]int{}
	ips := map[netip.Addr]string{}
	pods := map[netip.Prefix]string{}
	cp := 0
	for i, nd := range c.Nodes {
		where := fmt.Sprintf("nodes[%d]", i)
		switch {
		case !nameRE.MatchString(nd.Name):
			bad(where+".name", "%s is not a node name: use 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit, e.g. %s", q(nd.Name), q(suggestName(nd.Name, 63)))
		case reservedNodeNames[nd.Name]:
			bad(where+".name", "%s is reserved (hardway uses it for the load balancer or the cluster's own files): pick another name", q(nd.Name))
		}
		if j, dup := names[nd.Name]; dup {
			bad(where+".name", "%s is also nodes[%d]: give each node its own name", q(nd.Name), j)
		} else {
			names[nd.Name] = i
		}
		for j, r := range nd.Roles {
			if r != RoleControlPlane && r != RoleWorker {
				bad(fmt.Sprintf("%s.roles[%d]", where, j), "%s is not a role: use control-plane or worker", q(r))
			}
		}
		if nd.IsControlPlane() {
			cp++
		}
		inSubnet := ""
		if okNode {
			inSubnet = " in nodeSubnet " + nodeNet.String()
		}
		ip, err := netip.ParseAddr(nd.IP)
		switch {
		case nd.IP == "" && c.Provider == ProviderLima:
			// The VM's address on the shared network is learned when it
			// starts (the nodes step writes it into the saved config).
		case nd.IP == "" && c.Provider == ProviderSSH:
			bad(where+".ip", "missing: give the address the other nodes reach %s at (ssh.address %s is not an IPv4 address)", show(nd.Name), q(sshAddress(nd)))
		case nd.IP == "" && !okNode:
			// No address can come from a nodeSubnet that is refused above.
		case nd.IP == "":
			bad(where+".ip", "no address left in nodeSubnet %s for this node: use a larger nodeSubnet, or fewer nodes", nodeNet)
		case err == nil && !ip.Is4():
			bad(where+".ip", "%s %s: use an IPv4 address%s", nd.IP, ipv6Only, inSubnet)
		case err != nil:
			bad(where+".ip", "%s is not an IPv4 address: give one%s, like %s", q(nd.IP), inSubnet, examples["nodes[].ip"])
		case okNode && !nodeNet.Contains(ip):
			bad(where+".ip", "%s is outside nodeSubnet %s: use an address inside it, or change network.nodeSubnet", ip, nodeNet)
		case okNode && (ip == nodeNet.Addr() || ip == nodeNet.Addr().Next()):
			bad(where+".ip", "%s is the network or gateway address of %s: use another address", ip, nodeNet)
		case ip.String() == n.LoadBalancerIP:
			bad(where+".ip", "%s is also network.loadBalancerIP: give the node another address", ip)
		case okPod && podNet.Contains(ip):
			bad(where+".ip", "%s is inside podCIDR %s: pick a podCIDR the machines' network does not use", ip, podNet)
		case okSvc && svcNet.Contains(ip):
			bad(where+".ip", "%s is inside serviceCIDR %s: pick a serviceCIDR the machines' network does not use", ip, svcNet)
		}
		if err == nil {
			if other, dup := ips[ip]; dup {
				bad(where+".ip", "%s is also used by %s: give each node its own address", ip, other)
			} else {
				ips[ip] = show(nd.Name)
			}
		}
		if nd.IsWorker() {
			pc, err := netip.ParsePrefix(nd.PodCIDR)
			switch {
			case nd.PodCIDR == "" && !okPod:
				// Nothing is assigned from a podCIDR refused above.
			case nd.PodCIDR == "":
				bad(where+".podCIDR", "podCIDR %s has no /24 left for this node (too many nodes; use a larger podCIDR)", podNet)
			case err == nil && !pc.Addr().Is4():
				bad(where+".podCIDR", "%s %s: use an IPv4 CIDR like %s, or remove it to get one assigned", nd.PodCIDR, ipv6Only, examples["nodes[].podCIDR"])
			case err != nil:
				bad(where+".podCIDR", "%s is not a CIDR like %s: fix it, or remove it to get one assigned", q(nd.PodCIDR), examples["nodes[].podCIDR"])
			case okPod && !podNet.Contains(pc.Addr()):
				bad(where+".podCIDR", "%s is outside podCIDR %s: use a range inside it, or remove it to get one assigned", pc, podNet)
			default:
				if other, dup := pods[pc.Masked()]; dup {
					bad(where+".podCIDR", "%s is also used by %s: give each node its own range", pc, other)
				} else {
					pods[pc.Masked()] = show(nd.Name)
				}
			}
		}
	}
	c.validateMachines(bad)
	if len(c.Nodes) > 0 && cp == 0 {
		bad("nodes", "no node has the control-plane role; at least one must")
	}
	if cp > MaxControlPlanes {
		bad("nodes", "%d control-plane nodes would run %d etcd members; etcd advises at most %d (every write waits for a majority, so more members make writes slower, and %d already tolerate %d failures): give the others roles: [worker]",
			cp, cp, MaxControlPlanes, MaxControlPlanes, MaxControlPlanes/2)
	}
	if len(c.Workers()) == 0 && len(c.Nodes) > 0 {
		bad("nodes", "no node has the worker role; pods would have nowhere to run")
	}
	if n.LoadBalancerIP != "" && c.Machines() {
		bad("network.loadBalancerIP", "only provider docker runs a load-balancer machine; on %s machines every node balances to the API servers itself (127.0.0.1:%d): remove it, or set network.apiEndpoint to your own load balancer", show(c.Provider), NodeLocalLBPort)
	} else if n.LoadBalancerIP != "" {
		lb, err := netip.ParseAddr(n.LoadBalancerIP)
		switch {
		case err == nil && !lb.Is4():
			bad("network.loadBalancerIP", "%s %s: use a free IPv4 address in nodeSubnet", n.LoadBalancerIP, ipv6Only)
		case err != nil:
			bad("network.loadBalancerIP", "%s is not an IP address: use a free address in nodeSubnet, like %s", q(n.LoadBalancerIP), examples["network.loadBalancerIP"])
		case okNode && !nodeNet.Contains(lb):
			bad("network.loadBalancerIP", "%s is outside nodeSubnet %s: use a free address inside it", lb, nodeNet)
		}
	}
	c.validateAddons(bad, nodeNet, okNode)
	if cp > 1 && cp%2 == 0 && cp <= MaxControlPlanes {
		warnings = append(warnings, evenEtcd(cp))
	}
	return warnings, p
}

// evenEtcd says why an even number of etcd members buys nothing: quorum is
// a majority, so n and n-1 members tolerate the same number of failures.
func evenEtcd(cp int) string {
	quorum := cp/2 + 1
	tolerated := cp - quorum
	failures := "failures"
	if tolerated == 1 {
		failures = "failure"
	}
	members := fmt.Sprintf("%d members do", cp-1)
	if cp-1 == 1 {
		members = "1 member does"
	}
	fix := fmt.Sprintf("use %d or %d", cp-1, cp+1)
	return fmt.Sprintf("%d control-plane nodes run %d etcd members: quorum is %d, so they tolerate %d %s, no more than %s; %s", cp, cp, quorum, tolerated, failures, members, fix)
}

// isDNSName is a DNS name of lower-case labels (cluster.local, k8s.lan).
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !nameRE.MatchString(label) {
			return false
		}
	}
	return true
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
func (c *Cluster) validateMachines(bad func(path, format string, a ...any)) {
	if c.Provider != ProviderSSH {
		if c.SSH != nil {
			bad("ssh", "only provider ssh reaches nodes over SSH you configure (provider is %s): remove the block or set provider: ssh", show(c.Provider))
		}
		for i, nd := range c.Nodes {
			if nd.SSH != nil {
				bad(fmt.Sprintf("nodes[%d].ssh", i), "only provider ssh reaches nodes over SSH you configure (provider is %s): remove the block or set provider: ssh", show(c.Provider))
			}
		}
	}
	if c.Provider != ProviderLima && c.Lima != nil {
		bad("lima", "only provider lima creates VMs (provider is %s): remove the block or set provider: lima", show(c.Provider))
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
				bad(where+".address", "missing: give the host name or IP hardway connects to (or the node's ip)")
			case strings.ContainsAny(s.Address, " /@:") && !isIP(s.Address) || hasControl(s.Address):
				bad(where+".address", "%s is not a host name or IP (give the user in ssh.user and the port in ssh.port)", q(s.Address))
			}
			if s.Port < 1 || s.Port > 65535 {
				bad(where+".port", "%d is not a port: use 1 to 65535, like 22", s.Port)
			}
			if s.User == "" || strings.ContainsAny(s.User, " @:/") || hasControl(s.User) {
				bad(where+".user", "%s is not a user name", q(s.User))
			}
			if hasControl(s.IdentityFile) {
				bad(where+".identityFile", "%s contains a control character or line separator: remove it", q(s.IdentityFile))
			}
			key := fmt.Sprintf("%s:%d", s.Address, s.Port)
			if j, dup := addrs[key]; dup && s.Address != "" {
				bad(where+".address", "%s is also nodes[%d]: every node must be its own machine", show(key), j)
			} else {
				addrs[key] = i
			}
		}
	}
	if c.Provider == ProviderLima && c.Lima != nil {
		l := c.Lima
		switch l.VMType {
		case "vz", "qemu":
		default:
			bad("lima.vmType", "%s must be vz or qemu", q(l.VMType))
		}
		switch l.Network {
		case "vzNAT", "shared":
		default:
			bad("lima.network", "%s must be vzNAT (vmType vz) or shared (socket_vmnet): the nodes and this host must reach each other's addresses", q(l.Network))
		}
		if l.Network == "vzNAT" && l.VMType != "vz" {
			bad("lima.network", "vzNAT needs lima.vmType vz (for qemu use network: shared)")
		}
		if l.CPUs < 1 {
			bad("lima.cpus", "%d must be at least 1", l.CPUs)
		}
		for _, f := range []struct{ name, v string }{{"memory", l.Memory}, {"disk", l.Disk}} {
			if !sizeRE.MatchString(f.v) {
				bad("lima."+f.name, "%s is not a size like 4GiB", q(f.v))
			}
		}
	}
}
