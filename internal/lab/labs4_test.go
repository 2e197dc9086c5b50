package lab

import (
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
)

// moreTargets are TestTargets' rows for the labs of this file's labs, by
// the test's cluster names.
func moreTargets(c *config.Cluster) map[string]map[string]string {
	snap := "snapshot=" + quorumSnapshot(c.Name)
	pkiDir := "pki=" + filepath.Join(filepath.Dir(filepath.Dir(quorumSnapshot(c.Name))), c.Name, "pki")
	return map[string]map[string]string{
		"default": {
			"kubelet-expired":  "node=node-0 peer= cert=kubelet-node-0 cp=node-0",
			"clock-skew":       "node=node-2 peer= ahead=3 days cert=kubelet-node-2",
			"kubelet-dns":      "node=node-0 peer= want=10.32.0.10 wrong=10.96.0.10",
			"encryption-key":   "node=node-2 peer=node-0 nodes=node-0 node-1 node-2",
			"etcd-quorum":      "node=node-1 peer=node-0 lost=node-1 node-2 " + snap,
			"build-kubeconfig": "node=node-2 peer= dir=/tmp/hardway-node-2 " + pkiDir + " server=https://10.240.0.2:6443 user=system:node:node-2",
			"build-kube-proxy": "node=node-2 peer= cidr=10.200.0.0/16 dir=/tmp/hardway-files mode=iptables",
		},
		"two workers": {
			"kubelet-expired":  "node=w-a peer= cert=kubelet-w-a cp=cp",
			"clock-skew":       "node=w-b peer= ahead=3 days cert=kubelet-w-b",
			"kubelet-dns":      "node=w-a peer= want=10.32.0.10 wrong=10.96.0.10",
			"encryption-key":   "lab encryption-key needs 2 control-plane nodes (one API server differs from the others); cluster duo has 1",
			"etcd-quorum":      "lab etcd-quorum needs 3 control-plane nodes (two members lost, one left); cluster duo has 1",
			"build-kubeconfig": "node=w-b peer= dir=/tmp/duo-w-b " + pkiDir + " server=https://10.240.0.10:6443 user=system:node:w-b",
			"build-kube-proxy": "node=w-b peer= cidr=10.200.0.0/16 dir=/tmp/duo-files mode=iptables",
		},
		"machines, direct routes": {
			"kubelet-expired":  "node=m-0 peer= cert=kubelet-m-0 cp=m-0",
			"clock-skew":       "node=m-1 peer= ahead=3 days cert=kubelet-m-1",
			"kubelet-dns":      "node=m-0 peer= want=10.32.0.10 wrong=10.96.0.10",
			"encryption-key":   "lab encryption-key needs 2 control-plane nodes (one API server differs from the others); cluster lab has 1",
			"etcd-quorum":      "lab etcd-quorum needs 3 control-plane nodes (two members lost, one left); cluster lab has 1",
			"build-kubeconfig": "node=m-1 peer= dir=/tmp/lab-m-1 " + pkiDir + " server=https://192.168.50.10:6443 user=system:node:m-1",
			"build-kube-proxy": "node=m-1 peer= cidr=10.200.0.0/16 dir=/tmp/lab-files mode=iptables",
		},
		"one node": {
			"kubelet-expired":  "node=solo peer= cert=kubelet-solo cp=solo",
			"clock-skew":       "node=solo peer= ahead=3 days cert=kubelet-solo",
			"kubelet-dns":      "node=solo peer= want=10.32.0.10 wrong=10.96.0.10",
			"encryption-key":   "lab encryption-key needs 2 control-plane nodes (one API server differs from the others); cluster solo has 1",
			"etcd-quorum":      "lab etcd-quorum needs 3 control-plane nodes (two members lost, one left); cluster solo has 1",
			"build-kubeconfig": "node=solo peer= dir=/tmp/solo-solo " + pkiDir + " server=https://10.240.0.10:6443 user=system:node:solo",
			"build-kube-proxy": "node=solo peer= cidr=10.200.0.0/16 dir=/tmp/solo-files mode=iptables",
		},
	}
}

// TestWrongDNS: the wrong address is never the cluster's own and never in
// its Service range.
func TestWrongDNS(t *testing.T) {
	for doc, want := range map[string]string{
		"": "10.96.0.10",
		"network:\n  serviceCIDR: 10.96.0.0/12\n  clusterDNS: 10.96.0.10\n": "192.0.2.53",
	} {
		if got := wrongDNS(cluster(t, doc)); got != want {
			t.Errorf("%q: %s, want %s", doc, got, want)
		}
	}
}

// TestUnitProblems: a unit not enabled, not running, or running since
// before its file was written is named with the command that fixes it.
func TestUnitProblems(t *testing.T) {
	at := func(s string) int64 { v, _ := time.Parse(time.DateTime, "2026-12-03 "+s); return v.Unix() }
	for _, tt := range []struct {
		s    unitState
		want []string
	}{
		{unitState{Active: "active", Enabled: "enabled", Started: at("10:00:05"), Written: at("10:00:00")}, nil},
		{unitState{Active: "inactive", Enabled: "disabled"}, []string{
			"n: unit kubelet is disabled, not enabled: it would not start at boot (systemctl enable kubelet)",
			"n: unit kubelet is inactive: start it (systemctl restart kubelet)"}},
		{unitState{Active: "active", Enabled: "enabled", Started: at("09:00:00"), Written: at("10:00:00")}, []string{
			"n: kubelet has run since 09:00:00, before F was written at 10:00:00: it reads the file only at start (systemctl restart kubelet)"}},
	} {
		if got := unitProblems("n", "kubelet", "F", tt.s); !slices.Equal(got, tt.want) {
			t.Errorf("%+v:\n%q\nwant\n%q", tt.s, got, tt.want)
		}
	}
}

