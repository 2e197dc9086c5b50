package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider/docker"
)

// minFreeBytes is what a cluster needs: the node image (~0.5 GB), three /var
// volumes with images and etcd data, and the artifact cache (~1.5 GB).
const minFreeBytes = 5 << 30

// minInotifyInstances leaves room for several clusters of a few nodes each.
const minInotifyInstances = 512

// checkEnv is everything the host checks read, so tests can fake a host.
type checkEnv struct {
	run      exec.Runner
	readFile func(string) ([]byte, error)
	lookPath func(string) (string, error)
	stat     func(string) error
	// freeBytes returns the free space of the file system holding path.
	freeBytes func(string) (uint64, error)
	kernel    string // uname -r
}

func hostCheckEnv(r exec.Runner) checkEnv {
	// x/sys/unix, not syscall: hardway also runs on macOS (provider lima).
	var u unix.Utsname
	_ = unix.Uname(&u)
	rel := []byte(unix.ByteSliceToString(u.Release[:]))
	return checkEnv{
		run:      r,
		readFile: os.ReadFile,
		lookPath: osexec.LookPath,
		stat:     func(p string) error { _, err := os.Stat(p); return err },
		freeBytes: func(p string) (uint64, error) {
			// The directory may not exist yet: measure its nearest ancestor.
			for {
				var st syscall.Statfs_t
				err := syscall.Statfs(p, &st)
				if err == nil {
					return st.Bavail * uint64(st.Bsize), nil
				}
				parent := filepath.Dir(p)
				if parent == p {
					return 0, err
				}
				p = parent
			}
		},
		kernel: string(rel),
	}
}

// checkResult is one line of `hardway check`.
type checkResult struct {
	name     string
	ok       bool
	required bool
	detail   string // what was found
	hint     string // how to fix, when !ok
}

func (e checkEnv) exists(path string) bool { return e.stat(path) == nil }

// kernelHas reports whether a kernel feature is usable and how: a /proc or
// /sys file that only exists when the code is live (built in or loaded), or
// its functions in /proc/kallsyms (names are listed even when addresses are
// hidden), else the module lists. /proc/modules alone misses built-ins, and
// /lib/modules may not exist at all (seen: VMs with a monolithic kernel).
func (e checkEnv) kernelHas(live []string, symbol, module string) (ok bool, how string) {
	for _, p := range live {
		if e.exists(p) {
			return true, "active"
		}
	}
	if symbol != "" {
		if b, err := e.readFile("/proc/kallsyms"); err == nil && strings.Contains(string(b), " "+symbol) {
			return true, "active"
		}
	}
	if mods, err := e.readFile("/proc/modules"); err == nil {
		for _, line := range strings.Split(string(mods), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == module {
				return true, "module loaded"
			}
		}
	}
	base := "/lib/modules/" + e.kernel + "/"
	if b, err := e.readFile(base + "modules.builtin"); err == nil && strings.Contains(string(b), "/"+module+".ko") {
		return true, "built in"
	}
	if b, err := e.readFile(base + "modules.dep"); err == nil && strings.Contains(string(b), "/"+module+".ko") {
		return false, "module available but not loaded"
	}
	return false, "not in this kernel"
}

