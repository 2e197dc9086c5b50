package artifacts

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// What e2e.test v1.37.2 --list-images prints (abridged), plus a duplicate.
var listedV1372 = []string{
	"gcr.io/k8s-authenticated-test/agnhost:2.6",
	"invalid.registry.k8s.io/invalid/alpine:3.1",
	"registry.k8s.io/build-image/distroless-iptables:v0.9.9",
	"registry.k8s.io/e2e-test-images/agnhost:2.55",
	"registry.k8s.io/e2e-test-images/agnhost:2.66.1",
	"registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
	"registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
	"registry.k8s.io/e2e-test-images/kitten:1.8",
	"registry.k8s.io/e2e-test-images/nautilus:1.8",
	"registry.k8s.io/e2e-test-images/nginx:1.27.0-2",
	"registry.k8s.io/e2e-test-images/nginx:1.28.0-2",
	"registry.k8s.io/e2e-test-images/nonewprivs:1.4",
	"registry.k8s.io/e2e-test-images/nonroot:1.5",
	"registry.k8s.io/e2e-test-images/perl:5.26",
	"registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
	"registry.k8s.io/etcd:3.7.0-0",
	"registry.k8s.io/pause:3.10.2",
	"registry.k8s.io/pause:3.10.2",
}

func TestMapE2EImages(t *testing.T) {
	known, unavailable, err := MapE2EImages("v1.37.2", listedV1372)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ ref, recipe, kind string }
	want := []row{
		{"registry.k8s.io/e2e-test-images/agnhost:2.55", "agnhost", StandIn},
		{"registry.k8s.io/e2e-test-images/agnhost:2.66.1", "agnhost", Rebuilt},
		{"registry.k8s.io/e2e-test-images/busybox:1.37.0-2", "busybox", Rebuilt},
		{"registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1", "glibc-dns-testing", Rebuilt},
		{"registry.k8s.io/e2e-test-images/kitten:1.8", "kitten", Rebuilt},
		{"registry.k8s.io/e2e-test-images/nautilus:1.8", "nautilus", Rebuilt},
		{"registry.k8s.io/e2e-test-images/nginx:1.27.0-2", "nginx", StandIn},
		{"registry.k8s.io/e2e-test-images/nginx:1.28.0-2", "nginx", StandIn},
		{"registry.k8s.io/e2e-test-images/nonewprivs:1.4", "nonewprivs", StandIn},
		{"registry.k8s.io/e2e-test-images/nonroot:1.5", "nonroot", Rebuilt},
		{"registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2", "sample-apiserver", Rebuilt},
		{"registry.k8s.io/etcd:3.7.0-0", "etcd", Rebuilt},
		{"registry.k8s.io/pause:3.10.2", "pause", StandIn},
	}
	if len(known) != len(want) {
		t.Fatalf("got %d images, want %d: %+v", len(known), len(want), known)
	}
	for i, w := range want {
		k := known[i]
		if (row{k.Ref, k.Recipe, k.Kind}) != w || k.Note == "" {
			t.Errorf("image %d = %s %s %s (%q), want %v", i, k.Ref, k.Recipe, k.Kind, k.Note, w)
		}
	}
	// A private or invalid registry must stay unreachable: tests expect
	// those pulls to fail.
	wantUnavailable := []string{
		"gcr.io/k8s-authenticated-test/agnhost:2.6",
		"invalid.registry.k8s.io/invalid/alpine:3.1",
		"registry.k8s.io/build-image/distroless-iptables:v0.9.9",
		"registry.k8s.io/e2e-test-images/perl:5.26",
	}
	if strings.Join(unavailable, "\n") != strings.Join(wantUnavailable, "\n") {
		t.Errorf("unavailable %q, want %q", unavailable, wantUnavailable)
	}
	if known[1].Note != "agnhost from k8s.io/kubernetes v1.37.2 (test/images/agnhost) on a Debian bookworm base with the tools of upstream's Alpine base" {
		t.Errorf("agnhost note %q", known[1].Note)
	}
	if known[11].Note != "etcd v3.7.0, the cluster's own etcd build, at /usr/local/bin/etcd" {
		t.Errorf("etcd note %q", known[11].Note)
	}

	// On v1.36.3 the cluster's etcd is 3.6.16: an etcd:3.6.8-0 is a stand-in.
	k, _, err := MapE2EImages("v1.36.3", []string{"registry.k8s.io/etcd:3.6.8-0"})
	if err != nil || len(k) != 1 || k[0].Kind != StandIn || k[0].Note != "etcd v3.6.16 (the cluster's) tagged 3.6.8-0" {
		t.Errorf("v1.36.3 etcd: %+v, %v", k, err)
	}
	if _, _, err := MapE2EImages("v1.37.2", []string{"registry.k8s.io/pause"}); err == nil ||
		!strings.HasPrefix(err.Error(), `e2e.test --list-images printed "registry.k8s.io/pause", which is not an image reference with a tag`) {
		t.Errorf("untagged reference: %v", err)
	}
	if _, _, err := MapE2EImages("v1.30.0", nil); err == nil || !strings.HasPrefix(err.Error(), "kubernetesVersion v1.30.0 has no pinned artifacts") {
		t.Errorf("unknown version: %v", err)
	}
}

