package machinecheck

import (
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

// Result is one line of the preflight.
type Result struct {
	// Node is the machine it is about; empty for the whole cluster, or,
	// with Host, for the machine hardway runs on.
	Node     string
	Host     bool
	Name     string
	OK       bool
	Required bool
	Detail   string // what was found
	Fix      string // what to do, when !OK
}

// Limits of the checks.
const (
	// MinFreeVar holds containerd's images and snapshots, etcd's data and
	// the logs.
	MinFreeVar = 5 << 30
	// MinFreeBin holds the binaries (~1 GiB with every role).
	MinFreeBin = 2 << 30
	// MaxOffset is how far a node's clock may be from this host's: the
	// certificates issued here must already be valid there.
	MaxOffset = 30 * time.Second
	// MaxSpread is how far the nodes' clocks may be apart before etcd
	// complains about clock drift.
	MaxSpread = time.Second
)

// capSysResource is CAP_SYS_RESOURCE's bit (linux/capability.h).
const capSysResource = 24

// tool is a command a node needs and the package that has it.
type tool struct {
	cmd, deb, rpm, why string
}

// tools lists what node n needs on its PATH, for its roles and the config.
func tools(c *config.Cluster, n config.Node) []tool {
	out := []tool{
		{"systemctl", "systemd", "systemd", "runs every component"},
		{"ip", "iproute2", "iproute", "pod routes"},
		{"iptables", "iptables", "iptables-nft", "pod masquerading"},
		{"iptables-save", "iptables", "iptables-nft", "hardway down removes its rules"},
		{"modprobe", "kmod", "kmod", "loads overlay and br_netfilter"},
		{"tar", "tar", "tar", "receives files and binaries"},
		{"sha256sum", "coreutils", "coreutils", "compares files"},
		{"awk", "mawk", "gawk", "the preflight itself"},
	}
	if len(c.Nodes) > 1 {
		out = append(out, tool{"ping", "iputils-ping", "iputils", "the network step proves pods reach pods across nodes"})
	}
	if n.IsControlPlane() {
		out = append(out, tool{"useradd", "passwd", "shadow-utils", "creates etcd's user"},
			tool{"openssl", "openssl", "openssl", "the kubelet serving-certificate approver reads requests"})
	}
	if n.IsWorker() {
		out = append(out,
			tool{"conntrack", "conntrack", "conntrack-tools", "kube-proxy"},
			tool{"socat", "socat", "socat", "kubectl port-forward"},
			tool{"nsenter", "util-linux", "util-linux", "kubelet"},
			tool{"mount", "mount", "util-linux", "kubelet"})
		switch c.Network.KubeProxyMode {
		case config.ProxyNFTables:
			out = append(out, tool{"nft", "nftables", "nftables", "kube-proxy in nftables mode"})
		case config.ProxyIPVS:
			out = append(out, tool{"ipset", "ipset", "ipset", "kube-proxy in ipvs mode"})
		}
		if c.NodeLocalLB() {
			out = append(out, tool{"haproxy", "haproxy", "haproxy", "the node-local API load balancer"})
		}
	}
	if c.Network.PodRoutes == config.PodRoutesVXLAN {
		out = append(out, tool{"bridge", "iproute2", "iproute", "the VXLAN forwarding entries"})
	}
	return out
}

// module is a kernel feature and how to tell it is usable.
type module struct {
	name, why string
}

func modules(c *config.Cluster, n config.Node) []module {
	var out []module
	if n.IsWorker() {
		out = append(out, module{"overlay", "containerd's image layers"}, module{"br_netfilter", "iptables sees bridged pod traffic"})
	}
	out = append(out, module{"nf_conntrack", "Services and masquerading"})
	if c.Network.PodRoutes == config.PodRoutesVXLAN {
		out = append(out, module{"vxlan", "network.podRoutes: vxlan"})
	}
	if n.IsWorker() && c.Network.KubeProxyMode == config.ProxyIPVS {
		out = append(out, module{"ip_vs", "kubeProxyMode: ipvs"})
	}
	return out
}

// port is a TCP port a component binds, and its unit.
type port struct {
	port int
	unit string
}

func ports(c *config.Cluster, n config.Node) []port {
	var out []port
	if n.IsControlPlane() {
		out = append(out, port{2379, render.UnitEtcd}, port{2380, render.UnitEtcd}, port{c.Network.APIServerPort, render.UnitAPIServer},
			port{10257, render.UnitControllerManager}, port{10259, render.UnitScheduler})
	}
	if n.IsWorker() {
		out = append(out, port{10248, render.UnitKubelet}, port{10250, render.UnitKubelet}, port{10249, render.UnitKubeProxy}, port{10256, render.UnitKubeProxy})
		if c.NodeLocalLB() {
			out = append(out, port{config.NodeLocalLBPort, render.UnitNodeLB})
		}
	}
	return out
}

// SpecFor is what to ask node n: units are the ones hardway installs there.
func SpecFor(c *config.Cluster, n config.Node, units []string) Spec {
	s := Spec{Units: units, Dirs: []string{"/var", render.BinDir}}
	for _, m := range modules(c, n) {
		s.Modules = append(s.Modules, m.name)
	}
	for _, t := range tools(c, n) {
		if !slices.Contains(s.Commands, t.cmd) {
			s.Commands = append(s.Commands, t.cmd)
		}
	}
	for _, o := range c.Nodes {
		if o.Name != n.Name && o.IP != "" {
			s.Peers = append(s.Peers, o.IP)
		}
	}
	// MetalLB's pool: its ends must be on-link like the peers.
	if r, ok := c.LoadBalancerRange(); ok && c.Addon(config.AddonMetalLB) {
		s.Peers = append(s.Peers, r.First.String(), r.Last.String())
	}
	return s
}

// lbPoolResult: MetalLB's speakers answer ARP for the pool's addresses on
// the node's network, so both ends of the range must be reached on-link
// (no router between), like the other nodes.
func lbPoolResult(c *config.Cluster, r Report) (Result, bool) {
	pool, ok := c.LoadBalancerRange()
	if !ok || !c.Addon(config.AddonMetalLB) {
		return Result{}, false
	}
	res := Result{Name: "MetalLB pool " + pool.String() + " on the machines' L2 network", Required: true, OK: true, Detail: "on-link"}
	var off []string
	for _, a := range []string{pool.First.String(), pool.Last.String()} {
		line, ok := r.Routes[a]
		if !ok {
			continue
		}
		if strings.Contains(line, " via ") || !strings.Contains(line, " dev ") {
			off = append(off, fmt.Sprintf("%s (%s)", a, line))
		}
	}
	if len(off) > 0 {
		res.OK = false
		res.Detail = "reached through a router: " + strings.Join(off, "; ")
		res.Fix = "network.loadBalancerIPs must be free addresses of the network the machines share (a speaker answers ARP for them there): pick such a range, or remove metallb from addons"
	}
	return res, true
}

// Check turns the reports of every node into results: per node in config
// order, then the cluster-wide ones.
func Check(c *config.Cluster, reports map[string]Report) []Result {
	var out []Result
	for _, n := range c.Nodes {
		r, ok := reports[n.Name]
		if !ok {
			continue
		}
		out = append(out, checkNode(c, n, r)...)
	}
	return append(out, checkCluster(c, reports)...)
}

func checkNode(c *config.Cluster, n config.Node, r Report) []Result {
	var out []Result
	add := func(res Result) {
		res.Node = n.Name
		out = append(out, res)
	}
	add(Result{Name: "systemd Linux", Required: true,
		OK:     r.Kernel == "Linux" && r.PID1 == "systemd" && r.Systemd,
		Detail: fmt.Sprintf("%s %s, PID 1 is %s", r.Kernel, r.Release, dashIf(r.PID1)),
		Fix:    "hardway runs every component as a systemd service: use a Linux machine booted with systemd"})
	arch := Result{Name: "architecture", Required: true, OK: r.Arch() != "",
		Detail: fmt.Sprintf("%s (%s)", r.Machine, dashIf(r.Arch())),
		Fix:    "hardway has binaries for amd64 and arm64 only: use a machine of one of those"}
	// The config's arch is for container nodes; machines report their own,
	// and one that differs would get binaries it cannot run.
	if arch.OK && c.Arch != "" && c.Arch != r.Arch() {
		arch.OK = false
		arch.Detail += fmt.Sprintf("; the config says arch: %s", c.Arch)
		arch.Fix = fmt.Sprintf("machines report their architecture: remove arch: from the config (or set it to %s)", r.Arch())
	}
	add(arch)
	cg := "v2 (unified)"
	if !r.CgroupV2 {
		cg = "v1: kubelet runs with failCgroupV1: false"
	}
	add(Result{Name: "cgroups", OK: true, Detail: cg})
	for _, m := range modules(c, n) {
		add(moduleResult(r, m))
	}
	add(Result{Name: "swap", OK: r.Swaps == 0, Detail: fmt.Sprintf("%d swap devices", r.Swaps),
		Fix: "kubelet runs with failSwapOn: false, but memory limits assume no swap: swapoff -a and remove swap from /etc/fstab"})
	add(portsResult(c, n, r))
	for _, d := range []struct {
		dir  string
		need int64
		what string
	}{{"/var", MinFreeVar, "images, etcd data, logs"}, {render.BinDir, MinFreeBin, "the binaries"}} {
		free, known := r.Free[d.dir]
		res := Result{Name: "free disk " + d.dir, Required: true, OK: known && free >= d.need,
			Fix: fmt.Sprintf("free space on the file system holding %s (at least %d GiB for %s)", d.dir, d.need>>30, d.what)}
		if known && free >= 0 {
			res.Detail = fmt.Sprintf("%.1f GiB free", float64(free)/(1<<30))
		} else {
			res.Detail = "df does not say"
		}
		add(res)
	}
	add(toolsResult(c, n, r))
	add(foreignResult(r))
	if c.Network.PodRoutes == config.PodRoutesDirect {
		add(onLinkResult(c, n, r))
	}
	if res, ok := lbPoolResult(c, r); ok {
		add(res)
	}
	return out
}

func dashIf(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func moduleResult(r Report, m module) Result {
	res := Result{Name: "kernel: " + m.name + " (" + m.why + ")", Required: true}
	st := r.Modules[m.name]
	live := st.Loaded
	switch m.name {
	case "overlay":
		live = live || r.Overlay
	case "br_netfilter":
		live = live || r.Bridge
	}
	switch {
	case live:
		res.OK, res.Detail = true, "active"
	case st.Builtin:
		res.OK, res.Detail = true, "built in"
	case st.Available:
		res.OK, res.Detail = true, "module available; hardway's units load it"
	default:
		res.Detail = "not in kernel " + r.Release
		res.Fix = fmt.Sprintf("this kernel has no %s: install the distribution's full kernel (e.g. apt-get install linux-image-amd64, or linux-modules-extra-$(uname -r) on Ubuntu)", m.name)
		if m.name == "ip_vs" {
			res.Fix += ", or set network.kubeProxyMode: iptables or nftables"
		}
		if m.name == "vxlan" {
			res.Fix += ", or set network.podRoutes: direct on one L2 network"
		}
	}
	return res
}

func portsResult(c *config.Cluster, n config.Node, r Report) Result {
	res := Result{Name: "ports", Required: true, OK: true}
	var want, busy []string
	for _, p := range ports(c, n) {
		want = append(want, fmt.Sprint(p.port))
		if !r.Listen[p.port] {
			continue
		}
		u := r.Units[p.unit]
		if u.Active && u.Fragment == path.Join(render.SystemdDir, p.unit+".service") && r.Stamps {
			continue // hardway's own service, from an earlier run
		}
		busy = append(busy, fmt.Sprintf("%d (%s's)", p.port, p.unit))
	}
	if len(busy) > 0 {
		res.OK = false
		res.Detail = "in use by another program: " + strings.Join(busy, ", ")
		res.Fix = "stop what listens there (ss -tlnp shows which program) or use another machine"
		return res
	}
	res.Detail = strings.Join(want, " ") + " free or hardway's"
	return res
}

func toolsResult(c *config.Cluster, n config.Node, r Report) Result {
	res := Result{Name: "tools", Required: true, OK: true}
	var missing, deb, rpm []string
	for _, t := range tools(c, n) {
		if r.Commands[t.cmd] || slices.Contains(missing, t.cmd+" ("+t.why+")") {
			continue
		}
		missing = append(missing, t.cmd+" ("+t.why+")")
		if !slices.Contains(deb, t.deb) {
			deb = append(deb, t.deb)
		}
		if !slices.Contains(rpm, t.rpm) {
			rpm = append(rpm, t.rpm)
		}
	}
	if len(missing) == 0 {
		res.Detail = fmt.Sprintf("%d commands present", len(tools(c, n)))
		return res
	}
	res.OK = false
	res.Detail = "missing " + strings.Join(missing, ", ")
	res.Fix = fmt.Sprintf("apt-get install %s (Fedora/RHEL: dnf install %s)", strings.Join(deb, " "), strings.Join(rpm, " "))
	return res
}

// foreignResult refuses a machine where a unit hardway would install is
// already provided by something else (a packaged containerd for Docker, a
// kubeadm kubelet): hardway's file in /etc/systemd/system would silently
// take it over.
func foreignResult(r Report) Result {
	res := Result{Name: "no other Kubernetes or containerd", Required: true, OK: true}
	var foreign []string
	names := make([]string, 0, len(r.Units))
	for u := range r.Units {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, name := range names {
		u := r.Units[name]
		switch ours := path.Join(render.SystemdDir, name+".service"); {
		case u.Fragment == "":
		case u.Fragment != ours:
			foreign = append(foreign, name+" from "+u.Fragment)
		case !r.Stamps:
			foreign = append(foreign, name+" in "+ours+" (not written by hardway)")
		}
	}
	if len(foreign) == 0 {
		res.Detail = "none"
		return res
	}
	res.OK = false
	res.Detail = strings.Join(foreign, ", ")
	res.Fix = "hardway installs its own and would replace these: remove them (e.g. apt-get remove containerd kubelet; kubeadm reset) or use another machine"
	return res
}

func onLinkResult(c *config.Cluster, n config.Node, r Report) Result {
	res := Result{Name: "peers on the same L2 network (podRoutes: direct)", Required: true, OK: true}
	var routed []string
	for _, o := range c.Nodes {
		if o.Name == n.Name || o.IP == "" {
			continue
		}
		line, ok := r.Routes[o.IP]
		if !ok {
			continue
		}
		if strings.Contains(line, " via ") || !strings.Contains(line, " dev ") {
			routed = append(routed, fmt.Sprintf("%s (%s)", o.Name, line))
		}
	}
	if len(routed) == 0 {
		res.Detail = "every peer is on-link"
		return res
	}
	res.OK = false
	res.Detail = "reached through a router: " + strings.Join(routed, "; ")
	res.Fix = "plain pod routes need every node on one L2 network: set network.podRoutes: vxlan"
	return res
}

func checkCluster(c *config.Cluster, reports map[string]Report) []Result {
	if len(reports) == 0 {
		return nil
	}
	var out []Result
	byValue := func(name string, f func(Report) string, fix string) {
		groups := map[string][]string{}
		for _, n := range c.Nodes {
			if r, ok := reports[n.Name]; ok {
				v := f(r)
				groups[v] = append(groups[v], n.Name)
			}
		}
		var parts []string
		for v, ns := range groups {
			parts = append(parts, v+": "+strings.Join(ns, ", "))
		}
		sort.Strings(parts)
		out = append(out, Result{Name: name, Required: true, OK: len(groups) == 1, Detail: strings.Join(parts, "; "), Fix: fix})
	}
	byValue("same architecture on every node", func(r Report) string { return dashIf(r.Arch()) },
		"hardway installs one set of binaries per cluster: use machines of one architecture")
	byValue("same cgroup version and capabilities on every node", func(r Report) string {
		v := "cgroup v2"
		if !r.CgroupV2 {
			v = "cgroup v1"
		}
		if r.CapBnd&(1<<capSysResource) == 0 {
			v += " without CAP_SYS_RESOURCE"
		}
		return v
	}, "hardway renders one kubelet and containerd configuration for all nodes: use machines set up alike")

	lo, hi := time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	worst, worstNode := time.Duration(0), ""
	for _, n := range c.Nodes {
		r, ok := reports[n.Name]
		if !ok {
			continue
		}
		lo, hi = min(lo, r.Offset), max(hi, r.Offset)
		if abs(r.Offset) >= abs(worst) {
			worst, worstNode = r.Offset, n.Name
		}
	}
	out = append(out, Result{Name: "clocks agree with this host", Required: true, OK: abs(worst) <= MaxOffset,
		Detail: fmt.Sprintf("largest difference %s (%s)", worst.Round(time.Millisecond), worstNode),
		Fix:    fmt.Sprintf("certificates made here must be valid there: set the clocks (enable chrony or systemd-timesyncd) so they are within %s of this host", MaxOffset)})
	out = append(out, Result{Name: "clocks agree with each other", OK: hi-lo <= MaxSpread,
		Detail: fmt.Sprintf("%s apart", (hi - lo).Round(time.Millisecond)),
		Fix:    "etcd warns about clock drift above 1 s: enable chrony or systemd-timesyncd on every node"})
	return out
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Facts are what the nodes' reports mean for rendering, read from the first
// node that answered (Check makes sure they agree).
func Facts(c *config.Cluster, reports map[string]Report) (f render.Facts, arch string, ok bool) {
	for _, n := range c.Nodes {
		if r, found := reports[n.Name]; found {
			return render.Facts{CgroupV1: !r.CgroupV2, NoSysResource: r.CapBnd&(1<<capSysResource) == 0}, r.Arch(), true
		}
	}
	return render.Facts{}, "", false
}

// Where names what a result is about: "this host", "node NAME" or
// "cluster".
func (r Result) Where() string {
	switch {
	case r.Host:
		return "this host"
	case r.Node != "":
		return "node " + r.Node
	default:
		return "cluster"
	}
}

// Failed lists the required results that failed, one line each.
func Failed(results []Result) []string {
	var out []string
	for _, r := range results {
		if r.OK || !r.Required {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s (%s; fix: %s)", r.Where(), r.Name, dashIf(r.Detail), r.Fix))
	}
	return out
}
