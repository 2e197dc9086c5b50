package lima

import (
	"context"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/ssh"
)

var update = flag.Bool("update", false, "rewrite testdata/template.yaml")

// fakeLima answers limactl from a table of VMs and records every command
// line, so tests assert the exact argv (limactl cannot run on this host).
type fakeLima struct {
	calls []string
	// vms: instance name → status ("Running", "Stopped"); created by create.
	vms     map[string]string
	missing bool // limactl is not installed
}

func (f *fakeLima) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	argv := c.String()
	f.calls = append(f.calls, argv)
	if f.missing {
		return nil, &exec.RunError{Cmd: argv, ExitCode: -1, Err: errors.New(`exec: "limactl": executable file not found in $PATH`)}
	}
	a := c.Args
	switch a[0] {
	case "list":
		var b strings.Builder
		for _, name := range slices.Sorted(maps.Keys(f.vms)) {
			b.WriteString(`{"name":"` + name + `","status":"` + f.vms[name] + `","dir":"/Users/me/.lima/` + name + `","arch":"aarch64","sshLocalPort":60022,"cpus":2}` + "\n")
		}
		return []byte(b.String()), nil
	case "create":
		f.vms[strings.TrimPrefix(a[1], "--name=")] = "Stopped"
	case "start":
		f.vms[a[len(a)-1]] = "Running"
	case "stop":
		f.vms[a[1]] = "Stopped"
	case "delete":
		delete(f.vms, a[len(a)-1])
	case "show-ssh":
		name := a[len(a)-1]
		port := map[string]string{"lab-node-0": "60022", "lab-node-1": "60023"}[name]
		return []byte("Host lima-" + name + "\n  IdentityFile \"/Users/me/.lima/_config/user\"\n  IdentityFile \"/Users/me/.ssh/id_ed25519\"\n" +
			"  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  User me\n  Hostname 127.0.0.1\n  Port " + port + "\n"), nil
	}
	return nil, nil
}

