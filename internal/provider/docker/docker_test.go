package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/provider"
)

// fakeDocker answers docker commands from a handler and records every
// command line (with its stdin) so tests can assert the exact argv.
type fakeDocker struct {
	calls  []string
	stdins []string
	handle func(argv string) (stdout string, stderr string, code int)
}

func (f *fakeDocker) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	argv := c.String()
	f.calls = append(f.calls, argv)
	in := ""
	if c.Stdin != nil {
		b, _ := io.ReadAll(c.Stdin)
		in = string(b)
	}
	f.stdins = append(f.stdins, in)
	out, errOut, code := "", "", 0
	if f.handle != nil {
		out, errOut, code = f.handle(argv)
	}
	if code != 0 {
		return []byte(out), &exec.RunError{Cmd: argv, ExitCode: code, Stdout: []byte(out), Stderr: []byte(errOut), Err: errors.New("exit status")}
	}
	return []byte(out), nil
}

// freshDocker has nothing: every inspect says "No such".
func freshDocker(argv string) (string, string, int) {
	switch {
	case strings.HasPrefix(argv, "docker network inspect "):
		return "[]", "Error: No such network: x", 1
	case strings.HasPrefix(argv, "docker container inspect "):
		return "[]", "Error: No such object: x", 1
	}
	return "", "", 0
}

func cluster(t *testing.T, yaml string) *config.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

const img = "hardway/node:0123456789ab"

