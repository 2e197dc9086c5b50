package steps

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

func TestSelect(t *testing.T) {
	all := All()
	tests := []struct {
		from, only string
		want       []string
		wantErr    string
	}{
		{want: Names(all)},
		{from: "etcd", want: []string{"etcd", "control-plane", "workers", "network", "dns", "metallb", "netpol", "gateway", "argocd", "verify"}},
		{only: "pki", want: []string{"pki"}},
		{from: "etcd", only: "pki", wantErr: "exclude each other"},
		{only: "nope", wantErr: `no step "nope"; the steps are: check, nodes, pki`},
	}
	for _, tt := range tests {
		got, err := Select(all, tt.from, tt.only)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Select(%q,%q) error %v, want %q", tt.from, tt.only, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(Names(got), tt.want) {
			t.Errorf("Select(%q,%q) = %q, %v; want %q", tt.from, tt.only, Names(got), err, tt.want)
		}
	}
}

func TestStepOrderMatchesTheTutorial(t *testing.T) {
	want := []string{"check", "nodes", "pki", "kubeconfigs", "encryption", "etcd", "control-plane", "workers", "network", "dns", "metallb", "netpol", "gateway", "argocd", "verify"}
	if got := Names(All()); !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %q, want %q", got, want)
	}
	for _, s := range All() {
		if s.Title == "" || s.Explain == nil || s.Run == nil {
			t.Errorf("step %s lacks a title, an explanation or a Run", s.Name)
		}
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		out  string
		want []string
	}{
		{"Server:\t\t10.32.0.10\nAddress:\t10.32.0.10:53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.32.0.1\n", []string{"10.32.0.1"}},
		{"Server:\t\t10.32.0.10\nAddress:\t10.32.0.10:53\n\n** server can't find x: NXDOMAIN\n", nil},
	}
	for _, tt := range tests {
		if got := answers(tt.out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("answers(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

func TestLeaseHeld(t *testing.T) {
	now := time.Now()
	holder, dur := "node-0_abc", int32(15)
	lease := func(h *string, renew time.Time) *coordinationv1.Lease {
		rt := metav1.NewMicroTime(renew)
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: h, RenewTime: &rt, LeaseDurationSeconds: &dur}}
	}
	empty := ""
	tests := []struct {
		name string
		l    *coordinationv1.Lease
		want bool
	}{
		{"fresh", lease(&holder, now.Add(-time.Second)), true},
		{"expired", lease(&holder, now.Add(-time.Minute)), false},
		{"no holder", lease(&empty, now), false},
		{"never renewed", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, false},
	}
	for _, tt := range tests {
		if got := leaseHeld(tt.l, now); got != tt.want {
			t.Errorf("%s: leaseHeld = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Every unit render can declare for a node must be converged by a step: a
// unit (and its files) that no step picks up would silently never reach the
// node.
func TestEveryRenderedUnitIsDeployed(t *testing.T) {
	roles := [][]string{
		{config.RoleControlPlane, config.RoleWorker},
		{config.RoleControlPlane},
		{config.RoleWorker},
	}
	for _, prov := range []string{config.ProviderDocker, config.ProviderSSH} {
		for _, r := range roles {
			cfg := &config.Cluster{Provider: prov, Nodes: []config.Node{
				{Name: "a", Roles: []string{config.RoleControlPlane, config.RoleWorker}}, {Name: "b", Roles: r},
				{Name: "c", Roles: []string{config.RoleControlPlane, config.RoleWorker}}}}
			if prov == config.ProviderSSH {
				cfg.Nodes[0].IP, cfg.Nodes[1].IP, cfg.Nodes[2].IP = "192.168.9.10", "192.168.9.11", "192.168.9.12"
			}
			cfg.SetDefaults()
			deployed := deployedUnits(cfg)
			if _, err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			in := render.Inputs{Cluster: cfg, PKI: dummyPKI(cfg), Kubeconfigs: dummyKubeconfigs(cfg), EncryptionConfig: []byte("enc"), CoreDNSImage: "hardway.local/coredns:test"}
			units, err := render.NodeUnits(in, cfg.Nodes[1])
			if err != nil {
				t.Fatal(err)
			}
			if len(units) < 2 {
				t.Fatalf("roles %v: only %d units rendered", r, len(units))
			}
			for _, u := range units {
				if !slices.Contains(deployed, u.Name) {
					t.Errorf("roles %v: unit %s is rendered but no step deploys it", r, u.Name)
				}
				if len(u.Files) == 0 {
					t.Errorf("unit %s has no files (not even its unit file)", u.Name)
				}
			}
		}
	}
}

func dummyPKI(c *config.Cluster) *pki.Set {
	var pairs []pki.Pair
	for _, s := range pki.Specs(c) {
		pairs = append(pairs, pki.Pair{Name: s.Name, CertPEM: []byte("cert " + s.Name), KeyPEM: []byte("key " + s.Name)})
	}
	return pki.NewSet(pairs...)
}

func dummyKubeconfigs(c *config.Cluster) map[string][]byte {
	out := map[string][]byte{}
	for _, k := range []string{"admin", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		out[k] = []byte(k)
	}
	for _, n := range c.Nodes {
		out[pki.KubeletName(n.Name)] = []byte(n.Name)
	}
	return out
}

// explain shows configs and units but never a key, a kubeconfig or the
// encryption config: the text is for the terminal and for the book.
func TestExplainHidesSecrets(t *testing.T) {
	for p, want := range map[string]bool{
		"/etc/systemd/system/kube-apiserver.service":  true,
		"/var/lib/kubelet/kubelet-config.yaml":        true,
		"/etc/containerd/config.toml":                 true,
		"/etc/kubernetes/encryption-config.yaml":      false,
		"/etc/kubernetes/kube-scheduler.kubeconfig":   false,
		"/etc/etcd/server-key.pem":                    false,
		"/var/lib/kubelet/kubeconfig":                 false,
		"/etc/kubernetes/pki/service-account-key.pem": false,
	} {
		if got := showable(p); got != want {
			t.Errorf("showable(%s) = %v, want %v", p, got, want)
		}
	}
}

// Waits on emulated nodes are bounded Slowdown times longer; native ones as
// written.
func TestBound(t *testing.T) {
	for _, tt := range []struct {
		slowdown int
		want     time.Duration
	}{{0, time.Minute}, {1, time.Minute}, {5, 5 * time.Minute}} {
		c := &Cluster{Slowdown: tt.slowdown}
		if got := c.Bound(time.Minute); got != tt.want {
			t.Errorf("Slowdown %d: Bound(1m) = %s, want %s", tt.slowdown, got, tt.want)
		}
	}
}