func cluster(t *testing.T) *config.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: lab\nprovider: lima\nlima: {cpus: 4, memory: 8GiB}\nnodes:\n- name: node-0\n- name: node-1\n  roles: [worker]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func newProvider(t *testing.T, f *fakeLima) (*Provider, string) {
	c := cluster(t)
	dir := t.TempDir()
	return New(Options{Runner: f, Config: c, StateDir: dir, Pool: ssh.PoolOptions{KnownHosts: filepath.Join(dir, "known_hosts")}}), dir
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name string
		vms  map[string]string
		want func(dir string) []string
	}{
		{"new VMs: template, create, start", map[string]string{"other": "Running"}, func(dir string) []string {
			return []string{
				"limactl list --json",
				"limactl create --name=lab-node-0 --tty=false " + filepath.Join(dir, "lima", "lab-node-0.yaml"),
				"limactl start --tty=false lab-node-0",
				"limactl create --name=lab-node-1 --tty=false " + filepath.Join(dir, "lima", "lab-node-1.yaml"),
				"limactl start --tty=false lab-node-1",
				"limactl show-ssh --format=config lab-node-0",
				"limactl show-ssh --format=config lab-node-1",
			}
		}},
		{"one stopped, one running: only the stopped one starts", map[string]string{"lab-node-0": "Stopped", "lab-node-1": "Running"}, func(string) []string {
			return []string{
				"limactl list --json",
				"limactl start --tty=false lab-node-0",
				"limactl show-ssh --format=config lab-node-0",
				"limactl show-ssh --format=config lab-node-1",
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLima{vms: tt.vms}
			p, dir := newProvider(t, f)
			nodes, err := p.Create(context.Background(), p.o.Config, provider.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(dir); !reflect.DeepEqual(f.calls, want) {
				t.Errorf("limactl calls\n  %s\nwant\n  %s", strings.Join(f.calls, "\n  "), strings.Join(want, "\n  "))
			}
			var got []ssh.Machine
			for _, n := range nodes {
				got = append(got, n.(*Node).Machine())
			}
			want := []ssh.Machine{
				{Name: "node-0", Role: "control-plane,worker", Address: "127.0.0.1", Port: 60022, User: "me", IdentityFile: "/Users/me/.lima/_config/user"},
				{Name: "node-1", Role: "worker", Address: "127.0.0.1", Port: 60023, User: "me", IdentityFile: "/Users/me/.lima/_config/user"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("machines\n  %+v\nwant\n  %+v", got, want)
			}
			if _, ok := nodes[0].(interface{ ArtifactDir() string }); ok {
				t.Error("Lima VMs must not claim to see the artifact cache: nothing of the host is mounted")
			}
		})
	}
}

func TestStatusStopStartDelete(t *testing.T) {
	f := &fakeLima{vms: map[string]string{"lab-node-0": "Running", "lab-node-1": "Stopped", "lab-other": "Running"}}
	p, dir := newProvider(t, f)
	ctx := context.Background()
	st, err := p.Status(ctx, "lab")
	want := []provider.NodeStatus{
		{Name: "node-0", Container: "lima lab-node-0", Role: "control-plane,worker", State: "running"},
		{Name: "node-1", Container: "lima lab-node-1", Role: "worker", State: "stopped"},
	}
	if err != nil || !reflect.DeepEqual(st, want) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if st, _ := p.Status(ctx, "other"); st != nil {
		t.Errorf("another cluster's status %+v", st)
	}

	f.calls = nil
	stopped, err := p.Stop(ctx, "lab")
	if err != nil || !reflect.DeepEqual(stopped, []string{"lab-node-0"}) {
		t.Fatalf("Stop = %v, %v", stopped, err)
	}
	if want := []string{"limactl list --json", "limactl stop lab-node-0"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("stop calls %q", f.calls)
	}

	f.calls = nil
	if _, err := p.Start(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	wantStart := []string{"limactl list --json", "limactl start --tty=false lab-node-0", "limactl start --tty=false lab-node-1",
		"limactl list --json", "limactl show-ssh --format=config lab-node-0", "limactl show-ssh --format=config lab-node-1"}
	if !reflect.DeepEqual(f.calls, wantStart) {
		t.Errorf("start calls\n  %s", strings.Join(f.calls, "\n  "))
	}

	if err := os.MkdirAll(filepath.Join(dir, "lima"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	removed, err := p.Delete(ctx, "lab")
	if err != nil || !reflect.DeepEqual(removed, []string{"Lima VM lab-node-0", "Lima VM lab-node-1"}) {
		t.Fatalf("Delete = %v, %v", removed, err)
	}
	if want := []string{"limactl list --json", "limactl delete --force lab-node-0", "limactl delete --force lab-node-1"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("delete calls %q", f.calls)
	}
	if _, ok := f.vms["lab-other"]; !ok {
		t.Error("Delete removed a VM that is not the cluster's")
	}
	if _, err := os.Stat(filepath.Join(dir, "lima")); !os.IsNotExist(err) {
		t.Errorf("templates left: %v", err)
	}
}

func TestLimactlMissing(t *testing.T) {
	p, _ := newProvider(t, &fakeLima{missing: true})
	_, err := p.Create(context.Background(), p.o.Config, provider.CreateOptions{})
	if err == nil || err.Error() != "listing Lima instances: limactl is not installed: provider lima needs Lima (https://lima-vm.io: brew install lima)" {
		t.Fatalf("error %v", err)
	}
}

// TestTemplate pins the VM template (testdata/template.yaml; -update
// rewrites it).
func TestTemplate(t *testing.T) {
	c := cluster(t)
	got, err := Template(c, c.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("testdata", "template.yaml")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/provider/lima -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("template differs from %s:\n%s", p, got)
	}
	c.Lima.VMType, c.Lima.Network = "qemu", "shared"
	shared, err := Template(c, c.Nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(shared), "vmType: qemu\n") || !strings.Contains(string(shared), "networks:\n- lima: shared\n") {
		t.Errorf("qemu/shared template:\n%s", shared)
	}
}

func TestParseSSHConfig(t *testing.T) {
	m, err := parseSSHConfig([]byte("Host lima-x\n  IdentityFile \"/a b/user\"\n  User me\n  Hostname 127.0.0.1\n  Port 50022\n"))
	if err != nil || m != (ssh.Machine{Address: "127.0.0.1", Port: 50022, User: "me", IdentityFile: "/a b/user"}) {
		t.Fatalf("parseSSHConfig = %+v, %v", m, err)
	}
	if _, err := parseSSHConfig([]byte("Host lima-x\n")); err == nil || err.Error() != `limactl show-ssh gave no User, Hostname and Port (got "Host lima-x"): is the VM running? (limactl list)` {
		t.Fatalf("error %v", err)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct{ out, want, err string }{
		{"3: lima0    inet 192.168.105.3/24 metric 100 brd 192.168.105.255 scope global dynamic lima0\\       valid_lft 86000sec preferred_lft 86000sec\n", "192.168.105.3", ""},
		{"", "", `no IPv4 address in ""`},
	}
	for _, tt := range tests {
		got, err := parseAddr([]byte(tt.out))
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("parseAddr(%q) = %q, %v", tt.out, got, err)
		}
	}
	if want := []string{"ip", "-4", "-o", "addr", "show", "dev", "lima0"}; !reflect.DeepEqual(addressArgs(Interface), want) {
		t.Errorf("addressArgs %q", addressArgs(Interface))
	}
}
