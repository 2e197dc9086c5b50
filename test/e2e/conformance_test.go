//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkConformanceQuick runs `hardway conformance --quick` against a running
// cluster: the upstream e2e suite's quick selection must pass, the progress
// must count up to the total, the report directory must hold junit.xml and a
// summary that names every stand-in image, and the bad inputs must be
// refused in one line. The first run on a machine builds e2e.test (about 17
// minutes on 2 cores cold); later runs reuse the artifact cache.
func checkConformanceQuick(t *testing.T, hardway, cluster string) {
	t.Helper()
	t.Run("conformance quick", func(t *testing.T) {
		report := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 75*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := osexec.CommandContext(ctx, hardway, "conformance", "--quick", "--name", cluster, "--report", report)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("TIMING conformance quick: %s", time.Since(start).Round(time.Second))
		if err != nil {
			summary, _ := os.ReadFile(filepath.Join(report, "summary.txt"))
			t.Fatalf("hardway conformance --quick: %v\n%s\nsummary:\n%s", err, tail(out.String(), 60), summary)
		}
		text := out.String()
		total := regexp.MustCompile(`running (\d+) tests`).FindStringSubmatch(text)
		if total == nil {
			t.Fatalf("no test count in the output:\n%s", tail(text, 40))
		}
		if !strings.Contains(text, "["+total[1]+"/"+total[1]+" ") {
			t.Errorf("progress never reached %s/%s:\n%s", total[1], total[1], tail(text, 40))
		}
		if !strings.Contains(text, "passed "+total[1]+", failed 0,") {
			t.Errorf("summary does not say all %s passed:\n%s", total[1], tail(text, 40))
		}
		for _, f := range []string{"junit.xml", "ginkgo.log", "summary.txt"} {
			if st, err := os.Stat(filepath.Join(report, f)); err != nil || st.Size() == 0 {
				t.Errorf("report lacks %s (%v)", f, err)
			}
		}
		summary, _ := os.ReadFile(filepath.Join(report, "summary.txt"))
		for _, want := range []string{
			"registry.k8s.io/e2e-test-images/nginx:1.27.0-2 [stand-in]",
			"registry.k8s.io/pause:3.10.2 [stand-in]",
			"registry.k8s.io/e2e-test-images/busybox:1.37.0-2 [rebuilt]",
			"gcr.io/k8s-authenticated-test/agnhost:2.6 [not made]",
		} {
			if !strings.Contains(string(summary), want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}

		// Bad input: one line each, before anything runs.
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"--focus", "no test is called like this 12345"}, `error: tests matching "no test is called like this 12345" but [Serial] and [Disruptive] ones selects no test; list the conformance tests with: `},
			{[]string{"--focus", "a(b"}, `error: --focus "a(b" is not a regular expression: `},
			{[]string{"--quick", "--name", "no-such-cluster-here"}, `error: cluster "no-such-cluster-here" has no state on this host`},
		} {
			args := append([]string{"conformance", "--report", t.TempDir()}, bad.args...)
			if !containsFlag(bad.args, "--name") {
				args = append(args, "--name", cluster)
			}
			o, err := osexec.Command(hardway, args...).CombinedOutput()
			last := lastLine(string(o))
			if err == nil || !strings.HasPrefix(last, bad.want) || strings.Count(strings.TrimSpace(last), "\n") > 0 {
				t.Errorf("hardway %s: err %v, last line %q; want one line starting %q", strings.Join(args, " "), err, last, bad.want)
			}
		}
	})
}

func containsFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
