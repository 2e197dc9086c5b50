package steps

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
)

// TestFootprint pins what `down` removes from a worker of a machine cluster:
// exactly the files and binaries its units declare, the directories its
// programs fill, and what they leave in the kernel; the first machine also
// loses the cluster's registry.
func TestFootprint(t *testing.T) {
	const doc = "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: ssh\nnodes:\n" +
		"- name: cp\n  ip: 10.1.0.5\n  roles: [control-plane]\n- name: w\n  ip: 10.1.0.6\n  roles: [worker]\n- name: w2\n  ip: 10.1.0.7\n  roles: [worker]\n"
	shared := []string{"/etc/containerd", "/etc/cni/net.d", "/etc/cni", "/opt/cni/bin", "/opt/cni"}
	tests := []struct {
		name, node string
		mutate     func(c *config.Cluster)
		want       provider.Footprint
	}{
		{"worker with direct routes", "w", nil, provider.Footprint{
			Units: []string{"containerd", "hardway-pods-stop", "kubelet", "kube-proxy", "hardway-pod-network"},
			Files: []string{"/etc/systemd/system/containerd.service", "/etc/containerd/config.toml",
				"/etc/containerd/certs.d/_default/hosts.toml", "/etc/containerd/certs.d/10.1.0.5_5000_/hosts.toml", "/etc/cni/net.d/10-bridge.conflist",
				"/etc/cni/net.d/99-loopback.conf", "/etc/sysctl.d/99-kubernetes.conf", "/etc/crictl.yaml",
				"/usr/local/bin/containerd", "/usr/local/bin/containerd-shim-runc-v2", "/usr/local/bin/ctr", "/usr/local/bin/runc",
				"/usr/local/bin/crictl", "/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback", "/opt/cni/bin/portmap",
				"/etc/systemd/system/hardway-pods-stop.service", "/etc/systemd/system/kubelet.service", "/var/lib/kubelet/kubelet-config.yaml", "/var/lib/kubelet/kubeconfig",
				"/var/lib/kubelet/kubelet.pem", "/var/lib/kubelet/kubelet-key.pem", "/var/lib/kubelet/kubelet-client.pem", "/var/lib/kubelet/ca.pem",
				"/usr/local/lib/hardway/kubelet-certs.sh", "/usr/local/bin/kubelet",
				"/etc/systemd/system/kube-proxy.service", "/var/lib/kube-proxy/kube-proxy-config.yaml", "/var/lib/kube-proxy/kubeconfig",
				"/usr/local/bin/kube-proxy", "/etc/systemd/system/hardway-pod-network.service"},
			Dirs: []string{"/var/lib/hardway", "/usr/local/lib/hardway", "/var/lib/kubelet", "/var/lib/kube-proxy", "/var/lib/containerd", "/run/containerd",
				"/opt/containerd", "/var/lib/cni", "/var/log/pods", "/var/log/containers"},
			SharedDirs: append(shared, "/etc/containerd/certs.d", "/etc/containerd/certs.d/_default", "/etc/containerd/certs.d/10.1.0.5_5000_", "/run/netns"),
			Mounts:     []string{"/var/lib/kubelet", "/var/lib/containerd", "/run/containerd"},
			Links:      []string{"cni0"},
			Routes:     []string{"10.200.2.0/24 via 10.1.0.7"},
			Crictl:     "/usr/local/bin/crictl", CRISocket: "/run/containerd/containerd.sock", KubeProxy: "/usr/local/bin/kube-proxy",
		}},
		{"control plane only, VXLAN", "cp", func(c *config.Cluster) { c.Network.PodRoutes = config.PodRoutesVXLAN }, provider.Footprint{
			Units: []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "hardway-csr-approver.timer", "hardway-pod-network", "hardway-registry"},
			Files: []string{"/etc/systemd/system/etcd.service", "/etc/etcd/ca.pem", "/etc/etcd/server.pem", "/etc/etcd/server-key.pem",
				"/etc/etcd/peer.pem", "/etc/etcd/peer-key.pem", "/etc/etcd/healthcheck-client.pem", "/etc/etcd/healthcheck-client-key.pem",
				"/usr/local/bin/etcd", "/usr/local/bin/etcdctl", "/usr/local/bin/etcdutl", "/etc/systemd/system/kube-apiserver.service",
				"/etc/kubernetes/pki/ca.pem", "/etc/kubernetes/pki/etcd-ca.pem", "/etc/kubernetes/pki/kube-apiserver.pem",
				"/etc/kubernetes/pki/kube-apiserver-key.pem", "/etc/kubernetes/pki/apiserver-kubelet-client.pem",
				"/etc/kubernetes/pki/apiserver-kubelet-client-key.pem", "/etc/kubernetes/pki/apiserver-etcd-client.pem",
				"/etc/kubernetes/pki/apiserver-etcd-client-key.pem", "/etc/kubernetes/pki/front-proxy-ca.pem",
				"/etc/kubernetes/pki/front-proxy-client.pem", "/etc/kubernetes/pki/front-proxy-client-key.pem",
				"/etc/kubernetes/pki/service-account.pem", "/etc/kubernetes/pki/service-account-key.pem",
				"/etc/kubernetes/encryption-config.yaml", "/etc/kubernetes/audit-policy.yaml", "/etc/kubernetes/authentication-config.yaml", "/etc/kubernetes/admission-config.yaml",
				"/usr/local/bin/kube-apiserver", "/usr/local/bin/kubectl", "/etc/systemd/system/kube-controller-manager.service",
				"/etc/kubernetes/pki/ca-signing.pem", "/etc/kubernetes/pki/ca-key.pem", "/etc/kubernetes/kube-controller-manager.kubeconfig",
				"/usr/local/bin/kube-controller-manager", "/etc/systemd/system/kube-scheduler.service",
				"/etc/kubernetes/kube-scheduler.kubeconfig", "/etc/kubernetes/kube-scheduler.yaml", "/usr/local/bin/kube-scheduler",
				"/etc/systemd/system/hardway-csr-approver.timer", "/etc/systemd/system/hardway-csr-approver.service",
				"/usr/local/lib/hardway/approve-kubelet-serving.sh",
				"/etc/systemd/system/hardway-pod-network.service", "/var/log/audit.log",
				// the registry's, on the first machine
				"/etc/systemd/system/hardway-registry.service", "/etc/hardway-registry/config.yml", "/usr/local/bin/registry"},
			Dirs:       []string{"/var/lib/hardway", "/usr/local/lib/hardway", "/etc/etcd", "/var/lib/etcd", "/etc/kubernetes", "/etc/hardway-registry", "/var/lib/hardway-registry"},
			SharedDirs: shared,
			Links:      []string{"hardway.vxlan"},
			Users:      []string{"etcd"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(c)
			}
			n, _ := c.Node(tt.node)
			got, err := Footprint(c, n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Footprint(%s) =\n  %#v\nwant\n  %#v", tt.node, got, tt.want)
			}
		})
	}
}

// Every unit a machine node runs is in its footprint, with its unit file:
// nothing hardway deploys survives `down`.
func TestFootprintCoversDeployedUnits(t *testing.T) {
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: ssh\netcd: {snapshots: {every: 1h}}\nnodes:\n- {name: a, ip: 10.1.0.5}\n- {name: b, ip: 10.1.0.6}\n- {name: c, ip: 10.1.0.7}\n"))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Footprint(c, c.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fp.Dirs, render.EtcdSnapshotDir) {
		t.Errorf("the scheduled snapshots' directory %s is not in the footprint of %s", render.EtcdSnapshotDir, c.Nodes[0].Name)
	}
	for _, u := range deployedUnits(c) {
		file := "/etc/systemd/system/" + u
		if !strings.Contains(u, ".") {
			file += ".service"
		}
		found := false
		for _, f := range fp.Files {
			found = found || f == file
		}
		if !found {
			t.Errorf("unit %s is deployed but down would leave its unit file", u)
		}
	}
}