func (e checkEnv) checks(ctx context.Context, c *config.Cluster) []checkResult {
	var out []checkResult
	add := func(r checkResult) { out = append(out, r) }

	// Docker client and daemon.
	dockerPath, err := e.lookPath("docker")
	add(checkResult{name: "docker client", required: true, ok: err == nil, detail: dockerPath,
		hint: "apt-get install docker.io"})
	daemonOK := false
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		v, err := e.run.Run(tctx, exec.Cmd{Name: "docker", Args: []string{"info", "--format", "{{.ServerVersion}} {{.CgroupVersion}} {{.DockerRootDir}}"}})
		cancel()
		daemonOK = err == nil
		detail := strings.TrimSpace(string(v))
		if f := strings.Fields(detail); len(f) >= 1 {
			detail = "server " + f[0]
		}
		add(checkResult{name: "docker daemon", required: true, ok: daemonOK, detail: detail,
			hint: "start it: `systemctl start docker`, or without systemd `dockerd > /var/log/dockerd.log 2>&1 &`; run as root or in the docker group"})
	}

	// The node image (of the nodes' architecture), or what builds it.
	arch := nodeArch(c)
	tag := nodeimage.TagFor(arch)
	if arch != runtime.GOARCH {
		err := nodeimage.HostEmulation(arch)
		add(checkResult{name: "qemu-user emulation of " + arch + " (binfmt_misc)", required: true, ok: err == nil, detail: nodeimage.BinfmtDir,
			hint: fmt.Sprint(err)})
	}
	haveImage := false
	if daemonOK {
		haveImage, _ = nodeimage.Exists(ctx, e.run, tag)
	}
	if haveImage {
		add(checkResult{name: "node image", ok: true, detail: tag + " present (debootstrap not needed)"})
	} else {
		p, err := e.lookPath("debootstrap")
		add(checkResult{name: "debootstrap (builds the node image)", required: true, ok: err == nil, detail: p,
			hint: "apt-get install debootstrap (or `hardway node-image build --dockerfile` with a registry)"})
	}

	// Kernel features the nodes use; a container cannot load modules itself.
	type feat struct {
		name, module string
		live         []string
		symbol       string
		required     bool
		hint         string
	}
	feats := []feat{
		{"overlay file system (containerd snapshots)", "overlay", nil, "", true, "modprobe overlay"},
		{"br_netfilter (bridged pod traffic through iptables)", "br_netfilter", []string{"/proc/sys/net/bridge/bridge-nf-call-iptables"}, "", true, "modprobe br_netfilter"},
		{"nf_tables (iptables-nft, nftables kube-proxy)", "nf_tables", []string{"/sys/module/nf_tables"}, "nf_tables_", true, "modprobe nf_tables"},
		{"conntrack", "nf_conntrack", []string{"/proc/sys/net/netfilter/nf_conntrack_max", "/proc/net/nf_conntrack"}, "", true, "modprobe nf_conntrack"},
	}
	if c.Network.KubeProxyMode == config.ProxyIPVS {
		feats = append(feats, feat{"ip_vs (kubeProxyMode ipvs)", "ip_vs", []string{"/proc/net/ip_vs"}, "ip_vs_", true,
			"modprobe ip_vs ip_vs_rr; if the kernel has no IPVS, set network.kubeProxyMode: iptables or nftables"})
	}
	for _, f := range feats {
		live := f.live
		var ok bool
		var how string
		if f.module == "overlay" {
			// /proc/filesystems lists a file system once it is usable.
			if b, err := e.readFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\toverlay\n") {
				ok, how = true, "active"
			}
		}
		if !ok {
			ok, how = e.kernelHas(live, f.symbol, f.module)
		}
		add(checkResult{name: f.name, required: f.required, ok: ok, detail: how, hint: f.hint})
	}
	if b, err := e.readFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		on := strings.TrimSpace(string(b)) == "1"
		add(checkResult{name: "ip_forward (host)", ok: on, detail: "net.ipv4.ip_forward=" + strings.TrimSpace(string(b)),
			hint: "sysctl -w net.ipv4.ip_forward=1 (nodes set their own; the host needs it only for non-isolated clusters)"})
	}

	// Every node's systemd, containerd and kubelet take inotify instances
	// from one host-wide per-user budget; the default 128 runs out with a
	// handful of nodes and kubelet dies with "inotify_init: too many open files".
	if b, err := e.readFile("/proc/sys/fs/inotify/max_user_instances"); err == nil {
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		add(checkResult{name: "inotify instances (host)", required: true, ok: v >= minInotifyInstances,
			detail: fmt.Sprintf("fs.inotify.max_user_instances=%d (need %d)", v, minInotifyInstances),
			hint:   "sysctl -w fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288"})
	}

	// cgroups: both work; say which so a failure later is easier to read.
	if e.exists("/sys/fs/cgroup/cgroup.controllers") {
		add(checkResult{name: "cgroups", ok: true, detail: "v2 (unified)"})
	} else {
		add(checkResult{name: "cgroups", ok: true, detail: "v1: kubelet runs with failCgroupV1: false; nodes remount their own hierarchies"})
	}
	if st, err := e.readFile("/proc/self/status"); err == nil {
		if priv, _ := docker.PrivilegedPossible(string(st)); !priv {
			add(checkResult{name: "privileged containers", ok: true, detail: "not possible here (no CAP_SYS_RESOURCE); nodes get an explicit capability list"})
		}
	}

	// Disk.
	dirs := []struct{ what, path string }{{"free disk (artifact cache)", artifactCacheDir()}}
	if daemonOK {
		if root, err := e.run.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"info", "--format", "{{.DockerRootDir}}"}}); err == nil && strings.TrimSpace(string(root)) != "" {
			dirs = append([]struct{ what, path string }{{"free disk (docker root)", strings.TrimSpace(string(root))}}, dirs...)
		}
	}
	for _, d := range dirs {
		free, err := e.freeBytes(d.path)
		r := checkResult{name: d.what, required: true, ok: err == nil && free >= minFreeBytes,
			hint: fmt.Sprintf("free space on the disk holding %s (at least %d GiB)", d.path, minFreeBytes>>30)}
		if err == nil {
			r.detail = fmt.Sprintf("%.1f GiB free in %s", float64(free)/(1<<30), d.path)
		} else {
			r.detail = err.Error()
		}
		add(r)
	}

	// Host routes: a route into the node subnet (a VPN, another network)
	// would make the host send node traffic the wrong way.
	add(e.routeCheck(ctx, c, daemonOK))
	return out
}

