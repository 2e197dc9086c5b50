package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lab"
)

// saveCluster gives cluster name a saved config (as up leaves it), so the
// commands that need an existing cluster find one.
func saveCluster(t *testing.T, home, name, doc string) string {
	t.Helper()
	dir := filepath.Join(home, "clusters", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: "+name+"\n"+doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLabArguments(t *testing.T) {
	home := isolate(t)
	dir := saveCluster(t, home, "demo", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"lab", "start"}, "error: name the lab to start: hardway lab start NAME (the labs: hardway lab list)"},
		{[]string{"lab", "start", "a", "b"}, "error: name the lab to start: hardway lab start NAME (the labs: hardway lab list)"},
		{[]string{"lab", "start", "dns", "--name", "demo"}, `error: no lab "dns"; the labs are: ` + strings.Join(lab.Names(), ", ") + ` (details: hardway lab list)`},
		{[]string{"lab", "check", "--name", "ghost"}, `error: cluster "ghost" has no state on this host (` + filepath.Join(home, "clusters", "ghost") + `); create it with: hardway up --name ghost (the clusters here: hardway list)`},
		// Machines first: a cluster with only its state left is never
		// contacted (its saved API address may be another cluster's now).
		{[]string{"lab", "check", "--name", "demo"}, "error: cluster demo has no machines (provider docker), only its saved state in " + dir + ": create them with: hardway up --name demo (or forget the cluster: hardway down --name demo)"},
		{[]string{"lab", "hint", "--name", "demo"}, "error: no lab is active on cluster demo; start one: hardway lab start NAME --name demo (the labs: hardway lab list)"},
		{[]string{"lab", "reset", "--name", "demo"}, "error: cluster demo has no machines (provider docker), only its saved state in " + dir + ": create them with: hardway up --name demo (or forget the cluster: hardway down --name demo)"},
		{[]string{"lab", "check", "extra", "--name", "demo"}, `error: unknown command "extra" for "hardway lab check" (see: hardway lab check --help)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code == 0 || strings.TrimSpace(errOut) != tt.want {
				t.Errorf("exit %d, stderr %q\nwant %q", code, errOut, tt.want)
			}
		})
	}
	// A record this hardway does not know names the file to remove.
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(`{"lab":"old-lab","started":"2026-11-27T15:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "lab", "hint", "--name", "demo")
	want := `error: cluster demo records lab "old-lab", which this hardway does not know; forget it with: rm ` + filepath.Join(dir, "lab.json")
	if code == 0 || strings.TrimSpace(errOut) != want {
		t.Errorf("exit %d, %q\nwant %q", code, errOut, want)
	}
}

func TestLabList(t *testing.T) {
	home := isolate(t)
	dir := saveCluster(t, home, "solo", "nodes:\n- name: solo\n")
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(`{"lab":"kube-proxy","started":"2026-11-27T15:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "labs-passed.json"), []byte(`{"coredns-corefile":"2026-11-27T14:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "lab", "list", "--name", "solo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `LAB                 PASSED  WHAT BREAKS
etcd-member         -       one etcd member is down (not on this cluster: lab etcd-member needs 3 control-plane nodes (quorum survives one member down); cluster solo has 1)
pod-route           -       a node lost its route to another node's pods (not on this cluster: lab pod-route needs 2 worker nodes (routes join their pod networks); cluster solo has 1)
kubelet-cert        -       a kubelet serves another node's certificate (not on this cluster: lab kubelet-cert needs 2 worker nodes (one lends its certificate); cluster solo has 1)
coredns-corefile    ✓       a typo in CoreDNS's configuration
kube-proxy          -       kube-proxy is gone from one node (active on cluster solo)
kubelet-rbac        -       the API server may no longer use the kubelet API
service-selector    -       a Service selects no pods
scheduler           -       new pods stay Pending
controller-manager  -       a Deployment makes no ReplicaSet
containerd          -       containerd is stopped on one node
apiserver-down      -       one API server is down behind the load balancer (not on this cluster: lab apiserver-down needs 2 control-plane nodes behind a load balancer (the others keep the API up); cluster solo has 1)
coredns-scaled      -       CoreDNS runs no pod
kubelet             -       a kubelet is stopped
netpol-dns          -       a NetworkPolicy cuts pods off from DNS
kubelet-expired     -       a kubelet's serving certificate expired and nothing renewed it
clock-skew          -       a node's certificate comes from a clock far ahead
kubelet-dns         -       a kubelet gives its pods the wrong DNS server
encryption-key      -       one API server lacks the encryption key (not on this cluster: lab encryption-key needs 2 control-plane nodes (one API server differs from the others); cluster solo has 1)
etcd-quorum         -       etcd lost its quorum (not on this cluster: lab etcd-quorum needs 3 control-plane nodes (two members lost, one left); cluster solo has 1)
build-coredns       -       build: CoreDNS, by hand
build-pod-routes    -       build: one node's pod routes, by hand (not on this cluster: lab build-pod-routes needs 2 worker nodes (routes join their pod networks); cluster solo has 1)
build-kubeconfig    -       build: a kubelet's client certificate and kubeconfig, by hand
build-kube-proxy    -       build: kube-proxy's configuration, by hand
gateway-port        -       an HTTPRoute points at a port its Service does not have
gitops-drift        -       an Argo CD Application out of sync (not on this cluster: lab gitops-drift needs the argocd add-on; cluster solo has addons [metallb netpol gateway]: add argocd to addons in its config, then hardway up)

Cluster solo has passed 1 of 25 labs. Start one: hardway lab start NAME --name solo
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	code, out, _ = runCLI(t, "lab", "list", "--name", "solo", "-o", "json")
	if code != 0 || !strings.Contains(out, `"passed": "2026-11-27T14:00:00Z"`) {
		t.Errorf("lab list -o json does not say when coredns-corefile was passed:\n%s", out)
	}
}

// TestLabHint: the active lab's hints one at a time, remembered between
// calls, without touching any machine.
func TestLabHint(t *testing.T) {
	home := isolate(t)
	dir := saveCluster(t, home, "demo", "")
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(`{"lab":"etcd-member","started":"2026-11-27T15:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wants := []string{`Lab etcd-member: one etcd member is down.

Hint 1 of 3. Look at the symptom first:
  hardway status --name demo

Still stuck: hardway lab hint --name demo (the next hint)
`, `Lab etcd-member: one etcd member is down.

Hint 2 of 3. See the cause:
  hardway shell node-0 --name demo -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.pem --cert=/etc/etcd/healthcheck-client.pem --key=/etc/etcd/healthcheck-client-key.pem endpoint health --cluster
  hardway shell node-2 --name demo -- systemctl status etcd

Still stuck: hardway lab hint --name demo (the next hint)
`, `Lab etcd-member: one etcd member is down.

Hint 3 of 3. The etcd member on node-2 is stopped (inactive, dead): its endpoint fails the health check. The
other two members still form a quorum (2 of 3), so the API answers.

Fix it:
  hardway shell node-2 --name demo -- systemctl start etcd

That was the last hint. Then: hardway lab check --name demo
`}
	for i, want := range append(wants, wants[2]) {
		code, out, errOut := runCLI(t, "lab", "hint", "--name", "demo")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if out != want {
			t.Errorf("call %d: got:\n%s\nwant:\n%s", i+1, out, want)
		}
	}
}

// TestLabCommandsExist runs every hardway command the labs tell a learner
// to type through the real command line, for every cluster shape a lab
// runs on.
func TestLabCommandsExist(t *testing.T) {
	hwCmd := regexp.MustCompile(`hardway ([^|;&)]*)`)
	for _, doc := range []string{"", "name: duo\nnodes:\n- name: w-a\n- name: w-b\n"} {
		c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, l := range lab.All() {
			tg, err := l.TargetIn(c)
			if err != nil {
				continue
			}
			lines := append(append(l.Reveal(tg), l.Fix(tg)...), l.Cause(tg), l.Debrief(tg))
			if l.Evidence != nil {
				lines = append(lines, l.Evidence(tg)...)
			}
			for _, line := range strings.Split(strings.Join(lines, "\n"), "\n") {
				for _, m := range hwCmd.FindAllStringSubmatch(line, -1) {
					checkCommand(t, "lab "+l.Name, strings.TrimSpace(m[1]), c)
					checked++
				}
			}
		}
		if checked < 10 {
			t.Errorf("%s: only %d hardway commands in the labs", c.Name, checked)
		}
	}
}
