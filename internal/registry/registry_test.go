package registry

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hardway.dev/hardway/internal/config"
)

func cluster(t *testing.T, nodes int) *config.Cluster {
	t.Helper()
	c := &config.Cluster{Nodes: make([]config.Node, nodes)}
	c.SetDefaults()
	return c
}

// Images keep their repository path and tag; the registry host goes, as
// containerd leaves it out when it asks a mirror.
func TestTarget(t *testing.T) {
	tests := []struct{ ref, want, wantErr string }{
		{"registry.k8s.io/e2e-test-images/agnhost:2.66.1", "10.0.0.2:5000/e2e-test-images/agnhost:2.66.1", ""},
		{"registry.k8s.io/pause:3.10.2", "10.0.0.2:5000/pause:3.10.2", ""},
		{"nginx:1.27", "10.0.0.2:5000/library/nginx:1.27", ""},
		{"docker.io/library/nginx:1.27", "10.0.0.2:5000/library/nginx:1.27", ""},
		{"myapp", "10.0.0.2:5000/library/myapp:latest", ""},
		{"Bad:Ref", "", `image reference "Bad:Ref": `},
	}
	for _, tt := range tests {
		got, err := Target("10.0.0.2:5000", tt.ref)
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("Target(%q) error %v, want prefix %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Target(%q) = %v, %v; want %s", tt.ref, got, err, tt.want)
		}
		if got.Scheme() != "http" {
			t.Errorf("Target(%q) speaks %s, want plain http", tt.ref, got.Scheme())
		}
	}
}

func TestMachineAndUnits(t *testing.T) {
	three, one := cluster(t, 3), cluster(t, 1)
	if m, h := Machine(three), Host(three); m != "lb" || h != "10.240.0.2:5000" {
		t.Errorf("3 nodes: %s %s, want lb 10.240.0.2:5000", m, h)
	}
	if m, h := Machine(one), Host(one); m != "node-0" || h != "10.240.0.10:5000" {
		t.Errorf("1 node: %s %s, want node-0 10.240.0.10:5000", m, h)
	}
	us := Units(three)
	if len(us) != 1 || us[0].Name != Unit || strings.Join(us[0].Binaries, ",") != "registry" || len(us[0].Files) != 2 {
		t.Fatalf("units %+v", us)
	}
	unit, cfg := us[0].Files[0], us[0].Files[1]
	if unit.Path != "/etc/systemd/system/hardway-registry.service" || unit.Mode != 0o600 ||
		!strings.Contains(string(unit.Data), "\nExecStart=/usr/local/bin/registry serve /etc/hardway-registry/config.yml\n") {
		t.Errorf("unit file %s %o:\n%s", unit.Path, unit.Mode, unit.Data)
	}
	for _, want := range []string{"\n    rootdirectory: /var/lib/hardway-registry\n", "\n  addr: :5000\n", "\n    enabled: true\n"} {
		if cfg.Path != ConfigPath || !strings.Contains(string(cfg.Data), want) {
			t.Errorf("config %s lacks %q:\n%s", cfg.Path, want, cfg.Data)
		}
	}
}

// On real machines there is no load-balancer machine: the registry is on
// the first node and listens on its node IP only, not on every network the
// machine is on.
func TestMachinesRegistryListensOnTheNodeIP(t *testing.T) {
	c := &config.Cluster{Provider: config.ProviderSSH, Nodes: []config.Node{{IP: "192.168.50.10"}, {IP: "192.168.50.11"}}}
	c.SetDefaults()
	if m, h := Machine(c), Host(c); m != c.Nodes[0].Name || h != "192.168.50.10:5000" {
		t.Errorf("machines: %s %s, want %s 192.168.50.10:5000", m, h, c.Nodes[0].Name)
	}
	cfg := string(Units(c)[0].Files[1].Data)
	if !strings.Contains(cfg, "\n  addr: 192.168.50.10:5000\n") || strings.Contains(cfg, "addr: :5000") {
		t.Errorf("registry config on machines listens on more than the node IP:\n%s", cfg)
	}
}

// Push sends an archive's image to a registry (an in-process one here),
// under the reference's repository path; pushing again sends nothing new
// and gives the same place.
func TestPushArchive(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "img.tar")
	ref := "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
	tag, _ := name.NewTag(ref)
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	refs, err := ArchiveRefs(archive)
	if err != nil || strings.Join(refs, ",") != ref {
		t.Fatalf("ArchiveRefs = %v, %v", refs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := (At{Host: host}).WaitReady(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		dst, err := At{Host: host}.Push(ctx, archive, ref)
		if err != nil {
			t.Fatal(err)
		}
		if want := host + "/e2e-test-images/agnhost:2.66.1"; dst != want {
			t.Errorf("pushed to %s, want %s", dst, want)
		}
	}
	pref, err := name.ParseReference(host+"/e2e-test-images/agnhost:2.66.1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(pref)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := pulled.Digest()
	if d1 != d2 {
		t.Errorf("registry holds %s, pushed %s", d2, d1)
	}
	if _, err := (At{Host: host}).Push(ctx, archive, "other:1"); err == nil || !strings.Contains(err.Error(), "does not hold other:1") {
		t.Errorf("wrong reference: %v", err)
	}
	if _, err := ArchiveRefs(filepath.Join(t.TempDir(), "missing.tar")); err == nil || !strings.Contains(err.Error(), "is not an image archive") {
		t.Errorf("missing archive: %v", err)
	}
}
