package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/machinecheck"
	"hardway.dev/hardway/internal/steps"
)

// TestMain keeps every test of this package away from the user's clusters:
// state and artifact cache live in a temporary directory (tests that need
// their own set HARDWAY_HOME again), and runCLI's host runs no command.
func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "hardway-cli-test-")
	if err != nil {
		panic(err)
	}
	for k, v := range map[string]string{"HARDWAY_HOME": filepath.Join(tmp, "state"), "HARDWAY_CACHE": filepath.Join(tmp, "cache"), "XDG_DATA_HOME": filepath.Join(tmp, "xdg")} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), testHost(t), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// runCLIOn is runCLI on a given host (whose engine records commands).
func runCLIOn(h *host.Host, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), h, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// testHost is this machine without a container engine: Docker answers
// that no container and no image exist, and any other host command fails
// the test, so no unit test reaches a real engine (`make up` then `make
// test` on one machine must not see the user's cluster).
func testHost(t *testing.T) *host.Host {
	h, err := host.Local()
	if err != nil {
		t.Fatal(err)
	}
	e := &noEngine{t: t}
	h.Runner = func(logx.Logger) exec.Runner { return e }
	h.Checks = func(r exec.Runner) machinecheck.HostEnv { return machinecheck.LocalHost(r, h.Cache) }
	return h
}

// noEngine answers Docker's read-only questions with "nothing there" and
// records every command.
type noEngine struct {
	t   *testing.T
	mu  sync.Mutex
	ran []string
}

func (n *noEngine) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	n.mu.Lock()
	n.ran = append(n.ran, c.String())
	n.mu.Unlock()
	if c.Name == "docker" && len(c.Args) >= 2 {
		switch c.Args[0] + " " + c.Args[1] {
		case "container ls":
			return nil, nil
		case "image inspect":
			return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("Error: No such image"), Err: errors.New("exit status 1")}
		case "network inspect":
			return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("Error: No such network"), Err: errors.New("exit status 1")}
		}
	}
	n.t.Errorf("a unit test ran a host command: %s", c)
	return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("unit tests run no host command"), Err: errors.New("exit status 1")}
}

func TestExplainEveryStepWithoutDocker(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	tests := []struct {
		step string
		want []string
	}{
		{"pki", []string{"system:node:node-0", "system:masters", "kubernetes.default.svc.cluster.local", "10.32.0.1", "used by:"}},
		{"etcd", []string{"--initial-cluster=node-0=https://10.240.0.10:2380", "--client-cert-auth", "--peer-client-cert-auth", "Quorum: 2 of 3"}},
		{"control-plane", []string{"--authorization-mode=Node,RBAC", "--encryption-provider-config", "haproxy at 10.240.0.2"}},
		{"workers", []string{"10.200.1.0/24", "/var/lib/kubelet/kubelet-config.yaml"}},
		{"kubeconfigs", []string{"admin.kubeconfig", "https://10.240.0.2:6443", "https://127.0.0.1:6443"}},
		{"encryption", []string{"aescbc", "identity"}},
		{"network", []string{"10.200.1.0/24", "via", "10.240.0.11"}},
		{"dns", []string{"10.32.0.10", "kube-dns"}},
		{"verify", []string{"port-forward", "encryption"}},
		{"nodes", []string{"node-2", "10.240.0.12", "--internal"}},
		{"check", []string{"Preflight"}},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			code, out, errOut := runCLI(t, "explain", tt.step)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("explain %s lacks %q", tt.step, w)
				}
			}
		})
	}
	// Explaining must not leave cluster state behind.
	if entries, _ := os.ReadDir(filepath.Join(home, "clusters")); len(entries) != 0 {
		t.Errorf("explain created state: %v", entries)
	}
}

func TestBadConfigOneLinePerProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	doc := "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nkubernetesVersion: latest\nnetwork:\n  podCIDR: 10.240.0.0/16\nnodes:\n- name: a\n  ip: 192.168.9.9\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"up", "-c", path}, {"render", "-c", path, "--out", filepath.Join(dir, "out")}, {"explain", "-c", path}} {
		code, _, errOut := runCLI(t, cmd...)
		if code == 0 {
			t.Fatalf("%v: exit 0 for a bad config", cmd)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 3 {
			t.Errorf("%v: want 3 error lines, got %q", cmd, lines)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "error: ") {
				t.Errorf("%v: line %q is not a one-line error", cmd, l)
			}
		}
	}
}

