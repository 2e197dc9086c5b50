package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Add-ons are what `up` installs on top of a working cluster, each as a step
// of its own (steps.All). They are named in the config's `addons:` list;
// an add-on left out of the list is removed by the next `up`.
const (
	// AddonMetalLB gives LoadBalancer Services an address from
	// network.loadBalancerIPs and announces it on the node network (L2).
	AddonMetalLB = "metallb"
	// AddonNetpol enforces NetworkPolicy: the bridge CNI accepts policies
	// and enforces none (kube-network-policies, see steps/netpol.go).
	AddonNetpol = "netpol"
	// AddonArgoCD is GitOps: Argo CD syncs an app from a Git repository
	// served in the cluster. Not in the default set (see the README for
	// what it costs).
	AddonArgoCD = "argocd"
	// AddonGateway routes HTTP(S) by host name into the cluster: Gateway
	// API (Gateway, HTTPRoute) and Ingress, served by Traefik behind a
	// LoadBalancer Service that MetalLB gives an address. Named for what it
	// serves, not for the program that serves it (see gatewayNeeds).
	AddonGateway = "gateway"
)

// KnownAddons lists every add-on hardway can install, in install order
// (an add-on comes after those it needs).
func KnownAddons() []string { return []string{AddonMetalLB, AddonNetpol, AddonGateway, AddonArgoCD} }

// DefaultAddons is the add-on set of a config that names none: MetalLB
// and the gateway where hardway can pick the address range itself (Docker
// nodes, or any cluster whose config names network.loadBalancerIPs; not on
// machines without a range, whose free addresses only their owner knows;
// the gateway's address comes from MetalLB), and the NetworkPolicy agent
// everywhere: a policy accepted but not enforced is worse than an error.
// Argo CD is opt-in: the largest in build time and memory (README).
func (c *Cluster) DefaultAddons() []string {
	if !c.Machines() || c.Network.LoadBalancerIPs != "" {
		return []string{AddonMetalLB, AddonNetpol, AddonGateway}
	}
	return []string{AddonNetpol}
}

// Addon reports whether the add-on called name is on.
func (c *Cluster) Addon(name string) bool { return slices.Contains(c.Addons, name) }

// PodSecurity is the cluster-wide Pod Security admission default: the
// levels applied to every namespace that has no pod-security.kubernetes.io
// labels of its own, and the namespaces left out of it.
type PodSecurity struct {
	// Enforce rejects pods that break this level (privileged, baseline or
	// restricted).
	Enforce string `json:"enforce,omitempty"`
	// Warn lets such pods in with a warning to the client.
	Warn string `json:"warn,omitempty"`
	// Audit marks them in the audit log.
	Audit string `json:"audit,omitempty"`
	// ExemptNamespaces are not checked at all.
	ExemptNamespaces []string `json:"exemptNamespaces,omitempty"`
}

// Pod Security levels (k8s.io/pod-security-admission).
const (
	PSAPrivileged = "privileged"
	PSABaseline   = "baseline"
	PSARestricted = "restricted"
)

func (c *Cluster) podSecurityDefaults() {
	ps := &c.PodSecurity
	if ps.Enforce == "" {
		ps.Enforce = PSABaseline
	}
	if ps.Warn == "" {
		ps.Warn = PSARestricted
	}
	if ps.Audit == "" {
		ps.Audit = PSARestricted
	}
	if ps.ExemptNamespaces == nil {
		// kube-system holds what runs the cluster itself (CoreDNS,
		// hardway's probe pod, node agents an add-on may run there).
		ps.ExemptNamespaces = []string{"kube-system"}
	}
}

// addonDefaults fills the add-on list and, with MetalLB on Docker nodes,
// its address range.
func (c *Cluster) addonDefaults(subnet netip.Prefix, subnetOK bool) {
	if c.Addons == nil {
		c.Addons = c.DefaultAddons()
	}
	if c.Addon(AddonMetalLB) && c.Network.LoadBalancerIPs == "" && subnetOK && !c.Machines() {
		if r, ok := DefaultLoadBalancerIPs(subnet); ok {
			c.Network.LoadBalancerIPs = r
		}
	}
}

// DefaultLoadBalancerIPs is the top of the node subnet: its last 16
// addresses (a quarter of a smaller subnet) without the broadcast address.
// Nodes are numbered from .10 and the load balancer sits at .2, so a /24
// keeps 229 addresses for nodes below the range.
func DefaultLoadBalancerIPs(subnet netip.Prefix) (string, bool) {
	size := 1 << (32 - subnet.Bits())
	n := min(16, size/4)
	if n < 2 {
		return "", false
	}
	first, ok1 := nthAddr(subnet.Masked(), size-n)
	last, ok2 := nthAddr(subnet.Masked(), size-2)
	if !ok1 || !ok2 {
		return "", false
	}
	return first.String() + "-" + last.String(), true
}

// AddrRange is an inclusive IPv4 address range.
type AddrRange struct{ First, Last netip.Addr }

func (r AddrRange) String() string { return r.First.String() + "-" + r.Last.String() }

