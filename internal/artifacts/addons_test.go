package artifacts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
)

func TestAddonsManifest(t *testing.T) {
	tests := []struct {
		addons []string
		want   []string // component names, nil for no manifest
	}{
		{nil, nil},
		{[]string{}, nil},
		{[]string{config.AddonMetalLB}, []string{CompRegistry, CompMetalLB, CompMetalLBControllerImage, CompMetalLBSpeakerImage}},
		{[]string{config.AddonMetalLB, config.AddonGateway}, []string{CompRegistry, CompMetalLB, CompMetalLBControllerImage, CompMetalLBSpeakerImage, CompTraefik, CompTraefikImage, CompGatewayAPI}},
	}
	for _, tt := range tests {
		m := AddonsManifest("v1.37.2", tt.addons)
		if tt.want == nil {
			if m != nil {
				t.Errorf("addons %v: manifest %+v, want none", tt.addons, m)
			}
			continue
		}
		var got []string
		for _, c := range m.Components {
			got = append(got, c.Name)
			if c.Image != "" && !strings.HasPrefix(c.Image, "quay.io/metallb/") && c.Image != TraefikImage() {
				t.Errorf("%s: image %s is not under MetalLB's own repository path", c.Name, c.Image)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("addons %v: components %v, want %v", tt.addons, got, tt.want)
		}
		mlb, _ := m.Component(CompMetalLB)
		if files := mlb.Source.ModuleFiles[MetalLBCRDs]; len(files) != 8 {
			t.Errorf("MetalLB's CRD files: %v, want the 8 kinds its controller and speaker watch", files)
		}
	}
}

func TestCopyModuleFiles(t *testing.T) {
	mod, out := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(mod, "config/crd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a.yaml": "kind: A\n", "b.yaml": "kind: B\n"} {
		if err := os.WriteFile(filepath.Join(mod, "config/crd", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyModuleFiles(mod, map[string][]string{"crds.yaml": {"config/crd/a.yaml", "config/crd/b.yaml"}}, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "---\n# config/crd/a.yaml\nkind: A\n---\n# config/crd/b.yaml\nkind: B\n"
	if string(got) != want {
		t.Errorf("crds.yaml:\n%s\nwant:\n%s", got, want)
	}
	err = copyModuleFiles(mod, map[string][]string{"x.yaml": {"config/crd/missing.yaml"}}, out)
	if err == nil || !strings.Contains(err.Error(), "the module source has no config/crd/missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestGatewayComponents: the CRD list and the names removal uses are the
// same kinds, Traefik builds in a module copy with the dashboard stand-in,
// and the suite's images are read from its manifests.
func TestGatewayComponents(t *testing.T) {
	var api, traefik *Component
	for _, c := range gatewayComponents() {
		switch c.Name {
		case CompGatewayAPI:
			api = &c
		case CompTraefik:
			traefik = &c
		}
	}
	if api == nil || traefik == nil {
		t.Fatal("gateway components lack gateway-api or traefik")
	}
	files := api.Source.ModuleFiles[GatewayAPICRDs]
	names := GatewayAPICRDNames()
	if len(files) != len(names) || len(api.Source.Packages) != 0 {
		t.Fatalf("CRD files %v, names %v, packages %v", files, names, api.Source.Packages)
	}
	for i, f := range files {
		kind := strings.TrimSuffix(strings.TrimPrefix(f, "config/crd/standard/gateway.networking.k8s.io_"), ".yaml")
		if names[i] != kind+".gateway.networking.k8s.io" {
			t.Errorf("file %s, CRD name %s", f, names[i])
		}
	}
	if traefik.Source.Kind != KindModuleCopy || traefik.Source.Overlay["webui/static/index.html"] == "" {
		t.Errorf("traefik recipe %+v", traefik.Source)
	}

	dir := t.TempDir()
	for _, d := range []string{"base", "tests"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "base", "manifests.yaml"), []byte("spec:\n  containers:\n  - image: registry.k8s.io/gateway-api/echo-basic:v1.5.1\n    name: a\n  - name: b\n    image: \"registry.k8s.io/coredns/coredns:v1.12.2\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tests", "x.yaml"), []byte("        image: registry.k8s.io/gateway-api/echo-basic:v1.5.1\n"), 0o644)
	got, err := suiteImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"registry.k8s.io/coredns/coredns:v1.12.2", "registry.k8s.io/gateway-api/echo-basic:v1.5.1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("suite images %v, want %v", got, want)
	}
	if _, err := suiteImages(t.TempDir()); err == nil {
		t.Error("a module without manifests gave no error")
	}
}