func TestCreateArgv(t *testing.T) {
	unpriv := HostInfo{Privileged: false, ModulesDir: "/lib/modules"}
	priv := HostInfo{Privileged: true}
	oneNode := "name: one\nnetwork:\n  nodeSubnet: 10.9.0.0/24\nnodes:\n- name: solo\n"
	tests := []struct {
		name      string
		yaml      string
		host      HostInfo
		artifacts string
		want      []string // the complete command sequence
	}{
		{
			name: "one node, isolated, unprivileged, no LB",
			yaml: oneNode, host: unpriv, artifacts: "/cache",
			want: []string{
				"docker network inspect hardway-one",
				"docker network create --driver bridge --subnet 10.9.0.0/24 --gateway 10.9.0.1 --internal --label dev.hardway.cluster=one hardway-one",
				"docker container inspect one-solo",
				"docker run --detach --name one-solo --hostname solo --label dev.hardway.cluster=one --label dev.hardway.node=solo" +
					" --label dev.hardway.role=control-plane,worker --label dev.hardway.index=0 --network hardway-one --ip 10.9.0.10 --network-alias solo" +
					" --restart unless-stopped --stop-signal SIGRTMIN+3 --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined" +
					" --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg" +
					" --cgroupns private --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --volume /var --volume /lib/modules:/lib/modules:ro" +
					" --volume /cache:/opt/hardway/artifacts:ro " + img,
			},
		},
		{
			name: "one node, not isolated, privileged, no modules, no cache",
			yaml: oneNode + "isolated: false\n", host: priv,
			want: []string{
				"docker network inspect hardway-one",
				"docker network create --driver bridge --subnet 10.9.0.0/24 --gateway 10.9.0.1 --label dev.hardway.cluster=one hardway-one",
				"docker container inspect one-solo",
				"docker run --detach --name one-solo --hostname solo --label dev.hardway.cluster=one --label dev.hardway.node=solo" +
					" --label dev.hardway.role=control-plane,worker --label dev.hardway.index=0 --network hardway-one --ip 10.9.0.10 --network-alias solo" +
					" --restart unless-stopped --stop-signal SIGRTMIN+3 --privileged --security-opt seccomp=unconfined --security-opt apparmor=unconfined" +
					" --cgroupns private --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --volume /var " + img,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: freshDocker}
			p := New(Options{Runner: f, Host: &tt.host})
			nodes, err := p.Create(context.Background(), cluster(t, tt.yaml), provider.CreateOptions{Image: img, ArtifactsDir: tt.artifacts})
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 1 || nodes[0].Name() != "solo" || nodes[0].IP() != "10.9.0.10" {
				t.Errorf("nodes = %v", nodes)
			}
			if got, want := strings.Join(f.calls, "\n"), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("commands:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestCreateThreeNodesAndLB(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantNodes []string
		wantRoles []string
	}{
		{"default three control planes get an LB", "name: tri\n",
			[]string{"node-0/10.240.0.10", "node-1/10.240.0.11", "node-2/10.240.0.12", "lb/10.240.0.2"},
			[]string{"control-plane,worker", "control-plane,worker", "control-plane,worker", "lb"}},
		{"one control plane, two workers: no LB", "name: tri\nnodes:\n- roles: [control-plane]\n- roles: [worker]\n- roles: [worker]\n",
			[]string{"node-0/10.240.0.10", "node-1/10.240.0.11", "node-2/10.240.0.12"},
			[]string{"control-plane", "worker", "worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: freshDocker}
			p := New(Options{Runner: f, Host: &HostInfo{}})
			nodes, err := p.Create(context.Background(), cluster(t, tt.yaml), provider.CreateOptions{Image: img})
			if err != nil {
				t.Fatal(err)
			}
			var got, roles, runs []string
			for _, n := range nodes {
				got = append(got, n.Name()+"/"+n.IP())
				roles = append(roles, n.Role())
			}
			for _, c := range f.calls {
				if strings.HasPrefix(c, "docker run ") {
					runs = append(runs, c)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.wantNodes, " ") || strings.Join(roles, " ") != strings.Join(tt.wantRoles, " ") {
				t.Errorf("nodes %v roles %v, want %v %v", got, roles, tt.wantNodes, tt.wantRoles)
			}
			if len(runs) != len(tt.wantNodes) {
				t.Fatalf("%d docker run, want %d", len(runs), len(tt.wantNodes))
			}
			for i, r := range runs {
				name, ip, _ := strings.Cut(tt.wantNodes[i], "/")
				for _, want := range []string{"--name tri-" + name + " ", "--ip " + ip + " ", "--network-alias " + name + " ",
					"--label dev.hardway.role=" + tt.wantRoles[i] + " ", fmt.Sprintf("--label dev.hardway.index=%d ", i)} {
					if !strings.Contains(r, want) {
						t.Errorf("run %d lacks %q: %s", i, want, r)
					}
				}
			}
		})
	}
}

// containerJSONFor fakes `docker container inspect` output.
func containerJSONFor(name, cluster, node, role, index, status, ip string) string {
	running := status == "running"
	return fmt.Sprintf(`{"Name":"/%s","State":{"Status":%q,"Running":%v},"Config":{"Image":%q,"Labels":{"dev.hardway.cluster":%q,"dev.hardway.node":%q,"dev.hardway.role":%q,"dev.hardway.index":%q}},"NetworkSettings":{"Networks":{"hardway-%s":{"IPAddress":"","IPAMConfig":{"IPv4Address":%q}}}}}`,
		name, status, running, img, cluster, node, role, index, cluster, ip)
}

const ourNetwork = `[{"Name":"hardway-one","Internal":true,"Labels":{"dev.hardway.cluster":"one"},"IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]}}]`

func TestCreateExisting(t *testing.T) {
	yaml := "name: one\nnetwork:\n  nodeSubnet: 10.9.0.0/24\nnodes:\n- name: solo\n"
	tests := []struct {
		name      string
		network   string // network inspect answer; "" = none
		container string // container inspect answer; "" = none
		wantErr   string
		wantCmd   string // a command that must have run
		notCmd    string // a command prefix that must not have run
	}{
		{name: "ours and running: kept", network: ourNetwork,
			container: "[" + containerJSONFor("one-solo", "one", "solo", "control-plane,worker", "0", "running", "10.9.0.10") + "]",
			notCmd:    "docker run"},
		{name: "ours and stopped: started", network: ourNetwork,
			container: "[" + containerJSONFor("one-solo", "one", "solo", "control-plane,worker", "0", "exited", "10.9.0.10") + "]",
			wantCmd:   "docker container start one-solo", notCmd: "docker run"},
		{name: "same name, not ours", network: ourNetwork,
			container: `[{"Name":"/one-solo","State":{"Status":"running","Running":true},"Config":{"Labels":{}}}]`,
			wantErr:   "a container named one-solo exists but is not node \"solo\" of hardway cluster \"one\": remove it (docker rm -f one-solo)", notCmd: "docker run"},
		{name: "ours with another IP", network: ourNetwork,
			container: "[" + containerJSONFor("one-solo", "one", "solo", "control-plane,worker", "0", "running", "10.9.0.99") + "]",
			wantErr:   "node solo exists with IP \"10.9.0.99\" but the config says 10.9.0.10: run `hardway down --name one` first"},
		{name: "network not ours", network: `[{"Name":"hardway-one","Labels":{},"IPAM":{"Config":[{"Subnet":"10.9.0.0/24"}]}}]`,
			wantErr: "docker network hardway-one exists but was not made by hardway", notCmd: "docker container inspect"},
		{name: "our network with another subnet", network: `[{"Name":"hardway-one","Internal":true,"Labels":{"dev.hardway.cluster":"one"},"IPAM":{"Config":[{"Subnet":"10.8.0.0/24"}]}}]`,
			wantErr: "network hardway-one has subnet 10.8.0.0/24 but network.nodeSubnet is 10.9.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: func(argv string) (string, string, int) {
				switch {
				case strings.HasPrefix(argv, "docker network inspect"):
					if tt.network == "" {
						return "[]", "Error: No such network", 1
					}
					return tt.network, "", 0
				case strings.HasPrefix(argv, "docker container inspect"):
					if tt.container == "" {
						return "[]", "Error: No such object", 1
					}
					return tt.container, "", 0
				}
				return "", "", 0
			}}
			p := New(Options{Runner: f, Host: &HostInfo{}})
			_, err := p.Create(context.Background(), cluster(t, yaml), provider.CreateOptions{Image: img})
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			all := strings.Join(f.calls, "\n")
			if tt.wantCmd != "" && !strings.Contains(all, tt.wantCmd) {
				t.Errorf("no %q in:\n%s", tt.wantCmd, all)
			}
			if tt.notCmd != "" && strings.Contains(all, tt.notCmd) {
				t.Errorf("unexpected %q in:\n%s", tt.notCmd, all)
			}
			if strings.Contains(all, "network create") {
				t.Errorf("created a network although one exists:\n%s", all)
			}
		})
	}
}