// Contains reports whether a is inside r.
func (r AddrRange) Contains(a netip.Addr) bool {
	return a.Is4() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// ParseAddrRange reads "A-B" or a CIDR (all of its addresses, as MetalLB
// takes them).
func ParseAddrRange(s string) (AddrRange, error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return AddrRange{}, fmt.Errorf("not a range FIRST-LAST of IPv4 addresses")
		}
		if !first.Is4() || !last.Is4() {
			return AddrRange{}, fmt.Errorf("%s", ipv6Only)
		}
		if last.Less(first) {
			return AddrRange{}, fmt.Errorf("ends before it starts: write the lower address first")
		}
		return AddrRange{First: first, Last: last}, nil
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return AddrRange{}, fmt.Errorf("not a range FIRST-LAST or a CIDR")
	}
	if !p.Addr().Is4() {
		return AddrRange{}, fmt.Errorf("%s", ipv6Only)
	}
	p = p.Masked()
	last, _ := nthAddr(p, (1<<(32-p.Bits()))-1)
	return AddrRange{First: p.Addr(), Last: last}, nil
}

// LoadBalancerRange is network.loadBalancerIPs parsed (false when unset or
// invalid).
func (c *Cluster) LoadBalancerRange() (AddrRange, bool) {
	if c.Network.LoadBalancerIPs == "" {
		return AddrRange{}, false
	}
	r, err := ParseAddrRange(c.Network.LoadBalancerIPs)
	return r, err == nil
}

// validateAddons checks the add-on list, the MetalLB address range against
// the node network, and the Pod Security levels.
func (c *Cluster) validateAddons(bad func(path, format string, a ...any), nodeNet netip.Prefix, okNode bool) {
	seen := map[string]int{}
	for i, a := range c.Addons {
		where := fmt.Sprintf("addons[%d]", i)
		if !slices.Contains(KnownAddons(), a) {
			hint := ""
			if near := nearest(a, KnownAddons()); len(near) > 0 {
				hint = " (did you mean " + strings.Join(near, " or ") + "?)"
			}
			bad(where, "%s is not an add-on hardway knows%s: use one of %s, or addons: [] for none", q(a), hint, strings.Join(KnownAddons(), ", "))
			continue
		}
		if j, dup := seen[a]; dup {
			bad(where, "%s is also addons[%d]: name each add-on once", a, j)
		}
		seen[a] = i
	}
	c.validateAddonNeeds(bad)
	n := c.Network
	if n.LoadBalancerIPs == "" {
		// On Docker nodes the range comes from nodeSubnet: when that is
		// refused, nothing more is said here.
		if i := slices.Index(c.Addons, AddonMetalLB); i >= 0 && c.Machines() {
			bad(fmt.Sprintf("addons[%d]", i), "metallb needs network.loadBalancerIPs, free addresses on the machines' network (one L2 segment, answering ARP) like 192.168.1.240-192.168.1.250: set it, or remove metallb from addons")
		}
	} else {
		c.validateLBRange(bad, nodeNet, okNode)
	}
	ps := c.PodSecurity
	for _, l := range []struct{ field, v string }{{"enforce", ps.Enforce}, {"warn", ps.Warn}, {"audit", ps.Audit}} {
		switch l.v {
		case PSAPrivileged, PSABaseline, PSARestricted:
		default:
			bad("podSecurity."+l.field, "%s is not a Pod Security level: use privileged, baseline or restricted", q(l.v))
		}
	}
	for i, ns := range ps.ExemptNamespaces {
		if !nameRE.MatchString(ns) {
			bad(fmt.Sprintf("podSecurity.exemptNamespaces[%d]", i), "%s is not a namespace name (lower-case letters, digits and '-')", q(ns))
		}
	}
}

// validateLBRange: the range must be on the node network (the host and
// the nodes reach it there) and hold no address anything else has.
func (c *Cluster) validateLBRange(bad func(path, format string, a ...any), nodeNet netip.Prefix, okNode bool) {
	const field = "network.loadBalancerIPs"
	r, err := ParseAddrRange(c.Network.LoadBalancerIPs)
	if err != nil {
		bad(field, "%s is %v: write FIRST-LAST like 10.240.0.240-10.240.0.254, or a CIDR like 10.240.0.240/28", q(c.Network.LoadBalancerIPs), err)
		return
	}
	suggest := ""
	if okNode {
		if d, ok := DefaultLoadBalancerIPs(nodeNet); ok {
			suggest = ", like " + d
		}
	}
	if okNode && (!nodeNet.Contains(r.First) || !nodeNet.Contains(r.Last)) {
		bad(field, "%s is not inside nodeSubnet %s: MetalLB's L2 mode answers ARP only on the node network; use free addresses inside it%s", r, nodeNet, suggest)
		return
	}
	if okNode {
		bcast, _ := nthAddr(nodeNet, (1<<(32-nodeNet.Bits()))-1)
		if r.Contains(nodeNet.Addr()) || r.Contains(nodeNet.Addr().Next()) || r.Contains(bcast) {
			bad(field, "%s holds the network, gateway or broadcast address of %s: use free addresses between them%s", r, nodeNet, suggest)
			return
		}
	}
	for i, nd := range c.Nodes {
		if a, err := netip.ParseAddr(nd.IP); err == nil && r.Contains(a) {
			bad(field, "%s holds %s, the address of nodes[%d] (%s): use addresses no node, load balancer or registry has%s", r, a, i, show(nd.Name), suggest)
			return
		}
	}
	if a, err := netip.ParseAddr(c.Network.LoadBalancerIP); err == nil && r.Contains(a) {
		bad(field, "%s holds %s, network.loadBalancerIP (the API load balancer and the cluster's registry): use addresses no node, load balancer or registry has%s", r, a, suggest)
	}
}
