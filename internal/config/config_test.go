package config

import (
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if _, err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Name != "hardway" || c.KubernetesVersion != "v1.37.2" || len(c.Nodes) != 3 || !c.IsIsolated() {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	wantIPs := []string{"10.240.0.10", "10.240.0.11", "10.240.0.12"}
	wantPods := []string{"10.200.0.0/24", "10.200.1.0/24", "10.200.2.0/24"}
	for i, n := range c.Nodes {
		if n.IP != wantIPs[i] || n.PodCIDR != wantPods[i] || !n.IsControlPlane() || !n.IsWorker() {
			t.Errorf("node %d = %+v", i, n)
		}
	}
	if c.Network.LoadBalancerIP != "10.240.0.2" || c.APIServerURL() != "https://10.240.0.2:6443" {
		t.Errorf("API endpoint %s via LB %q", c.APIServerURL(), c.Network.LoadBalancerIP)
	}
	if c.KubernetesServiceIP() != "10.32.0.1" {
		t.Errorf("kubernetes service IP %s", c.KubernetesServiceIP())
	}
	if got := c.EtcdInitialCluster(); got != "node-0=https://10.240.0.10:2380,node-1=https://10.240.0.11:2380,node-2=https://10.240.0.12:2380" {
		t.Errorf("initial cluster %s", got)
	}
}

func TestSingleNodeHasNoLoadBalancer(t *testing.T) {
	c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nnodes:\n- name: solo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.LoadBalancerIP != "" || c.APIServerURL() != "https://10.240.0.10:6443" {
		t.Fatalf("single node: LB %q, server %s", c.Network.LoadBalancerIP, c.APIServerURL())
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Cluster)
		want   []string
	}{
		{"overlapping CIDRs", func(c *Cluster) { c.Network.PodCIDR = "10.240.0.0/16" }, []string{"network.podCIDR: 10.240.0.0/16 overlaps nodeSubnet 10.240.0.0/24: give each range its own addresses"}},
		{"node IP outside subnet", func(c *Cluster) { c.Nodes[1].IP = "192.168.1.5" }, []string{"nodes[1].ip: 192.168.1.5 is outside nodeSubnet"}},
		{"duplicate names", func(c *Cluster) { c.Nodes[2].Name = "node-0" }, []string{`nodes[2].name: "node-0" is also nodes[0]`}},
		{"duplicate IPs", func(c *Cluster) { c.Nodes[2].IP = c.Nodes[0].IP }, []string{"nodes[2].ip: 10.240.0.10 is also used by node-0"}},
		{"no control plane", func(c *Cluster) {
			for i := range c.Nodes {
				c.Nodes[i].Roles = []string{RoleWorker}
			}
		}, []string{"no node has the control-plane role"}},
		{"malformed version", func(c *Cluster) { c.KubernetesVersion = "1.37" }, []string{`kubernetesVersion: "1.37" is not a version`}},
		{"bad proxy mode", func(c *Cluster) { c.Network.KubeProxyMode = "userspace" }, []string{`kubeProxyMode: "userspace"`}},
		{"arch without nodes", func(c *Cluster) { c.Arch = "riscv64" }, []string{`arch: "riscv64": hardway has node images and artifacts for amd64 and arm64`}},
		{"DNS outside service CIDR", func(c *Cluster) { c.Network.ClusterDNS = "10.33.0.10" }, []string{"clusterDNS: 10.33.0.10 is outside serviceCIDR"}},
		{"DNS on kubernetes service IP", func(c *Cluster) { c.Network.ClusterDNS = "10.32.0.1" }, []string{"taken by the kubernetes Service"}},
		{"reserved name", func(c *Cluster) { c.Nodes[0].Name = "lb" }, []string{`nodes[0].name: "lb" is reserved`}},
		{"bad role", func(c *Cluster) { c.Nodes[0].Roles = []string{"master"} }, []string{`nodes[0].roles[0]: "master" is not a role: use control-plane or worker`}},
		{"bad key algorithm", func(c *Cluster) { c.PKI.KeyAlgorithm = "dsa" }, []string{`pki.keyAlgorithm: "dsa"`}},
		{"several problems at once", func(c *Cluster) {
			c.KubernetesVersion = "latest"
			c.Nodes[0].Name = "Bad_Name"
		}, []string{"kubernetesVersion", "nodes[0].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			_, err := c.Validate()
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ve.Problems {
					if strings.Contains(p, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem mentions %q; got %q", w, ve.Problems)
				}
			}
		})
	}
}

func TestTooManyNodesForPodCIDR(t *testing.T) {
	doc := "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nnetwork:\n  podCIDR: 10.200.0.0/23\nnodes: [{name: a}, {name: b}, {name: c}]\n"
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "\n  - nodes[2].podCIDR (default): podCIDR 10.200.0.0/23 has no /24 left for this node (too many nodes; use a larger podCIDR)") {
		t.Fatalf("got %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("re-reading marshalled config: %v\n%s", err, data)
	}
	if back.Nodes[2].IP != c.Nodes[2].IP || back.PKI.CertValidity != c.PKI.CertValidity {
		t.Fatalf("round trip lost data:\n%s", data)
	}
}
