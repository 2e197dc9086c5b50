//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/render"
)

// TestNetworkPolicy runs netpolChecks alone on cluster np3 (3 nodes):
// HARDWAY_E2E_NETPOL=1 go test -tags e2e -count=1 -timeout 30m -v -run TestNetworkPolicy ./test/e2e/
// make e2e runs the same checks inside TestThreeNodeCluster.
func TestNetworkPolicy(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_NETPOL") == "" {
		t.Skip("set HARDWAY_E2E_NETPOL=1 (make e2e runs these checks in TestThreeNodeCluster)")
	}
	const name = "np3"
	const body = "network:\n  nodeSubnet: {subnet}\n"
	cfg := clusterConfig(t, name, body)
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes): %s\n%s", time.Since(start).Round(time.Second), out)
	if err := smokeTestsPassed(out); err != nil || !strings.Contains(out, "✓ networkpolicy") {
		t.Fatalf("up's verify: %v\n%s", err, out)
	}
	netpolChecks(t, name, body, 3)
}

// netpolChecks proves the netpol add-on on a running Docker cluster with
// the default add-ons, the way a user meets it: with kubectl, a deny-all
// ingress policy blocks a client pod's requests and a rule allowing its
// label opens them; the agent taken away makes verify fail; netpol out of
// addons is removed by up with nothing left in any node's iptables or
// nftables, and put back. Also Pod Security's default: a privileged pod in
// a new namespace is refused. body is the cluster's config without addons.
func netpolChecks(t *testing.T, name, body string, nodes int) {
	start := time.Now()
	defer func() { t.Logf("TIMING netpol checks: %s", time.Since(start).Round(time.Second)) }()
	t.Run("kubectl: deny-all blocks, an allow rule opens", func(t *testing.T) {
		const ns = "np-e2e"
		k := func(args ...string) string {
			t.Helper()
			out, err := kubectlIn(t, name, append([]string{"-n", ns}, args...)...)
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return out
		}
		if out, err := kubectlIn(t, name, "create", "namespace", ns); err != nil && !strings.Contains(out, "already exists") {
			t.Fatalf("create namespace: %v %s", err, out)
		}
		defer kubectlIn(t, name, "delete", "namespace", ns, "--wait=false")
		k("create", "deployment", "web", "--image="+images.TestApp, "--port=8080")
		k("run", "client", "--image="+images.TestApp, "--restart=Never", "--command", "--", "sleep", "3600")
		k("rollout", "status", "deployment/web", "--timeout=120s")
		k("wait", "--for=condition=Ready", "pod/client", "--timeout=120s")
		ip := k("get", "pod", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}")
		reach := func() bool {
			out, _ := kubectlIn(t, name, "-n", ns, "exec", "client", "--", "sh", "-c", "wget -T 2 -q -O - http://"+ip+":8080/ >/dev/null 2>&1; echo rc=$?")
			return strings.Contains(out, "rc=0")
		}
		until := func(want bool, what string) {
			t.Helper()
			t0 := time.Now()
			for !(reach() == want) {
				if time.Since(t0) > 30*time.Second {
					t.Fatalf("%s: not within 30 s", what)
				}
				time.Sleep(300 * time.Millisecond)
			}
			t.Logf("TIMING %s after %s", what, time.Since(t0).Round(100*time.Millisecond))
		}
		until(true, "client reaches web with no policy")
		applyIn(t, name, ns, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n")
		until(false, "deny-all blocks client → web")
		applyIn(t, name, ns, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {run: client}}}]\n    ports: [{port: 8080}]\n")
		until(true, "allow-client opens client → web")
	})
	t.Run("the steering rules are on every node", func(t *testing.T) {
		for i := 0; i < nodes; i++ {
			out, err := docker("exec", fmt.Sprintf("%s-node-%d", name, i), "iptables", "-t", "mangle", "-S", render.NetpolChain)
			if err != nil || !strings.Contains(out, "NFQUEUE --queue-num 100") {
				t.Errorf("node-%d: iptables -t mangle -S %s: %v\n%s", i, render.NetpolChain, err, out)
			}
		}
	})
	t.Run("verify fails with the agent gone, up brings it back", func(t *testing.T) {
		// Deleted, not patched: up's server-side apply does not take back
		// fields another manager (kubectl patch) owns.
		if out, err := kubectlIn(t, name, "-n", render.NetpolNamespace, "delete", "daemonset", "kube-network-policies"); err != nil {
			t.Fatalf("delete: %v %s", err, out)
		}
		t0 := time.Now()
		for {
			out, _ := kubectlIn(t, name, "-n", render.NetpolNamespace, "get", "pods", "-o", "name")
			if strings.TrimSpace(out) == "" {
				break
			}
			if time.Since(t0) > time.Minute {
				t.Fatalf("agent pods still there after a minute:\n%s", out)
			}
			time.Sleep(time.Second)
		}
		out, err := hwRun("verify", "--name", name)
		if err == nil || !strings.Contains(out, "✗ networkpolicy") || !strings.Contains(out, "is the agent running?") {
			t.Errorf("verify without the agent: err %v, want ✗ networkpolicy naming the agent:\n%s", err, out)
		}
		on := clusterConfig(t, name, body)
		out = hw(t, "up", "-c", on, "--from", "netpol")
		if err := smokeTestsPassed(out); err != nil || !strings.Contains(out, "✓ networkpolicy") {
			t.Errorf("up after the agent was taken away: %v\n%s", err, out)
		}
	})
	t.Run("netpol out of addons is removed with its rules, back in is reinstalled", func(t *testing.T) {
		addonRoundTrip{
			step:    config.AddonNetpol,
			off:     clusterConfig(t, name, body+addonsWithout(config.AddonNetpol)),
			on:      clusterConfig(t, name, body),
			removed: []string{"removed Namespace " + render.NetpolNamespace, "removed ClusterRole kube-network-policies", "removed image registry.k8s.io/networking/kube-network-policies"},
			gone:    [][]string{{"namespace", render.NetpolNamespace}},
			after: func(t *testing.T) {
				for i := 0; i < nodes; i++ {
					node := fmt.Sprintf("%s-node-%d", name, i)
					ipt, _ := docker("exec", node, "sh", "-c", "iptables-save; iptables-legacy-save 2>/dev/null")
					nft, _ := docker("exec", node, "nft", "list", "tables")
					if strings.Contains(ipt, "HARDWAY-NETPOL") || strings.Contains(ipt, "NFQUEUE") || strings.Contains(nft, render.NetpolTable) {
						t.Errorf("%s keeps NetworkPolicy rules after removal:\n%s\n%s", node, ipt, nft)
					}
				}
			},
			check: "networkpolicy",
		}.run(t, name)
	})
	t.Run("Pod Security: a privileged pod in a new namespace is refused (baseline)", func(t *testing.T) {
		const ns = "psa-e2e"
		if out, err := kubectlIn(t, name, "create", "namespace", ns); err != nil && !strings.Contains(out, "already exists") {
			t.Fatalf("create namespace: %v %s", err, out)
		}
		defer kubectlIn(t, name, "delete", "namespace", ns, "--wait=false")
		out, err := kubectlIn(t, name, "-n", ns, "run", "priv", "--image="+images.TestApp, "--restart=Never", "--overrides", `{"spec":{"hostNetwork":true}}`)
		if err == nil || !strings.Contains(out, `violates PodSecurity "baseline:latest"`) {
			t.Errorf("a hostNetwork pod: err %v, want refused by baseline:\n%s", err, out)
		}
		out, err = kubectlIn(t, name, "-n", ns, "run", "plain", "--image="+images.TestApp, "--restart=Never")
		if err != nil || !strings.Contains(out, `would violate PodSecurity "restricted:latest"`) {
			t.Errorf("a plain pod: err %v, want admitted with restricted's warning:\n%s", err, out)
		}
	})
}

// applyIn applies a YAML document in namespace ns with the cluster's
// kubectl (inside node-0, like kubectlIn).
func applyIn(t *testing.T, name, ns, doc string) {
	t.Helper()
	if _, err := kubectlIn(t, name, "version", "--client"); err != nil { // copies the kubeconfig in
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := osexec.Command("docker", "exec", "-i", name+"-node-0", "kubectl", "--kubeconfig=/root/admin.kubeconfig", "-n", ns, "apply", "-f", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(doc), &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out.String())
	}
}
