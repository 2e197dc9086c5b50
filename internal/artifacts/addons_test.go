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
			if c.Image != "" && !strings.HasPrefix(c.Image, "quay.io/metallb/") {
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