func (e checkEnv) routeCheck(ctx context.Context, c *config.Cluster, daemonOK bool) checkResult {
	r := checkResult{name: "node subnet " + c.Network.NodeSubnet + " free on the host", required: true}
	subnet, err := netip.ParsePrefix(c.Network.NodeSubnet)
	if err != nil {
		r.detail, r.hint = "not a CIDR", "fix network.nodeSubnet in the config"
		return r
	}
	data, err := e.readFile("/proc/net/route")
	if err != nil {
		r.ok, r.detail = true, "cannot read /proc/net/route; not checked"
		return r
	}
	// The cluster's own bridge routes its subnet once it exists: that is us.
	own := ""
	if daemonOK {
		if id, err := e.run.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"network", "inspect", "--format", "{{.Id}}", docker.NetworkName(c.Name)}}); err == nil && len(strings.TrimSpace(string(id))) >= 12 {
			own = "br-" + strings.TrimSpace(string(id))[:12]
		}
	}
	routes, err := parseRoutes(strings.NewReader(string(data)))
	if err != nil {
		r.ok, r.detail = true, err.Error()+"; not checked"
		return r
	}
	for _, rt := range routes {
		if rt.prefix.Bits() == 0 || rt.iface == own {
			continue
		}
		if rt.prefix.Overlaps(subnet.Masked()) {
			r.detail = fmt.Sprintf("host route %s via %s overlaps it", rt.prefix, rt.iface)
			r.hint = "set network.nodeSubnet in the config to a range no host route uses, or `hardway down --name <other>` if another cluster holds it"
			return r
		}
	}
	r.ok, r.detail = true, fmt.Sprintf("%d host routes checked", len(routes))
	return r
}

type route struct {
	iface  string
	prefix netip.Prefix
}

// parseRoutes reads /proc/net/route: destination and mask are hex in host
// (little-endian) byte order.
func parseRoutes(rd io.Reader) ([]route, error) {
	var out []route
	sc := bufio.NewScanner(rd)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := hexAddr(f[1])
		mask, err2 := hexAddr(f[7])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unreadable /proc/net/route line %q", sc.Text())
		}
		m := mask.As4()
		bits := 0
		for _, b := range m {
			for i := 7; i >= 0; i-- {
				if b&(1<<i) != 0 {
					bits++
				}
			}
		}
		out = append(out, route{iface: f[0], prefix: netip.PrefixFrom(dst, bits).Masked()})
	}
	return out, sc.Err()
}

func hexAddr(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	v := binary.LittleEndian.Uint32(b)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

func newCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check this host (or, for providers ssh and lima, every machine) for everything a cluster needs, with a fix for each missing item",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.loadConfig()
			if err != nil {
				return err
			}
			if c.Machines() {
				// Nothing of the cluster runs on this host: ask the machines.
				return a.checkMachines(cmd.Context(), c)
			}
			results := hostCheckEnv(a.runner()).checks(cmd.Context(), c)
			failed := 0
			for _, r := range results {
				mark := "✓"
				if !r.ok {
					mark = "✗"
					if !r.required {
						mark = "!"
					}
				}
				line := fmt.Sprintf("%s %s", mark, r.name)
				if r.detail != "" {
					line += ": " + r.detail
				}
				fmt.Fprintln(a.out, line)
				if !r.ok {
					fmt.Fprintf(a.out, "    fix: %s\n", r.hint)
					if r.required {
						failed++
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d required check(s) failed; fix them and run `hardway check` again", failed)
			}
			return nil
		},
	}
}