// TestKubeletClientProblems: build-kubeconfig's check names each
// mistake a learner makes with openssl and kubectl config.
func TestKubeletClientProblems(t *testing.T) {
	tp := testPKI(t)
	c, dir, now, set := tp.c, tp.dir, tp.now, tp.set
	ca, _ := set.Get(pki.CA)
	etcd, _ := set.Get(pki.EtcdCA)
	good, _ := set.Get(pki.KubeletName("node-2"))
	other, _ := set.Get(pki.KubeletName("node-1"))
	proxy, _ := set.Get(pki.KubeProxy)
	expired, err := pki.IssueWindow(dir, c, pki.KubeletName("node-2"), now.Add(-48*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	server := c.NodeAPIServerURL()
	kc := func(server string, caPEM, cert, key []byte) []byte {
		return testKubeconfig(t, &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}, &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key})
	}
	for _, tt := range []struct {
		name string
		data []byte
		want []string
	}{
		{"right", kc(server, ca.CertPEM, good.CertPEM, good.KeyPEM), nil},
		{"another node's", kc(server, ca.CertPEM, other.CertPEM, other.KeyPEM), []string{`the client certificate's CN is "system:node:node-1"`}},
		{"no group", kc(server, ca.CertPEM, proxy.CertPEM, proxy.KeyPEM), []string{`CN is "system:kube-proxy"`, `groups (O) are ["system:node-proxier"]; it must be in system:nodes`}},
		{"wrong server and CA", kc("https://10.240.0.10:6443", etcd.CertPEM, good.CertPEM, good.KeyPEM), []string{`names the server "https://10.240.0.10:6443"; the kubelets talk to https://10.240.0.2:6443`, "trusts another CA than the cluster CA"}},
		{"key of another", kc(server, ca.CertPEM, good.CertPEM, other.KeyPEM), []string{"the client key does not go with the certificate"}},
		{"expired", kc(server, ca.CertPEM, expired.CertPEM, expired.KeyPEM), []string{"the client certificate expired on "}},
		{"signed by etcd's CA", kc(server, ca.CertPEM, mustEtcdSigned(t, dir, c), good.KeyPEM), []string{`signed by "etcd-ca", not by the cluster CA`}},
		{"not a kubeconfig", []byte("hello: [\n"), []string{"is no kubeconfig"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := kubeletClientProblems("node-2", server, ca.Cert, tt.data, now)
			if len(tt.want) == 0 && len(got) > 0 {
				t.Errorf("a right kubeconfig: %q", got)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("lacks %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// mustEtcdSigned is an etcd client certificate: signed by the etcd CA.
func mustEtcdSigned(t *testing.T, dir string, c *config.Cluster) []byte {
	t.Helper()
	p, err := pki.IssueWindow(dir, c, pki.APIServerEtcdClient, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.Cert.Issuer.CommonName == "" {
		t.Fatal("no issuer")
	}
	_ = x509.ExtKeyUsageClientAuth
	return p.CertPEM
}

// TestKubeProxyProblems: build-kube-proxy's check against the rendered file
// and against common mistakes.
func TestKubeProxyProblems(t *testing.T) {
	c := config.Default()
	good := "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig\n" +
		"hostnameOverride: node-2\nmode: iptables\nclusterCIDR: 10.200.0.0/16\nconntrack:\n  maxPerCore: 0\n"
	if got := kubeProxyProblems("node-2", c, []byte(good)); len(got) != 0 {
		t.Errorf("the right file: %q", got)
	}
	bad := strings.NewReplacer("mode: iptables", "mode: ipvs", "  maxPerCore: 0\n", "", "10.200.0.0/16", "10.32.0.0/24").Replace(good)
	want := []string{
		`node-2:/var/lib/kube-proxy/kube-proxy-config.yaml: mode is "ipvs", want "iptables" (network.kubeProxyMode)`,
		`node-2:/var/lib/kube-proxy/kube-proxy-config.yaml: clusterCIDR is "10.32.0.0/24", want "10.200.0.0/16" (the pod range; traffic from outside it to a Service is masqueraded)`,
		"node-2:/var/lib/kube-proxy/kube-proxy-config.yaml: conntrack.maxPerCore must be 0: otherwise kube-proxy sets the machine-wide nf_conntrack_max, which a container node cannot",
	}
	if got := kubeProxyProblems("node-2", c, []byte(bad)); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testKubeconfig is a kubeconfig of one cluster and one user, as the
// build-kubeconfig and kubelet-expired labs' checks read them.
func testKubeconfig(t *testing.T, cl *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = cl
	cfg.AuthInfos["u"] = user
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "default"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testPKI is the default config and its PKI, issued into dir at now.
type testPKIEnv struct {
	c   *config.Cluster
	dir string
	now time.Time
	set *pki.Set
}

func testPKI(t *testing.T) testPKIEnv {
	t.Helper()
	e := testPKIEnv{c: config.Default(), dir: filepath.Join(t.TempDir(), "pki"), now: time.Now()}
	set, _, err := pki.Ensure(e.dir, e.c, func() time.Time { return e.now })
	if err != nil {
		t.Fatal(err)
	}
	e.set = set
	return e
}
