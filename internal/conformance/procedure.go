package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/steps"
)

// Request is what `hardway conformance` asks for.
type Request struct {
	Selection Selection
	// Parallel is how many tests run at once (ginkgo processes).
	Parallel int
	// ReportDir gets junit.xml, ginkgo.log and summary.txt; empty: the
	// cluster's state directory, conformance/.
	ReportDir string
}

// Check refuses a request that cannot run, before any cluster is opened.
func (r Request) Check() error {
	if _, _, err := r.Selection.Args(); err != nil {
		return err
	}
	if r.Parallel < 1 {
		return fmt.Errorf("--parallel %d: want 1 or more tests at once", r.Parallel)
	}
	return nil
}

// Env is what a conformance run uses.
type Env struct {
	Cluster *steps.Cluster
	// Builder builds the test tools and images into the artifact cache.
	Builder *artifacts.Builder
	Run     hexec.Runner
	// Log gets the lines the user reads between the tests' progress.
	Log        logx.Logger
	OnProgress func(Progress)
	// Hardway is hardway's version line, for a certified run's files.
	Hardway string
}

// Outcome is a finished run.
type Outcome struct {
	Summary  *Summary
	Text     string // summary.txt
	Report   string // the report directory
	Registry ops.Registry
}

// Conform builds what the suite needs (e2e.test, ginkgo, every image it
// lists that can be made here), pushes the images into the cluster's
// registry, runs the selected tests and writes the report. A failed test is
// not an error: the Outcome's Summary says so.
func Conform(ctx context.Context, e Env, req Request) (Outcome, error) {
	var o Outcome
	if err := req.Check(); err != nil {
		return o, err
	}
	focus, skip, _ := req.Selection.Args()
	c := e.Cluster
	cfg := c.Config
	report, err := readyReport(ctx, c, req.ReportDir)
	if err != nil {
		return o, err
	}
	o.Report = report

	store := e.Builder.Store
	auto := artifacts.Option{Source: artifacts.SourceAuto}
	tools, err := artifacts.ConformanceManifest(cfg.KubernetesVersion)
	if err != nil {
		return o, err
	}
	e.Log.Logf(0, "test tools for Kubernetes %s (e2e.test takes ~17 minutes to build the first time)", cfg.KubernetesVersion)
	if _, err := e.Builder.Build(ctx, tools, auto); err != nil {
		return o, err
	}
	e2eTest, err := store.Path(tools, artifacts.CompE2ETest, "e2e.test")
	if err != nil {
		return o, err
	}
	ginkgo, err := store.Path(tools, artifacts.CompGinkgo, "ginkgo")
	if err != nil {
		return o, err
	}
	refs, err := ListImages(ctx, e.Run, e2eTest)
	if err != nil {
		return o, err
	}
	imgs, unavailable, err := artifacts.MapE2EImages(cfg.KubernetesVersion, refs)
	if err != nil {
		return o, err
	}
	im, err := artifacts.E2EImageManifest(cfg.KubernetesVersion, imgs)
	if err != nil {
		return o, err
	}
	e.Log.Logf(0, "e2e images: %d of the %d the suite lists are made here", len(imgs), len(refs))
	if _, err := e.Builder.Build(ctx, im, auto); err != nil {
		return o, err
	}
	paths, err := store.ImagePaths(im)
	if err != nil {
		return o, err
	}
	if o.Registry, err = ops.EnsureRegistry(ctx, c, e.Builder); err != nil {
		return o, err
	}
	start := time.Now()
	var lines []string
	for _, x := range imgs {
		if _, err := o.Registry.Push(ctx, paths[x.Ref], x.Ref); err != nil {
			return o, err
		}
		lines = append(lines, fmt.Sprintf("%s [%s] %s", x.Ref, x.Kind, strings.TrimSpace(x.Note)))
	}
	for _, u := range unavailable {
		lines = append(lines, u+" [not made] no recipe here: a test that runs it fails to pull it")
	}
	e.Log.Logf(0, "pushed %d images to the registry at %s (%s)", len(imgs), o.Registry.Host, time.Since(start).Round(100*time.Millisecond))

	kubectl, ok := c.Artifacts.Binary("kubectl")
	if !ok {
		return o, fmt.Errorf("no kubectl in the artifacts of Kubernetes %s; run: hardway artifacts build --name %s", cfg.KubernetesVersion, cfg.Name)
	}
	opts := Options{
		E2ETest: e2eTest, Ginkgo: ginkgo, Kubectl: c.Artifacts.HostPath(kubectl.Rel),
		Kubeconfig: c.State.AdminKubeconfig(), ReportDir: o.Report,
		Focus: focus, Skip: skip, Parallel: req.Parallel, Run: e.Run,
		OnProgress: e.OnProgress,
	}
	total, err := Count(ctx, opts)
	if err != nil {
		return o, err
	}
	if total == 0 {
		return o, fmt.Errorf("%s selects no test; list the conformance tests with: %s --list-conformance-tests", req.Selection.Describe(), e2eTest)
	}
	e.Log.Logf(0, "running %d tests (%s), %d at a time, against cluster %q; full log: %s", total, req.Selection.Describe(), req.Parallel, cfg.Name, filepath.Join(o.Report, LogFile))
	if o.Summary, err = Run(ctx, opts, total); err != nil {
		return o, err
	}
	o.Text = o.Summary.Text(req.Selection.Describe(), lines)
	if err := WriteSummary(o.Report, o.Text); err != nil {
		return o, err
	}
	if !req.Selection.Certified {
		return o, nil
	}
	sub := Submission{
		Hardway: e.Hardway, KubernetesVersion: cfg.KubernetesVersion, Cluster: cfg.Name,
		Images: lines, Parallel: req.Parallel, Summary: o.Summary, Finished: time.Now(),
	}
	if sub.Config, err = cfg.Marshal(); err != nil {
		return o, err
	}
	for _, n := range cfg.Nodes {
		sub.Nodes = append(sub.Nodes, fmt.Sprintf("%s (%s)", n.Name, strings.Join(n.Roles, ", ")))
	}
	if m, err := artifacts.ManifestFor(cfg.KubernetesVersion); err == nil {
		for _, comp := range m.Components {
			sub.Components = append(sub.Components, comp.Name+" "+comp.Version)
		}
	}
	return o, WriteSubmission(o.Report, sub)
}

// readyReport is what both suites need before they start: the cluster's
// artifacts resolved, its API server answering (within 10 s), and the
// report directory as an absolute path (default: the state directory's
// conformance/).
func readyReport(ctx context.Context, c *steps.Cluster, dir string) (string, error) {
	if c.ArtifactsErr != nil {
		return "", c.ArtifactsErr
	}
	admin, err := c.Admin()
	if err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = admin.Readyz(rctx)
	cancel()
	if err != nil {
		return "", fmt.Errorf("the API server of cluster %s does not answer (%v); check it with: hardway status --name %s", c.Config.Name, firstLine(err.Error()), c.Config.Name)
	}
	if dir == "" {
		dir = filepath.Join(c.State.Path(), "conformance")
	}
	return filepath.Abs(dir)
}
