package conformance

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hardway.dev/hardway/internal/artifacts"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/ops"
)

// The Gateway API conformance run (`hardway conformance --gateway`): the
// upstream suite (sigs.k8s.io/gateway-api/conformance, a Go test package
// built with go test -c) against the gateway add-on's GatewayClass, for the
// GATEWAY-HTTP profile's core features.

// Report files of a gateway run, beside those of the Kubernetes run.
const (
	GatewayLogFile    = "gateway.log"
	GatewayReportFile = "gateway-report.yaml" // the suite's own ConformanceReport
	GatewayJUnitFile  = "gateway-junit.xml"
	GatewaySummary    = "gateway-summary.txt"
)

// GatewayClass is the class the gateway add-on installs (Traefik's).
const GatewayClass = "traefik"

// gatewayCoreFeatures are the GATEWAY-HTTP profile's core features: naming
// them (and nothing else) runs the core tests and skips every extended one.
func gatewayCoreFeatures() []string { return []string{"Gateway", "HTTPRoute", "ReferenceGrant"} }

// GatewayRequest is what `hardway conformance --gateway` asks for.
type GatewayRequest struct {
	// ReportDir: empty means the cluster's state directory, conformance/.
	ReportDir string
	// RunTest runs only this test (its short name, like
	// HTTPRouteSimpleSameNamespace).
	RunTest string
}

// GatewayOutcome is a finished gateway run.
type GatewayOutcome struct {
	Summary  *Summary
	Text     string
	Report   string
	Registry ops.Registry
}