func TestCreateSubnetTaken(t *testing.T) {
	f := &fakeDocker{handle: func(argv string) (string, string, int) {
		switch {
		case strings.HasPrefix(argv, "docker network inspect hardway-one"):
			return "[]", "Error: No such network: hardway-one", 1
		case strings.HasPrefix(argv, "docker network create"):
			return "", "Error response from daemon: Pool overlaps with other one on this address space", 1
		case argv == "docker network ls --quiet":
			return "aaa\nbbb\n", "", 0
		case argv == "docker network inspect aaa bbb":
			return `[{"Name":"bridge","IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}},
			         {"Name":"hardway-other","Labels":{"dev.hardway.cluster":"other"},"IPAM":{"Config":[{"Subnet":"10.9.0.0/16"}]}}]`, "", 0
		}
		return "", "", 0
	}}
	p := New(Options{Runner: f, Host: &HostInfo{}})
	_, err := p.Create(context.Background(), cluster(t, "name: one\nnetwork:\n  nodeSubnet: 10.9.0.0/24\nnodes:\n- name: solo\n"), provider.CreateOptions{Image: img})
	want := "node subnet 10.9.0.0/24 overlaps hardway-other (hardway cluster \"other\": `hardway down --name other` removes it): set network.nodeSubnet in the config"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v\nwant %q", err, want)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "docker run") {
			t.Errorf("ran a container after the network failed: %s", c)
		}
	}
}

