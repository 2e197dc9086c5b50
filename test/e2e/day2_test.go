//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hardway.dev/hardway/internal/images"
)

// kubectlIn runs kubectl on node-0 of cluster name with the admin
// kubeconfig (copied in from the host's state).
func kubectlIn(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	state := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	if out, err := docker("cp", state, name+"-node-0:/root/admin.kubeconfig"); err != nil {
		return out, err
	}
	return docker(append([]string{"exec", "-i", name + "-node-0", "kubectl", "--kubeconfig=/root/admin.kubeconfig"}, args...)...)
}

// healthyMembers counts the etcd members that answer as healthy.
func healthyMembers(name string, ips ...string) (int, string) {
	var eps []string
	for _, ip := range ips {
		eps = append(eps, "https://"+ip+":2379")
	}
	out, _ := docker("exec", name+"-node-0", "etcdctl", "--endpoints="+strings.Join(eps, ","), "--cacert=/etc/etcd/ca.pem",
		"--cert=/etc/etcd/healthcheck-client.pem", "--key=/etc/etcd/healthcheck-client-key.pem", "--command-timeout=5s", "endpoint", "health")
	return strings.Count(out, "is healthy"), out
}

// day2Checks runs on the 3-node cluster of TestThreeNodeCluster (subnet
// 10.243.0.0/24): restart of every machine, a lost machine replaced by up,
// an etcd snapshot restored.
func day2Checks(t *testing.T, name string) {
	ips := nodeIPs(t, name, 3)
	t.Run("every machine restarted (as after a dockerd restart): serving again within 60 s", func(t *testing.T) {
		var containers []string
		for _, n := range []string{"node-0", "node-1", "node-2", "lb"} {
			containers = append(containers, name+"-"+n)
		}
		start := time.Now()
		if out, err := docker(append([]string{"restart", "--time", "30"}, containers...)...); err != nil {
			t.Fatalf("docker restart: %v %s", err, out)
		}
		restarted := time.Now()
		out, err := hwRun("start", "--name", name)
		took := time.Since(restarted)
		t.Logf("TIMING restart recovery: %s after the containers were back (docker restart itself %s)\n%s", took.Round(time.Second), restarted.Sub(start).Round(time.Second), out)
		if err != nil {
			t.Fatalf("start after a restart: %v\n%s", err, out)
		}
		if took > 60*time.Second {
			t.Errorf("the cluster served again only after %s, want within 60 s", took.Round(time.Second))
		}
	})
	t.Run("stop then start", func(t *testing.T) {
		hw(t, "stop", "--name", name)
		if out := hw(t, "status", "--name", name); strings.Count(out, "exited") < 4 {
			t.Errorf("status after stop:\n%s", out)
		}
		// It fails, and for the right reason: the machines are stopped.
		if out, err := hwRun("verify", "--name", name); err == nil || !strings.Contains(out, "is not running") || !strings.Contains(out, "hardway start --name "+name) {
			t.Errorf("verify on a stopped cluster: err=%v, want it to say the machines are not running and how to start them:\n%s", err, out)
		}
		start := time.Now()
		out := hw(t, "start", "--name", name)
		t.Logf("TIMING start: %s\n%s", time.Since(start).Round(time.Second), out)
		if !strings.Contains(out, "serves again") {
			t.Errorf("start did not say when the cluster served again:\n%s", out)
		}
		if out, err := hwRun("start", "--name", "e2e-no-such-cluster"); err == nil || !strings.Contains(out, "hardway up --name e2e-no-such-cluster") {
			t.Errorf("start of a cluster that does not exist: %v\n%s", err, out)
		}
	})
	t.Run("a lost machine is replaced by up; its data is still there", func(t *testing.T) {
		if out, err := kubectlIn(t, name, "create", "configmap", "before-loss", "--from-literal=k=v"); err != nil {
			t.Fatalf("create configmap: %v %s", err, out)
		}
		// Machine and disk gone.
		if out, err := docker("rm", "--force", "--volumes", name+"-node-1"); err != nil {
			t.Fatalf("docker rm: %v %s", err, out)
		}
		start := time.Now()
		out, err := hwRun("up", "--name", name, "-v", "1")
		t.Logf("TIMING node replacement: %s", time.Since(start).Round(time.Second))
		if err != nil {
			t.Fatalf("up after losing node-1: %v\n%s", err, out)
		}
		// The old kubelet's pods go before the new kubelet starts (else
		// verify may exec into a pod the API still shows Running).
		for _, want := range []string{"node-1: removed etcd member node-1", "node-1: added etcd member node-1", "machine node-1", "pods of the lost machine"} {
			if !strings.Contains(out, want) {
				t.Errorf("up output lacks %q:\n%s", want, out)
			}
		}
		if n, out := healthyMembers(name, ips...); n != 3 {
			t.Errorf("want 3 healthy etcd members after the replacement:\n%s", out)
		}
		if got, err := kubectlIn(t, name, "get", "configmap", "before-loss", "-o", "jsonpath={.data.k}"); err != nil || got != "v" {
			t.Errorf("data from before the loss: %q %v", got, err)
		}
		if out := hw(t, "up", "--name", name); !strings.Contains(out, "changes: none") {
			t.Errorf("up after the replacement is not a no-op:\n%s", out)
		}
	})
	t.Run("etcd snapshot save, delete, restore", func(t *testing.T) {
		dir := t.TempDir()
		snap := filepath.Join(dir, "backup.db")
		if out, err := kubectlIn(t, name, "create", "configmap", "in-snapshot", "--from-literal=k=v"); err != nil {
			t.Fatalf("create configmap: %v %s", err, out)
		}
		out := hw(t, "etcd", "snapshot", "save", snap, "--name", name)
		if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 100000 {
			t.Fatalf("snapshot file: %v %v\n%s", fi, err, out)
		}
		if out, err := kubectlIn(t, name, "delete", "configmap", "in-snapshot"); err != nil {
			t.Fatalf("delete: %v %s", err, out)
		}
		// Bad input changes nothing.
		corrupt := filepath.Join(dir, "corrupt.db")
		data, _ := os.ReadFile(snap)
		data[len(data)/2] ^= 0xff
		os.WriteFile(corrupt, data, 0o600)
		for file, want := range map[string]string{corrupt: "damaged", filepath.Join(dir, "missing.db"): "does not exist; nothing was changed (take one with: hardway etcd snapshot save"} {
			if out, err := hwRun("etcd", "snapshot", "restore", file, "--name", name); err == nil || !strings.Contains(out, want) {
				t.Errorf("restore of %s: err=%v\n%s", filepath.Base(file), err, out)
			}
		}
		start := time.Now()
		out, err := hwRun("etcd", "snapshot", "restore", snap, "--name", name)
		t.Logf("TIMING snapshot restore: %s\n%s", time.Since(start).Round(time.Second), out)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		if got, err := kubectlIn(t, name, "get", "configmap", "in-snapshot", "-o", "jsonpath={.data.k}"); err != nil || got != "v" {
			t.Errorf("the deleted ConfigMap is not back: %q %v", got, err)
		}
		if n, out := healthyMembers(name, ips...); n != 3 {
			t.Errorf("want 3 healthy members after the restore:\n%s", out)
		}
	})
}

