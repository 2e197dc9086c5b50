package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// cluster3 is the default cluster: three nodes, each control plane and
// worker, behind a load balancer at 10.240.0.2.
func cluster3() *config.Cluster { return config.Default() }

func ensure(t *testing.T, dir string, c *config.Cluster, now time.Time) (*Set, map[string]Change) {
	t.Helper()
	set, changes, err := Ensure(dir, c, at(now))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	byName := map[string]Change{}
	for _, ch := range changes {
		byName[ch.Name] = ch
	}
	return set, byName
}

func pair(t *testing.T, s *Set, name string) Pair {
	t.Helper()
	p, ok := s.Get(name)
	if !ok {
		t.Fatalf("set has no %s", name)
	}
	return p
}

func TestSpecsExpandPerNode(t *testing.T) {
	one := config.Default()
	one.Nodes = []config.Node{{Name: "solo", IP: "10.240.0.10", Roles: []string{config.RoleControlPlane, config.RoleWorker}}}
	split := config.Default()
	split.Nodes = []config.Node{
		{Name: "cp", IP: "10.240.0.10", Roles: []string{config.RoleControlPlane}},
		{Name: "w1", IP: "10.240.0.11", Roles: []string{config.RoleWorker}},
		{Name: "w2", IP: "10.240.0.12", Roles: []string{config.RoleWorker}},
	}
	common := []string{"admin", "apiserver-etcd-client", "apiserver-kubelet-client", "ca", "etcd-ca", "etcd-healthcheck-client", "front-proxy-ca", "front-proxy-client",
		"kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "service-account", "super-admin"}
	// The gateway add-on's CA and certificate exist only while it is on.
	gw := []string{GatewayCA, GatewayServer}
	// The gateway is in the default set; without it, its pair is not.
	noGateway := config.Default()
	noGateway.Nodes = one.Nodes
	noGateway.Addons = []string{config.AddonMetalLB, config.AddonNetpol}
	tests := []struct {
		name string
		c    *config.Cluster
		want []string
	}{
		{"default", cluster3(), append(slices.Concat(common, gw),
			"etcd-peer-node-0", "etcd-peer-node-1", "etcd-peer-node-2", "etcd-server-node-0", "etcd-server-node-1", "etcd-server-node-2",
			"kubelet-node-0", "kubelet-node-1", "kubelet-node-2")},
		{"single node", one, append(slices.Concat(common, gw), "etcd-peer-solo", "etcd-server-solo", "kubelet-solo")},
		{"split roles", split, append(slices.Concat(common, gw), "etcd-peer-cp", "etcd-server-cp", "kubelet-w1", "kubelet-w2")},
		{"gateway off", noGateway, append(slices.Clone(common), "etcd-peer-solo", "etcd-server-solo", "kubelet-solo")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			seen := map[string]bool{}
			for _, s := range Specs(tt.c) {
				if s.CA != "" && !seen[s.CA] {
					t.Errorf("%s comes before its CA %s", s.Name, s.CA)
				}
				if s.UsedBy == "" {
					t.Errorf("%s has no UsedBy", s.Name)
				}
				seen[s.Name] = true
				got = append(got, s.Name)
			}
			slices.Sort(got)
			slices.Sort(tt.want)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Specs names\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestEnsureIdentities checks every entry of the default cluster against an
// expectation written out independently of the table.
func TestEnsureIdentities(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	c := cluster3()
	set, changes := ensure(t, dir, c, t0)
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name, ca, cn string
		org          []string
		uses         []x509.ExtKeyUsage
		dns          []string
		ips          []string
	}{
		// Revocable: RBAC binds the group; only the break-glass identity
		// is in system:masters.
		{name: "admin", ca: "ca", cn: "admin", org: []string{"hardway:cluster-admins"}, uses: client},
		{name: "super-admin", ca: "ca", cn: "super-admin", org: []string{"system:masters"}, uses: client},
		{name: "kubelet-node-1", ca: "ca", cn: "system:node:node-1", org: []string{"system:nodes"}, uses: both,
			dns: []string{"node-1"}, ips: []string{"10.240.0.11"}},
		{name: "kube-controller-manager", ca: "ca", cn: "system:kube-controller-manager", uses: client},
		{name: "kube-scheduler", ca: "ca", cn: "system:kube-scheduler", uses: client},
		{name: "kube-proxy", ca: "ca", cn: "system:kube-proxy", org: []string{"system:node-proxier"}, uses: client},
		{name: "kube-apiserver", ca: "ca", cn: "kube-apiserver", uses: server,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
				"localhost", "node-0", "node-1", "node-2"},
			ips: []string{"10.32.0.1", "127.0.0.1", "10.240.0.10", "10.240.0.11", "10.240.0.12", "10.240.0.2"}},
		{name: "apiserver-kubelet-client", ca: "ca", cn: "kube-apiserver-kubelet-client", uses: client},
		{name: "apiserver-etcd-client", ca: "etcd-ca", cn: "kube-apiserver-etcd-client", uses: client},
		{name: "etcd-healthcheck-client", ca: "etcd-ca", cn: "kube-etcd-healthcheck-client", uses: client},
		{name: "etcd-server-node-2", ca: "etcd-ca", cn: "node-2", uses: both,
			dns: []string{"node-2", "localhost"}, ips: []string{"10.240.0.12", "127.0.0.1"}},
		{name: "etcd-peer-node-0", ca: "etcd-ca", cn: "node-0", uses: both,
			dns: []string{"node-0", "localhost"}, ips: []string{"10.240.0.10", "127.0.0.1"}},
		{name: "front-proxy-client", ca: "front-proxy-ca", cn: "front-proxy-client", uses: client},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ch := changes[tt.name]; ch.Action != Created {
				t.Errorf("first Ensure: %s %s, want created", tt.name, ch.Action)
			}
			cert := pair(t, set, tt.name).Cert
			ca := pair(t, set, tt.ca).Cert
			if cert.Subject.CommonName != tt.cn {
				t.Errorf("CN %q, want %q", cert.Subject.CommonName, tt.cn)
			}
			if !slices.Equal(cert.Subject.Organization, tt.org) {
				t.Errorf("O %q, want %q", cert.Subject.Organization, tt.org)
			}
			if !sameSet(cert.DNSNames, tt.dns) || len(cert.DNSNames) != len(tt.dns) {
				t.Errorf("DNS SANs %q, want exactly %q", cert.DNSNames, tt.dns)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !sameSet(ips, tt.ips) || len(ips) != len(tt.ips) {
				t.Errorf("IP SANs %q, want exactly %q", ips, tt.ips)
			}
			if cert.IsCA {
				t.Error("leaf is a CA")
			}
			if !cert.NotAfter.Equal(t0.Add(c.PKI.CertValidity.Duration).Truncate(time.Second)) {
				t.Errorf("NotAfter %s, want now+certValidity", cert.NotAfter)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, u := range tt.uses {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}, CurrentTime: t0}); err != nil {
					t.Errorf("verify for usage %v: %v", u, err)
				}
			}
			for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if !slices.Contains(tt.uses, u) {
					if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}, CurrentTime: t0}); err == nil {
						t.Errorf("verifies for usage %v it must not have", u)
					}
				}
			}
			// No certificate verifies against another CA: above all, nothing
			// the cluster CA signed (a kubelet's) opens etcd.
			for _, other := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
				if other == tt.ca {
					continue
				}
				wrong := x509.NewCertPool()
				wrong.AddCert(pair(t, set, other).Cert)
				if _, err := cert.Verify(x509.VerifyOptions{Roots: wrong, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: t0}); err == nil {
					t.Errorf("verifies against %s too", other)
				}
			}
			if _, ok := pair(t, set, tt.name).Cert.PublicKey.(*ecdsa.PublicKey); !ok {
				t.Errorf("key is %T, want ECDSA by default", cert.PublicKey)
			}
		})
	}
	for _, name := range []string{"ca", "front-proxy-ca"} {
		ca := pair(t, set, name).Cert
		if !ca.IsCA || ca.CheckSignatureFrom(ca) != nil {
			t.Errorf("%s is not a self-signed CA", name)
		}
		if !ca.NotAfter.Equal(t0.Add(c.PKI.CAValidity.Duration).Truncate(time.Second)) {
			t.Errorf("%s NotAfter %s, want now+caValidity", name, ca.NotAfter)
		}
	}
	sa := pair(t, set, ServiceAccount)
	if sa.Cert != nil || !strings.Contains(string(sa.CertPEM), "PUBLIC KEY") {
		t.Errorf("service-account: want a bare PEM public key, got cert=%v pem=%q", sa.Cert != nil, sa.CertPEM)
	}
}

