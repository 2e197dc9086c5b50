//go:build e2e

// Package e2e builds real clusters with the hardway binary and checks them
// from the outside, as a user would. It needs root, a running dockerd,
// debootstrap and the Go toolchain (hack/setup-host.sh installs them).
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/verify"
)

var hardway string // path of the binary under test

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hardway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hardway = filepath.Join(dir, "hardway")
	build := osexec.Command("go", "build", "-o", hardway, "../../cmd/hardway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hardway:", err)
		os.Exit(1)
	}
	// Artifacts and the node image are shared by every test; building them
	// is itself under test (cold in CI, from cache afterwards).
	for _, args := range [][]string{{"artifacts", "build"}, {"node-image", "build"}} {
		start := time.Now()
		cmd := osexec.Command(hardway, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "hardway %s: %v\n", strings.Join(args, " "), err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "TIMING hardway %s: %s\n", strings.Join(args, " "), time.Since(start).Round(time.Second))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hw runs the binary and returns combined output; it fails the test on a
// non-zero exit unless allowFail.
func hw(t *testing.T, args ...string) string {
	t.Helper()
	out, err := hwRun(args...)
	if err != nil {
		t.Fatalf("hardway %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func hwRun(args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := osexec.Command(hardway, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

func docker(args ...string) (string, error) {
	out, err := osexec.Command("docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// clusterConfig writes the config of the e2e cluster name: its name and the
// given body, where {subnet} stands for the cluster's node subnet from
// e2eClusters (a name missing there fails the test: every cluster a test
// makes is in that table, which keeps them apart from each other and from
// the user's).
func clusterConfig(t *testing.T, name, body string) string {
	t.Helper()
	subnet, ok := e2eClusters()[name]
	if !ok {
		t.Fatalf("cluster %s is not in e2eClusters: add it there with a subnet of its own", name)
	}
	if strings.Contains(body, "{subnet}") == (subnet == "") {
		t.Fatalf("cluster %s: the config must use {subnet} exactly when e2eClusters gives one (%q)", name, subnet)
	}
	return writeConfig(t, "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: "+name+"\n"+strings.ReplaceAll(body, "{subnet}", subnet))
}

// smokeTestsPassed says what is wrong in the smoke tests' report within a
// command's output (verify, or the verify step of up, start, certs renew):
// every smoke test must be listed with ✓ and its time, and nothing failed.
func smokeTestsPassed(out string) error {
	var problems []string
	for _, c := range verify.Checks() {
		name := c.Name
		// An add-on's check runs only with its add-on: no line of its own
		// (a step line naming the add-on does not count: steps of add-ons
		// that are off are listed too) means the add-on is off. Each add-on's
		// own test asserts its ✓.
		if c.When != nil && !regexp.MustCompile(`(?m)^\s*[✓✗] `+regexp.QuoteMeta(name)+`\s`).MatchString(out) {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*✓ ` + regexp.QuoteMeta(name) + `\s+\d+\.\ds$`).MatchString(out) {
			problems = append(problems, "no ✓ "+name)
		}
	}
	if strings.Contains(out, "✗") {
		problems = append(problems, "a ✗")
	}
	if len(problems) > 0 {
		return fmt.Errorf("the smoke tests did not all pass (%s):\n%s", strings.Join(problems, ", "), out)
	}
	return nil
}

// podToPod is what verify's pod-to-pod check says it did: each pair of
// pods, as "from pod X on NODE to pod Y on NODE at IP:PORT".
var podToPod = regexp.MustCompile(`(?m)^\s+from pod (\S+) on (\S+) to pod (\S+) on (\S+) at (\S+)$`)

// checkPodToPod: every pod fetched from another pod, on another node when
// there are several (across the network), from the other pod of the node
// when there is one (across its bridge).
func checkPodToPod(t *testing.T, out string, nodes int) {
	t.Helper()
	pairs := podToPod.FindAllStringSubmatch(out, -1)
	want := max(nodes, 2)
	if len(pairs) != want {
		t.Errorf("pod-to-pod reported %d pairs, want %d:\n%s", len(pairs), want, out)
	}
	for _, p := range pairs {
		if p[1] == p[3] {
			t.Errorf("pod %s fetched from itself: %s", p[1], p[0])
		}
		if nodes > 1 && p[2] == p[4] {
			t.Errorf("pod-to-pod stayed on %s with %d nodes: %s", p[2], nodes, p[0])
		}
	}
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// leftovers lists what Docker still has for a cluster.
func leftovers(name string) string {
	var all []string
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", "label=dev.hardway.cluster=" + name},
		{"volume", "ls", "-q", "--filter", "label=dev.hardway.cluster=" + name},
		{"network", "ls", "-q", "--filter", "label=dev.hardway.cluster=" + name},
	} {
		if out, _ := docker(args...); out != "" {
			all = append(all, strings.Join(args[:1], "")+": "+out)
		}
	}
	return strings.Join(all, "; ")
}

func cleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		if os.Getenv("HARDWAY_E2E_KEEP") != "" {
			t.Logf("HARDWAY_E2E_KEEP set: cluster %s left running", name)
			return
		}
		out, err := hwRun("down", "--name", name)
		if err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
		if l := leftovers(name); l != "" {
			t.Errorf("down left: %s", l)
		}
	})
}

func TestBadConfigStopsBeforeDocker(t *testing.T) {
	cfg := clusterConfig(t, "e2ebad", "nodes:\n- name: a\n  ip: 192.168.77.7\n")
	out, err := hwRun("up", "-c", cfg)
	if err == nil {
		t.Fatalf("up with an invalid config succeeded:\n%s", out)
	}
	if !strings.Contains(out, "nodes[0].ip: 192.168.77.7 is outside nodeSubnet") {
		t.Errorf("error does not name the problem:\n%s", out)
	}
	if l := leftovers("e2ebad"); l != "" {
		t.Errorf("an invalid config touched Docker: %s", l)
	}
}

func TestThreeNodeCluster(t *testing.T) {
	const name = "e2e3"
	const body = "network:\n  nodeSubnet: {subnet}\n" + snapshotConfig
	cfg := clusterConfig(t, name, body)
	cleanup(t, name)

	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes): %s\n%s", time.Since(start).Round(time.Second), out)

	state := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(state)), "pki")

	t.Run("etcd has 3 healthy members", func(t *testing.T) {
		out := hw(t, "shell", "node-0", "--name", name, "--", "etcdctl", "--endpoints=https://10.243.0.10:2379,https://10.243.0.11:2379,https://10.243.0.12:2379",
			"--cacert=/etc/etcd/ca.pem", "--cert=/etc/etcd/healthcheck-client.pem", "--key=/etc/etcd/healthcheck-client-key.pem", "endpoint", "health")
		if strings.Count(out, "is healthy") != 3 {
			t.Fatalf("want 3 healthy endpoints:\n%s", out)
		}
	})
	t.Run("readyz on each apiserver and through the load balancer", func(t *testing.T) {
		for _, ip := range []string{"10.243.0.10", "10.243.0.11", "10.243.0.12", "10.243.0.2"} {
			if err := readyz(pkiDir, ip); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("auth can-i for admin and a node", func(t *testing.T) {
		// The admin kubeconfig goes into the node so the built kubectl can use it.
		if out, err := docker("cp", state, "e2e3-node-0:/root/admin.kubeconfig"); err != nil {
			t.Fatalf("docker cp: %v %s", err, out)
		}
		tests := []struct {
			kubeconfig string
			args       []string
			want       string
		}{
			{"/root/admin.kubeconfig", []string{"*", "*", "--all-namespaces"}, "yes"},
			{"/var/lib/kubelet/kubeconfig", []string{"get", "node/node-0"}, "yes"},
			{"/var/lib/kubelet/kubeconfig", []string{"list", "secrets", "--all-namespaces"}, "no"},
			{"/var/lib/kubelet/kubeconfig", []string{"delete", "node/node-1"}, "no"},
		}
		for _, tt := range tests {
			args := append([]string{"shell", "node-0", "--name", name, "--", "kubectl", "--kubeconfig", tt.kubeconfig, "auth", "can-i"}, tt.args...)
			out, _ := hwRun(args...)
			// kubectl may add warnings (on stderr) around its answer.
			if got := canIAnswer(out); got != tt.want {
				t.Errorf("%s can-i %v = %q, want %s", tt.kubeconfig, tt.args, out, tt.want)
			}
		}
	})
	t.Run("verify", func(t *testing.T) {
		out := hw(t, "verify", "--name", name)
		t.Log(out)
		if err := smokeTestsPassed(out); err != nil {
			t.Error(err)
		}
		checkPodToPod(t, out, 3)
	})
	accessChecks(t, name)
	deadComponentChecks(t, name)
	addonChecks(t, name, body)
	netpolChecks(t, name, body, 3)
	gatewayChecks(t, name, body)
	// The tutorial, served from this live cluster, read in headless Chromium.
	checkTutorialLive(t, hardway, name)
	securityChecks(t, name, pkiDir)
	t.Run("second up changes nothing", func(t *testing.T) {
		start := time.Now()
		out := hw(t, "up", "-c", cfg, "-v", "1")
		t.Logf("TIMING second up: %s", time.Since(start).Round(time.Second))
		// Steps return structured changes; up sums them up in one line.
		if !strings.Contains(out, "changes: none") {
			t.Errorf("second up changed things:\n%s", out)
		}
		if !strings.Contains(out, "[node-0] $") {
			t.Errorf("-v 1 did not show the commands run on nodes:\n%s", out)
		}
	})
	t.Run("dry run lists a drifted file and changes nothing", func(t *testing.T) {
		if out := hw(t, "up", "--name", name, "--dry-run"); !strings.Contains(out, "would make no changes") {
			t.Fatalf("dry run on a converged cluster:\n%s", out)
		}
		// Drift: someone loosened a key's mode on node-1.
		if out, err := docker("exec", "e2e3-node-1", "chmod", "0644", "/etc/etcd/server-key.pem"); err != nil {
			t.Fatalf("chmod: %v %s", err, out)
		}
		out := hw(t, "up", "--name", name, "--dry-run")
		for _, want := range []string{"node-1: wrote /etc/etcd/server-key.pem (mode 644, want 600)", "node-1: restarted unit etcd"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run lacks %q:\n%s", want, out)
			}
		}
		if mode, _ := docker("exec", "e2e3-node-1", "stat", "-c", "%a", "/etc/etcd/server-key.pem"); mode != "644" {
			t.Errorf("dry run changed the node: mode is %s", mode)
		}
		// A real run repairs it, restarting etcd on that node only.
		out = hw(t, "up", "--name", name, "--only", "etcd", "-v", "1")
		if !strings.Contains(out, "node-1: restarted unit etcd") || strings.Contains(out, "node-0: restarted unit etcd") {
			t.Errorf("repair did not restart exactly node-1's etcd:\n%s", out)
		}
		if mode, _ := docker("exec", "e2e3-node-1", "stat", "-c", "%a", "/etc/etcd/server-key.pem"); mode != "600" {
			t.Errorf("up did not repair the mode: %s", mode)
		}
	})
	t.Run("losing one control-plane node keeps the API and quorum", func(t *testing.T) {
		if out, err := docker("stop", "e2e3-node-2"); err != nil {
			t.Fatalf("docker stop: %v %s", err, out)
		}
		deadline := time.Now().Add(60 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			if err = readyz(pkiDir, "10.243.0.2"); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			t.Errorf("API through the LB with node-2 down: %v", err)
		}
		out, _ := hwRun("shell", "node-0", "--name", name, "--", "etcdctl", "--endpoints=https://10.243.0.10:2379,https://10.243.0.11:2379",
			"--cacert=/etc/etcd/ca.pem", "--cert=/etc/etcd/healthcheck-client.pem", "--key=/etc/etcd/healthcheck-client-key.pem", "put", "/hardway/e2e", "quorum")
		if !strings.Contains(out, "OK") {
			t.Errorf("etcd lost quorum with one member down: %s", out)
		}
		// Day-2 procedures refuse to start with a machine down, before
		// changing anything, and say how to bring it back.
		for _, args := range [][]string{{"certs", "renew", "--all"}, {"encryption", "rotate"}} {
			out, err := hwRun(append(args, "--name", name)...)
			if err == nil || !strings.Contains(out, "machine node-2 of cluster e2e3 is not running") || !strings.Contains(out, "hardway start --name e2e3") {
				t.Errorf("hardway %v with node-2 stopped: err=%v\n%s", args, err, out)
			}
		}
		// up does not start a stopped machine behind the user's back.
		if out, err := hwRun("up", "-c", cfg); err == nil || !strings.Contains(out, "machine node-2 of cluster e2e3 is stopped") || !strings.Contains(out, "hardway start --name e2e3") {
			t.Errorf("up with node-2 stopped: err=%v\n%s", err, out)
		}
		// start brings it back and waits until everything serves.
		out = hw(t, "start", "--name", name)
		t.Log(out)
		if err := smokeTestsPassed(out); err != nil {
			t.Errorf("start: %v", err)
		}
	})
	day2Checks(t, name)
	snapshotChecks(t, name)
	// Faults of every kind, under a writer and a Service poller.
	shortSoak(t, name)
	// After every day-2 procedure and the faults above, the upstream
	// suite's quick selection still passes.
	checkConformanceQuick(t, hardway, name)
}

func TestOneNodeCluster(t *testing.T) {
	const name = "e2e1"
	cfg := clusterConfig(t, name, `network:
  nodeSubnet: {subnet}
  kubeProxyMode: nftables   # the 3-node cluster covers iptables
nodes:
- name: solo
`)
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (1 node): %s\n%s", time.Since(start).Round(time.Second), out)
	if err := smokeTestsPassed(out); err != nil {
		t.Errorf("up: %v", err)
	}
	// One worker: the two test pods reach each other across its bridge.
	checkPodToPod(t, out, 1)
	if tables := hw(t, "shell", "solo", "--name", name, "--", "nft", "list", "tables"); !strings.Contains(tables, "table ip kube-proxy") {
		t.Errorf("kube-proxy did not program nftables:\n%s", tables)
	}
}

// canIAnswer is the yes or no line of `kubectl auth can-i` output.
func canIAnswer(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "yes" || f[0] == "no") {
			return f[0]
		}
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// readyz asks one address for /readyz, trusting only the cluster CA.
func readyz(pkiDir, ip string) error {
	ca, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("https://%s:6443/readyz", ip), nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("readyz on %s: %w", ip, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("readyz on %s: %s", ip, resp.Status)
	}
	return nil
}

func TestFailedStepSaysHowToResume(t *testing.T) {
	const name = "e2enone"
	cleanup(t, name)
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\n")
	// etcd without nodes: the step must fail, name itself, and say how to go on.
	out, err := hwRun("up", "-c", cfg, "--from", "etcd")
	if err == nil {
		t.Fatalf("up --from etcd without nodes succeeded:\n%s", out)
	}
	for _, want := range []string{"step etcd:", "is not running", "hardway up --name e2enone --from etcd"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
		t.Errorf("a stack trace reached the user:\n%s", out)
	}
}

func newDockerCmd(args ...string) *osexec.Cmd { return osexec.Command("docker", args...) }
