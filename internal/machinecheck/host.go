package machinecheck

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

	"golang.org/x/sys/unix"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider/docker"
)

// The host checks are the preflight of container nodes: the nodes share
// this machine's kernel, cgroups and disk, so this machine is what is
// checked. They return the same Results as the machine checks, and one
// printer shows both.

// MinFreeHost is what a cluster of containers needs: the node image (~0.5
// GB), three /var volumes with images and etcd data, and the artifact cache
// (~1.5 GB).
const MinFreeHost = 5 << 30

// minInotifyInstances leaves room for several clusters of a few nodes each.
const minInotifyInstances = 512

// HostEnv is everything the host checks read, so tests can fake a host.
type HostEnv struct {
	Run      exec.Runner
	ReadFile func(string) ([]byte, error)
	LookPath func(string) (string, error)
	Stat     func(string) error
	// FreeBytes returns the free space of the file system holding path.
	FreeBytes func(string) (uint64, error)
	Kernel    string // uname -r
	// CacheDir is the artifact cache, whose disk is checked too.
	CacheDir string
	// OS is runtime.GOOS: on macOS the engine runs in a VM, whose kernel
	// this host cannot look at, and the fixes are Homebrew's.
	OS string
}

// LocalHost is this machine, its commands run by r.
func LocalHost(r exec.Runner, cacheDir string) HostEnv {
	// x/sys/unix, not syscall: hardway also runs on macOS (provider lima).
	var u unix.Utsname
	_ = unix.Uname(&u)
	return HostEnv{
		Run:      r,
		ReadFile: os.ReadFile,
		LookPath: osexec.LookPath,
		Stat:     func(p string) error { _, err := os.Stat(p); return err },
		FreeBytes: func(p string) (uint64, error) {
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
		Kernel:   unix.ByteSliceToString(u.Release[:]),
		CacheDir: cacheDir,
		OS:       runtime.GOOS,
	}
}

func (e HostEnv) exists(path string) bool { return e.Stat(path) == nil }

// kernelHas reports whether a kernel feature is usable and how: a /proc or
// /sys file that only exists when the code is live (built in or loaded), or
// its functions in /proc/kallsyms (names are listed even when addresses are
// hidden), else the module lists. /proc/modules alone misses built-ins, and
// /lib/modules may not exist at all (seen: VMs with a monolithic kernel).
func (e HostEnv) kernelHas(live []string, symbol, module string) (ok bool, how string) {
	for _, p := range live {
		if e.exists(p) {
			return true, "active"
		}
	}
	if symbol != "" {
		if b, err := e.ReadFile("/proc/kallsyms"); err == nil && strings.Contains(string(b), " "+symbol) {
			return true, "active"
		}
	}
	if mods, err := e.ReadFile("/proc/modules"); err == nil {
		for _, line := range strings.Split(string(mods), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == module {
				return true, "module loaded"
			}
		}
	}
	base := "/lib/modules/" + e.Kernel + "/"
	if b, err := e.ReadFile(base + "modules.builtin"); err == nil && strings.Contains(string(b), "/"+module+".ko") {
		return true, "built in"
	}
	if b, err := e.ReadFile(base + "modules.dep"); err == nil && strings.Contains(string(b), "/"+module+".ko") {
		return false, "module available but not loaded"
	}
	return false, "not in this kernel"
}

// DockerDaemonFix is how to get a Docker engine answering.
const DockerDaemonFix = "start it: `systemctl start docker`, or without systemd `dockerd > /var/log/dockerd.log 2>&1 &` (hack/setup-host.sh does both); run as root or in the docker group"

// Host checks this machine for a cluster of container nodes.
func (e HostEnv) Host(ctx context.Context, c *config.Cluster) []Result {
	if e.OS == "darwin" {
		return e.mac(ctx, c)
	}
	var out []Result
	add := func(r Result) {
		r.Host = true
		out = append(out, r)
	}

	// Docker client and daemon.
	dockerPath, err := e.LookPath("docker")
	add(Result{Name: "docker client", Required: true, OK: err == nil, Detail: dockerPath,
		Fix: "apt-get install docker.io"})
	daemonOK := false
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		v, err := e.Run.Run(tctx, exec.Cmd{Name: "docker", Args: []string{"info", "--format", "{{.ServerVersion}}"}})
		cancel()
		r := Result{Name: "docker daemon", Required: true, OK: err == nil, Fix: DockerDaemonFix}
		if err == nil {
			daemonOK = true
			r.Detail = "server " + strings.TrimSpace(string(v))
		} else {
			r.Detail = dockerFailure(err)
		}
		add(r)
	}

	// The node image (of the nodes' architecture), or what builds it.
	arch := c.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	tag := nodeimage.TagFor(arch)
	if arch != runtime.GOARCH {
		err := nodeimage.HostEmulation(arch)
		add(Result{Name: "qemu-user emulation of " + arch + " (binfmt_misc)", Required: true, OK: err == nil, Detail: nodeimage.BinfmtDir,
			Fix: fmt.Sprint(err)})
	}
	haveImage := false
	if daemonOK {
		haveImage, _ = nodeimage.Exists(ctx, e.Run, tag)
	}
	if haveImage {
		add(Result{Name: "node image", OK: true, Detail: tag + " present (debootstrap not needed)"})
	} else {
		p, err := e.LookPath("debootstrap")
		add(Result{Name: "debootstrap (builds the node image)", Required: true, OK: err == nil, Detail: p,
			Fix: "apt-get install debootstrap (or `hardway node-image build --dockerfile` with a registry)"})
	}

	// Kernel features the nodes use; a container cannot load modules itself.
	type feat struct {
		name, module string
		live         []string
		symbol       string
		fix          string
	}
	feats := []feat{
		{"overlay file system (containerd snapshots)", "overlay", nil, "", "modprobe overlay"},
		{"br_netfilter (bridged pod traffic through iptables)", "br_netfilter", []string{"/proc/sys/net/bridge/bridge-nf-call-iptables"}, "", "modprobe br_netfilter"},
		{"nf_tables (iptables-nft, nftables kube-proxy)", "nf_tables", []string{"/sys/module/nf_tables"}, "nf_tables_", "modprobe nf_tables"},
		{"conntrack", "nf_conntrack", []string{"/proc/sys/net/netfilter/nf_conntrack_max", "/proc/net/nf_conntrack"}, "", "modprobe nf_conntrack"},
	}
	if c.Network.KubeProxyMode == config.ProxyIPVS {
		feats = append(feats, feat{"ip_vs (kubeProxyMode ipvs)", "ip_vs", []string{"/proc/net/ip_vs"}, "ip_vs_",
			"modprobe ip_vs ip_vs_rr; if the kernel has no IPVS, set network.kubeProxyMode: iptables or nftables"})
	}
	for _, f := range feats {
		var ok bool
		var how string
		if f.module == "overlay" {
			// /proc/filesystems lists a file system once it is usable.
			if b, err := e.ReadFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\toverlay\n") {
				ok, how = true, "active"
			}
		}
		if !ok {
			ok, how = e.kernelHas(f.live, f.symbol, f.module)
		}
		add(Result{Name: f.name, Required: true, OK: ok, Detail: how, Fix: f.fix})
	}
	if b, err := e.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		on := strings.TrimSpace(string(b)) == "1"
		add(Result{Name: "ip_forward (host)", OK: on, Detail: "net.ipv4.ip_forward=" + strings.TrimSpace(string(b)),
			Fix: "sysctl -w net.ipv4.ip_forward=1 (nodes set their own; the host needs it only for non-isolated clusters)"})
	}

	// Every node's systemd, containerd and kubelet take inotify instances
	// from one host-wide per-user budget; the default 128 runs out with a
	// handful of nodes and kubelet dies with "inotify_init: too many open files".
	if b, err := e.ReadFile("/proc/sys/fs/inotify/max_user_instances"); err == nil {
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		add(Result{Name: "inotify instances (host)", Required: true, OK: v >= minInotifyInstances,
			Detail: fmt.Sprintf("fs.inotify.max_user_instances=%d (need %d)", v, minInotifyInstances),
			Fix:    "sysctl -w fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288"})
	}

	// cgroups: both work; say which so a failure later is easier to read.
	if e.exists("/sys/fs/cgroup/cgroup.controllers") {
		add(Result{Name: "cgroups", OK: true, Detail: "v2 (unified)"})
	} else {
		add(Result{Name: "cgroups", OK: true, Detail: "v1: kubelet runs with failCgroupV1: false; nodes remount their own hierarchies"})
	}
	if st, err := e.ReadFile("/proc/self/status"); err == nil {
		if priv, _ := docker.PrivilegedPossible(string(st)); !priv {
			add(Result{Name: "privileged containers", OK: true, Detail: "not possible here (no CAP_SYS_RESOURCE); nodes get an explicit capability list"})
		}
	}

	// Disk.
	dirs := []struct{ what, path string }{{"free disk (artifact cache)", e.CacheDir}}
	if daemonOK {
		if root, err := e.Run.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"info", "--format", "{{.DockerRootDir}}"}}); err == nil && strings.TrimSpace(string(root)) != "" {
			dirs = append([]struct{ what, path string }{{"free disk (docker root)", strings.TrimSpace(string(root))}}, dirs...)
		}
	}
	for _, d := range dirs {
		free, err := e.FreeBytes(d.path)
		r := Result{Name: d.what, Required: true, OK: err == nil && free >= MinFreeHost,
			Fix: fmt.Sprintf("free space on the disk holding %s (at least %d GiB)", d.path, MinFreeHost>>30)}
		if err == nil {
			r.Detail = fmt.Sprintf("%.1f GiB free in %s", float64(free)/(1<<30), d.path)
		} else {
			r.Detail = err.Error()
		}
		add(r)
	}

	// Host routes: a route into the node subnet (a VPN, another network)
	// would make the host send node traffic the wrong way.
	add(e.routeCheck(ctx, c, daemonOK))
	return out
}

