package machinecheck

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

// TestProbeScriptRunsHere runs the real script on this machine: it must
// parse, and what it says must match what Go sees.
func TestProbeScriptRunsHere(t *testing.T) {
	s := Spec{Modules: []string{"overlay"}, Commands: []string{"sh", "surely-not-a-command"}, Units: []string{"hardway-nothing"},
		Peers: []string{"127.0.0.1"}, Dirs: []string{"/"}}
	args := []string{"sh", "-c", probeScript, "probe", "m", "overlay", "c", "sh", "c", "surely-not-a-command", "u", "hardway-nothing", "p", "127.0.0.1", "d", "/"}
	if got := probeArgs(s); !reflect.DeepEqual(got, args) {
		t.Fatalf("probe args %q", got)
	}
	before := time.Now()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("probe script: %v", err)
	}
	r, err := Parse("local", out, before)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kernel != "Linux" || r.Machine == "" || !r.Commands["sh"] || r.Commands["surely-not-a-command"] || r.Free["/"] <= 0 {
		t.Errorf("report %+v", r)
	}
	if r.Offset < 0 || r.Offset > 10*time.Second {
		t.Errorf("clock offset %s against this very machine", r.Offset)
	}
	if !strings.Contains(r.Routes["127.0.0.1"], "dev lo") {
		t.Errorf("route to 127.0.0.1: %q", r.Routes["127.0.0.1"])
	}
}

const sampleProbe = `S kernel Linux
S release 6.1.0-18-amd64
S machine x86_64
S pid1 systemd
S systemd 1
S cgroup2 1
S capbnd 000001ffffffffff
S swap 0
S overlay 1
S bridge 0
S stamps 0
S time 1700000000500000000
M overlay 1 0 1
M br_netfilter 0 0 1
M nf_conntrack 1 0 1
C systemctl 1
C conntrack 0
C socat 0
U containerd /lib/systemd/system/containerd.service active
U kubelet - inactive
P 10.1.0.6 10.1.0.6 dev eth0 src 10.1.0.5 uid 0
P 10.1.0.7 10.1.0.7 via 10.1.0.1 dev eth0 src 10.1.0.5 uid 0
D /var 20971520
D /usr/local/bin 1048576
L 2742
L 0016
`

func TestParse(t *testing.T) {
	at := time.Unix(1700000000, 0)
	r, err := Parse("a", []byte(sampleProbe), at)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Node: "a", Kernel: "Linux", Release: "6.1.0-18-amd64", Machine: "x86_64", PID1: "systemd", Systemd: true, CgroupV2: true,
		CapBnd: 0x1ffffffffff, Overlay: true,
		Modules:  map[string]Module{"overlay": {Loaded: true, Available: true}, "br_netfilter": {Available: true}, "nf_conntrack": {Loaded: true, Available: true}},
		Commands: map[string]bool{"systemctl": true, "conntrack": false, "socat": false},
		Units:    map[string]Unit{"containerd": {Fragment: "/lib/systemd/system/containerd.service", Active: true}, "kubelet": {}},
		Routes:   map[string]string{"10.1.0.6": "10.1.0.6 dev eth0 src 10.1.0.5 uid 0", "10.1.0.7": "10.1.0.7 via 10.1.0.1 dev eth0 src 10.1.0.5 uid 0"},
		Free:     map[string]int64{"/var": 20 << 30, "/usr/local/bin": 1 << 30},
		Listen:   map[int]bool{10050: true, 22: true},
		Offset:   500 * time.Millisecond,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Parse =\n  %+v\nwant\n  %+v", r, want)
	}
	if r.Arch() != "amd64" {
		t.Errorf("arch %s", r.Arch())
	}
	if _, err := Parse("a", []byte("S time 17%N\n"), at); err == nil || err.Error() != `node a: its clock reads "17%N", not nanoseconds (date without %N? install GNU coreutils)` {
		t.Errorf("bad clock: %v", err)
	}
}