// servicePoller asks a NodePort on every node in turn, the way clients of a
// Service spread over nodes would, and remembers the longest run of failures.
type servicePoller struct {
	mu       sync.Mutex
	total    int
	failures int
	longest  time.Duration
	stopCh   chan struct{}
	done     chan struct{}
}

func pollService(urls []string, interval time.Duration) *servicePoller {
	p := &servicePoller{stopCh: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 3 * time.Second}
	go func() {
		defer close(p.done)
		var failingSince time.Time
		for i := 0; ; i++ {
			select {
			case <-p.stopCh:
				return
			case <-time.After(interval):
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := get(ctx, client, urls[i%len(urls)])
			cancel()
			p.mu.Lock()
			p.total++
			if err != nil {
				p.failures++
				if failingSince.IsZero() {
					failingSince = start
				}
				if d := time.Since(failingSince); d > p.longest {
					p.longest = d
				}
			} else {
				failingSince = time.Time{}
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *servicePoller) stop() (total, failures int, longest time.Duration) {
	close(p.stopCh)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.failures, p.longest
}

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: ` + images.TestApp + `
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
`

// An in-place upgrade from v1.36.3 to v1.37.2: the API stays up through the
// load balancer (longest run of failed requests under 5 s, polled every
// 200 ms), and a 3-replica Deployment keeps answering through its Service.
func TestUpgrade(t *testing.T) {
	const name = "e2eup"
	const from, to = "v1.36.3", "v1.37.2"
	start := time.Now()
	out, err := hwRun("artifacts", "build", "--kubernetes-version", from)
	if err != nil {
		t.Fatalf("artifacts for %s: %v\n%s", from, err, out)
	}
	t.Logf("TIMING artifacts build %s: %s", from, time.Since(start).Round(time.Second))
	cfg := clusterConfig(t, name, fmt.Sprintf("kubernetesVersion: %s\nnetwork:\n  nodeSubnet: {subnet}\n", from))
	cleanup(t, name)
	hw(t, "up", "-c", cfg)
	if out, err := dockerIn(name+"-node-0", webManifest, "sh", "-c", "cat > /root/web.yaml"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := kubectlIn(t, name, "apply", "-f", "/root/web.yaml"); err != nil {
		t.Fatalf("apply web: %v %s", err, out)
	}
	if out, err := kubectlIn(t, name, "rollout", "status", "deployment/web", "--timeout=120s"); err != nil {
		t.Fatalf("web not ready: %v %s", err, out)
	}

	for _, bad := range []struct{ version, want string }{
		// The version-skew policy is asked first, then the pins.
		{"v1.35.0", "downgrades are not supported"},
		{"v1.99.0", "skips a minor version"},
		{"v1.37.99", "no pinned artifacts"},
	} {
		if out, err := hwRun("upgrade", bad.version, "--name", name); err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("upgrade to %s: err=%v\n%s", bad.version, err, out)
		}
	}
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name))))), "pki")
	api := pollAPI(t, pkiDir, "https://10.246.0.2:6443/api/v1/namespaces/default", 200*time.Millisecond)
	svc := pollService([]string{"http://10.246.0.10:30080/", "http://10.246.0.11:30080/", "http://10.246.0.12:30080/"}, 200*time.Millisecond)
	start = time.Now()
	out, err = hwRun("upgrade", to, "--name", name)
	took := time.Since(start)
	total, failures, longest := api.stop()
	sTotal, sFailures, sLongest := svc.stop()
	t.Logf("TIMING upgrade %s → %s: %s; API %d requests, %d failed, longest outage %s; Service %d requests, %d failed, longest outage %s\n%s",
		from, to, took.Round(time.Second), total, len(failures), longest, sTotal, sFailures, sLongest, out)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	if longest >= 5*time.Second {
		t.Errorf("the API was unreachable for %s in a row during the upgrade (want < 5 s):\n%s", longest, strings.Join(failures, "\n"))
	}
	if sLongest >= 5*time.Second {
		t.Errorf("the Service was unreachable for %s in a row during the upgrade (want < 5 s)", sLongest)
	}
	nodes, _ := kubectlIn(t, name, "get", "nodes", "-o", "jsonpath={range .items[*]}{.status.nodeInfo.kubeletVersion} {.spec.unschedulable}{\"\\n\"}{end}")
	schedulable := 0
	for _, line := range strings.Split(nodes, "\n") {
		// An uncordoned node prints its version and nothing after it.
		if f := strings.Fields(line); len(f) == 1 && f[0] == to {
			schedulable++
		}
	}
	if schedulable != 3 {
		t.Errorf("want 3 schedulable nodes on %s:\n%s", to, nodes)
	}
	if out, err := hwRun("upgrade", from, "--name", name); err == nil || !strings.Contains(out, "downgrades are not supported") {
		t.Errorf("downgrade: err=%v\n%s", err, out)
	}
	if out := hw(t, "up", "--name", name); !strings.Contains(out, "changes: none") {
		t.Errorf("up after the upgrade is not a no-op:\n%s", out)
	}
}

// dockerIn runs a command in a container with stdin.
func dockerIn(container, stdin string, args ...string) (string, error) {
	cmd := newDockerCmd(append([]string{"exec", "-i", container}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
