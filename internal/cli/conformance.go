package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/conformance"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/registry"
)

func newConformanceCmd(a *app) *cobra.Command {
	var sel conformance.Selection
	var parallel int
	var report string
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

Progress is printed after every test; --report DIR gets junit.xml, the full
ginkgo.log and summary.txt (passed, failed, skipped, each failure with its first
error line, every image and what stood in for it). Any failure exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.conformance(cmd.Context(), sel, parallel, report)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sel.Focus, "focus", "", "run only tests whose full name matches this regular expression (Go syntax)")
	f.StringVar(&sel.Skip, "skip", "", "also skip tests whose full name matches this regular expression")
	f.BoolVar(&sel.Quick, "quick", false, "a small representative selection that takes a few minutes (for CI)")
	f.BoolVar(&sel.Serial, "serial", false, "include the [Serial] and [Disruptive] tests, which run alone after the others")
	f.IntVar(&parallel, "parallel", 4, "tests run at once (ginkgo processes)")
	f.StringVar(&report, "report", "", "directory for junit.xml, ginkgo.log and summary.txt (default: the cluster's state directory, conformance/)")
	return cmd
}

func (a *app) conformance(ctx context.Context, sel conformance.Selection, parallel int, report string) error {
	focus, skip, err := sel.Args()
	if err != nil {
		return err
	}
	if parallel < 1 {
		return fmt.Errorf("--parallel %d: want 1 or more tests at once", parallel)
	}
	c, err := a.runningCluster(ctx)
	if err != nil {
		return err
	}
	cfg := c.Config
	if c.ArtifactsErr != nil {
		return c.ArtifactsErr
	}
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = admin.Readyz(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("the API server of cluster %s does not answer (%v); check it with: hardway status --name %s", cfg.Name, firstLineOf(err.Error()), cfg.Name)
	}
	if report == "" {
		report = filepath.Join(c.State.Path(), "conformance")
	}
	if report, err = filepath.Abs(report); err != nil {
		return err
	}

	store, err := a.artifactStore()
	if err != nil {
		return err
	}
	auto := artifacts.Option{Source: artifacts.SourceAuto}
	tools, err := artifacts.ConformanceManifest(cfg.KubernetesVersion)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "test tools for Kubernetes %s (e2e.test takes ~17 minutes to build the first time)\n", cfg.KubernetesVersion)
	if _, err := a.builder(store).Build(ctx, tools, auto); err != nil {
		return err
	}
	e2eTest, err := store.Path(tools, artifacts.CompE2ETest, "e2e.test")
	if err != nil {
		return err
	}
	ginkgo, err := store.Path(tools, artifacts.CompGinkgo, "ginkgo")
	if err != nil {
		return err
	}
	run := hexec.OS{Log: a.log()}
	refs, err := conformance.ListImages(ctx, run, e2eTest)
	if err != nil {
		return err
	}
	imgs, unavailable, err := artifacts.MapE2EImages(cfg.KubernetesVersion, refs)
	if err != nil {
		return err
	}
	im, err := artifacts.E2EImageManifest(cfg.KubernetesVersion, imgs)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "e2e images: %d of the %d the suite lists are made here\n", len(imgs), len(refs))
	if _, err := a.builder(store).Build(ctx, im, auto); err != nil {
		return err
	}
	paths, err := store.ImagePaths(im)
	if err != nil {
		return err
	}
	host, err := a.ensureRegistry(ctx, c)
	if err != nil {
		return err
	}
	start := time.Now()
	var lines []string
	for _, x := range imgs {
		if _, err := registry.Push(ctx, host, paths[x.Ref], x.Ref); err != nil {
			return err
		}
		lines = append(lines, imageLine(x))
	}
	for _, u := range unavailable {
		lines = append(lines, u+" [not made] no recipe here: a test that runs it fails to pull it")
	}
	fmt.Fprintf(a.out, "pushed %d images to the registry at %s (%s)\n", len(imgs), host, roundDuration(time.Since(start)))

	kubectl, ok := c.Artifacts.Binary("kubectl")
	if !ok {
		return fmt.Errorf("no kubectl in the artifacts of Kubernetes %s; run: hardway artifacts build --name %s", cfg.KubernetesVersion, cfg.Name)
	}
	opts := conformance.Options{
		E2ETest: e2eTest, Ginkgo: ginkgo, Kubectl: c.Artifacts.HostPath(kubectl.Rel),
		Kubeconfig: c.State.AdminKubeconfig(), ReportDir: report,
		Focus: focus, Skip: skip, Parallel: parallel, Run: run,
		OnProgress: func(p conformance.Progress) {
			fmt.Fprintf(a.out, "%s\n", strings.TrimSpace(fmt.Sprintf("[%d/%d %s, %d failed] %s", p.Done, p.Total, fmtElapsed(p.Elapsed), p.Failed, p.Last)))
		},
	}
	total, err := conformance.Count(ctx, opts)
	if err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("%s selects no test; list the conformance tests with: %s --list-conformance-tests", sel.Describe(), e2eTest)
	}
	fmt.Fprintf(a.out, "running %d tests (%s), %d at a time, against cluster %q; full log: %s\n", total, sel.Describe(), parallel, cfg.Name, filepath.Join(report, conformance.LogFile))
	s, err := conformance.Run(ctx, opts, total)
	if err != nil {
		return err
	}
	text := s.Text(sel.Describe(), lines)
	if err := conformance.WriteSummary(report, text); err != nil {
		return err
	}
	fmt.Fprint(a.out, "\n"+text)
	fmt.Fprintf(a.out, "\nreport: %s (junit.xml, ginkgo.log, summary.txt)\n", report)
	if !s.OK() {
		return fmt.Errorf("%d of %d tests failed (%d suite failures); see %s", s.Failed, s.Passed+s.Failed, len(s.SuiteFailures), filepath.Join(report, conformance.SummaryFile))
	}
	return nil
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