func TestCreateNeedsImage(t *testing.T) {
	p := New(Options{Runner: &fakeDocker{}, Host: &HostInfo{}})
	if _, err := p.Create(context.Background(), cluster(t, ""), provider.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "hardway node-image build") {
		t.Fatalf("error %v", err)
	}
}

func TestStatusAndNodes(t *testing.T) {
	f := &fakeDocker{handle: func(argv string) (string, string, int) {
		switch argv {
		case "docker container ls --all --quiet --no-trunc --filter label=dev.hardway.cluster=one":
			return "c3\nc1\nc2\n", "", 0
		case "docker container inspect c3 c1 c2":
			return "[" + strings.Join([]string{
				containerJSONFor("one-lb", "one", "lb", "lb", "2", "running", "10.9.0.2"),
				containerJSONFor("one-b", "one", "b", "worker", "1", "exited", "10.9.0.11"),
				containerJSONFor("one-a", "one", "a", "control-plane", "0", "running", "10.9.0.10"),
			}, ",") + "]", "", 0
		}
		return "", "unexpected", 1
	}}
	p := New(Options{Runner: f, Host: &HostInfo{}})
	st, err := p.Status(context.Background(), "one")
	if err != nil {
		t.Fatal(err)
	}
	want := []provider.NodeStatus{
		{Name: "a", Container: "one-a", IP: "10.9.0.10", Role: "control-plane", State: "running"},
		{Name: "b", Container: "one-b", IP: "10.9.0.11", Role: "worker", State: "exited"},
		{Name: "lb", Container: "one-lb", IP: "10.9.0.2", Role: "lb", State: "running"},
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("status\n%v\nwant\n%v", st, want)
	}
	n, err := p.Node(context.Background(), "one", "b")
	if err != nil || n.IP() != "10.9.0.11" || n.Role() != "worker" {
		t.Errorf("Node(b) = %v, %v", n, err)
	}
	_, err = p.Node(context.Background(), "one", "zzz")
	if !errors.Is(err, provider.ErrNotFound) || !strings.Contains(err.Error(), "its nodes: a, b, lb") {
		t.Errorf("Node(zzz) error %v", err)
	}
}

