package kubeconfig

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

func now() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

func ensurePKI(t *testing.T, dir string, c *config.Cluster) *pki.Set {
	t.Helper()
	set, _, err := pki.Ensure(dir, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestBuild(t *testing.T) {
	c := config.Default() // three nodes behind 10.240.0.2
	set := ensurePKI(t, t.TempDir(), c)
	files, err := Build(c, set)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := set.Get(pki.CA)
	const lb, local = "https://10.240.0.2:6443", "https://127.0.0.1:6443"
	// Kubelets name the pair they rotate by file (cn empty): the
	// kubelet's own rotated certificate is what it must renew with.
	tests := []struct {
		key, server, user, context, cn string
	}{
		{"admin", lb, "admin", "hardway", "admin"},
		{"super-admin", lb, "super-admin", "hardway", "super-admin"},
		{"kube-proxy", lb, "system:kube-proxy", "default", "system:kube-proxy"},
		{"kube-controller-manager", local, "system:kube-controller-manager", "default", "system:kube-controller-manager"},
		{"kube-scheduler", local, "system:kube-scheduler", "default", "system:kube-scheduler"},
		{"kubelet-node-0", lb, "system:node:node-0", "default", ""},
		{"kubelet-node-2", lb, "system:node:node-2", "default", ""},
	}
	if len(files) != 8 {
		t.Errorf("Build made %d kubeconfigs, want 8 (5 + one per worker)", len(files))
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			cfg, err := clientcmd.Load(files[tt.key])
			if err != nil {
				t.Fatalf("clientcmd.Load: %v", err)
			}
			if cfg.CurrentContext != tt.context {
				t.Errorf("current-context %q, want %q", cfg.CurrentContext, tt.context)
			}
			ctx := cfg.Contexts[tt.context]
			if ctx == nil || ctx.Cluster != "hardway" || ctx.AuthInfo != tt.user {
				t.Fatalf("context %+v, want cluster hardway user %s", ctx, tt.user)
			}
			cl := cfg.Clusters["hardway"]
			if cl.Server != tt.server {
				t.Errorf("server %s, want %s", cl.Server, tt.server)
			}
			if string(cl.CertificateAuthorityData) != string(ca.CertPEM) {
				t.Error("certificate-authority-data is not the cluster CA")
			}
			u := cfg.AuthInfos[tt.user]
			if tt.cn == "" {
				if u.ClientCertificate != render.KubeletClientCurrent || u.ClientKey != render.KubeletClientCurrent || len(u.ClientCertificateData) > 0 || len(u.ClientKeyData) > 0 {
					t.Errorf("kubelet user %+v, want client-certificate and client-key %s and nothing embedded", u, render.KubeletClientCurrent)
				}
				// client-go refuses it here: it reads the named file
				// (on the node, made before the kubelet starts by
				// render.KubeletCertsScript) when it loads the kubeconfig.
				return
			}
			b, _ := pem.Decode(u.ClientCertificateData)
			if b == nil {
				t.Fatal("no client certificate embedded")
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != tt.cn {
				t.Errorf("client cert CN %q, want %q", cert.Subject.CommonName, tt.cn)
			}
			// What client-go itself makes of the file: a usable TLS client.
			rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
			if err != nil {
				t.Fatalf("client-go rejects it: %v", err)
			}
			if rc.Host != tt.server || len(rc.TLSClientConfig.KeyData) == 0 {
				t.Errorf("rest config host %s, key embedded %v", rc.Host, len(rc.TLSClientConfig.KeyData) > 0)
			}
		})
	}

	// A single control-plane node and no load balancer: clients go to it.
	one := config.Default()
	one.Nodes = []config.Node{{Name: "solo", IP: "10.240.0.10", Roles: []string{config.RoleControlPlane, config.RoleWorker}}}
	one.Network.LoadBalancerIP = ""
	files, err = Build(one, ensurePKI(t, t.TempDir(), one))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(files["kubelet-solo"])
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters["hardway"].Server; got != "https://10.240.0.10:6443" {
		t.Errorf("single-node kubelet server %s", got)
	}
}

func TestBuildMissingCert(t *testing.T) {
	c := config.Default()
	set := ensurePKI(t, t.TempDir(), c)
	ca, _ := set.Get(pki.CA)
	tests := []struct {
		name string
		set  *pki.Set
		want string
	}{
		{"no CA", pki.NewSet(), "no CA"},
		{"no kubelet cert", pki.NewSet(ca), "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Build(c, tt.set); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEnsure(t *testing.T) {
	c := config.Default()
	pkiDir, dir := t.TempDir(), filepath.Join(t.TempDir(), "kubeconfigs")
	set := ensurePKI(t, pkiDir, c)
	all := []string{"admin", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet-node-0", "kubelet-node-1", "kubelet-node-2", "super-admin"}

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"first run writes all", func() {}, all},
		{"second run writes nothing", func() {}, nil},
		{"LB moved: only LB users change", func() {
			c.Network.LoadBalancerIP = "10.240.0.3"
			set = ensurePKI(t, pkiDir, c)
		}, []string{"admin", "kube-proxy", "kubelet-node-0", "kubelet-node-1", "kubelet-node-2", "super-admin"}},
		{"node IP changed: its kubelet cert is reissued, its kubeconfig names the file and stays", func() {
			c.Nodes[1].IP = "10.240.0.21"
			set = ensurePKI(t, pkiDir, c)
		}, nil},
		{"the admin's cert is reissued: its kubeconfig embeds it", func() {
			if err := os.Remove(pki.CertPath(pkiDir, pki.Admin)); err != nil {
				t.Fatal(err)
			}
			set = ensurePKI(t, pkiDir, c)
		}, []string{"admin"}},
		{"file deleted is rewritten", func() {
			if err := os.Remove(Path(dir, "kube-scheduler")); err != nil {
				t.Fatal(err)
			}
		}, []string{"kube-scheduler"}},
	}
	for _, st := range steps {
		st.change()
		got, err := Ensure(dir, c, set)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: changed %v, want %v", st.name, got, st.want)
		}
	}
	files, _ := Build(c, set)
	for _, k := range all {
		st, err := os.Stat(Path(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 600", k, st.Mode().Perm())
		}
		if data, _ := os.ReadFile(Path(dir, k)); string(data) != string(files[k]) {
			t.Errorf("%s: file differs from Build", k)
		}
	}
}

func TestMerge(t *testing.T) {
	c := config.Default()
	files, err := Build(c, ensurePKI(t, t.TempDir(), c))
	if err != nil {
		t.Fatal(err)
	}
	admin := files["admin"]
	other := clientcmdapi.NewConfig()
	other.Clusters["work"] = &clientcmdapi.Cluster{Server: "https://work.example:443", CertificateAuthority: "certs/work-ca.pem"}
	other.AuthInfos["me"] = &clientcmdapi.AuthInfo{Token: "secret"}
	other.Contexts["work"] = &clientcmdapi.Context{Cluster: "work", AuthInfo: "me", Namespace: "team"}
	other.CurrentContext = "work"
	stale := other.DeepCopy()
	stale.Clusters["hardway-hardway"] = &clientcmdapi.Cluster{Server: "https://old:6443"}
	stale.AuthInfos["hardway-hardway"] = &clientcmdapi.AuthInfo{Token: "old"}
	stale.Contexts["hardway-hardway"] = &clientcmdapi.Context{Cluster: "hardway-hardway", AuthInfo: "hardway-hardway", Namespace: "kept?"}
	encode := func(cfg *clientcmdapi.Config) []byte {
		b, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		existing []byte // nil: no file
		others   bool   // the "work" entries must survive
	}{
		{"file absent", nil, false},
		{"empty file", []byte{}, false},
		{"other clusters", encode(other), true},
		{"stale entry of the same name", encode(stale), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".kube", "config")
			if tt.existing != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tt.existing, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := Merge(path, admin, ContextName(c)); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %o, want 600", st.Mode().Perm())
			}
			data, _ := os.ReadFile(path)
			cfg, err := clientcmd.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			name := "hardway-hardway"
			if cfg.CurrentContext != name {
				t.Errorf("current-context %q, want %q", cfg.CurrentContext, name)
			}
			ctx := cfg.Contexts[name]
			if ctx == nil || ctx.Cluster != name || ctx.AuthInfo != name || ctx.Namespace != "" {
				t.Errorf("context %+v", ctx)
			}
			if cl := cfg.Clusters[name]; cl == nil || cl.Server != "https://10.240.0.2:6443" || len(cl.CertificateAuthorityData) == 0 {
				t.Errorf("cluster %+v", cl)
			}
			if u := cfg.AuthInfos[name]; u == nil || u.Token != "" || len(u.ClientKeyData) == 0 {
				t.Errorf("user not replaced by the admin cert: %+v", u)
			}
			wantN := 1
			if tt.others {
				wantN = 2
				if cl := cfg.Clusters["work"]; cl == nil || cl.CertificateAuthority != "certs/work-ca.pem" {
					t.Errorf("other cluster changed: %+v (relative paths must stay relative)", cl)
				}
				if u := cfg.AuthInfos["me"]; u == nil || u.Token != "secret" {
					t.Errorf("other user changed: %+v", u)
				}
				if ctx := cfg.Contexts["work"]; ctx == nil || ctx.Namespace != "team" {
					t.Errorf("other context changed: %+v", ctx)
				}
			}
			if len(cfg.Clusters) != wantN || len(cfg.AuthInfos) != wantN || len(cfg.Contexts) != wantN {
				t.Errorf("entries: %d clusters %d users %d contexts, want %d each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts), wantN)
			}
		})
	}

	t.Run("invalid file is left alone", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		junk := []byte("{not: [valid")
		if err := os.WriteFile(path, junk, 0o644); err != nil {
			t.Fatal(err)
		}
		err := Merge(path, admin, "hardway-x")
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Merge: %v, want an error naming %s", err, path)
		}
		if data, _ := os.ReadFile(path); string(data) != string(junk) {
			t.Error("invalid file was overwritten")
		}
	})
}