func cluster(t *testing.T, doc string) *config.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: ssh\n" + doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// good is a report of a machine that has everything node n needs.
func good(c *config.Cluster, n config.Node) Report {
	r := Report{Node: n.Name, Kernel: "Linux", Release: "6.1.0", Machine: "x86_64", PID1: "systemd", Systemd: true, CgroupV2: true,
		CapBnd: 0x1ffffffffff, Overlay: true, Bridge: true,
		Modules: map[string]Module{}, Commands: map[string]bool{}, Units: map[string]Unit{}, Routes: map[string]string{},
		Free: map[string]int64{"/var": 50 << 30, render.BinDir: 50 << 30}, Listen: map[int]bool{22: true}}
	for _, m := range modules(c, n) {
		r.Modules[m.name] = Module{Loaded: true}
	}
	for _, tl := range tools(c, n) {
		r.Commands[tl.cmd] = true
	}
	for _, o := range c.Nodes {
		r.Routes[o.IP] = o.IP + " dev eth0 src " + n.IP
	}
	return r
}

func TestCheck(t *testing.T) {
	const doc = "nodes:\n- {name: a, ip: 10.1.0.5}\n- {name: b, ip: 10.1.0.6, roles: [worker]}\n"
	tests := []struct {
		name   string
		doc    string
		breakF func(reports map[string]Report)
		want   []string // Failed(...) lines
		warn   []string // names of failed optional results
	}{
		{"ready machines", doc, func(map[string]Report) {}, nil, nil},
		{"missing tools, with the packages", doc, func(rs map[string]Report) {
			r := rs["b"]
			r.Commands["conntrack"], r.Commands["socat"], r.Commands["nsenter"] = false, false, false
		}, []string{"node b: tools (missing conntrack (kube-proxy), socat (kubectl port-forward), nsenter (kubelet); fix: apt-get install conntrack socat util-linux (Fedora/RHEL: dnf install conntrack-tools socat util-linux))"}, nil},
		{"a port taken by another program", doc, func(rs map[string]Report) { rs["a"].Listen[6443] = true },
			[]string{"node a: ports (in use by another program: 6443 (kube-apiserver's); fix: stop what listens there (ss -tlnp shows which program) or use another machine)"}, nil},
		{"hardway's own services from an earlier run", doc, func(rs map[string]Report) {
			r := rs["a"]
			r.Listen[6443], r.Stamps = true, true
			r.Units["kube-apiserver"] = Unit{Fragment: "/etc/systemd/system/kube-apiserver.service", Active: true}
			rs["a"] = r
		}, nil, nil},
		{"a packaged containerd", doc, func(rs map[string]Report) {
			rs["b"].Units["containerd"] = Unit{Fragment: "/lib/systemd/system/containerd.service", Active: true}
		}, []string{"node b: no other Kubernetes or containerd (containerd from /lib/systemd/system/containerd.service; fix: hardway installs its own and would replace these: remove them (e.g. apt-get remove containerd kubelet; kubeadm reset) or use another machine)"}, nil},
		{"a peer behind a router", doc, func(rs map[string]Report) { rs["a"].Routes["10.1.0.6"] = "10.1.0.6 via 10.1.0.1 dev eth0 src 10.1.0.5" },
			[]string{"node a: peers on the same L2 network (podRoutes: direct) (reached through a router: b (10.1.0.6 via 10.1.0.1 dev eth0 src 10.1.0.5); fix: plain pod routes need every node on one L2 network: set network.podRoutes: vxlan)"}, nil},
		{"no such module, swap on", doc, func(rs map[string]Report) {
			r := rs["b"]
			r.Modules["br_netfilter"], r.Bridge, r.Swaps = Module{}, false, 1
			rs["b"] = r
		}, []string{"node b: kernel: br_netfilter (iptables sees bridged pod traffic) (not in kernel 6.1.0; fix: this kernel has no br_netfilter: install the distribution's full kernel (e.g. apt-get install linux-image-amd64, or linux-modules-extra-$(uname -r) on Ubuntu))"},
			[]string{"b: swap"}},
		{"not systemd, mixed architectures", doc, func(rs map[string]Report) {
			r := rs["b"]
			r.PID1, r.Systemd, r.Machine = "init", false, "aarch64"
			rs["b"] = r
		}, []string{"node b: systemd Linux (Linux 6.1.0, PID 1 is init; fix: hardway runs every component as a systemd service: use a Linux machine booted with systemd)",
			"cluster: same architecture on every node (amd64: a; arm64: b; fix: hardway installs one set of binaries per cluster: use machines of one architecture)"}, nil},
		{"arch: in the config that the machines do not have", "arch: arm64\n" + doc, func(map[string]Report) {},
			[]string{"node a: architecture (x86_64 (amd64); the config says arch: arm64; fix: machines report their architecture: remove arch: from the config (or set it to amd64))",
				"node b: architecture (x86_64 (amd64); the config says arch: arm64; fix: machines report their architecture: remove arch: from the config (or set it to amd64))"}, nil},
		{"clocks", doc, func(rs map[string]Report) {
			r := rs["b"]
			r.Offset = -45 * time.Second
			rs["b"] = r
		}, []string{"cluster: clocks agree with this host (largest difference -45s (b); fix: certificates made here must be valid there: set the clocks (enable chrony or systemd-timesyncd) so they are within 30s of this host)"},
			[]string{"clocks agree with each other"}},
		{"little disk", doc, func(rs map[string]Report) { rs["a"].Free["/var"] = 1 << 30 },
			[]string{"node a: free disk /var (1.0 GiB free; fix: free space on the file system holding /var (at least 5 GiB for images, etcd data, logs))"}, nil},
		{"vxlan needs its module and bridge", "network: {podRoutes: vxlan}\n" + doc, func(rs map[string]Report) {
			rs["a"].Modules["vxlan"] = Module{Available: true} // fine: the unit loads it
			rs["b"].Modules["vxlan"] = Module{}
			rs["b"].Commands["bridge"] = false
		}, []string{"node b: kernel: vxlan (network.podRoutes: vxlan) (not in kernel 6.1.0; fix: this kernel has no vxlan: install the distribution's full kernel (e.g. apt-get install linux-image-amd64, or linux-modules-extra-$(uname -r) on Ubuntu), or set network.podRoutes: direct on one L2 network)",
			"node b: tools (missing bridge (the VXLAN forwarding entries); fix: apt-get install iproute2 (Fedora/RHEL: dnf install iproute))"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, tt.doc)
			reports := map[string]Report{}
			for _, n := range c.Nodes {
				reports[n.Name] = good(c, n)
			}
			tt.breakF(reports)
			results := Check(c, reports)
			if got := Failed(results); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Failed =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			var warn []string
			for _, r := range results {
				if !r.OK && !r.Required {
					w := r.Name
					if r.Node != "" {
						w = r.Node + ": " + w
					}
					warn = append(warn, w)
				}
			}
			if !reflect.DeepEqual(warn, tt.warn) {
				t.Errorf("warnings %q, want %q", warn, tt.warn)
			}
		})
	}
}

func TestFacts(t *testing.T) {
	c := cluster(t, "nodes:\n- {name: a, ip: 10.1.0.5}\n")
	r := good(c, c.Nodes[0])
	r.CgroupV2, r.CapBnd = false, 0x1ffeffffff // no bit 24
	f, arch, ok := Facts(c, map[string]Report{"a": r})
	if !ok || arch != "amd64" || f != (render.Facts{CgroupV1: true, NoSysResource: true}) {
		t.Errorf("Facts = %+v %s %v", f, arch, ok)
	}
}
