package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const sshDoc = `apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: lab
provider: ssh
ssh:
  user: kube
  identityFile: ~/.ssh/lab
nodes:
- name: cp-0
  ssh: {address: 192.168.1.20}
- name: cp-1
  ip: 192.168.1.21
- name: cp-2
  ip: 192.168.1.22
  ssh: {address: cp-2.lan, user: admin, port: 2222}
`

func TestSSHDefaults(t *testing.T) {
	c, err := Parse([]byte(sshDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := []struct {
		ip  string
		ssh NodeSSH
	}{
		{"192.168.1.20", NodeSSH{Address: "192.168.1.20", User: "kube", Port: 22, IdentityFile: "~/.ssh/lab"}},
		{"192.168.1.21", NodeSSH{Address: "192.168.1.21", User: "kube", Port: 22, IdentityFile: "~/.ssh/lab"}},
		{"192.168.1.22", NodeSSH{Address: "cp-2.lan", User: "admin", Port: 2222, IdentityFile: "~/.ssh/lab"}},
	}
	for i, w := range want {
		n := c.Nodes[i]
		if n.IP != w.ip || n.SSH == nil || *n.SSH != w.ssh {
			t.Errorf("node %d: ip %q ssh %+v, want %q %+v", i, n.IP, n.SSH, w.ip, w.ssh)
		}
	}
	if c.Network.NodeSubnet != "" || c.Network.LoadBalancerIP != "" || c.Network.PodRoutes != PodRoutesDirect {
		t.Errorf("network defaults for ssh: subnet %q lb %q routes %q", c.Network.NodeSubnet, c.Network.LoadBalancerIP, c.Network.PodRoutes)
	}
	// Admins reach the first API server; kubelets the node-local balancer.
	if got := c.APIServerURL(); got != "https://192.168.1.20:6443" {
		t.Errorf("admin server %s", got)
	}
	if got := c.NodeAPIServerURL(); got != "https://127.0.0.1:6444" {
		t.Errorf("node server %s", got)
	}
	if !c.NodeLocalLB() || !c.Machines() {
		t.Errorf("NodeLocalLB %v Machines %v", c.NodeLocalLB(), c.Machines())
	}
}

func TestSSHOneControlPlaneNeedsNoBalancer(t *testing.T) {
	c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: ssh\nnodes:\n- name: a\n  ip: 10.1.0.5\n- name: b\n  ip: 10.1.0.6\n  roles: [worker]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NodeLocalLB() || c.NodeAPIServerURL() != "https://10.1.0.5:6443" || c.APIServerURL() != "https://10.1.0.5:6443" {
		t.Fatalf("local LB %v, node server %s, admin %s", c.NodeLocalLB(), c.NodeAPIServerURL(), c.APIServerURL())
	}
	if *c.Nodes[1].SSH != (NodeSSH{Address: "10.1.0.6", User: "root", Port: 22}) {
		t.Fatalf("ssh defaults %+v", *c.Nodes[1].SSH)
	}
}

func TestAPIEndpoint(t *testing.T) {
	tests := []struct {
		endpoint, admin, host string
	}{
		{"k8s.lan", "https://k8s.lan:6443", "k8s.lan"},
		{"k8s.lan:443", "https://k8s.lan:443", "k8s.lan"},
		{"192.168.1.5:8443", "https://192.168.1.5:8443", "192.168.1.5"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(sshDoc + "network:\n  apiEndpoint: " + tt.endpoint + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.endpoint, err)
		}
		if c.APIServerURL() != tt.admin || c.APIEndpointHost() != tt.host || c.NodeAPIServerURL() != "https://127.0.0.1:6444" {
			t.Errorf("%s: admin %s host %s node %s", tt.endpoint, c.APIServerURL(), c.APIEndpointHost(), c.NodeAPIServerURL())
		}
	}
}

func TestLimaDefaults(t *testing.T) {
	c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: lima\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatalf("lima defaults do not validate: %v", err)
	}
	if !reflect.DeepEqual(*c.Lima, Lima{VMType: "vz", Network: "vzNAT", CPUs: 2, Memory: "4GiB", Disk: "20GiB"}) {
		t.Errorf("lima defaults %+v", *c.Lima)
	}
	for _, n := range c.Nodes {
		if n.IP != "" || n.SSH != nil || n.PodCIDR == "" {
			t.Errorf("lima node %+v: the IP comes from the VM", n)
		}
	}
	if c.Network.PodRoutes != PodRoutesDirect {
		t.Errorf("pod routes %s", c.Network.PodRoutes)
	}
}

// TestValidateMachines asserts the exact problem lines: each names the line
// the value came from (or "(default)"), the field, the value and the fix.
func TestValidateMachines(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"ssh node without ip or IP address", "provider: ssh\nnodes:\n- name: a\n  ssh: {address: a.lan}\n",
			[]string{`nodes[0].ip (default): missing: give the address the other nodes reach a at (ssh.address "a.lan" is not an IPv4 address)`}},
		{"ssh node with nothing", "provider: ssh\nnodes:\n- name: a\n",
			[]string{`nodes[0].ip (default): missing: give the address the other nodes reach a at (ssh.address "" is not an IPv4 address)`,
				`nodes[0].ssh.address (default): missing: give the host name or IP hardway connects to (or the node's ip)`}},
		{"bad port and user", "provider: ssh\nssh: {port: 70000, user: 'a b'}\nnodes:\n- name: a\n  ip: 10.1.0.5\n",
			[]string{"line 4: nodes[0].ssh.port: 70000 is not a port: use 1 to 65535, like 22", `line 4: nodes[0].ssh.user: "a b" is not a user name`}},
		{"address with user", "provider: ssh\nnodes:\n- name: a\n  ip: 10.1.0.5\n  ssh: {address: 'root@a.lan'}\n",
			[]string{`line 7: nodes[0].ssh.address: "root@a.lan" is not a host name or IP (give the user in ssh.user and the port in ssh.port)`}},
		{"same machine twice", "provider: ssh\nnodes:\n- name: a\n  ip: 10.1.0.5\n  ssh: {address: m.lan}\n- name: b\n  ip: 10.1.0.6\n  ssh: {address: m.lan}\n",
			[]string{"line 10: nodes[1].ssh.address: m.lan:22 is also nodes[0]: every node must be its own machine"}},
		{"ip outside given subnet", "provider: ssh\nnetwork: {nodeSubnet: 10.1.0.0/24}\nnodes:\n- name: a\n  ip: 10.2.0.5\n",
			[]string{"line 7: nodes[0].ip: 10.2.0.5 is outside nodeSubnet 10.1.0.0/24: use an address inside it, or change network.nodeSubnet"}},
		{"ip inside pod CIDR", "provider: ssh\nnodes:\n- name: a\n  ip: 10.200.3.4\n",
			[]string{"line 6: nodes[0].ip: 10.200.3.4 is inside podCIDR 10.200.0.0/16: pick a podCIDR the machines' network does not use"}},
		{"load balancer IP on machines", "provider: ssh\nnetwork: {loadBalancerIP: 10.1.0.2}\nnodes:\n- name: a\n  ip: 10.1.0.5\n",
			[]string{"line 4: network.loadBalancerIP: only provider docker runs a load-balancer machine; on ssh machines every node balances to the API servers itself (127.0.0.1:6444): remove it, or set network.apiEndpoint to your own load balancer"}},
		{"bad pod routes", "provider: ssh\nnetwork: {podRoutes: bgp}\nnodes:\n- name: a\n  ip: 10.1.0.5\n",
			[]string{`line 4: network.podRoutes: "bgp" must be direct (one L2 network) or vxlan`}},
		{"direct routes on docker", "network: {podRoutes: direct}\n",
			[]string{"line 3: network.podRoutes: direct does not work between Docker nodes (the --internal network drops packets with pod addresses): remove it or set vxlan"}},
		{"bad api endpoint", "provider: ssh\nnetwork: {apiEndpoint: 'https://x/'}\nnodes:\n- name: a\n  ip: 10.1.0.5\n",
			[]string{`line 4: network.apiEndpoint: "https://x/" is not HOST or HOST:PORT (a load balancer in front of the API servers, e.g. k8s.example.com:6443)`}},
		{"ssh block with docker", "ssh: {user: x}\nnodes:\n- name: a\n  ssh: {address: a}\n",
			[]string{"line 3: ssh: only provider ssh reaches nodes over SSH you configure (provider is docker): remove the block or set provider: ssh",
				"line 6: nodes[0].ssh: only provider ssh reaches nodes over SSH you configure (provider is docker): remove the block or set provider: ssh"}},
		{"lima block with ssh", "provider: ssh\nlima: {cpus: 4}\nnodes:\n- name: a\n  ip: 10.1.0.5\n",
			[]string{"line 4: lima: only provider lima creates VMs (provider is ssh): remove the block or set provider: lima"}},
		{"lima settings", "provider: lima\nlima: {vmType: qemu, network: vzNAT, memory: lots, cpus: -1}\n",
			[]string{"line 4: lima.network: vzNAT needs lima.vmType vz (for qemu use network: shared)", "line 4: lima.cpus: -1 must be at least 1", `line 4: lima.memory: "lots" is not a size like 4GiB`}},
		{"lima network", "provider: lima\nlima: {network: user-v2}\n",
			[]string{`line 4: lima.network: "user-v2" must be vzNAT (vmType vz) or shared (socket_vmnet): the nodes and this host must reach each other's addresses`}},
		{"unknown provider", "provider: vagrant\n", []string{`line 3: provider: "vagrant" is not supported (supported: docker, ssh, lima)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Validate()
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if !reflect.DeepEqual(ve.Problems, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(ve.Problems, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestSSHRoundTrip(t *testing.T) {
	c, err := Parse([]byte(sshDoc))
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("re-reading: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back.Nodes, c.Nodes) || !reflect.DeepEqual(back.SSH, c.SSH) {
		t.Fatalf("round trip lost data:\n%s", data)
	}
}

// TestREADMEMachineExamples: the complete examples the README gives for
// providers ssh and lima parse and validate.
func TestREADMEMachineExamples(t *testing.T) {
	b, err := os.ReadFile("../../docs/machines.md")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		doc, _, _ := strings.Cut(block, "```")
		if !strings.Contains(doc, "provider: ssh") && !strings.Contains(doc, "provider: lima") {
			continue
		}
		found++
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("README example does not parse: %v\n%s", err, doc)
			continue
		}
		if _, err := c.Validate(); err != nil {
			t.Errorf("README example does not validate: %v\n%s", err, doc)
		}
	}
	if found != 2 {
		t.Errorf("%d machine examples in docs/machines.md, want 2 (ssh and lima)", found)
	}
}