func TestAPIServerSANsPerTopology(t *testing.T) {
	one := config.Default()
	one.Nodes = []config.Node{{Name: "solo", IP: "10.240.0.10", Roles: []string{config.RoleControlPlane, config.RoleWorker}}}
	one.Network.LoadBalancerIP = "" // Default() filled it for its three nodes
	oneLB := config.Default()
	oneLB.Nodes = one.Nodes
	oneLB.Network.LoadBalancerIP = "10.240.0.5"
	oneLB.Network.ServiceCIDR, oneLB.Network.ClusterDomain = "10.96.0.0/16", "example.test"
	base := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"}
	tests := []struct {
		name     string
		c        *config.Cluster
		dns, ips []string
	}{
		{"three nodes with LB", cluster3(),
			append(slices.Clone(base), "kubernetes.default.svc.cluster.local", "node-0", "node-1", "node-2"),
			[]string{"10.32.0.1", "127.0.0.1", "10.240.0.10", "10.240.0.11", "10.240.0.12", "10.240.0.2"}},
		{"single node, no LB", one,
			append(slices.Clone(base), "kubernetes.default.svc.cluster.local", "solo"),
			[]string{"10.32.0.1", "127.0.0.1", "10.240.0.10"}},
		{"single node, LB, other service CIDR and domain", oneLB,
			append(slices.Clone(base), "kubernetes.default.svc.example.test", "solo"),
			[]string{"10.96.0.1", "127.0.0.1", "10.240.0.10", "10.240.0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec Spec
			for _, s := range Specs(tt.c) {
				if s.Name == APIServer {
					spec = s
				}
			}
			got := spec.AltNames(tt.c)
			if !sameSet(got.DNSNames, tt.dns) || len(got.DNSNames) != len(tt.dns) {
				t.Errorf("DNS %q, want %q", got.DNSNames, tt.dns)
			}
			if !sameSet(got.IPs, tt.ips) || len(got.IPs) != len(tt.ips) {
				t.Errorf("IPs %q, want %q", got.IPs, tt.ips)
			}
		})
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	c := cluster3()
	ensure(t, dir, c, t0)
	check := func(path string, want os.FileMode) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(path), st.Mode().Perm(), want)
		}
	}
	check(dir, 0o700)
	for _, s := range Specs(c) {
		check(CertPath(dir, s.Name), 0o644)
		check(KeyPath(dir, s.Name), 0o600)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2*len(Specs(c)) {
		t.Errorf("%d files in the PKI dir, want %d (leftover temp files?)", len(entries), 2*len(Specs(c)))
	}

	// A kept file whose mode drifted is tightened again.
	if err := os.Chmod(KeyPath(dir, Admin), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, changes := ensure(t, dir, c, t0)
	if changes[Admin].Action != Kept {
		t.Errorf("admin %s, want kept", changes[Admin].Action)
	}
	check(KeyPath(dir, Admin), 0o600)
	check(dir, 0o700)
}

// TestEnsureReuseAndReissue runs Ensure twice with something changed in
// between and checks which entries were kept (same serial) and which not.
func TestEnsureReuseAndReissue(t *testing.T) {
	cpNodeLeaves := func(n string) []string { return []string{KubeletName(n), EtcdServerName(n), EtcdPeerName(n)} }
	life := config.Default().PKI.CertValidity.Duration
	tests := []struct {
		name string
		// change alters the config, the files or the clock before the 2nd run.
		change       func(t *testing.T, dir string, c *config.Cluster) time.Time
		created      []string
		reissued     []string
		repaired     []string
		reasonSubstr string // in the reason of every reissued entry
	}{
		{name: "nothing changed",
			change: func(*testing.T, string, *config.Cluster) time.Time { return t0.Add(time.Hour) }},
		{name: "node IP changed",
			change: func(_ *testing.T, _ string, c *config.Cluster) time.Time {
				c.Nodes[1].IP = "10.240.0.21"
				return t0
			},
			reissued: append(cpNodeLeaves("node-1"), APIServer), reasonSubstr: "10.240.0.21"},
		{name: "worker node added",
			change: func(_ *testing.T, _ string, c *config.Cluster) time.Time {
				c.Nodes = append(c.Nodes, config.Node{Name: "node-3", IP: "10.240.0.13", Roles: []string{config.RoleWorker}})
				return t0
			},
			created: []string{KubeletName("node-3")}},
		{name: "control-plane node added",
			change: func(_ *testing.T, _ string, c *config.Cluster) time.Time {
				c.Nodes = append(c.Nodes, config.Node{Name: "node-3", IP: "10.240.0.13", Roles: []string{config.RoleControlPlane, config.RoleWorker}})
				return t0
			},
			created: cpNodeLeaves("node-3"), reissued: []string{APIServer}, reasonSubstr: "node-3"},
		{name: "load balancer moved",
			change: func(_ *testing.T, _ string, c *config.Cluster) time.Time {
				c.Network.LoadBalancerIP = "10.240.0.3"
				return t0
			},
			reissued: []string{APIServer}, reasonSubstr: "+10.240.0.3 -10.240.0.2"},
		{name: "less than 10% of lifetime left",
			change:   func(*testing.T, string, *config.Cluster) time.Time { return t0.Add(life * 95 / 100) },
			reissued: leavesOf(cluster3()), reasonSubstr: "lifetime left"},
		{name: "90% of lifetime left is fine",
			change: func(*testing.T, string, *config.Cluster) time.Time { return t0.Add(life * 80 / 100) }},
		{name: "expired",
			change:   func(*testing.T, string, *config.Cluster) time.Time { return t0.Add(life + time.Hour) },
			reissued: leavesOf(cluster3()), reasonSubstr: "expired"},
		{name: "clock went back before NotBefore",
			change:   func(*testing.T, string, *config.Cluster) time.Time { return t0.Add(-time.Hour) },
			reissued: leavesOf(cluster3()), reasonSubstr: "not valid before"},
		{name: "corrupt leaf certificate",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				writeT(t, CertPath(dir, Scheduler), "garbage")
				return t0
			},
			reissued: []string{Scheduler}, reasonSubstr: "unreadable"},
		{name: "leaf key missing",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				removeT(t, KeyPath(dir, Admin))
				return t0
			},
			reissued: []string{Admin}, reasonSubstr: "key file missing"},
		{name: "leaf key swapped with another's",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				data, err := os.ReadFile(KeyPath(dir, Scheduler))
				if err != nil {
					t.Fatal(err)
				}
				writeT(t, KeyPath(dir, Admin), string(data))
				return t0
			},
			reissued: []string{Admin}, reasonSubstr: "does not belong"},
		{name: "CA deleted: everything it signed is reissued",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				removeT(t, CertPath(dir, CA))
				removeT(t, KeyPath(dir, CA))
				return t0
			},
			created:  []string{CA},
			reissued: leavesSignedBy(cluster3(), CA), reasonSubstr: "current CA"},
		{name: "service-account public key missing",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				removeT(t, CertPath(dir, ServiceAccount))
				return t0
			},
			repaired: []string{ServiceAccount}},
		{name: "service-account key corrupt",
			change: func(t *testing.T, dir string, _ *config.Cluster) time.Time {
				writeT(t, KeyPath(dir, ServiceAccount), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
				return t0
			},
			reissued: []string{ServiceAccount}, reasonSubstr: "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := cluster3()
			before, _ := ensure(t, dir, c, t0)
			now := tt.change(t, dir, c)
			after, changes := ensure(t, dir, c, now)

			want := map[string]Action{}
			for _, n := range tt.created {
				want[n] = Created
			}
			for _, n := range tt.reissued {
				want[n] = Reissued
			}
			for _, n := range tt.repaired {
				want[n] = Repaired
			}
			for _, s := range Specs(c) {
				ch := changes[s.Name]
				w, ok := want[s.Name]
				if !ok {
					w = Kept
				}
				if ch.Action != w {
					t.Errorf("%s: %s (%s), want %s", s.Name, ch.Action, ch.Reason, w)
					continue
				}
				if w == Reissued && !strings.Contains(ch.Reason, tt.reasonSubstr) {
					t.Errorf("%s: reason %q does not mention %q", s.Name, ch.Reason, tt.reasonSubstr)
				}
				a := pair(t, after, s.Name)
				onDisk, err := os.ReadFile(CertPath(dir, s.Name))
				if err != nil || string(onDisk) != string(a.CertPEM) {
					t.Errorf("%s: returned PEM differs from the file on disk", s.Name)
				}
				b, existed := before.Get(s.Name)
				if !existed || s.Usage == UsageKeyPair {
					continue
				}
				same := a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0
				if same != (w == Kept) {
					t.Errorf("%s: %s but same serial = %v", s.Name, w, same)
				}
				if w != Kept && s.CA != "" {
					if err := a.Cert.CheckSignatureFrom(pair(t, after, s.CA).Cert); err != nil {
						t.Errorf("%s: reissued cert not signed by current %s: %v", s.Name, s.CA, err)
					}
				}
			}
		})
	}
}

