package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSelectionArgs(t *testing.T) {
	quick := "(" + regexp.QuoteMeta(QuickTests()[0])
	tests := []struct {
		name      string
		sel       Selection
		wantFocus string // exact, or a prefix when it ends in "…"
		wantSkip  string
		wantErr   string
	}{
		{"default", Selection{}, `\[Conformance\]`, `\[Serial\]|\[Disruptive\]`, ""},
		{"serial adds serial and disruptive", Selection{Serial: true}, `\[Conformance\]`, "", ""},
		{"focus replaces the default focus", Selection{Focus: "DNS"}, "DNS", `\[Serial\]|\[Disruptive\]`, ""},
		{"skip adds to the default skip", Selection{Skip: "Kubectl"}, `\[Conformance\]`, `\[Serial\]|\[Disruptive\]|Kubectl`, ""},
		{"serial with skip", Selection{Serial: true, Skip: "Kubectl"}, `\[Conformance\]`, "Kubectl", ""},
		{"quick", Selection{Quick: true}, quick + "…", `\[Serial\]|\[Disruptive\]`, ""},
		{"quick with skip", Selection{Quick: true, Skip: "DNS"}, quick + "…", `\[Serial\]|\[Disruptive\]|DNS`, ""},
		{"bad focus", Selection{Focus: "a(b"}, "", "", `--focus "a(b" is not a regular expression: error parsing regexp: missing closing ): ` + "`a(b`" + `; write it in Go syntax, like --focus 'DNS|Services'`},
		{"bad skip", Selection{Skip: "[x"}, "", "", `--skip "[x" is not a regular expression: error parsing regexp: missing closing ]: ` + "`[x`" + `; write it in Go syntax, like --skip 'DNS|Services'`},
		{"quick and focus", Selection{Quick: true, Focus: "DNS"}, "", "", `--quick and --focus "DNS" both choose the tests; use one of them`},
		{"quick and serial", Selection{Quick: true, Serial: true}, "", "", `--quick and --serial both choose the tests; use one of them`},
		{"certified runs everything", Selection{Certified: true}, `\[Conformance\]`, "", ""},
		{"certified with serial", Selection{Certified: true, Serial: true}, `\[Conformance\]`, "", ""},
		{"certified and skip", Selection{Certified: true, Skip: "DNS"}, "", "", "--certified runs every [Conformance] test; leave out --quick, --focus and --skip (use them without --certified)"},
		{"certified and focus", Selection{Certified: true, Focus: "DNS"}, "", "", "--certified runs every [Conformance] test; leave out --quick, --focus and --skip (use them without --certified)"},
		{"certified and quick", Selection{Certified: true, Quick: true}, "", "", "--certified runs every [Conformance] test; leave out --quick, --focus and --skip (use them without --certified)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			focus, skip, err := tt.sel.Args()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := strings.CutSuffix(tt.wantFocus, "…"); ok {
				if !strings.HasPrefix(focus, p) {
					t.Errorf("focus %q, want prefix %q", focus, p)
				}
			} else if focus != tt.wantFocus {
				t.Errorf("focus %q, want %q", focus, tt.wantFocus)
			}
			if skip != tt.wantSkip {
				t.Errorf("skip %q, want %q", skip, tt.wantSkip)
			}
		})
	}
}

// The quick focus matches each quick test's name exactly and nothing else;
// every quick test is a non-serial conformance test.
func TestQuickFocusMatchesExactly(t *testing.T) {
	focus, skip, err := Selection{Quick: true}.Args()
	if err != nil {
		t.Fatal(err)
	}
	f, s := regexp.MustCompile(focus), regexp.MustCompile(skip)
	for _, n := range QuickTests() {
		if !f.MatchString(n) || s.MatchString(n) || !strings.Contains(n, "[Conformance]") {
			t.Errorf("%q: focus %v, skip %v; want a selected, non-serial conformance test", n, f.MatchString(n), s.MatchString(n))
		}
		for _, other := range []string{n + " more", n + " [Serial]"} {
			if f.MatchString(other) {
				t.Errorf("focus matches %q", other)
			}
		}
	}
	if len(QuickTests()) < 8 {
		t.Errorf("quick selection has %d tests", len(QuickTests()))
	}
}

const sampleJUnit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="2" errors="0" failures="2" time="63.5">
  <testsuite name="Kubernetes e2e suite" package="/e2e" tests="5" disabled="2" skipped="0" errors="0" failures="2" time="63.5">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1.2"></testcase>
    <testcase name="[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="10.5"></testcase>
    <testcase name="[sig-network] DNS should provide DNS for services [Conformance]" classname="Kubernetes e2e suite" status="failed" time="30">
      <failure message="&#xA;  Unexpected error:&#xA;  timed out waiting for the condition" type="failed">[FAILED] timed out&#xA;In [It] at: dns.go:12</failure>
    </testcase>
    <testcase name="[sig-apps] Deployment should not run [Serial]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[sig-storage] CSI should mount [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0.4">
      <skipped message="skipped - Only supported for node OS distro [gci ubuntu] (not debian)"></skipped>
    </testcase>
    <testcase name="[sig-node] Pods should hang" classname="Kubernetes e2e suite" status="interrupted" time="5"></testcase>
    <testcase name="[ReportAfterSuite] Kubernetes e2e suite report" classname="Kubernetes e2e suite" status="failed" time="0.1">
      <failure message="report failed" type="failed"></failure>
    </testcase>
  </testsuite>
