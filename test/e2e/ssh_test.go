//go:build e2e

package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The SSH machines of TestSSHCluster: plain containers that run sshd and
// systemd and nothing of Kubernetes, on an --internal network of their own.
// The test makes and removes them with docker; hardway gets their addresses
// and a key, nothing else.
const (
	sshCluster  = "e2essh"
	sshNetwork  = "e2essh-machines"
	sshSubnet   = "10.252.0.0/24"
	sshGateway  = "10.252.0.1"
	sshLabel    = "dev.hardway.e2e.machines=" + sshCluster
	sshUser     = "hardway"
	machineIPv4 = "10.252.0.1%d"
)

func machineName(i int) string { return fmt.Sprintf("%s-m%d", sshCluster, i) }

// sshMachineArgs are the docker run flags hardway's own node containers get
// (see internal/provider/docker runArgs): systemd needs them to boot in a
// container on this kind of host.
func sshMachineArgs(i int, image, pubKey string) []string {
	args := []string{"run", "--detach", "--name", machineName(i),
		// Host names unlike the node names: kubelet must register under
		// the node's name anyway.
		"--hostname", fmt.Sprintf("m%d", i),
		"--label", sshLabel,
		"--network", sshNetwork, "--ip", fmt.Sprintf(machineIPv4, i),
		"--stop-signal", "SIGRTMIN+3",
		"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
		"--device-cgroup-rule", "a *:* rwm", "--device", "/dev/kmsg",
		"--cgroupns", "private",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
		"--volume", "/var",
		"--volume", pubKey + ":/etc/ssh/authorized_keys/" + sshUser + ":ro",
	}
	if _, err := os.Stat("/lib/modules"); err == nil {
		args = append(args, "--volume", "/lib/modules:/lib/modules:ro")
	}
	return append(args, image)
}

// removeMachines deletes every container and network the SSH test made.
func removeMachines() {
	if ids, _ := docker("ps", "-aq", "--filter", "label="+sshLabel); ids != "" {
		docker(append([]string{"rm", "--force", "--volumes"}, strings.Fields(ids)...)...)
	}
	if ids, _ := docker("network", "ls", "-q", "--filter", "label="+sshLabel); ids != "" {
		docker(append([]string{"network", "rm"}, strings.Fields(ids)...)...)
	}
}

// sshKey writes a fresh ed25519 key pair into dir.
func sshKey(t *testing.T, dir string) (private, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	private, public = filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "id_ed25519.pub")
	if err := os.WriteFile(private, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	// World-readable: sshd in the machine reads it through a bind mount.
	if err := os.WriteFile(public, ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		t.Fatal(err)
	}
	return private, public
}

// sshAnswers waits until sshd on addr sends its banner.
func sshAnswers(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			n, rerr := c.Read(buf)
			c.Close()
			if rerr == nil && strings.HasPrefix(string(buf[:n]), "SSH-2.0") {
				return nil
			}
			err = fmt.Errorf("no SSH banner (%v)", rerr)
		}
		last = err
		time.Sleep(time.Second)
	}
	return fmt.Errorf("sshd at %s does not answer after %s: %v", addr, timeout, last)
}

// machineShell runs a command in a machine for the test's own checks (the
// test may look inside with docker; hardway never does).
func machineShell(i int, script string) (string, error) {
	return docker("exec", machineName(i), "sh", "-c", script)
}

// leftoverScript lists what hardway would have left on a machine, one line
// each; empty means clean.
const leftoverScript = `for u in etcd kube-apiserver kube-controller-manager kube-scheduler containerd hardway-apiserver-lb kubelet kube-proxy hardway-pod-network hardway-registry; do
  [ -e /etc/systemd/system/$u.service ] && echo "unit file $u"
  systemctl is-active --quiet $u && echo "unit $u active"
done
for b in /usr/local/bin/*; do [ "$b" = /usr/local/bin/entrypoint ] || echo "binary $b"; done
for d in /etc/kubernetes /etc/etcd /var/lib/etcd /var/lib/kubelet /var/lib/kube-proxy /var/lib/containerd /run/containerd /opt/containerd \
  /opt/cni /etc/cni /etc/containerd /var/lib/cni /var/lib/hardway /var/log/pods /var/log/containers /var/log/audit.log /etc/crictl.yaml \
  /etc/sysctl.d/99-kubernetes.conf /etc/hardway-registry /var/lib/hardway-registry; do
  [ -e $d ] && echo "path $d"
done
id etcd >/dev/null 2>&1 && echo "user etcd"
for l in hardway.vxlan cni0; do ip link show $l >/dev/null 2>&1 && echo "link $l"; done
ip route | grep 10.200. | sed 's/^/route /'
iptables-save | grep -e KUBE- -e CNI- -e hardway- | head -3 | sed 's/^/iptables /'
mount | grep -e kubelet -e containerd | sed 's/^/mount /'
true`