func TestE2EImageManifest(t *testing.T) {
	known, _, err := MapE2EImages("v1.37.2", listedV1372)
	if err != nil {
		t.Fatal(err)
	}
	m, err := E2EImageManifest("v1.37.2", known)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range m.Components {
		s := c.Name + " " + c.Version
		if c.Image != "" {
			s += " " + c.Image + " <- " + strings.Join(c.DependsOn, ",")
		}
		got = append(got, s)
	}
	want := []string{
		"e2e-image-binaries v1.37.2",
		"busybox 1.37.0",
		"e2e-debian-base bookworm-1",
		"etcd v3.7.0",
		"image-pause 3.10 hardway.local/pause:3.10 <- ",
		"coredns v1.14.6",
		"e2e-image-agnhost 2.55 registry.k8s.io/e2e-test-images/agnhost:2.55 <- e2e-image-binaries,e2e-debian-base",
		"e2e-image-agnhost 2.66.1 registry.k8s.io/e2e-test-images/agnhost:2.66.1 <- e2e-image-binaries,e2e-debian-base",
		"e2e-image-busybox 1.37.0-2 registry.k8s.io/e2e-test-images/busybox:1.37.0-2 <- busybox",
		"e2e-image-glibc-dns-testing 2.1.1 registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1 <- e2e-debian-base,coredns",
		"e2e-image-kitten 1.8 registry.k8s.io/e2e-test-images/kitten:1.8 <- e2e-image-binaries,e2e-debian-base",
		"e2e-image-nautilus 1.8 registry.k8s.io/e2e-test-images/nautilus:1.8 <- e2e-image-binaries,e2e-debian-base",
		"e2e-image-nginx 1.27.0-2 registry.k8s.io/e2e-test-images/nginx:1.27.0-2 <- e2e-debian-base",
		"e2e-image-nginx 1.28.0-2 registry.k8s.io/e2e-test-images/nginx:1.28.0-2 <- e2e-debian-base",
		"e2e-image-nonewprivs 1.4 registry.k8s.io/e2e-test-images/nonewprivs:1.4 <- busybox,e2e-image-binaries",
		"e2e-image-nonroot 1.5 registry.k8s.io/e2e-test-images/nonroot:1.5 <- e2e-debian-base",
		"e2e-image-sample-apiserver 1.29.2 registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2 <- e2e-image-binaries",
		"e2e-image-etcd 3.7.0-0 registry.k8s.io/etcd:3.7.0-0 <- etcd",
		"e2e-image-pause 3.10.2 registry.k8s.io/pause:3.10.2 <- image-pause",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("components:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bins, _ := m.Component(CompE2EBinaries)
	if strings.Join(bins.Source.Packages, " ") != "k8s.io/kubernetes/test/images/agnhost k8s.io/kubernetes/test/images/nonewprivs k8s.io/sample-apiserver" || bins.Source.Kind != KindKubernetes {
		t.Errorf("e2e binaries recipe %+v", bins.Source)
	}
}

func TestConformanceManifest(t *testing.T) {
	m, err := ConformanceManifest("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range m.Components {
		got = append(got, c.Name+" "+c.Version+" "+string(c.Source.Kind)+" "+strings.Join(c.Source.Packages, ","))
	}
	want := []string{
		"registry v3.1.2 go-install github.com/distribution/distribution/v3/cmd/registry",
		"ginkgo v2.32.0 go-install github.com/onsi/ginkgo/v2/ginkgo",
		"e2e-test v1.37.2 kubernetes k8s.io/kubernetes/test/e2e",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("components:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e2e, _ := m.Component(CompE2ETest)
	if !e2e.Source.TestBinary || e2e.Release != nil || e2e.Files[0].Name != "e2e.test" || e2e.Files[0].VersionWant != "v1.37.2" {
		t.Errorf("e2e.test component %+v", e2e)
	}
	if _, err := ConformanceManifest("v1.30.0"); err == nil || err.Error() != "kubernetesVersion v1.30.0 has no pinned conformance tools; use one of v1.36.3, v1.37.2" {
		t.Errorf("unknown version: %v", err)
	}
	// Every Kubernetes version has its test tools.
	for _, v := range SupportedVersions() {
		if _, err := ConformanceManifest(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// ginkgo's CLI must be the version k8s.io/kubernetes requires, as its
// go.mod says. `go list -m -json` fetches only that go.mod (a few kB, into
// the module cache, checked against the checksum database), so the test
// runs on a fresh machine too, and fails when the module proxy cannot be
// reached.
func TestGinkgoMatchesKubernetesGoMod(t *testing.T) {
	re := regexp.MustCompile(`(?m)^\s*github\.com/onsi/ginkgo/v2 (v\S+)`)
	for kube, ginkgo := range conformanceVersions() {
		cmd := exec.Command("go", "list", "-m", "-json", "k8s.io/kubernetes@"+kube)
		// Outside any module: the query is about k8s.io/kubernetes alone.
		cmd.Dir = t.TempDir()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -m k8s.io/kubernetes@%s (reads its go.mod through the module proxy, which must be reachable): %v\n%s", kube, err, stderr.String())
		}
		var mod struct{ GoMod string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.GoMod == "" {
			t.Fatalf("go list -m -json k8s.io/kubernetes@%s names no go.mod: %v\n%s", kube, err, out)
		}
		gomod, err := os.ReadFile(mod.GoMod)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(gomod)
		if m == nil || string(m[1]) != ginkgo {
			t.Errorf("k8s.io/kubernetes %s requires ginkgo %s, hardway pins %s", kube, m, ginkgo)
		}
	}
}

func TestBusyboxConfig(t *testing.T) {
	for _, tc := range []struct{ arch, in, want string }{
		{"amd64", "CONFIG_A=y\n# CONFIG_STATIC is not set\nCONFIG_TC=y\nCONFIG_TCPSVD=y\nCONFIG_SHA1_HWACCEL=y\n",
			"CONFIG_A=y\nCONFIG_STATIC=y\n# CONFIG_TC is not set\nCONFIG_TCPSVD=y\nCONFIG_SHA1_HWACCEL=y\n"},
		// Options the defconfig does not mention are appended.
		{"amd64", "CONFIG_A=y", "CONFIG_A=y\n# CONFIG_TC is not set\nCONFIG_STATIC=y"},
		// arm64: the x86-only SHA acceleration is turned off.
		{"arm64", "CONFIG_SHA1_HWACCEL=y\nCONFIG_SHA256_HWACCEL=y\nCONFIG_TC=y",
			"# CONFIG_SHA1_HWACCEL is not set\n# CONFIG_SHA256_HWACCEL is not set\n# CONFIG_TC is not set\nCONFIG_STATIC=y"},
	} {
		if got := busyboxConfig(tc.in, tc.arch); got != tc.want {
			t.Errorf("%s %q: got %q, want %q", tc.arch, tc.in, got, tc.want)
		}
	}
}