</testsuites>`

func TestParseJUnitAndSummarize(t *testing.T) {
	cases, err := ParseJUnit([]byte(sampleJUnit))
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{"[SynchronizedBeforeSuite]", "passed", 1200 * time.Millisecond, "", false},
		{"[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]", "passed", 10500 * time.Millisecond, "", false},
		{"[sig-network] DNS should provide DNS for services [Conformance]", "failed", 30 * time.Second, "Unexpected error:", false},
		{"[sig-apps] Deployment should not run [Serial]", "skipped", 0, "", false},
		{"[sig-storage] CSI should mount [Conformance]", "skipped", 400 * time.Millisecond, "Only supported for node OS distro [gci ubuntu] (not debian)", true},
		{"[sig-node] Pods should hang", "failed", 5 * time.Second, "test interrupted", false},
		{"[ReportAfterSuite] Kubernetes e2e suite report", "failed", 100 * time.Millisecond, "report failed", false},
	}
	if len(cases) != len(want) {
		t.Fatalf("got %d cases, want %d: %+v", len(cases), len(want), cases)
	}
	for i := range want {
		if cases[i] != want[i] {
			t.Errorf("case %d = %+v, want %+v", i, cases[i], want[i])
		}
	}
	s := Summarize(cases)
	if s.Passed != 1 || s.Failed != 2 || s.Skipped != 1 || len(s.SuiteFailures) != 1 || s.OK() || len(s.SkippedAtRun) != 1 || s.Complete() {
		t.Errorf("summary %+v", s)
	}
	s.Elapsed = 63*time.Second + 400*time.Millisecond
	got := s.Text("the quick selection", []string{"registry.k8s.io/pause:3.10.2 [stand-in] hardway's pause"})
	wantText := `Conformance run: the quick selection
passed 1, failed 2, skipped 1 (not selected), wall time 1m3s
skipped at run time 1

SUITE FAILED [ReportAfterSuite] Kubernetes e2e suite report
  report failed

Failures:
- [sig-network] DNS should provide DNS for services [Conformance]
    Unexpected error:
- [sig-node] Pods should hang
    test interrupted

Selected but skipped at run time (1):
- [sig-storage] CSI should mount [Conformance]
    Only supported for node OS distro [gci ubuntu] (not debian)