func TestStatusNoCluster(t *testing.T) {
	f := &fakeDocker{}
	st, err := New(Options{Runner: f, Host: &HostInfo{}}).Status(context.Background(), "none")
	if err != nil || len(st) != 0 {
		t.Fatalf("status %v, %v", st, err)
	}
	if len(f.calls) != 1 {
		t.Errorf("inspected nothing, yet ran %v", f.calls)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name        string
		containers  string
		networks    string
		wantRemoved []string
		wantCalls   []string
	}{
		{name: "full cluster", containers: "id1\nid2\n", networks: "hardway-one\nhardway-one-publish\n",
			wantRemoved: []string{"container one-a", "container one-b", "network hardway-one", "network hardway-one-publish"},
			wantCalls: []string{
				"docker container ls --all --quiet --filter label=dev.hardway.cluster=one",
				"docker container inspect id1 id2",
				"docker container rm --force --volumes id1 id2",
				"docker network ls --filter label=dev.hardway.cluster=one --format '{{.Name}}'",
				"docker network rm hardway-one hardway-one-publish",
			}},
		{name: "half-created: network only", networks: "hardway-one\n",
			wantRemoved: []string{"network hardway-one"},
			wantCalls: []string{
				"docker container ls --all --quiet --filter label=dev.hardway.cluster=one",
				"docker network ls --filter label=dev.hardway.cluster=one --format '{{.Name}}'",
				"docker network rm hardway-one",
			}},
		{name: "nothing there",
			wantCalls: []string{
				"docker container ls --all --quiet --filter label=dev.hardway.cluster=one",
				"docker network ls --filter label=dev.hardway.cluster=one --format '{{.Name}}'",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: func(argv string) (string, string, int) {
				switch {
				case strings.HasPrefix(argv, "docker container ls"):
					return tt.containers, "", 0
				case strings.HasPrefix(argv, "docker network ls"):
					return tt.networks, "", 0
				case argv == "docker container inspect id1 id2":
					return "[" + containerJSONFor("one-a", "one", "a", "worker", "0", "running", "10.9.0.10") + "," +
						containerJSONFor("one-b", "one", "b", "worker", "1", "running", "10.9.0.11") + "]", "", 0
				}
				return "", "", 0
			}}
			removed, err := New(Options{Runner: f, Host: &HostInfo{}}).Delete(context.Background(), "one")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(removed) != fmt.Sprint(tt.wantRemoved) {
				t.Errorf("removed %v, want %v", removed, tt.wantRemoved)
			}
			if got, want := strings.Join(f.calls, "\n"), strings.Join(tt.wantCalls, "\n"); got != want {
				t.Errorf("commands:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestDeleteDaemonDown(t *testing.T) {
	f := &fakeDocker{handle: func(string) (string, string, int) {
		return "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1
	}}
	_, err := New(Options{Runner: f, Host: &HostInfo{}}).Delete(context.Background(), "one")
	if err == nil || !strings.Contains(err.Error(), "Docker daemon not reachable (start dockerd") {
		t.Fatalf("error %v", err)
	}
}

func testNode(f *fakeDocker) *Node {
	p := New(Options{Runner: f, Host: &HostInfo{}})
	p.poll = time.Millisecond
	return &Node{p: p, name: "solo", container: "one-solo", ip: "10.9.0.10", role: "worker"}
}

func TestNodeRun(t *testing.T) {
	f := &fakeDocker{handle: func(argv string) (string, string, int) {
		if strings.Contains(argv, "false") {
			return "partial", "it broke", 3
		}
		return "hi\n", "", 0
	}}
	n := testNode(f)
	out, err := n.Run(context.Background(), nil, "echo", "hi")
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	if _, err := n.Run(context.Background(), strings.NewReader("in"), "cat"); err != nil {
		t.Fatal(err)
	}
	_, err = n.Run(context.Background(), nil, "sh", "-c", "false")
	re, ok := exec.IsRunError(err)
	if !ok || re.Where != "solo" || re.Cmd != "sh -c false" || re.ExitCode != 3 || !strings.Contains(err.Error(), "on solo (exit 3): sh -c false: it broke") {
		t.Fatalf("error %#v", err)
	}
	want := []string{"docker exec one-solo echo hi", "docker exec -i one-solo cat", "docker exec one-solo sh -c false"}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") || f.stdins[1] != "in" {
		t.Errorf("calls %q stdins %q", f.calls, f.stdins)
	}
}

func TestNodeWriteReadFile(t *testing.T) {
	f := &fakeDocker{handle: func(argv string) (string, string, int) {
		if strings.Contains(argv, "cat -- /missing") {
			return "", "cat: /missing: No such file or directory", 1
		}
		if strings.Contains(argv, "cat -- /etc/x") {
			return "content", "", 0
		}
		return "", "", 0
	}}
	n := testNode(f)
	ctx := context.Background()
	if err := n.WriteFile(ctx, "/etc/kubernetes/a b.conf", []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.WriteFile(ctx, "/usr/local/bin/tool", []byte("x"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := n.WriteFile(ctx, "relative", nil, 0o644); err == nil {
		t.Error("relative path accepted")
	}
	if !strings.HasPrefix(f.calls[0], "docker exec -i one-solo sh -c ") || !strings.HasSuffix(f.calls[0], " sh '/etc/kubernetes/a b.conf' 0600") || f.stdins[0] != "data" {
		t.Errorf("write call %q stdin %q", f.calls[0], f.stdins[0])
	}
	if !strings.HasSuffix(f.calls[1], " sh /usr/local/bin/tool 4755") {
		t.Errorf("setuid mode: %q", f.calls[1])
	}
	b, err := n.ReadFile(ctx, "/etc/x")
	if err != nil || string(b) != "content" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	_, err = n.ReadFile(ctx, "/missing")
	if _, ok := exec.IsRunError(err); !errors.Is(err, fs.ErrNotExist) || !ok {
		t.Errorf("missing file error %v", err)
	}
}

func TestWaitForSystemd(t *testing.T) {
	tests := []struct {
		name    string
		states  []string // successive is-system-running answers
		status  string   // container state
		wantErr string
	}{
		{name: "starting then running", states: []string{"", "initializing", "starting", "running"}, status: "running"},
		{name: "degraded counts as up", states: []string{"degraded"}, status: "running"},
		{name: "never comes up", states: []string{"starting"}, status: "running",
			wantErr: "node solo: systemd not running after 30ms (state: starting; failed units: foo.service loaded failed failed Foo)"},
		{name: "container died", states: []string{""}, status: "exited",
			wantErr: "node solo stopped (exited) before systemd came up; its last output:\nhardway-entrypoint: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			f := &fakeDocker{handle: func(argv string) (string, string, int) {
				switch {
				case strings.HasSuffix(argv, "systemctl is-system-running"):
					s := tt.states[min(i, len(tt.states)-1)]
					i++
					if s == "running" {
						return s + "\n", "", 0
					}
					return s + "\n", "", 1
				case strings.Contains(argv, "systemctl --failed"):
					return "foo.service loaded failed failed Foo\n", "", 0
				case strings.HasPrefix(argv, "docker container inspect --format"):
					return tt.status + "\n", "", 0
				case strings.HasPrefix(argv, "docker logs"):
					return "hardway-entrypoint: boom\n", "", 0
				}
				return "", "unexpected " + argv, 1
			}}
			err := testNode(f).WaitForSystemd(context.Background(), 30*time.Millisecond)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v\nwant %q", err, tt.wantErr)
			}
		})
	}
}

func TestPrivilegedPossible(t *testing.T) {
	tests := []struct {
		status  string
		want    bool
		wantErr bool
	}{
		{"Name:\tx\nCapBnd:\t000001ffffffffff\n", true, false},
		{"CapBnd:\t000001fffeffffff\n", false, false}, // seen: bit 24 missing
		{"CapBnd:\tzz\n", false, true},
		{"Name:\tx\n", false, true},
	}
	for _, tt := range tests {
		got, err := PrivilegedPossible(tt.status)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("PrivilegedPossible(%q) = %v, %v", tt.status, got, err)
		}
	}
}

func TestNodeAttach(t *testing.T) {
	n := testNode(&fakeDocker{})
	tests := []struct {
		tty  bool
		env  []string
		argv []string
		want string
	}{
		{true, []string{"TERM=xterm"}, []string{"bash", "-l"}, "docker exec -i -t --env TERM=xterm one-solo bash -l"},
		{false, nil, []string{"systemctl", "status", "kubelet"}, "docker exec -i one-solo systemctl status kubelet"},
	}
	for _, tt := range tests {
		if got := strings.Join(n.Attach(tt.tty, tt.env, tt.argv), " "); got != tt.want {
			t.Errorf("Attach(%v, %v, %v) = %q, want %q", tt.tty, tt.env, tt.argv, got, tt.want)
		}
	}
	if n.ArtifactDir() != "/opt/hardway/artifacts" {
		t.Errorf("ArtifactDir = %q", n.ArtifactDir())
	}
}

// TestCreatePublished: a host without a route to the nodes gets the API
// published on the engine's host by the load balancer alone, which joins a
// no-NAT bridge for it; the nodes stay on the internal network. A port that
// is taken is one line naming the field.
func TestCreatePublished(t *testing.T) {
	yaml := "name: one\nnetwork:\n  nodeSubnet: 10.9.0.0/24\n  hostAccess: published\n  apiPublishPort: 26443\nnodes:\n- name: solo\n"
	lbCreate := "docker create --name one-lb --hostname lb --label dev.hardway.cluster=one --label dev.hardway.node=lb" +
		" --label dev.hardway.role=lb --label dev.hardway.index=1 --network hardway-one-publish --publish 127.0.0.1:26443:6443" +
		" --restart unless-stopped --stop-signal SIGRTMIN+3 --privileged --security-opt seccomp=unconfined --security-opt apparmor=unconfined" +
		" --cgroupns private --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --volume /var " + img
	for _, tt := range []struct {
		name    string
		startOK bool
		wantErr string
	}{
		{"created", true, ""},
		{"port taken", false, "network.apiPublishPort: 127.0.0.1:26443 is already taken on the engine's host (another program or cluster listens there): set network.apiPublishPort to a free port, then run hardway up again"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: func(argv string) (string, string, int) {
				if argv == "docker container start one-lb" && !tt.startOK {
					return "", "Error response from daemon: driver failed programming external connectivity on endpoint one-lb: Bind for 127.0.0.1:26443 failed: port is already allocated", 1
				}
				return freshDocker(argv)
			}}
			_, err := New(Options{Runner: f, Host: &HostInfo{Privileged: true}}).Create(context.Background(), cluster(t, yaml), provider.CreateOptions{Image: img})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			calls := strings.Join(f.calls, "\n")
			for _, want := range []string{
				"docker network create --driver bridge --opt com.docker.network.bridge.enable_ip_masquerade=false --label dev.hardway.cluster=one hardway-one-publish",
				lbCreate,
				"docker network connect --ip 10.9.0.2 --alias lb hardway-one one-lb",
				"docker container start one-lb",
			} {
				if !strings.Contains(calls, want+"\n") && !strings.HasSuffix(calls, want) {
					t.Errorf("no %q in:\n%s", want, calls)
				}
			}
			if strings.Contains(calls, "--publish 127.0.0.1:26443:6443 "+img) || strings.Count(calls, "--publish") != 1 {
				t.Errorf("a node other than the load balancer is published:\n%s", calls)
			}
		})
	}
}

