//go:build integration

package cli

// The air-gapped bundle against the real cache and Docker: export every
// artifact of the default version and the node image, import into an empty
// cache, list it (every file's architecture checked), import again (nothing
// to do), and load the saved node image back into Docker. Needs the artifacts
// built into HARDWAY_IT_CACHE (make integration runs ./internal/artifacts
// first) and builds the node image when missing, as the provider's test does.
//
//	HARDWAY_IT_CACHE=~/.cache/hardway go test -tags integration -count=1 -v -run Bundle ./internal/cli/

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/nodeimage"
)

type itLog struct{ t *testing.T }

func (l itLog) Logf(level int, format string, args ...any) {
	if level == 0 {
		l.t.Logf(format, args...)
	}
}

func TestIntegrationBundle(t *testing.T) {
	src := os.Getenv("HARDWAY_IT_CACHE")
	if src == "" {
		t.Fatal("HARDWAY_IT_CACHE is not set: point it at a cache that holds the artifacts (make integration does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := hexec.OS{}
	if _, err := nodeimage.Ensure(ctx, nodeimage.Options{Runner: r, Log: logx.Logger(itLog{t})}); err != nil {
		t.Fatal(err)
	}
	h, err := host.Local()
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, h, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "hardway-bundle.tar")

	t.Setenv("HARDWAY_CACHE", src)
	start := time.Now()
	code, out, errOut := cli("artifacts", "export", bundle)
	if code != 0 {
		t.Fatalf("export: %s%s", out, errOut)
	}
	t.Logf("export in %s:\n%s", time.Since(start).Round(time.Second), out)
	sum := ""
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "sha256 "); ok {
			sum = s
		}
	}
	if len(sum) != 64 {
		t.Fatalf("export printed no sha256 line")
	}

	empty := filepath.Join(dir, "cache")
	t.Setenv("HARDWAY_CACHE", empty)
	start = time.Now()
	code, out, errOut = cli("artifacts", "import", bundle, "--sha256", sum)
	if code != 0 {
		t.Fatalf("import: %s%s", out, errOut)
	}
	t.Logf("import in %s:\n%s", time.Since(start).Round(time.Second), out)
	if !strings.Contains(out, " 11 entries installed, 0 already cached; node image "+nodeimage.Tag()+" already in Docker\n") {
		t.Errorf("first import did not install every entry")
	}
	code, out, errOut = cli("artifacts", "list")
	if code != 0 || errOut != "" {
		t.Fatalf("list after import: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 20 {
		t.Errorf("list shows %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "WRONG") || strings.Contains(l, "  - (") {
			t.Errorf("unverified file after import: %s", l)
		}
	}
	code, out, errOut = cli("artifacts", "import", bundle)
	if code != 0 || !strings.Contains(out, " 0 entries installed, 11 already cached; ") {
		t.Errorf("second import: exit %d\n%s%s", code, out, errOut)
	}

	// The saved node image loads back as the same image (Docker already has
	// it: the load replaces nothing that clusters use).
	img := "node-image/" + strings.NewReplacer("/", "-", ":", "-").Replace(nodeimage.Tag()) + ".tar"
	if b, err := exec.Command("tar", "-xf", bundle, "-C", dir, img).CombinedOutput(); err != nil {
		t.Fatalf("tar -x %s: %v: %s", img, err, b)
	}
	d := artifacts.DockerImages{Run: r}
	before, err := d.ID(ctx, nodeimage.Tag())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Load(ctx, filepath.Join(dir, img)); err != nil {
		t.Fatal(err)
	}
	if after, err := d.ID(ctx, nodeimage.Tag()); err != nil || after != before {
		t.Errorf("node image after docker load: %q (%v), before %q", after, err, before)
	}
}
