package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/conformance"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
)

func newConformanceCmd(a *app) *cobra.Command {
	var req conformance.Request
	var gw gatewayFlags
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the upstream Kubernetes conformance tests (e2e.test under ginkgo) against the cluster",
		Long: `Builds, once and cached like every artifact, the e2e.test binary of the cluster's
Kubernetes version (go test -c k8s.io/kubernetes/test/e2e: about 17 minutes cold
on 2 cores), ginkgo at the version Kubernetes' go.mod requires, and every image
the suite lists (e2e.test --list-images) that can be made here: agnhost, the
sample API server and busybox from source, the rest as stand-ins (the report
lists which). It pushes them into the cluster's registry (hardway registry),
which every node pulls through, then runs the tests with the admin kubeconfig.

By default every [Conformance] test but the [Serial] and [Disruptive] ones runs,
--parallel at a time; --serial adds those (ginkgo runs them last, alone).
--quick runs a dozen fast ones that touch every part of the cluster.
--certified runs what the CNCF conformance program asks for: every [Conformance]
test, serial and disruptive ones included, and lays the report out as a
submission (e2e.log, junit_01.xml, PRODUCT.yaml, README.md with how to reproduce,
all generated); a test that skips itself fails the run.

Progress is printed after every test; --report DIR gets junit.xml, the full
ginkgo.log and summary.txt (passed, failed, skipped, each failure with its first
error line, every image and what stood in for it). Any failure exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gw.on {
				return a.conformanceGateway(cmd, req, gw)
			}
			return a.conformance(cmd.Context(), req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Selection.Focus, "focus", "", "run only tests whose full name matches this regular expression (Go syntax)")
	f.StringVar(&req.Selection.Skip, "skip", "", "also skip tests whose full name matches this regular expression")
	f.BoolVar(&req.Selection.Quick, "quick", false, "a small representative selection that takes a few minutes (for CI)")
	f.BoolVar(&req.Selection.Serial, "serial", false, "include the [Serial] and [Disruptive] tests, which run alone after the others")
	f.BoolVar(&req.Selection.Certified, "certified", false, "every [Conformance] test, serial ones included, with the files of a conformance submission")
	f.IntVar(&req.Parallel, "parallel", 4, "tests run at once (ginkgo processes)")
	f.StringVar(&req.ReportDir, "report", "", "directory for junit.xml, ginkgo.log and summary.txt (default: the cluster's state directory, conformance/)")
	gw.register(f)
	return cmd
}

func (a *app) conformance(ctx context.Context, req conformance.Request) error {
	// A bad selection is refused before any cluster is looked at.
	if err := req.Check(); err != nil {
		return err
	}
	c, err := a.open(ctx, host.NeedRunning, a.log())
	if err != nil {
		return err
	}
	o, err := conformance.Conform(ctx, conformance.Env{
		Cluster: c,
		Builder: a.builder(a.host.Store()),
		Run:     a.host.Runner(a.log()),
		Log:     &logx.Writer{W: a.out},
		Hardway: versionLine(),
		OnProgress: func(p conformance.Progress) {
			fmt.Fprintf(a.out, "%s\n", strings.TrimSpace(fmt.Sprintf("[%d/%d %s, %d failed] %s", p.Done, p.Total, fmtElapsed(p.Elapsed), p.Failed, p.Last)))
		},
	}, req)
	a.registryChanged(o.Registry)
	if err != nil {
		return err
	}
	fmt.Fprint(a.out, "\n"+o.Text)
	files := "junit.xml, ginkgo.log, summary.txt"
	if req.Selection.Certified {
		files += "; the submission: " + strings.Join([]string{conformance.SubmissionLog, conformance.SubmissionJUnit, conformance.SubmissionProduct, conformance.SubmissionReadme}, ", ")
	}
	fmt.Fprintf(a.out, "\nreport: %s (%s)\n", o.Report, files)
	if s := o.Summary; !s.OK() {
		return fmt.Errorf("%d of %d tests failed (%d suite failures); see %s", s.Failed, s.Passed+s.Failed, len(s.SuiteFailures), filepath.Join(o.Report, conformance.SummaryFile))
	}
	if s := o.Summary; req.Selection.Certified && !s.Complete() {
		return fmt.Errorf("%d selected tests skipped themselves (a missing feature, image or node); a certified run needs every one to run; see %s", len(s.SkippedAtRun), filepath.Join(o.Report, conformance.SummaryFile))
	}
	return nil
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
