package machinecheck

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
)

// A /proc/net/route of a host with docker0, a VPN route into 10.8.0.0/16 and
// a default route.
const procRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0100A8C0	0003	0	0	0	00000000	0	0	0
eth0	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
tun0	0000080A	00000000	0001	0	0	0	0000FFFF	0	0	0
br-0123456789ab	0000090A	00000000	0001	0	0	0	00FFFFFF	0	0	0
`

func TestParseRoutes(t *testing.T) {
	rs, err := parseRoutes(strings.NewReader(procRoute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.iface+"="+r.prefix.String())
	}
	want := "eth0=0.0.0.0/0 eth0=192.168.0.0/24 docker0=172.17.0.0/16 tun0=10.8.0.0/16 br-0123456789ab=10.9.0.0/24"
	if strings.Join(got, " ") != want {
		t.Errorf("routes %v\nwant %s", got, want)
	}
	if _, err := parseRoutes(strings.NewReader("h\neth0 XYZ 0 0 0 0 0 00FFFFFF\n")); err == nil {
		t.Error("bad hex accepted")
	}
}

type fakeRunner map[string]string // argv -> stdout; missing = failure

func (f fakeRunner) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	if out, ok := f[c.String()]; ok {
		return []byte(out), nil
	}
	return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("Error: No such network"), Err: errors.New("exit 1")}
}

func fakeEnv(files map[string]string, r fakeRunner) HostEnv {
	return HostEnv{
		Run: r,
		ReadFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		},
		Stat: func(p string) error {
			if _, ok := files[p]; ok {
				return nil
			}
			return os.ErrNotExist
		},
		LookPath:  func(n string) (string, error) { return "", errors.New("not found") },
		FreeBytes: func(string) (uint64, error) { return 100 << 30, nil },
		Kernel:    "6.1.0-test",
	}
}

func TestRouteCheck(t *testing.T) {
	tests := []struct {
		subnet   string
		docker   bool
		wantOK   bool
		wantText string
	}{
		{"10.240.0.0/24", false, true, "5 host routes checked"},
		{"10.8.3.0/24", false, false, "host route 10.8.0.0/16 via tun0 overlaps it"},
		{"172.16.0.0/12", false, false, "host route 172.17.0.0/16 via docker0 overlaps it"},
		// The cluster's own bridge is not a collision.
		{"10.9.0.0/24", true, true, "5 host routes checked"},
		{"10.9.0.0/24", false, false, "via br-0123456789ab"},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Name = "one"
		c.Network.NodeSubnet = tt.subnet
		r := fakeRunner{}
		if tt.docker {
			r["docker network inspect --format '{{.Id}}' hardway-one"] = "0123456789abcdef0123\n"
		}
		res := fakeEnv(map[string]string{"/proc/net/route": procRoute}, r).routeCheck(context.Background(), c, tt.docker)
		if res.OK != tt.wantOK || !strings.Contains(res.Detail, tt.wantText) || !res.Required {
			t.Errorf("%s (docker=%v): %+v", tt.subnet, tt.docker, res)
		}
		if !res.OK && !strings.Contains(res.Fix, "network.nodeSubnet") {
			t.Errorf("%s: hint %q names no fix", tt.subnet, res.Fix)
		}
	}
}

func TestKernelHas(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		live    []string
		symbol  string
		module  string
		wantOK  bool
		wantHow string
	}{
		{"live file", map[string]string{"/proc/net/ip_vs": ""}, []string{"/proc/net/ip_vs"}, "ip_vs_", "ip_vs", true, "active"},
		{"built in, seen in kallsyms only", map[string]string{"/proc/kallsyms": "0000 t nf_tables_newrule\n"}, []string{"/sys/module/nf_tables"}, "nf_tables_", "nf_tables", true, "active"},
		{"loaded module", map[string]string{"/proc/modules": "ip_vs 1 0 - Live 0x0\n"}, nil, "", "ip_vs", true, "module loaded"},
		{"modules.builtin", map[string]string{"/lib/modules/6.1.0-test/modules.builtin": "kernel/net/bridge/br_netfilter.ko\n"}, nil, "", "br_netfilter", true, "built in"},
		{"loadable, not loaded", map[string]string{"/lib/modules/6.1.0-test/modules.dep": "kernel/net/netfilter/ipvs/ip_vs.ko.xz: x\n"}, nil, "ip_vs_", "ip_vs", false, "module available but not loaded"},
		{"absent", map[string]string{"/proc/kallsyms": "0000 t something_else\n"}, []string{"/proc/net/ip_vs"}, "ip_vs_", "ip_vs", false, "not in this kernel"},
	}
	for _, tt := range tests {
		ok, how := fakeEnv(tt.files, nil).kernelHas(tt.live, tt.symbol, tt.module)
		if ok != tt.wantOK || how != tt.wantHow {
			t.Errorf("%s: %v %q, want %v %q", tt.name, ok, how, tt.wantOK, tt.wantHow)
		}
	}
}

func TestChecksFailWithHints(t *testing.T) {
	// A host with no docker, no debootstrap and no kernel features: every
	// required check fails and each says how to fix it.
	c := config.Default()
	c.Network.KubeProxyMode = config.ProxyIPVS
	res := fakeEnv(map[string]string{}, fakeRunner{}).Host(context.Background(), c)
	failed := map[string]string{}
	for _, r := range res {
		if !r.OK && r.Required {
			failed[r.Name] = r.Fix
		}
	}
	for _, want := range []string{"docker client", "debootstrap", "overlay", "br_netfilter", "nf_tables", "ip_vs"} {
		found := false
		for name, hint := range failed {
			if strings.Contains(name, want) {
				found = true
				if hint == "" {
					t.Errorf("%s: no hint", name)
				}
			}
		}
		if !found {
			t.Errorf("no failed check for %s; failed: %v", want, failed)
		}
	}
	// Without ipvs mode, IPVS is not checked at all.
	c.Network.KubeProxyMode = config.ProxyIPTables
	for _, r := range fakeEnv(map[string]string{}, fakeRunner{}).Host(context.Background(), c) {
		if strings.Contains(r.Name, "ip_vs") {
			t.Errorf("ip_vs checked in iptables mode: %+v", r)
		}
	}
}

// A docker client without an engine: the check says the engine's own words
// and how to start it (it printed "docker daemon (; fix: ..." before).
func TestDockerDaemonDownSaysWhy(t *testing.T) {
	e := fakeEnv(map[string]string{}, fakeRunner{})
	e.LookPath = func(n string) (string, error) {
		if n == "docker" {
			return "/usr/local/bin/docker", nil
		}
		return "", errors.New("not found")
	}
	e.Run = runnerFunc(func(c exec.Cmd) ([]byte, error) {
		return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1,
			Stderr: []byte("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"), Err: errors.New("exit status 1")}
	})
	for _, r := range e.Host(context.Background(), config.Default()) {
		if r.Name != "docker daemon" {
			continue
		}
		want := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
		if r.OK || r.Detail != want || r.Fix != DockerDaemonFix {
			t.Errorf("docker daemon: %+v, want detail %q", r, want)
		}
		return
	}
	t.Fatal("no docker daemon check")
}

type runnerFunc func(exec.Cmd) ([]byte, error)

func (f runnerFunc) Run(_ context.Context, c exec.Cmd) ([]byte, error) { return f(c) }

// On a Mac the fixes are Homebrew's and the kernel is the engine VM's.
func TestMacHost(t *testing.T) {
	e := fakeEnv(map[string]string{}, fakeRunner{})
	e.OS = "darwin"
	fixes := map[string]string{}
	for _, r := range e.Host(context.Background(), config.Default()) {
		if !r.OK {
			fixes[r.Name] = r.Fix
		}
		if strings.Contains(r.Name, "kernel") && !r.OK {
			t.Errorf("the Mac's kernel is checked: %+v", r)
		}
	}
	for name, want := range map[string]string{
		"docker client":                    "brew install --cask docker (Docker Desktop), or brew install colima docker",
		"node image":                       "hardway node-image build --dockerfile (docker build FROM debian:bookworm; debootstrap does not run on macOS)",
		"limactl (only for provider lima)": "brew install lima",
	} {
		if fixes[name] != want {
			t.Errorf("%s: fix %q, want %q (all: %v)", name, fixes[name], want, fixes)
		}
	}
}
