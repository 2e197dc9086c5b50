//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
)

// TestArgoCD proves the argocd add-on on a fresh one-node cluster (ag1):
// up installs Argo CD and its Git server and the Application is Synced and
// Healthy (verify's gitops check); a commit pushed to the in-cluster
// repository rolls out (the Application follows the new revision, the new
// page is served); taking argocd out of addons and running up removes its
// namespaces, CRDs and images, a second run changes nothing; down leaves
// nothing. Argo CD's first build takes most of an hour on two cores, so
// the test runs only with HARDWAY_E2E_ARGOCD=1 (hack/argocd-e2e.sh sets it
// and prints the timings).
func TestArgoCD(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_ARGOCD") == "" {
		t.Skip("set HARDWAY_E2E_ARGOCD=1 (hack/argocd-e2e.sh): builds Argo CD from source and runs a cluster with it")
	}
	const name = "ag1"
	// node-0: kubectlIn runs kubectl on NAME-node-0.
	body := "network:\n  nodeSubnet: {subnet}\nnodes:\n- name: node-0\n"
	on := clusterConfig(t, name, body+"addons: [argocd]\n")
	cleanup(t, name)

	start := time.Now()
	hw(t, "artifacts", "build", "-c", on)
	t.Logf("TIMING artifacts build (argocd and the cluster) %s", time.Since(start).Round(time.Second))

	start = time.Now()
	out := hw(t, "up", "-c", on)
	t.Logf("TIMING up with argocd %s", time.Since(start).Round(time.Second))
	if err := smokeTestsPassed(out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "✓ gitops") {
		t.Fatalf("verify ran no gitops check:\n%s", out)
	}
	logArgoCDMemory(t, name)

	t.Run("a commit pushed to the in-cluster repository rolls out", func(t *testing.T) {
		// Pushed over git:// through the Service (kube-proxy's rules), from
		// the Git server's own pod, which has git.
		script := `set -e
cd "$(mktemp -d)"
git clone -q git://git.argocd.svc.cluster.local/app.git app
cd app
sed -i 's/-page-1/-page-2/g; s/revision 1/revision 2/' hello.yaml
git -c user.name=e2e -c user.email=e2e@test commit -q -am "page revision 2"
git push -q origin main
git rev-parse HEAD`
		out, err := kubectlIn(t, name, "-n", "argocd", "exec", "deploy/git", "--", "sh", "-c", script)
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		rev := lastLine(strings.TrimSpace(out))
		pushed := time.Now()
		var status string
		for time.Since(pushed) < 3*time.Minute {
			status, _ = kubectlIn(t, name, "-n", "argocd", "get", "application", "hello", "-o", "jsonpath={.status.sync.revision} {.status.sync.status} {.status.health.status}")
			if status == rev+" Synced Healthy" {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if status != rev+" Synced Healthy" {
			t.Fatalf("the Application did not follow commit %s within 3 minutes: %q", rev, status)
		}
		t.Logf("TIMING push of %s to Synced and Healthy at it: %s", rev[:12], time.Since(pushed).Round(time.Second))
		// The Deployment now mounts the new page (prune deleted the old
		// ConfigMap), and the Service serves it.
		if out, err := kubectlIn(t, name, "-n", "hardway-gitops", "get", "configmap", "hello-page-1"); err == nil {
			t.Errorf("prune left the old page:\n%s", out)
		}
		out, err = kubectlIn(t, name, "-n", "hardway-gitops", "exec", "deploy/hello", "--", "wget", "-q", "-O", "-", "http://hello.hardway-gitops.svc.cluster.local/")
		if err != nil || !strings.Contains(out, "revision 2") {
			t.Errorf("the app does not serve the new page: %v %q", err, out)
		}
		if out := hw(t, "verify", "--name", name); !strings.Contains(out, "✓ gitops") {
			t.Errorf("verify after the new commit:\n%s", out)
		}
	})

	t.Run("argocd out of addons is removed", func(t *testing.T) {
		addonRoundTrip{
			step: config.AddonArgoCD,
			off:  clusterConfig(t, name, body+"addons: []\n"),
			removed: []string{"removed Namespace argocd", "removed Namespace hardway-gitops", "removed Application argocd/hello",
				"removed CustomResourceDefinition applications.argoproj.io", "removed image quay.io/argoproj/argocd:", "removed image hardway.local/argocd-redis:"},
			gone: [][]string{{"namespace", "argocd"}, {"namespace", "hardway-gitops"}, {"crd", "applications.argoproj.io"}},
		}.run(t, name)
	})
}

// logArgoCDMemory logs the working set of every container in namespace
// argocd (crictl stats on the one node): what the add-on costs once it has
// synced its app. A figure for the README, not an assertion.
func logArgoCDMemory(t *testing.T, name string) {
	out, err := hwRun("shell", "node-0", "--name", name, "--", "crictl", "stats", "-o", "json", "--label", "io.kubernetes.pod.namespace=argocd")
	if err != nil {
		t.Logf("MEMORY unknown: crictl stats: %v %s", err, out)
		return
	}
	var st struct {
		Stats []struct {
			Attributes struct {
				Labels map[string]string `json:"labels"`
			} `json:"attributes"`
			Memory struct {
				WorkingSetBytes struct {
					Value string `json:"value"`
				} `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	i := strings.Index(out, "{")
	if i < 0 {
		t.Logf("MEMORY unknown: crictl stats said %q", out)
		return
	}
	if err := json.Unmarshal([]byte(out[i:]), &st); err != nil {
		t.Logf("MEMORY unknown: %v", err)
		return
	}
	var total int64
	var parts []string
	for _, s := range st.Stats {
		var b int64
		if _, err := fmt.Sscan(s.Memory.WorkingSetBytes.Value, &b); err != nil {
			continue
		}
		total += b
		parts = append(parts, fmt.Sprintf("%s %d MiB", s.Attributes.Labels["io.kubernetes.container.name"], b>>20))
	}
	t.Logf("MEMORY argocd namespace: %d MiB (%s)", total>>20, strings.Join(parts, ", "))
}
