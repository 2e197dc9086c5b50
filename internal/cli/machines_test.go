package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sshClusterDoc = `apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: lab
provider: ssh
ssh: {user: admin, identityFile: /keys/lab}
nodes:
- {name: cp-0, ip: 192.168.50.10}
- {name: cp-1, ip: 192.168.50.11}
- {name: cp-2, ip: 192.168.50.12, ssh: {address: cp-2.lab, port: 2222}}
`

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExplainMachines: every step explains itself for machines without
// touching them, and the texts say what differs from Docker nodes.
func TestExplainMachines(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	ssh := writeFile(t, "ssh.yaml", sshClusterDoc)
	lima := writeFile(t, "lima.yaml", "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: mac\nprovider: lima\n")
	tests := []struct {
		file, step string
		want       []string // whole lines of the output
	}{
		{ssh, "nodes", []string{
			"provider: ssh. The machines exist already (servers, VMs someone else",
			"  NODE  IP             ROLES                 POD CIDR       REACHED AT",
			"  cp-0  192.168.50.10  control-plane,worker  10.200.0.0/24  ssh admin@192.168.50.10 -p 22",
			"  cp-2  192.168.50.12  control-plane,worker  10.200.2.0/24  ssh admin@cp-2.lab -p 2222",
			"  Remove what hardway installed (the machines stay): hardway down --name lab --yes",
		}},
		{ssh, "control-plane", []string{
			"  kubelet and kube-proxy: https://127.0.0.1:6444 (haproxy, unit hardway-apiserver-lb, config /etc/kubernetes/apiserver-lb.cfg) → 192.168.50.10:6443, 192.168.50.11:6443, 192.168.50.12:6443",
			"  you (admin kubeconfig): https://192.168.50.10:6443 (the first control-plane node; set network.apiEndpoint to use a load balancer of your own)",
		}},
		{ssh, "network", []string{
			"This cluster: network.podRoutes: direct (provider ssh)",
			"  ON NODE  PODS OF  DESTINATION    VIA (NODE IP)",
			"  cp-0     cp-1     10.200.1.0/24  192.168.50.11",
			"ExecStart=/sbin/ip route replace 10.200.1.0/24 via 192.168.50.11",
		}},
		{ssh, "check", []string{"Before anything is installed, hardway asks every machine (providers ssh"}},
		{lima, "nodes", []string{
			"provider: lima. hardway writes a Lima template per node and creates the",
			"  node-0  192.0.2.10  control-plane,worker  10.200.0.0/24  the VM's SSH port (limactl)",
			"  Delete the VMs with their disks: hardway down --name mac",
		}},
		{lima, "etcd", []string{"  --initial-cluster=node-0=https://192.0.2.10:2380,node-1=https://192.0.2.11:2380,node-2=https://192.0.2.12:2380 \\"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file)+" "+tt.step, func(t *testing.T) {
			code, out, errOut := runCLI(t, "explain", tt.step, "-c", tt.file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				lines[strings.TrimPrefix(l, "    │ ")] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("explain %s lacks the line\n%q\n%s", tt.step, w, out)
				}
			}
		})
	}
	for _, f := range []string{ssh, lima} {
		if code, _, errOut := runCLI(t, "explain", "-c", f); code != 0 {
			t.Errorf("explain every step of %s: %s", f, errOut)
		}
	}
}

func TestDownOnMachinesAsksForYes(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	code, out, errOut := runCLI(t, "down", "-c", writeFile(t, "ssh.yaml", sshClusterDoc))
	want := "error: cluster \"lab\" runs on machines hardway does not own: `hardway down --name lab --yes` removes what hardway installed on cp-0 (admin@192.168.50.10), cp-1 (admin@192.168.50.11), cp-2 (admin@cp-2.lab) (units, binaries, its directories, routes, iptables rules, the etcd user) and nothing else\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("down without --yes: code %d\nstdout %q\nstderr %q\nwant %q", code, out, errOut, want)
	}
}

func TestRenderLimaNeedsAddresses(t *testing.T) {
	t.Setenv("HARDWAY_HOME", t.TempDir())
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	lima := writeFile(t, "lima.yaml", "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: mac\nprovider: lima\n")
	code, _, errOut := runCLI(t, "render", "-c", lima, "--out", t.TempDir())
	want := "error: nodes[0].ip: node node-0 has no address yet (provider lima assigns it when the VM boots): run hardway up -c FILE first, or give nodes[0].ip\n"
	if code != 1 || errOut != want {
		t.Errorf("render: code %d, stderr %q", code, errOut)
	}
}
