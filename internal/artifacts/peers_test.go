package artifacts

import (
	"strings"
	"testing"
)

func TestPeersManifest(t *testing.T) {
	for _, v := range SupportedVersions() {
		t.Run(v, func(t *testing.T) {
			m, err := PeersManifest(v)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range m.Components {
				got = append(got, c.Name+" "+c.Version+" "+string(c.Source.Kind)+" "+strings.Join(c.Source.Packages, ","))
			}
			want := []string{
				"kubeadm " + v + " kubernetes k8s.io/kubernetes/cmd/kubeadm",
				"kind v0.33.0 go-install sigs.k8s.io/kind",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("components:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// kubeadm is stamped like the cluster's own binaries (same
			// wrapper module, same -X flags), so its default images and
			// `kubeadm version` name the cluster's release.
			kubeadm, _ := m.Component(CompKubeadm)
			base, _ := mustManifest(t, v).Component(CompKubernetes)
			if strings.Join(kubeadm.Source.LDFlags, " ") != strings.Join(base.Source.LDFlags, " ") || kubeadm.Source.ModuleVersion != v || kubeadm.Release != nil {
				t.Errorf("kubeadm recipe %+v differs from the Kubernetes one %+v", kubeadm.Source, base.Source)
			}
			if f := kubeadm.Files; len(f) != 1 || f[0].Name != "kubeadm" || f[0].VersionWant != v {
				t.Errorf("kubeadm files %+v", f)
			}
		})
	}
	if _, err := PeersManifest("v1.30.0"); err == nil || !strings.Contains(err.Error(), "kubernetesVersion v1.30.0 has no pinned artifacts") {
		t.Errorf("unknown version: %v", err)
	}
}

func mustManifest(t *testing.T, v string) *Manifest {
	t.Helper()
	m, err := ManifestFor(v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