// dockerFailure is the one line that says why docker did not answer: the
// engine's own words ("Cannot connect to the Docker daemon at ... Is the
// docker daemon running?", "permission denied"), not the command line.
func dockerFailure(err error) string {
	if re, ok := exec.IsRunError(err); ok {
		for _, line := range strings.Split(strings.TrimSpace(string(re.Stderr)), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				return line
			}
		}
		if re.Err != nil {
			return re.Err.Error()
		}
	}
	return err.Error()
}

func (e HostEnv) routeCheck(ctx context.Context, c *config.Cluster, daemonOK bool) Result {
	r := Result{Name: "node subnet " + c.Network.NodeSubnet + " free on the host", Required: true}
	subnet, err := netip.ParsePrefix(c.Network.NodeSubnet)
	if err != nil {
		r.Detail, r.Fix = "not a CIDR", "fix network.nodeSubnet in the config"
		return r
	}
	data, err := e.ReadFile("/proc/net/route")
	if err != nil {
		r.OK, r.Detail = true, "cannot read /proc/net/route; not checked"
		return r
	}
	// The cluster's own bridge routes its subnet once it exists: that is us.
	own := ""
	if daemonOK {
		if id, err := e.Run.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"network", "inspect", "--format", "{{.Id}}", docker.NetworkName(c.Name)}}); err == nil && len(strings.TrimSpace(string(id))) >= 12 {
			own = "br-" + strings.TrimSpace(string(id))[:12]
		}
	}
	routes, err := parseRoutes(strings.NewReader(string(data)))
	if err != nil {
		r.OK, r.Detail = true, err.Error()+"; not checked"
		return r
	}
	for _, rt := range routes {
		if rt.prefix.Bits() == 0 || rt.iface == own {
			continue
		}
		if rt.prefix.Overlaps(subnet.Masked()) {
			r.Detail = fmt.Sprintf("host route %s via %s overlaps it", rt.prefix, rt.iface)
			r.Fix = "set network.nodeSubnet in the config to a range no host route uses, or `hardway down --name <other>` if another cluster holds it"
			return r
		}
	}
	r.OK, r.Detail = true, fmt.Sprintf("%d host routes checked", len(routes))
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