Images (built here under the references the suite expects):
- registry.k8s.io/pause:3.10.2 [stand-in] hardway's pause
`
	if got != wantText {
		t.Errorf("summary text:\n%s\nwant:\n%s", got, wantText)
	}
	if _, err := ParseJUnit([]byte("not xml")); err == nil || !strings.Contains(err.Error(), "not XML ginkgo writes") {
		t.Errorf("bad XML: %v", err)
	}
	if ok := (&Summary{Passed: 3}).OK(); !ok {
		t.Error("a clean run is not OK")
	}
}

func TestParseDryRun(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{`[{"SuitePath":"/x","PreRunStats":{"TotalSpecs":7000,"SpecsThatWillRun":11}}]`, 11, ""},
		{`[{"PreRunStats":{"TotalSpecs":7000,"SpecsThatWillRun":0}}]`, 0, ""},
		{`[]`, 0, "the dry run's JSON report holds no suite"},
		{`{`, 0, "the dry run's JSON report is unreadable: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		got, err := ParseDryRun([]byte(tt.in))
		if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) || got != tt.want {
			t.Errorf("ParseDryRun(%s) = %d, %v; want %d, %q", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseImageList(t *testing.T) {
	out := "I1127 14:00:00.000 1 test_context.go:100] some log line: with colon/slash\n" +
		"registry.k8s.io/e2e-test-images/agnhost:2.66.1\n" +
		"registry.k8s.io/e2e-test-images/busybox:1.37.0-2\n\n" +
		"registry.k8s.io/e2e-test-images/agnhost:2.66.1\n" +
		"  registry.k8s.io/pause:3.10.2  \n" +
		"invalid.registry.k8s.io/invalid/alpine:3.1\n"
	got := ParseImageList([]byte(out))
	want := []string{
		"registry.k8s.io/e2e-test-images/agnhost:2.66.1",
		"registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
		"registry.k8s.io/pause:3.10.2",
		"invalid.registry.k8s.io/invalid/alpine:3.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Progress comes from ginkgo's output, cut anywhere: a bullet per test that
// ran, a header and the name on the next line for failed and slow ones.
func TestTrackerCountsTests(t *testing.T) {
	stream := "Running in parallel across 4 processes\nSSS\u2022S\u2022SS\n" +
		"------------------------------\n\u2022 [FAILED] [30.123 seconds]\n[sig-network] DNS [It] should provide DNS for services [Conformance]\n" +
		"/go/dns.go:12\n  [FAILED] timed out\n------------------------------\nSS\u2022 [312.402 seconds]\n\n" +
		"[sig-apps] Deployment [It] should be slow [Conformance]\nSSS\u2022 [TIMEDOUT] [600.000 seconds]\n[sig-node] Pods [It] hangs\nS\u2022S\n" +
		"Summarizing 2 Failures:\n  [FAIL] [sig-network] DNS [It] should provide DNS for services [Conformance]\n"
	want := []Progress{
		{Done: 1, Total: 6, Elapsed: 90 * time.Second},
		{Done: 2, Total: 6, Elapsed: 90 * time.Second},
		{Done: 3, Total: 6, Failed: 1, Elapsed: 90 * time.Second, Last: "FAILED [sig-network] DNS [It] should provide DNS for services [Conformance]"},
		{Done: 4, Total: 6, Failed: 1, Elapsed: 90 * time.Second, Last: "PASSED [sig-apps] Deployment [It] should be slow [Conformance]"},
		{Done: 5, Total: 6, Failed: 2, Elapsed: 90 * time.Second, Last: "FAILED [sig-node] Pods [It] hangs"},
		{Done: 6, Total: 6, Failed: 2, Elapsed: 90 * time.Second},
	}
	for _, size := range []int{1, 2, 3, 7, 1000} {
		clock := time.Unix(100, 0)
		var got []Progress
		tr := &tracker{total: 6, start: clock, now: func() time.Time { return clock.Add(90 * time.Second) }, report: func(p Progress) { got = append(got, p) }}
		b := []byte(stream)
		for len(b) > 0 {
			n := min(size, len(b))
			if w, err := tr.Write(b[:n]); w != n || err != nil {
				t.Fatalf("Write = %d, %v", w, err)
			}
			b = b[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("pieces of %d: got %+v", size, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("pieces of %d: progress %d = %+v, want %+v", size, i, got[i], want[i])
			}
		}
	}
}

// A certified run's report directory holds the four files of a submission:
// the log and JUnit report as the run wrote them, PRODUCT.yaml and a README
// generated from what the run knows (counts, cluster, how to reproduce).
func TestWriteSubmission(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSubmission(dir, Submission{}); err == nil || !strings.Contains(err.Error(), "the run left no ginkgo.log") && !strings.Contains(err.Error(), "the run left no junit.xml") {
		t.Fatalf("without the run's files: %v", err)
	}
	for f, text := range map[string]string{LogFile: "ginkgo output\n", JUnitFile: sampleJUnit} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases, err := ParseJUnit([]byte(sampleJUnit))
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(cases)
	sum.Elapsed = 47 * time.Minute
	sub := Submission{
		Hardway: "hardway (devel) (commit 0123456789ab), go1.26.8, linux/amd64", KubernetesVersion: "v1.37.2",
		Cluster: "cert3", Config: []byte("name: cert3\nnetwork:\n  nodeSubnet: 10.215.0.0/24\n"),
		Nodes: []string{"node-0 (control-plane, worker)"}, Components: []string{"etcd v3.6.5"},
		Images: []string{"registry.k8s.io/pause:3.10.2 [stand-in] hardway's pause"}, Parallel: 4, Summary: sum,
		Finished: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC),
	}
	if err := WriteSubmission(dir, sub); err != nil {
		t.Fatal(err)
	}
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read(SubmissionLog) != "ginkgo output\n" || read(SubmissionJUnit) != sampleJUnit {
		t.Errorf("e2e.log or junit_01.xml is not the run's own file")
	}
	product := read(SubmissionProduct)
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(product), &doc); err != nil {
		t.Fatalf("PRODUCT.yaml is not YAML: %v\n%s", err, product)
	}
	for _, k := range []string{"vendor", "name", "version", "website_url", "repo_url", "documentation_url", "product_logo_url", "type", "description", "contact_email_address"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("PRODUCT.yaml lacks %s", k)
		}
	}
	if doc["version"] != "(devel)" || doc["type"] != "installer" || !strings.Contains(doc["description"].(string), "v1.37.2") {
		t.Errorf("PRODUCT.yaml: %v", doc)
	}
	readme := read(SubmissionReadme)
	for _, want := range []string{
		"| 1 | 2 | 1 | 1 | 47m0s |",
		"- [sig-network] DNS should provide DNS for services [Conformance]: Unexpected error:",
		"- [sig-storage] CSI should mount [Conformance]: Only supported for node OS distro",
		"cat > cert3.yaml <<'EOF'\nname: cert3\nnetwork:\n  nodeSubnet: 10.215.0.0/24\nEOF\n",
		"bin/hardway up -c cert3.yaml\n",
		"bin/hardway conformance --certified --parallel 4 --name cert3 --report results\n",
		"- node-0 (control-plane, worker)", "- etcd v3.6.5", "2026-12-03T08:00:00Z",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks %q:\n%s", want, readme)
		}
	}
}