func leavesSignedBy(c *config.Cluster, ca string) []string {
	var out []string
	for _, s := range Specs(c) {
		if s.CA == ca && s.Usage != UsageKeyPair {
			out = append(out, s.Name)
		}
	}
	return out
}

func leavesOf(c *config.Cluster) []string {
	var out []string
	for _, s := range Specs(c) {
		if !s.IsCA() && s.Usage != UsageKeyPair {
			out = append(out, s.Name)
		}
	}
	return out
}

func writeT(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeT(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureRefusesToReplaceCA(t *testing.T) {
	tests := []struct {
		name   string
		breakf func(t *testing.T, dir string)
		now    time.Time
		want   []string
	}{
		{"corrupt CA key", func(t *testing.T, dir string) { writeT(t, KeyPath(dir, CA), "not pem") }, t0,
			[]string{"ca-key.pem", "unreadable", "delete"}},
		{"corrupt CA cert", func(t *testing.T, dir string) { writeT(t, CertPath(dir, FrontProxyCA), "not pem") }, t0,
			[]string{"front-proxy-ca.pem", "unreadable", "delete"}},
		{"CA key missing", func(t *testing.T, dir string) { removeT(t, KeyPath(dir, CA)) }, t0,
			[]string{"ca-key.pem", "missing", "delete"}},
		{"CA cert missing", func(t *testing.T, dir string) { removeT(t, CertPath(dir, CA)) }, t0,
			[]string{"ca.pem", "missing", "delete"}},
		{"CA key of another CA", func(t *testing.T, dir string) {
			data, err := os.ReadFile(KeyPath(dir, FrontProxyCA))
			if err != nil {
				t.Fatal(err)
			}
			writeT(t, KeyPath(dir, CA), string(data))
		}, t0, []string{"does not belong", "delete"}},
		{"CA expired", func(*testing.T, string) {}, t0.Add(11 * 365 * 24 * time.Hour),
			[]string{"ca.pem expired", "delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := cluster3()
			ensure(t, dir, c, t0)
			tt.breakf(t, dir)
			before := readDir(t, dir)
			_, _, err := Ensure(dir, c, at(tt.now))
			if err == nil {
				t.Fatal("Ensure succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if after := readDir(t, dir); !mapsEqual(before, after) {
				t.Error("a failed Ensure changed files")
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRSA drives the ensurer on two entries only: RSA keys are slow to make.
func TestRSA(t *testing.T) {
	c := cluster3()
	c.PKI.KeyAlgorithm = config.KeyRSA
	dir := t.TempDir()
	var caSpec, adminSpec Spec
	for _, s := range Specs(c) {
		switch s.Name {
		case CA:
			caSpec = s
		case Admin:
			adminSpec = s
		}
	}
	e := &ensurer{dir: dir, c: c, now: t0, signers: map[string]signer{}}
	ca, _, err := e.ca(caSpec)
	if err != nil {
		t.Fatal(err)
	}
	admin, ch, err := e.leaf(adminSpec)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Action != Created {
		t.Errorf("admin %s", ch.Action)
	}
	for _, p := range []Pair{ca, admin} {
		k, ok := p.Cert.PublicKey.(*rsa.PublicKey)
		if !ok || k.N.BitLen() != 2048 {
			t.Errorf("%s: key %T, want RSA 2048", p.Name, p.Cert.PublicKey)
		}
		if _, err := parseKey(p.KeyPEM); err != nil {
			t.Errorf("%s: key PEM: %v", p.Name, err)
		}
	}
	if admin.Cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Error("RSA leaf lacks keyEncipherment")
	}
	// Same config again: kept. Back to ECDSA: the leaf is reissued, the CA is not.
	if _, ch, _ = e.leaf(adminSpec); ch.Action != Kept {
		t.Errorf("second run: admin %s (%s), want kept", ch.Action, ch.Reason)
	}
	c.PKI.KeyAlgorithm = config.KeyECDSA
	e = &ensurer{dir: dir, c: c, now: t0, signers: map[string]signer{}}
	if _, ch, err = e.ca(caSpec); err != nil || ch.Action != Kept || !strings.Contains(ch.Reason, "RSA 2048") {
		t.Errorf("CA after switching to ecdsa: %v %s (%s), want kept with a note", err, ch.Action, ch.Reason)
	}
	if _, ch, _ = e.leaf(adminSpec); ch.Action != Reissued || !strings.Contains(ch.Reason, "RSA") {
		t.Errorf("admin after switching to ecdsa: %s (%s), want reissued", ch.Action, ch.Reason)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	c := cluster3()
	if _, err := Load(dir, c); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Load of an empty dir: %v, want a missing-file error", err)
	}
	set, _ := ensure(t, dir, c, t0)
	loaded, err := Load(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded.Names(), set.Names()) {
		t.Errorf("names %v, want %v", loaded.Names(), set.Names())
	}
	for _, n := range set.Names() {
		a, b := pair(t, set, n), pair(t, loaded, n)
		if string(a.CertPEM) != string(b.CertPEM) || string(a.KeyPEM) != string(b.KeyPEM) || (a.Cert == nil) != (b.Cert == nil) {
			t.Errorf("%s: loaded pair differs from the ensured one", n)
		}
	}
	writeT(t, CertPath(dir, Admin), "junk")
	if _, err := Load(dir, c); err == nil || !strings.Contains(err.Error(), "admin.pem") {
		t.Errorf("Load with a corrupt admin.pem: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	set, _ := ensure(t, t.TempDir(), cluster3(), t0)
	tests := []struct {
		name   string
		want   Info
		usages []string
	}{
		{KubeletName("node-0"), Info{CommonName: "system:node:node-0", Organization: []string{"system:nodes"}, Issuer: "kubernetes-ca",
			DNSNames: []string{"node-0"}, IPs: []string{"10.240.0.10"}, KeyAlgorithm: "ECDSA P-256"}, []string{"server", "client"}},
		{CA, Info{CommonName: "kubernetes-ca", Issuer: "kubernetes-ca", KeyAlgorithm: "ECDSA P-256"}, []string{"ca"}},
		{FrontProxyClient, Info{CommonName: "front-proxy-client", Issuer: "front-proxy-ca", KeyAlgorithm: "ECDSA P-256"}, []string{"client"}},
		{ServiceAccount, Info{KeyAlgorithm: "ECDSA P-256", KeyOnly: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Describe(pair(t, set, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Name != tt.name || got.CommonName != w.CommonName || got.Issuer != w.Issuer || got.KeyAlgorithm != w.KeyAlgorithm ||
				got.KeyOnly != w.KeyOnly || !slices.Equal(got.Organization, w.Organization) || !slices.Equal(got.DNSNames, w.DNSNames) ||
				!slices.Equal(got.IPs, w.IPs) || !slices.Equal(got.Usages, tt.usages) {
				t.Errorf("Describe = %+v, want %+v usages %v", got, w, tt.usages)
			}
			if !w.KeyOnly && (got.NotAfter.IsZero() || got.Serial == "") {
				t.Errorf("no NotAfter/serial: %+v", got)
			}
		})
	}
	if _, err := Describe(Pair{Name: "x", CertPEM: []byte("junk")}); err == nil {
		t.Error("Describe of junk succeeded")
	}
}

// TestOpenSSLVerify: the "done when" is that openssl accepts the
// certificates, for the purpose each one is for.
func TestOpenSSLVerify(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl cross-checks every certificate and is not on PATH: install it (apt-get install openssl; hack/setup-host.sh does)")
	}
	dir := t.TempDir()
	c := cluster3()
	// openssl checks validity against the real clock.
	if _, _, err := Ensure(dir, c, time.Now); err != nil {
		t.Fatal(err)
	}
	purposes := map[Usage][]string{
		UsageServer: {"sslserver"}, UsageClient: {"sslclient"}, UsageServerClient: {"sslserver", "sslclient"}, UsageCA: {"any"},
	}
	for _, s := range Specs(c) {
		if s.Usage == UsageKeyPair {
			continue
		}
		ca := s.CA
		if ca == "" {
			ca = s.Name
		}
		for _, p := range purposes[s.Usage] {
			t.Run(s.Name+"/"+p, func(t *testing.T) {
				cmd := exec.Command(openssl, "verify", "-purpose", p, "-CAfile", CertPath(dir, ca), CertPath(dir, s.Name))
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), ": OK") {
					t.Errorf("openssl verify: %v\n%s", err, out)
				}
			})
		}
		if s.Usage == UsageClient {
			t.Run(s.Name+"/not-sslserver", func(t *testing.T) {
				out, err := exec.Command(openssl, "verify", "-purpose", "sslserver", "-CAfile", CertPath(dir, ca), CertPath(dir, s.Name)).CombinedOutput()
				if err == nil {
					t.Errorf("openssl accepts a client-only cert as a server cert:\n%s", out)
				}
			})
		}
	}
	// A key and its certificate must match for the components to load them.
	for _, name := range []string{Admin, APIServer, KubeletName("node-0")} {
		pub1, err1 := exec.Command(openssl, "x509", "-noout", "-pubkey", "-in", CertPath(dir, name)).Output()
		pub2, err2 := exec.Command(openssl, "pkey", "-pubout", "-in", KeyPath(dir, name)).Output()
		if err1 != nil || err2 != nil || string(pub1) != string(pub2) {
			t.Errorf("%s: openssl sees a key that does not match the cert (%v, %v)", name, err1, err2)
		}
	}
}