// ConformGateway builds the suite and echo-basic, pushes the images its
// manifests name into the cluster's registry, runs the suite and writes the
// report. A failed test is not an error: the Summary says so.
func ConformGateway(ctx context.Context, e Env, req GatewayRequest) (GatewayOutcome, error) {
	var o GatewayOutcome
	c := e.Cluster
	cfg := c.Config
	if !cfg.GatewayOn() {
		return o, fmt.Errorf("the gateway add-on is off in cluster %s: add gateway to addons in its config, run hardway up, then this again", cfg.Name)
	}
	report, err := readyReport(ctx, c, req.ReportDir)
	if err != nil {
		return o, err
	}
	o.Report = report
	if err := os.MkdirAll(o.Report, 0o755); err != nil {
		return o, fmt.Errorf("--report %s: %v", o.Report, err)
	}

	m := artifacts.GatewayConformanceManifest(cfg.KubernetesVersion)
	e.Log.Logf(0, "Gateway API %s conformance suite and echo-basic (built from source the first time)", artifacts.GatewayAPIVersion)
	if _, err := e.Builder.Build(ctx, m, artifacts.Option{Source: artifacts.SourceAuto}); err != nil {
		return o, err
	}
	store := e.Builder.Store
	suite, err := store.Path(m, artifacts.CompGatewayConformance, artifacts.GatewayConformance)
	if err != nil {
		return o, err
	}
	listFile, err := store.Path(m, artifacts.CompGatewayConformance, artifacts.GatewaySuiteImages)
	if err != nil {
		return o, err
	}
	list, err := os.ReadFile(listFile)
	if err != nil {
		return o, err
	}
	paths, err := store.ImagePaths(m)
	if err != nil {
		return o, err
	}
	coredns, err := artifacts.CoreDNSImage(cfg.KubernetesVersion)
	if err != nil {
		return o, err
	}
	var corednsArchive string
	for _, img := range c.Artifacts.Images {
		if img.Ref == coredns {
			corednsArchive = c.Artifacts.HostPath(img.Rel)
		}
	}
	if o.Registry, err = ops.EnsureRegistry(ctx, c, e.Builder); err != nil {
		return o, err
	}
	var lines []string
	for _, ref := range strings.Fields(string(list)) {
		from, fromRef, note := "", "", ""
		switch {
		case strings.Contains(ref, "/echo-basic:"):
			// registry.k8s.io/gateway-api/echo-basic or, in older
			// suites, gcr.io/k8s-staging-gateway-api/echo-basic.
			from, fromRef = paths[artifacts.GatewayEchoImage()], artifacts.GatewayEchoImage()
			note = "rebuilt: echo-basic from sigs.k8s.io/gateway-api/conformance " + artifacts.GatewayAPIVersion + " (the suite's tags name older builds of the same program)"
		case strings.HasPrefix(ref, "registry.k8s.io/coredns/coredns:") && corednsArchive != "":
			from, fromRef = corednsArchive, coredns
			note = "stand-in: the cluster's own CoreDNS " + coredns + " (serves the UDP tests' DNS; GATEWAY-HTTP does not use it, but the suite's base manifests start it)"
		}
		if from == "" {
			lines = append(lines, ref+" [not made] no recipe here: a test that runs it fails to pull it")
			continue
		}
		if err := pushAs(ctx, o.Registry, from, fromRef, ref); err != nil {
			return o, err
		}
		lines = append(lines, ref+" ["+strings.SplitN(note, ":", 2)[0]+"]"+strings.SplitN(note, ":", 2)[1])
	}
	e.Log.Logf(0, "pushed the suite's images to the registry at %s", o.Registry.Host)

	args := []string{
		"KUBECONFIG=" + c.State.AdminKubeconfig(),
		suite, "-test.v", "-test.run", "^TestConformance$", "-test.timeout", "2h",
		"--gateway-class=" + GatewayClass,
		"--conformance-profiles=GATEWAY-HTTP",
		"--supported-features=" + strings.Join(gatewayCoreFeatures(), ","),
		"--report-output=" + filepath.Join(o.Report, GatewayReportFile),
		"--organization=hardway", "--project=traefik", "--url=https://github.com/traefik/traefik",
		"--version=" + artifacts.TraefikVersion, "--contact=hardway",
		"--cleanup-base-resources=true",
	}
	if req.RunTest != "" {
		args = append(args, "--run-test="+req.RunTest)
	}
	logf, err := os.Create(filepath.Join(o.Report, GatewayLogFile))
	if err != nil {
		return o, fmt.Errorf("--report %s: %v", o.Report, err)
	}
	defer logf.Close()
	p := &goTestProgress{start: time.Now(), report: e.OnProgress}
	e.Log.Logf(0, "running the GATEWAY-HTTP core tests against GatewayClass %s of cluster %q; full log: %s", GatewayClass, cfg.Name, filepath.Join(o.Report, GatewayLogFile))
	_, runErr := e.Run.Run(ctx, hexec.Cmd{Name: "env", Args: args, Stream: io.MultiWriter(logf, p)})
	if ctx.Err() != nil {
		return o, ctx.Err()
	}
	data, err := os.ReadFile(filepath.Join(o.Report, GatewayLogFile))
	if err != nil {
		return o, err
	}
	cases := ParseGoTest(string(data))
	if len(cases) == 0 {
		return o, fmt.Errorf("the suite reported no test (%v): %s; see %s", runErr, lastLines(filepath.Join(o.Report, GatewayLogFile), 5), filepath.Join(o.Report, GatewayLogFile))
	}
	o.Summary = Summarize(cases)
	o.Summary.Elapsed = time.Since(p.start)
	if err := writeJUnit(filepath.Join(o.Report, GatewayJUnitFile), "gateway-api-conformance", cases); err != nil {
		return o, err
	}
	what := fmt.Sprintf("Gateway API %s conformance, profile GATEWAY-HTTP, core features (%s), GatewayClass %s (Traefik %s)",
		artifacts.GatewayAPIVersion, strings.Join(gatewayCoreFeatures(), ", "), GatewayClass, artifacts.TraefikVersion)
	if req.RunTest != "" {
		what += ", only " + req.RunTest
	}
	o.Text = gatewaySummaryText(o.Summary, cases, what, lines)
	if err := os.WriteFile(filepath.Join(o.Report, GatewaySummary), []byte(o.Text), 0o644); err != nil {
		return o, err
	}
	return o, nil
}

