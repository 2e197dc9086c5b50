//go:build e2e

package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReliability runs the checks of this file alone, on cluster rl3, for a
// developer working on them: `make test` runs the same checks on the
// 3-node cluster of TestThreeNodeCluster, so without
// HARDWAY_E2E_RELIABILITY=1 this test has nothing to add and skips.
//
//	HARDWAY_E2E_RELIABILITY=1 go test -tags e2e -count=1 -timeout 30m -v -run TestReliability ./test/e2e/
func TestReliability(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_RELIABILITY") == "" {
		t.Skip("runs inside TestThreeNodeCluster; set HARDWAY_E2E_RELIABILITY=1 to run it alone on cluster rl3")
	}
	const name = "rl3"
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\n"+snapshotConfig)
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes): %s\n%s", time.Since(start).Round(time.Second), out)
	accessChecks(t, name)
	deadComponentChecks(t, name)
	snapshotChecks(t, name)
	day2Checks(t, name)
}

// nodeIPs are the addresses of the first count nodes of e2e cluster name:
// .10, .11, ... of its subnet, as the default config numbers them.
func nodeIPs(t *testing.T, name string, count int) []string {
	t.Helper()
	p, err := netip.ParsePrefix(e2eClusters()[name])
	if err != nil {
		t.Fatalf("cluster %s: %v", name, err)
	}
	a := p.Addr().As4()
	var out []string
	for i := range count {
		a[3] = byte(10 + i)
		out = append(out, netip.AddrFrom4(a).String())
	}
	return out
}

// kubectlAs runs kubectl on node-0 of cluster name with the kubeconfig at
// path on this host (copied into the node: the node has the cluster's own
// kubectl and reaches the API).
func kubectlAs(t *testing.T, name, path string, args ...string) (string, error) {
	t.Helper()
	in := "/root/" + filepath.Base(path)
	if out, err := docker("cp", path, name+"-node-0:"+in); err != nil {
		return out, err
	}
	return docker(append([]string{"exec", name + "-node-0", "kubectl", "--kubeconfig=" + in}, args...)...)
}

// eventually retries check every 500 ms for up to 20 s (RBAC changes reach
// each API server through its watch) and returns its last complaint.
func eventually(check func() string) string { return eventuallyFor(20*time.Second, check) }

