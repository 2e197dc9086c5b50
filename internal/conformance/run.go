package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
)

// Options are what a run needs.
type Options struct {
	E2ETest, Ginkgo, Kubectl string
	// Kubeconfig is the admin kubeconfig file.
	Kubeconfig string
	// ReportDir receives junit.xml, ginkgo.log and summary.txt.
	ReportDir string
	// Focus and Skip come from Selection.Args.
	Focus, Skip string
	// Parallel is the number of ginkgo processes (1: one at a time).
	Parallel int
	// Timeout bounds the whole suite.
	Timeout time.Duration
	Run     hexec.Runner
	// OnProgress, when set, is called after every finished test.
	OnProgress func(Progress)
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Progress is the state of a run after a test finished.
type Progress struct {
	Done, Total, Failed int
	Elapsed             time.Duration
	// Last is the test that just finished, with PASSED or FAILED in front,
	// when ginkgo named it (failed and slow tests); empty for the others.
	Last string
}

// Paths of the report directory.
const (
	JUnitFile   = "junit.xml"
	LogFile     = "ginkgo.log"
	SummaryFile = "summary.txt"
)

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// e2eArgs are the e2e.test flags after ginkgo's "--".
func (o *Options) e2eArgs() []string {
	a := []string{
		"--kubeconfig=" + o.Kubeconfig,
		// skeleton: a cluster of no cloud, which is what hardway builds.
		"--provider=skeleton",
		"--kubectl-path=" + o.Kubectl,
		// The dump needs SSH to nodes the suite does not have; the
		// failure itself is in the JUnit report and the log.
		"--dump-logs-on-failure=false",
	}
	return a
}

// Count returns how many tests the selection runs: a ginkgo dry run of
// e2e.test with the same focus and skip, read from its JSON report.
func Count(ctx context.Context, o Options) (int, error) {
	dir, err := os.MkdirTemp("", "hardway-dry-run-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "dry-run.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.json-report=" + report, "--ginkgo.focus=" + o.Focus}
	if o.Skip != "" {
		args = append(args, "--ginkgo.skip="+o.Skip)
	}
	args = append(args, o.e2eArgs()...)
	if _, err := o.Run.Run(ctx, hexec.Cmd{Name: o.E2ETest, Args: args}); err != nil {
		return 0, fmt.Errorf("dry run of e2e.test: %w", err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		return 0, fmt.Errorf("the dry run of e2e.test wrote no report: %v", err)
	}
	return ParseDryRun(data)
}

// ListImages runs e2e.test --list-images.
func ListImages(ctx context.Context, r hexec.Runner, e2eTest string) ([]string, error) {
	out, err := r.Run(ctx, hexec.Cmd{Name: e2eTest, Args: []string{"--list-images"}})
	if err != nil {
		return nil, fmt.Errorf("e2e.test --list-images: %w", err)
	}
	refs := ParseImageList(out)
	if len(refs) == 0 {
		return nil, fmt.Errorf("e2e.test --list-images printed no image reference; the e2e.test binary is not the upstream suite")
	}
	return refs, nil
}

// Run runs the selected tests under ginkgo, total being Count's answer, and
// summarizes the JUnit report. A run with failures returns its summary and
// no error: the caller decides the exit code. An error means the suite
// could not run or left no report.
func Run(ctx context.Context, o Options, total int) (*Summary, error) {
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return nil, fmt.Errorf("--report %s: %v", o.ReportDir, err)
	}
	for _, f := range []string{JUnitFile, LogFile, SummaryFile} {
		_ = os.Remove(filepath.Join(o.ReportDir, f))
	}
	start := o.now()
	tracker := &tracker{total: total, start: start, now: o.now, report: o.OnProgress}

	logf, err := os.Create(filepath.Join(o.ReportDir, LogFile))
	if err != nil {
		return nil, fmt.Errorf("--report %s: %v", o.ReportDir, err)
	}
	defer logf.Close()
	procs := o.Parallel
	if procs < 1 {
		procs = 1
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 3 * time.Hour
	}
	args := []string{
		"--procs=" + fmt.Sprint(procs),
		"--timeout=" + timeout.String(),
		"--focus=" + o.Focus,
		"--junit-report=" + JUnitFile,
		"--output-dir=" + o.ReportDir,
		"--no-color",
	}
	if o.Skip != "" {
		args = append(args, "--skip="+o.Skip)
	}
	args = append(args, o.E2ETest, "--")
	args = append(args, o.e2eArgs()...)
	_, runErr := o.Run.Run(ctx, hexec.Cmd{Name: o.Ginkgo, Args: args, Stream: io.MultiWriter(logf, tracker)})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	data, err := os.ReadFile(filepath.Join(o.ReportDir, JUnitFile))
	if err != nil {
		tail := lastLines(filepath.Join(o.ReportDir, LogFile), 5)
		return nil, fmt.Errorf("ginkgo left no JUnit report (%v): %s; see %s", runErr, tail, filepath.Join(o.ReportDir, LogFile))
	}
	cases, err := ParseJUnit(data)
	if err != nil {
		return nil, err
	}
	s := Summarize(cases)
	s.Elapsed = o.now().Sub(start)
	if runErr != nil && s.OK() {
		// ginkgo failed though no test did: the suite itself broke.
		return nil, fmt.Errorf("ginkgo failed with every reported test passing: %v; see %s", runErr, filepath.Join(o.ReportDir, LogFile))
	}
	return s, nil
}

func lastLines(p string, n int) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tracker counts finished tests from ginkgo's own output, which it writes
// as tests finish, in every verbosity: "•" for a passed test, "• [FAILED]
// [12.3 seconds]" (or PANICKED, TIMEDOUT, INTERRUPTED) and the test's name on
// the next line for a failed one, "• [312.4 seconds]" and the name for a
// slow one that passed, "S" for a skipped one. (e2e.test's own
// --progress-report-url reports only the start and the end of a suite run
// by ginkgo: its per-test reports never come.)
type tracker struct {
	mu     sync.Mutex
	total  int
	done   int
	failed int
	start  time.Time
	now    func() time.Time
	report func(Progress)

	buf     []byte
	verdict string // set while the name line of a test is awaited
}

// bullet is what ginkgo prints for every test that ran.
var bullet = []byte("\u2022")

// Write takes ginkgo's output as it comes, in pieces of any size.
func (t *tracker) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		if t.verdict != "" {
			j := bytes.IndexByte(t.buf, '\n')
			if j < 0 {
				return len(p), nil
			}
			line := strings.TrimSpace(string(t.buf[:j]))
			t.buf = t.buf[j+1:]
			if line == "" {
				continue
			}
			t.finish(t.verdict, line)
			t.verdict = ""
			continue
		}
		i := bytes.Index(t.buf, bullet)
		if i < 0 {
			// Keep what may be the start of a bullet cut in two.
			if len(t.buf) >= len(bullet) {
				t.buf = t.buf[len(t.buf)-len(bullet)+1:]
			}
			return len(p), nil
		}
		rest := t.buf[i+len(bullet):]
		if len(rest) < 2 {
			t.buf = t.buf[i:]
			return len(p), nil
		}
		if rest[0] != ' ' || rest[1] != '[' {
			t.finish("PASSED", "")
			t.buf = rest
			continue
		}
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			t.buf = t.buf[i:]
			return len(p), nil
		}
		header := string(rest[:j])
		t.verdict = "PASSED"
		for _, bad := range []string{"[FAILED]", "[PANICKED]", "[TIMEDOUT]", "[INTERRUPTED]"} {
			if strings.Contains(header, bad) {
				t.verdict = "FAILED"
			}
		}
		t.buf = rest[j+1:]
	}
}

// finish counts one test; mu is held.
func (t *tracker) finish(verdict, name string) {
	t.done++
	if verdict == "FAILED" {
		t.failed++
	}
	last := ""
	if name != "" {
		last = verdict + " " + name
	}
	if t.report != nil {
		t.report(Progress{Done: t.done, Total: t.total, Failed: t.failed, Elapsed: t.now().Sub(t.start), Last: last})
	}
}