// A person's kubeconfig: their certificate (CN, groups, expiry), the
// cluster CA, the admin's server, a context USER@CLUSTER, mode 0600; a
// refused request writes nothing.
func TestIssueUser(t *testing.T) {
	c := config.Default()
	pkiDir := t.TempDir()
	set := ensurePKI(t, pkiDir, c)
	path := filepath.Join(t.TempDir(), "users", "jane.kubeconfig")
	cert, err := IssueUser(pkiDir, path, c, pki.UserRequest{Name: "jane", Groups: []string{"dev"}, TTL: 24 * time.Hour}, now())
	if err != nil {
		t.Fatal(err)
	}
	if want := now().Add(24 * time.Hour); !cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter %s, want %s", cert.NotAfter, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig file: %v %v", fi, err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != "jane@hardway" || ctx == nil || ctx.AuthInfo != "jane" {
		t.Fatalf("context %q: %+v", cfg.CurrentContext, ctx)
	}
	cl := cfg.Clusters[ctx.Cluster]
	ca, _ := set.Get(pki.CA)
	if cl.Server != c.APIServerURL() || string(cl.CertificateAuthorityData) != string(ca.CertPEM) {
		t.Errorf("cluster entry: server %s, CA matches %v", cl.Server, string(cl.CertificateAuthorityData) == string(ca.CertPEM))
	}
	block, _ := pem.Decode(cfg.AuthInfos["jane"].ClientCertificateData)
	got, err := x509.ParseCertificate(block.Bytes)
	if err != nil || got.Subject.CommonName != "jane" || !slices.Equal(got.Subject.Organization, []string{"dev"}) {
		t.Errorf("embedded certificate: %v %v", got.Subject, err)
	}

	other := filepath.Join(t.TempDir(), "x.kubeconfig")
	if _, err := IssueUser(pkiDir, other, c, pki.UserRequest{Name: "jane", TTL: 0}, now()); err == nil || !strings.Contains(err.Error(), "--ttl") {
		t.Errorf("a zero ttl: %v", err)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("a refused request wrote %s", other)
	}
}