func TestUnknownStep(t *testing.T) {
	code, _, errOut := runCLI(t, "up", "--only", "bogus", "--dry-run")
	if code == 0 || !strings.Contains(errOut, `no step "bogus"`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	code, out, errOut := runCLI(t, "up", "--dry-run", "--from", "etcd")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "etcd") || strings.Contains(out, " pki ") {
		t.Errorf("dry run lists the wrong steps:\n%s", out)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("dry run created state: %v", entries)
	}
}

func TestRenderTree(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		nodes []string
		lb    bool
	}{
		{"3 nodes", "", []string{"node-0", "node-1", "node-2"}, true},
		{"1 node", "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: one\nnodes:\n- name: solo\n", []string{"solo"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HARDWAY_HOME", t.TempDir())
			out := t.TempDir()
			args := []string{"render", "--out", out}
			if tt.doc != "" {
				p := filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(p, []byte(tt.doc), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-c", p)
			}
			if code, _, errOut := runCLI(t, args...); code != 0 {
				t.Fatalf("render: %s", errOut)
			}
			want := []string{"cluster/admin.kubeconfig", "cluster/ca.pem", "cluster/cluster.yaml", "cluster/manifests/admin-rbac.yaml", "cluster/manifests/coredns.yaml", "cluster/manifests/kubelet-api-rbac.yaml", "cluster/manifests/kubelet-certificates-rbac.yaml"}
			for _, n := range tt.nodes {
				for _, p := range []string{"etc/systemd/system/etcd.service", "etc/systemd/system/kube-apiserver.service", "etc/systemd/system/kube-controller-manager.service",
					"etc/systemd/system/kube-scheduler.service", "etc/systemd/system/containerd.service", "etc/systemd/system/kubelet.service",
					"etc/systemd/system/kube-proxy.service", "etc/containerd/config.toml", "etc/cni/net.d/10-bridge.conflist",
					"var/lib/kubelet/kubelet-config.yaml", "var/lib/kube-proxy/kube-proxy-config.yaml", "etc/kubernetes/kube-scheduler.yaml",
					"etc/kubernetes/encryption-config.yaml", "etc/kubernetes/audit-policy.yaml", "etc/etcd/server-key.pem"} {
					want = append(want, filepath.Join(n, p))
				}
			}
			if tt.lb {
				want = append(want, "cluster/load-balancer/haproxy.cfg")
			}
			for _, p := range want {
				if _, err := os.Stat(filepath.Join(out, p)); err != nil {
					t.Errorf("missing %s", p)
				}
			}
			if st, err := os.Stat(filepath.Join(out, tt.nodes[0], "etc/etcd/server-key.pem")); err == nil && st.Mode().Perm() != 0o600 {
				t.Errorf("key mode %o", st.Mode().Perm())
			}
			if _, err := os.Stat(filepath.Join(out, "cluster/load-balancer")); (err == nil) != tt.lb {
				t.Errorf("load balancer files present=%v, want %v", err == nil, tt.lb)
			}
		})
	}
}