// eventuallyFor is eventually with a bound of its own.
func eventuallyFor(bound time.Duration, check func() string) string {
	deadline := time.Now().Add(bound)
	for {
		msg := check()
		if msg == "" || time.Now().After(deadline) {
			return msg
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// canI asks `kubectl auth can-i` as the kubeconfig at path and wants the
// answer want, within the time RBAC takes to propagate.
func canI(t *testing.T, name, path, want string, args ...string) {
	t.Helper()
	if msg := eventually(func() string {
		out, _ := kubectlAs(t, name, path, append([]string{"auth", "can-i"}, args...)...)
		if got := canIAnswer(out); got != want {
			return "got " + out
		}
		return ""
	}); msg != "" {
		t.Errorf("%s can-i %v: want %s, %s", filepath.Base(path), args, want, msg)
	}
}

// accessChecks: access that can be revoked. A person's kubeconfig from
// `hardway kubeconfig --user` has no rights until a binding gives some, and
// loses them with the binding; the admin kubeconfig is revoked by deleting
// its group's binding while the break-glass super-admin still works, and up
// makes the binding again.
func accessChecks(t *testing.T, name string) {
	admin := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	superAdmin := filepath.Join(filepath.Dir(admin), "super-admin.kubeconfig")
	t.Run("a user's kubeconfig: refused without a binding, allowed with one, revoked with it", func(t *testing.T) {
		out := hw(t, "kubeconfig", "--user", "jane", "--group", "e2e-readers", "--ttl", "1h", "--name", name)
		jane := strings.TrimSpace(lastLine(out))
		if fi, err := os.Stat(jane); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("user kubeconfig %s: %v %v\n%s", jane, fi, err, out)
		}
		if out, err := kubectlAs(t, name, jane, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"); err != nil || !strings.Contains(out, "jane [") || !strings.Contains(out, "e2e-readers") {
			t.Errorf("whoami as jane: %v %s", err, out)
		}
		if out, err := kubectlAs(t, name, jane, "get", "pods", "-n", "default"); err == nil || !strings.Contains(out, "Forbidden") || !strings.Contains(out, `User "jane"`) {
			t.Errorf("jane without a binding was not refused: %v\n%s", err, out)
		}
		canI(t, name, jane, "no", "list", "pods", "-n", "default")
		if out, err := kubectlAs(t, name, admin, "create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", "default"); err != nil {
			t.Fatalf("create rolebinding: %v %s", err, out)
		}
		canI(t, name, jane, "yes", "list", "pods", "-n", "default")
		canI(t, name, jane, "no", "list", "pods", "-n", "kube-system")
		if out, err := kubectlAs(t, name, jane, "get", "pods", "-n", "default"); err != nil {
			t.Errorf("jane with view in default: %v %s", err, out)
		}
		if out, err := kubectlAs(t, name, admin, "delete", "rolebinding", "jane-view", "-n", "default"); err != nil {
			t.Fatalf("delete rolebinding: %v %s", err, out)
		}
		canI(t, name, jane, "no", "list", "pods", "-n", "default")
		// Bad input is one line naming the flag.
		if out, err := hwRun("kubeconfig", "--user", "jane", "--group", "system:masters", "--name", name); err == nil || !strings.Contains(out, "--group system:masters") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("system:masters for a user: err=%v\n%s", err, out)
		}
	})
	t.Run("deleting the admin group's binding revokes admin, super-admin still works, up restores it", func(t *testing.T) {
		if out, err := kubectlAs(t, name, admin, "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"); err != nil || !strings.Contains(out, "hardway:cluster-admins") || strings.Contains(out, "system:masters") {
			t.Errorf("admin's groups: %v %s", err, out)
		}
		if out, err := kubectlAs(t, name, admin, "delete", "clusterrolebinding", "hardway:cluster-admins"); err != nil {
			t.Fatalf("delete the admin binding: %v %s", err, out)
		}
		canI(t, name, admin, "no", "get", "pods", "-n", "kube-system")
		canI(t, name, superAdmin, "yes", "*", "*", "--all-namespaces")
		out, err := hwRun("up", "--name", name, "--only", "control-plane", "-v", "1")
		if err != nil || !strings.Contains(out, "ClusterRoleBinding hardway:cluster-admins") {
			t.Errorf("up --only control-plane did not make the binding again: %v\n%s", err, out)
		}
		canI(t, name, admin, "yes", "*", "*", "--all-namespaces")
	})
}

// deadComponentChecks: a control-plane component that stays down (here the
// scheduler on node-1, stopped through systemd, so Restart=always does not
// bring it back) leaves the API answering; verify, start and status must
// still name it, and up starts it again.
func deadComponentChecks(t *testing.T, name string) {
	t.Run("a component that stays down fails verify and start, named; up starts it again", func(t *testing.T) {
		if out, err := docker("exec", name+"-node-1", "systemctl", "stop", "kube-scheduler"); err != nil {
			t.Fatalf("systemctl stop: %v %s", err, out)
		}
		want := "node-1: kube-scheduler inactive"
		out, err := hwRun("verify", "--name", name)
		if err == nil || !strings.Contains(out, "✗ components") || !strings.Contains(out, want) || !strings.Contains(out, "hardway up --name "+name) {
			t.Errorf("verify with a scheduler down: err=%v, want ✗ components naming %q and the fix:\n%s", err, want, out)
		}
		if out, err := hwRun("start", "--name", name); err == nil || !strings.Contains(out, want) {
			t.Errorf("start with a scheduler down: err=%v, want it to name %q:\n%s", err, want, out)
		}
		if out := hw(t, "status", "--name", name); !strings.Contains(out, "kube-scheduler ✗ inactive") {
			t.Errorf("status does not show the scheduler down:\n%s", out)
		}
		out = hw(t, "up", "--name", name, "-v", "1")
		if !strings.Contains(out, "node-1: started unit kube-scheduler") {
			t.Errorf("up did not start the scheduler:\n%s", out)
		}
		out = hw(t, "verify", "--name", name)
		if err := smokeTestsPassed(out); err != nil {
			t.Error(err)
		}
	})
}

// snapshotConfig schedules etcd snapshots every minute, keeping 3: the
// 3-node cluster runs long enough for several to appear.
const snapshotConfig = "etcd:\n  snapshots:\n    every: 1m\n    keep: 3\n"

// snapshotChecks: the schedule of etcd.snapshots saves snapshots on the
// first control-plane node without anyone asking, keeps at most 3, and the
// newest one restores.
func snapshotChecks(t *testing.T, name string) {
	t.Run("scheduled etcd snapshots appear, at most keep of them, and the newest restores", func(t *testing.T) {
		var out string
		if msg := eventuallyFor(150*time.Second, func() string {
			out, _ = hwRun("etcd", "snapshot", "list", "--name", name)
			if !strings.Contains(out, "/var/lib/etcd-snapshots/etcd-") {
				return "no snapshot listed:\n" + out
			}
			return ""
		}); msg != "" {
			t.Fatal(msg)
		}
		if n := strings.Count(out, "/var/lib/etcd-snapshots/etcd-"); n > 3 {
			t.Errorf("%d snapshots kept, want at most 3:\n%s", n, out)
		}
		// A ConfigMap, then a snapshot the way the timer takes them (its
		// service, started now instead of waiting a minute), then the
		// ConfigMap deleted: restoring the newest brings it back.
		if out, err := kubectlIn(t, name, "create", "configmap", "in-scheduled", "--from-literal=k=v"); err != nil {
			t.Fatalf("create configmap: %v %s", err, out)
		}
		// Names have a one-second resolution: the next one must be newer.
		time.Sleep(time.Second)
		if out, err := docker("exec", name+"-node-0", "systemctl", "start", "hardway-etcd-snapshot.service"); err != nil {
			t.Fatalf("taking a scheduled snapshot now: %v %s", err, out)
		}
		if out, err := kubectlIn(t, name, "delete", "configmap", "in-scheduled"); err != nil {
			t.Fatalf("delete: %v %s", err, out)
		}
		file := filepath.Join(t.TempDir(), "newest.db")
		out = hw(t, "etcd", "snapshot", "fetch", file, "--name", name)
		if !strings.Contains(out, "integrity checked") {
			t.Errorf("fetch:\n%s", out)
		}
		start := time.Now()
		out, err := hwRun("etcd", "snapshot", "restore", file, "--name", name)
		t.Logf("TIMING restore of the newest scheduled snapshot: %s\n%s", time.Since(start).Round(time.Second), out)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		if got, err := kubectlIn(t, name, "get", "configmap", "in-scheduled", "-o", "jsonpath={.data.k}"); err != nil || got != "v" {
			t.Errorf("the ConfigMap from the scheduled snapshot is not back: %q %v", got, err)
		}
	})
}