// mac checks a Mac for a cluster of container nodes: the nodes run in the
// engine's Linux VM (Docker Desktop or colima), so what a Linux host checks
// in its own kernel is the VM's business; what is left is the tools, the
// engine answering, the node image and the disk. Every fix is Homebrew's.
func (e HostEnv) mac(ctx context.Context, c *config.Cluster) []Result {
	var out []Result
	add := func(r Result) {
		r.Host = true
		out = append(out, r)
	}
	dockerPath, err := e.LookPath("docker")
	add(Result{Name: "docker client", Required: true, OK: err == nil, Detail: dockerPath,
		Fix: "brew install --cask docker (Docker Desktop), or brew install colima docker"})
	daemonOK := false
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		v, err := e.Run.Run(tctx, exec.Cmd{Name: "docker", Args: []string{"info", "--format", "{{.ServerVersion}} {{.OperatingSystem}}"}})
		cancel()
		r := Result{Name: "docker engine (a Linux VM: Docker Desktop or colima)", Required: true, OK: err == nil,
			Fix: "open Docker Desktop, or: colima start --cpu 4 --memory 8 (brew install colima)"}
		if err == nil {
			daemonOK = true
			r.Detail = "server " + strings.TrimSpace(string(v))
		} else {
			r.Detail = dockerFailure(err)
		}
		add(r)
	}
	tag := nodeimage.Tag()
	haveImage := false
	if daemonOK {
		haveImage, _ = nodeimage.Exists(ctx, e.Run, tag)
	}
	add(Result{Name: "node image", Required: true, OK: haveImage, Detail: tag,
		Fix: "hardway node-image build --dockerfile (docker build FROM debian:bookworm; debootstrap does not run on macOS)"})
	if _, err := e.LookPath("limactl"); err != nil {
		add(Result{Name: "limactl (only for provider lima)", OK: false, Detail: "not on PATH", Fix: "brew install lima"})
	}
	free, err := e.FreeBytes(e.CacheDir)
	r := Result{Name: "free disk (artifact cache)", Required: true, OK: err == nil && free >= MinFreeHost,
		Fix: fmt.Sprintf("free space on the disk holding %s (at least %d GiB), and give the engine's VM as much", e.CacheDir, MinFreeHost>>30)}
	if err == nil {
		r.Detail = fmt.Sprintf("%.1f GiB free in %s", float64(free)/(1<<30), e.CacheDir)
	} else {
		r.Detail = err.Error()
	}
	add(r)
	add(Result{Name: "kernel features (overlay, br_netfilter, nf_tables, conntrack)", OK: true,
		Detail: "the engine's Linux VM provides them; the nodes' own preflight sees any that is missing"})
	return out
}