// pushAs pushes the image archive holds under fromRef into the registry
// as ref.
func pushAs(ctx context.Context, r ops.Registry, archive, fromRef, ref string) error {
	tag, err := name.NewTag(fromRef)
	if err != nil {
		return fmt.Errorf("image reference %q: %v", fromRef, err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return fmt.Errorf("image archive %s does not hold %s: %v", archive, fromRef, err)
	}
	_, err = r.PushImage(ctx, img, ref)
	return err
}

var (
	goTestResult = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
	goTestRun    = regexp.MustCompile(`^=== (?:RUN|CONT|NAME)\s+(\S+)`)
)

// ParseGoTest reads `go test -v` output into test cases: one per subtest of
// TestConformance (the suite's tests, named by their short name). A case's message is the first
// indented line logged while it ran (go test -v prints t.Log and t.Skip
// lines as they come, under the latest "=== RUN/CONT/NAME"), or else the
// first one after its result line.
func ParseGoTest(out string) []Case {
	type res struct {
		state string
		secs  float64
	}
	results := map[string]*res{}
	msgs := map[string]string{}
	var order []string
	running := ""
	for _, line := range strings.Split(out, "\n") {
		if m := goTestRun.FindStringSubmatch(line); m != nil {
			running = m[1]
			continue
		}
		if m := goTestResult.FindStringSubmatch(line); m != nil {
			r := &res{state: m[1]}
			fmt.Sscanf(m[3], "%g", &r.secs)
			if _, seen := results[m[2]]; !seen {
				order = append(order, m[2])
			}
			results[m[2]] = r
			running = m[2]
			continue
		}
		t := strings.TrimSpace(line)
		if running != "" && t != "" && strings.HasPrefix(line, " ") && msgs[running] == "" {
			msgs[running] = t
		}
	}
	var cases []Case
	for _, n := range order {
		// The suite's tests are TestConformance/<name>; deeper names are
		// their steps, whose messages stand for the test's when it logged
		// none of its own.
		if strings.Count(n, "/") != 1 {
			continue
		}
		r := results[n]
		msg := msgs[n]
		for _, m := range order {
			if msg == "" && strings.HasPrefix(m, n+"/") && results[m].state == r.state {
				msg = msgs[m]
			}
		}
		c := Case{Name: n[strings.Index(n, "/")+1:], Status: "passed", Time: time.Duration(r.secs * float64(time.Second))}
		switch r.state {
		case "FAIL":
			c.Status, c.FirstError = "failed", msg
		case "SKIP":
			c.Status, c.FirstError = "skipped", msg
		}
		cases = append(cases, c)
	}
	sort.SliceStable(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases
}

// writeJUnit writes cases as a JUnit report, the format the Kubernetes run
// leaves too.
func writeJUnit(path, suite string, cases []Case) error {
	type failure struct {
		Message string `xml:"message,attr"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type tc struct {
		Name    string   `xml:"name,attr"`
		Time    float64  `xml:"time,attr"`
		Failure *failure `xml:"failure,omitempty"`
		Skipped *skipped `xml:"skipped,omitempty"`
	}
	type ts struct {
		XMLName  xml.Name `xml:"testsuite"`
		Name     string   `xml:"name,attr"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Cases    []tc     `xml:"testcase"`
	}
	s := ts{Name: suite, Tests: len(cases)}
	for _, c := range cases {
		x := tc{Name: c.Name, Time: c.Time.Seconds()}
		switch c.Status {
		case "failed":
			s.Failures++
			x.Failure = &failure{Message: c.FirstError}
		case "skipped":
			s.Skipped++
			x.Skipped = &skipped{Message: c.FirstError}
		}
		s.Cases = append(s.Cases, x)
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

// goTestProgress reports each finished test of `go test -v` output.
type goTestProgress struct {
	mu           sync.Mutex
	buf          []byte
	done, failed int
	start        time.Time
	report       func(Progress)
}

func (p *goTestProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		m := goTestResult.FindStringSubmatch(line)
		// Only the suite's tests (TestConformance/<name>), not their
		// steps or the suite itself.
		if m == nil || strings.Count(m[2], "/") != 1 || p.report == nil {
			continue
		}
		p.done++
		if m[1] == "FAIL" {
			p.failed++
		}
		sc := bufio.NewScanner(strings.NewReader(m[2]))
		sc.Scan()
		p.report(Progress{Done: p.done, Failed: p.failed, Elapsed: time.Since(p.start), Last: m[1] + " " + strings.TrimPrefix(sc.Text(), "TestConformance/")})
	}
}

// gatewaySummaryText is the gateway run's summary: counts and wall time,
// then every failed and every skipped test with its reason (the suite
// skips a test for a feature not named, or one it lists as skipped), then
// the images.
func gatewaySummaryText(s *Summary, cases []Case, what string, images []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Conformance run: %s\n", what)
	fmt.Fprintf(&b, "passed %d, failed %d, skipped %d, wall time %s\n", s.Passed, s.Failed, s.Skipped, s.Elapsed.Round(time.Second))
	for _, st := range []string{"failed", "skipped"} {
		var list []Case
		for _, c := range cases {
			if c.Status == st {
				list = append(list, c)
			}
		}
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", strings.ToUpper(st[:1])+st[1:])
		for _, c := range list {
			reason := c.FirstError
			if reason == "" {
				reason = "(no reason given; see " + GatewayLogFile + ")"
			}
			fmt.Fprintf(&b, "- %s\n    %s\n", c.Name, reason)
		}
	}
	if len(images) > 0 {
		fmt.Fprintf(&b, "\nImages (built here under the references the suite expects):\n")
		for _, l := range images {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	return b.String()
}