// A cluster's saved config is what later commands use without -c, and
// explaining never changes the cluster's state.
func TestSavedConfigAndReadOnlyExplain(t *testing.T) {
	dir := renderedDemo(t, "pki:\n  keyAlgorithm: rsa\n")
	before := snapshot(t, dir)
	code, out, errOut := runCLI(t, "explain", "nodes", "--name", "demo")
	if code != 0 {
		t.Fatalf("explain: %s", errOut)
	}
	if !strings.Contains(out, "solo") || strings.Contains(out, "node-1") {
		t.Errorf("explain did not use the saved one-node config:\n%s", out)
	}
	// A different config (ECDSA, 3 nodes) explained and rendered against the
	// same cluster must not reissue its certificates.
	for _, args := range [][]string{{"explain", "pki", "--name", "demo", "-c", writeDefaultConfig(t)}, {"render", "--name", "demo", "-c", writeDefaultConfig(t), "--out", t.TempDir()}} {
		if code, _, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("explain/render changed the cluster's state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestCertsWithoutMachines: certs and certs check on a cluster with only
// its state read what they can, say which kubelets they could not read on
// their nodes and why, and judge the state directory's copies instead.
func TestCertsWithoutMachines(t *testing.T) {
	renderedDemo(t, "")
	note := "kubelets not read on their nodes (cluster demo has no machines"
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"certs", "--name", "demo"}, []string{"\nkubelet-solo ", note, "which the kubelet may have rotated since", "first to expire: "}},
		{[]string{"certs", "check", "--name", "demo"}, []string{note, "ok: nothing expires within 720h0m0s"}},
		{[]string{"certs", "--name", "demo", "-o", "json"}, []string{`"kubeletsUnread": [`, `"node": "solo"`, `"kubelets": []`}},
	} {
		code, out, errOut := runCLI(t, tt.args...)
		if code != 0 {
			t.Fatalf("%v: %s", tt.args, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v does not say %q:\n%s", tt.args, w, out)
			}
		}
	}
	if code, _, errOut := runCLI(t, "certs", "check", "--within", "100000h", "--name", "demo"); code == 0 || !strings.Contains(errOut, "kubelet-solo (") || !strings.Contains(errOut, "renew them: hardway certs renew --all --name demo") {
		t.Errorf("certs check --within 100000h: %d %s", code, errOut)
	}
}

func writeDefaultConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot lists every file under dir with its content, as one string.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s:%x;", p, sha256.Sum256(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExplainWithoutTraps: explain names no scratch directory (it is gone
// when the command ends) but the cluster's real state directory; says
// first whether the cluster is built here, with a command that works as
// written; and its help lists every step and topic.
func TestExplainWithoutTraps(t *testing.T) {
	home := isolate(t)
	code, out, errOut := runCLI(t, "explain", "--name", "nosuch")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	first, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "Not a built cluster. ") || !strings.Contains(first, `no cluster "nosuch" exists on this host`) {
		t.Errorf("first line does not say the cluster is not built: %q", first)
	}
	for _, m := range regexp.MustCompile(`hardway [a-z][^,]*?--name nosuch`).FindAllString(first, -1) {
		checkCommand(t, "explain banner", strings.TrimPrefix(m, "hardway "), &config.Cluster{Name: "nosuch"})
	}
	if strings.Contains(out, os.TempDir()+"/hardway-scratch") || strings.Contains(out, "hardway-scratch-") {
		t.Errorf("explain prints a scratch directory, deleted when it exits")
	}
	want := filepath.Join(home, "clusters", "nosuch", "pki")
	if !strings.Contains(out, want) {
		t.Errorf("explain does not say the certificates live in %s", want)
	}
	// A cluster built here (its saved config) is "your cluster".
	saveCluster(t, home, "built", "nodes:\n- name: solo\n")
	if code, out, errOut := runCLI(t, "explain", "nodes", "--name", "built"); code != 0 || !strings.HasPrefix(out, "Your cluster. ") {
		t.Errorf("explain of a built cluster: exit %d %s, first line %q", code, errOut, strings.SplitN(out, "\n", 2)[0])
	}
	code, help, _ := runCLI(t, "explain", "--help")
	if code != 0 {
		t.Fatalf("explain --help: exit %d", code)
	}
	var names []string
	for _, s := range steps.All() {
		names = append(names, s.Name)
	}
	for _, tp := range steps.Topics() {
		names = append(names, tp.Name)
	}
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(n) + `\s`).MatchString(help) {
			t.Errorf("explain --help does not list %s", n)
		}
	}
}

// renderedDemo makes a scratch HARDWAY_HOME holding cluster "demo" (one
// node "solo", plus extra YAML) whose PKI render has made, and returns its
// state directory. Nothing reaches docker.
func renderedDemo(t *testing.T, extra string) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	dir := filepath.Join(home, "clusters", "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: demo\n" + extra + "nodes:\n- name: solo\n"
	if err := os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	// render makes the cluster's PKI in its state directory.
	if code, _, errOut := runCLI(t, "render", "--name", "demo", "--out", t.TempDir()); code != 0 {
		t.Fatalf("render: %s", errOut)
	}
	return dir
}