// RemoveNode removes exactly the node's container, with its /var volume,
// and nothing that is not that node of that cluster.
func TestRemoveNode(t *testing.T) {
	inspect := func(cluster, node string) string {
		return fmt.Sprintf(`[{"Name":"/x","State":{"Status":"running","Running":true},"Config":{"Labels":{%q:%q,%q:%q}}}]`, LabelCluster, cluster, LabelNode, node)
	}
	tests := []struct {
		name    string
		node    string
		answer  func(argv string) (string, string, int)
		want    []string
		wantErr string
	}{
		{"removes the node and its volume", "node-3", func(string) (string, string, int) { return inspect("c", "node-3"), "", 0 },
			[]string{"docker container inspect c-node-3", "docker container rm --force --volumes c-node-3"}, ""},
		{"already gone", "node-3", freshDocker,
			[]string{"docker container inspect c-node-3"}, ""},
		{"another cluster's container", "node-3", func(string) (string, string, int) { return inspect("other", "node-3"), "", 0 },
			[]string{"docker container inspect c-node-3"}, `container c-node-3 is not node "node-3" of hardway cluster "c": not removing it`},
		{"the load balancer", "lb", freshDocker, nil, "the load balancer of cluster c is not a node to remove"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{handle: tt.answer}
			p := New(Options{Runner: f, Host: &HostInfo{}})
			err := p.RemoveNode(context.Background(), "c", tt.node)
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Join(f.calls, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