// TestSSHCluster builds a 3-node cluster with provider ssh on machines that
// are only reachable over SSH as a sudo user, checks it, runs up again
// (nothing may change, nothing may be sent), and removes it with down --yes:
// the machines must be left as they were and still boot.
func TestSSHCluster(t *testing.T) {
	if e2eClusters()[sshCluster] != sshSubnet {
		t.Fatalf("sshSubnet %s is not the subnet e2eClusters gives %s", sshSubnet, sshCluster)
	}
	removeMachines()
	t.Cleanup(func() {
		if os.Getenv("HARDWAY_E2E_KEEP") != "" {
			t.Logf("HARDWAY_E2E_KEEP set: cluster %s and its machines left running", sshCluster)
			return
		}
		hwRun("down", "--name", sshCluster, "--yes")
		removeMachines()
	})

	start := time.Now()
	out := hw(t, "node-image", "build", "--ssh")
	image := strings.TrimSpace(hw(t, "node-image", "tag", "--ssh"))
	t.Logf("TIMING node-image build --ssh: %s\n%s", time.Since(start).Round(time.Second), out)

	key, pub := sshKey(t, t.TempDir())
	if out, err := docker("network", "create", "--driver", "bridge", "--internal", "--subnet", sshSubnet, "--gateway", sshGateway, "--label", sshLabel, sshNetwork); err != nil {
		t.Fatalf("creating the machines' network: %v\n%s", err, out)
	}
	for i := 0; i < 3; i++ {
		if out, err := docker(sshMachineArgs(i, image, pub)...); err != nil {
			t.Fatalf("creating machine %d: %v\n%s", i, err, out)
		}
	}
	for i := 0; i < 3; i++ {
		if err := sshAnswers(fmt.Sprintf(machineIPv4, i)+":22", 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	// Direct routes are the default on machines (one L2 network). Docker's
	// --internal bridge drops packets with pod addresses, as a cloud VPC
	// with source/destination checks does: the network step must say so at
	// once and name the fix, pods riding VXLAN.
	config := func(routes string) string {
		return clusterConfig(t, sshCluster, fmt.Sprintf(`provider: ssh
ssh:
  user: %s
  identityFile: %s
network:
  nodeSubnet: {subnet}
%snodes:
- {name: node-0, ip: 10.252.0.10}
- {name: node-1, ip: 10.252.0.11}
- {name: node-2, ip: 10.252.0.12}
`, sshUser, key, routes))
	}
	direct, cfg := config(""), config("  podRoutes: vxlan\n")

	start = time.Now()
	out = hw(t, "check", "-c", direct)
	t.Logf("TIMING check (3 machines): %s\n%s", time.Since(start).Round(100*time.Millisecond), out)

	t.Run("direct routes where the network drops pod addresses: the network step fails at once with the fix", func(t *testing.T) {
		out, err := hwRun("up", "-c", direct)
		t.Log(out)
		for _, want := range []string{
			"step network: pods cannot reach pods on other nodes: ping node-0 (10.200.0.1) → node-1 (10.200.1.1)",
			"set network.podRoutes: vxlan in the config and run hardway up again",
			"hardway up --name " + sshCluster + " --from network",
		} {
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("up with direct routes: err=%v, want %q in the output", err, want)
			}
		}
		m := regexp.MustCompile(`(?m)^✗ \[\s*\d+/\d+\] network .*  (\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no failed network step in the output")
		}
		if d, err := time.ParseDuration(m[1]); err != nil || d > 30*time.Second {
			t.Errorf("the network step took %s to fail (%v), want it within seconds", m[1], err)
		}
		for i := 0; i < 3; i++ {
			if lo, err := machineShell(i, "ip -4 -o addr show dev lo"); err != nil || strings.Contains(lo, "10.200.") {
				t.Errorf("machine %d: the probe left a pod address on lo: %v\n%s", i, err, lo)
			}
		}
	})

	start = time.Now()
	out = hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 ssh machines, vxlan): %s\n%s", time.Since(start).Round(time.Second), out)
	if !strings.Contains(out, "pod addresses reach each other across the network: 6 node pairs (network.podRoutes: vxlan") {
		t.Errorf("the network step did not prove the 6 pairs over VXLAN:\n%s", out)
	}

	start = time.Now()
	out = hw(t, "verify", "--name", sshCluster)
	t.Logf("TIMING verify: %s\n%s", time.Since(start).Round(time.Second), out)

	t.Run("second up changes and sends nothing, and never uses docker", func(t *testing.T) {
		start := time.Now()
		out := hw(t, "up", "-c", cfg, "-v", "2")
		t.Logf("TIMING up again: %s", time.Since(start).Round(time.Second))
		if !strings.Contains(out, "changes: none") {
			t.Errorf("second up changed something:\n%s", lastLines(out, 15))
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "$ docker") {
				t.Errorf("hardway ran docker against ssh machines: %s", l)
			}
		}
	})

	t.Run("shell reaches a node over ssh", func(t *testing.T) {
		out := hw(t, "shell", "node-1", "--name", sshCluster, "--", "systemctl", "is-active", "kubelet")
		if strings.TrimSpace(out) != "active" {
			t.Errorf("hardway shell: %q", out)
		}
	})

	// Without a load-balancer machine the cluster's registry runs on the
	// first machine; down must take it away with the rest.
	t.Run("the registry runs on the first machine", func(t *testing.T) {
		out := hw(t, "registry", "address", "--name", sshCluster)
		if got := lastLines(out, 1); got != "10.252.0.10:5000" {
			t.Errorf("registry address: last line %q, want 10.252.0.10:5000\n%s", got, out)
		}
		if out := hw(t, "shell", "node-0", "--name", sshCluster, "--", "systemctl", "is-active", "hardway-registry"); strings.TrimSpace(out) != "active" {
			t.Errorf("hardway-registry on node-0: %q", out)
		}
	})

	t.Run("down asks for --yes", func(t *testing.T) {
		out, err := hwRun("down", "--name", sshCluster)
		if err == nil || !strings.Contains(out, "`hardway down --name e2essh --yes` removes what hardway installed on node-0 (hardway@10.252.0.10)") {
			t.Fatalf("down without --yes: %v\n%s", err, out)
		}
		if out, _ := machineShell(0, "systemctl is-active kubelet"); strings.TrimSpace(out) != "active" {
			t.Fatalf("down without --yes touched the machines: kubelet %q", out)
		}
	})

	start = time.Now()
	out = hw(t, "down", "--name", sshCluster, "--yes")
	t.Logf("TIMING down --yes: %s\n%s", time.Since(start).Round(time.Second), out)

	for i := 0; i < 3; i++ {
		left, err := machineShell(i, leftoverScript)
		if err != nil || left != "" {
			t.Errorf("machine %d after down: %v\n%s", i, err, left)
		}
	}
	// The machines are someone's: they must still boot and answer.
	if out, err := docker("restart", machineName(0)); err != nil {
		t.Fatalf("restarting machine 0: %v\n%s", err, out)
	}
	if err := sshAnswers(fmt.Sprintf(machineIPv4, 0)+":22", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, _ := machineShell(0, "systemctl is-system-running")
		if st == "running" || st == "degraded" {
			if st == "degraded" {
				failed, _ := machineShell(0, "systemctl --failed --no-legend")
				t.Errorf("machine 0 boots degraded after down: %s", failed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine 0 does not boot after down: systemd %q", st)
		}
		time.Sleep(time.Second)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
