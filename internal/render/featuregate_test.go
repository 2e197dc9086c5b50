package render

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
)

// TestFeatureGateStage holds the controller-manager unit's comment about
// ControllerManagerReleaseLeaderElectionLockOnExit ("Alpha since
// Kubernetes 1.36") to upstream's feature table for the default Kubernetes
// version: k8s.io/controller-manager's pkg/features/kube_features.go, read
// from the module proxy (a few hundred kB into the module cache, checked
// against the checksum database). A release that promotes the gate fails
// here until the comment says so.
func TestFeatureGateStage(t *testing.T) {
	const gate = "ControllerManagerReleaseLeaderElectionLockOnExit"
	tmpl, err := os.ReadFile("templates/kube-controller-manager.service.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	claim := regexp.MustCompile(`(Alpha|Beta|GA) since Kubernetes (1\.\d+)`).FindSubmatch(tmpl)
	if claim == nil || !bytes.Contains(tmpl, []byte("--feature-gates="+gate+"=true")) {
		t.Fatalf("the unit template no longer enables %s with a stated stage", gate)
	}
	version := strings.TrimPrefix(config.DefaultKubernetesVersion, "v1.")
	mod := "k8s.io/controller-manager@v0." + version
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s (through the module proxy, which must be reachable): %v\n%s", mod, err, stderr.String())
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download -json %s names no directory: %v\n%s", mod, err, out)
	}
	src, err := os.ReadFile(filepath.Join(m.Dir, "pkg", "features", "kube_features.go"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\n\t` + gate + `: \{(.*?)\n\t\},`).FindSubmatch(src)
	if block == nil {
		t.Fatalf("%s: no versioned spec of %s", mod, gate)
	}
	specs := regexp.MustCompile(`Version: version\.MustParse\("(1\.\d+)"\), Default: (true|false), PreRelease: featuregate\.(Alpha|Beta|GA)`).FindAllSubmatch(block[1], -1)
	if len(specs) == 0 {
		t.Fatalf("%s: cannot read the stages of %s: %s", mod, gate, block[1])
	}
	// The stage in force is the last one introduced at or before the minor
	// version; stages are listed oldest first.
	minor := "1." + strings.SplitN(version, ".", 2)[0]
	var stage, since, def string
	for _, s := range specs {
		if cmpMinor(string(s[1]), minor) <= 0 {
			since, def, stage = string(s[1]), string(s[2]), string(s[3])
		}
	}
	if stage != string(claim[1]) || since != string(claim[2]) {
		t.Errorf("Kubernetes %s: %s is %s since %s (default %s), the unit's comment says %s since %s", config.DefaultKubernetesVersion, gate, stage, since, def, claim[1], claim[2])
	}
	if def == "true" && !bytes.Contains(tmpl, []byte("on by default")) {
		t.Errorf("%s is on by default in %s: the flag is no longer needed, say so", gate, config.DefaultKubernetesVersion)
	}
}

// cmpMinor compares "1.N" versions.
func cmpMinor(a, b string) int {
	n := func(s string) int {
		var v int
		for _, r := range strings.TrimPrefix(s, "1.") {
			v = v*10 + int(r-'0')
		}
		return v
	}
	return n(a) - n(b)
}
