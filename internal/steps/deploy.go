package steps

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/render"
)

// service is one systemd service a step installs: its binaries (copied from
// the artifact cache) and the rendered files it reads. A change to either is
// what makes a re-run restart it; otherwise a re-run leaves it alone.
type service struct {
	unit     string
	binaries []string
	inputs   []string // path prefixes of the rendered files it reads
}

func (s service) owns(p string) bool {
	for _, in := range s.inputs {
		if strings.HasPrefix(p, in) {
			return true
		}
	}
	return false
}

// shell runs a shell snippet on a node by name.
func (c *Cluster) shell(ctx context.Context, name, script string) ([]byte, error) {
	n, err := c.Node(ctx, name)
	if err != nil {
		return nil, err
	}
	return node.Sh(ctx, n, script)
}

// forEachNode runs f for every node concurrently and joins the errors.
func (c *Cluster) forEachNode(ctx context.Context, nodes []config.Node, f func(ctx context.Context, n config.Node) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx, n); err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "\n  "))
	}
	return nil
}

// Inputs gathers everything render needs, generating what is missing (the
// PKI, kubeconfigs and encryption config live in the state directory).
func (c *Cluster) Inputs() (render.Inputs, error) {
	set, err := c.ensurePKI()
	if err != nil {
		return render.Inputs{}, err
	}
	kcs, err := c.ensureKubeconfigs()
	if err != nil {
		return render.Inputs{}, err
	}
	enc, err := c.ensureEncryption()
	if err != nil {
		return render.Inputs{}, err
	}
	return render.Inputs{Cluster: c.Config, Facts: c.Facts, PKI: set, Kubeconfigs: kcs, EncryptionConfig: enc}, nil
}

// serviceFiles is the subset of node n's rendered files that any of svcs reads.
func (c *Cluster) serviceFiles(n config.Node, svcs ...service) ([]render.File, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	all, err := render.NodeFiles(in, n)
	if err != nil {
		return nil, err
	}
	var out []render.File
	for _, f := range all {
		for _, svc := range svcs {
			if svc.owns(f.Path) {
				out = append(out, f)
				break
			}
		}
	}
	return out, nil
}

// restartMarkerDir holds one empty file per service that must restart. The
// marker is written together with the files that caused it, and removed only
// after the restart succeeded: a run interrupted in between still restarts
// the service next time, instead of leaving it on its old flags for good.
const restartMarkerDir = "/var/lib/hardway/restart"

func restartMarker(unit string) string { return restartMarkerDir + "/" + unit }

// deploy brings services on node n to their desired state, in order: files
// and binaries in place, units enabled and running, each restarted only when
// something it reads changed. All their files are compared in one pass, so a
// file two services read (the CA) restarts both. noBlock starts units
// without waiting for readiness (etcd members wait for each other).
func (c *Cluster) deploy(ctx context.Context, n config.Node, noBlock bool, svcs ...service) error {
	files, err := c.serviceFiles(n, svcs...)
	if err != nil {
		return err
	}
	return c.deployFiles(ctx, n.Name, files, noBlock, svcs...)
}

func (c *Cluster) deployFiles(ctx context.Context, nodeName string, files []render.File, noBlock bool, svcs ...service) error {
	nd, err := c.Node(ctx, nodeName)
	if err != nil {
		return err
	}
	changed, err := diffFiles(ctx, nd, files)
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		for _, f := range changed {
			if svc.owns(f.Path) {
				changed = append(changed, render.File{Path: restartMarker(svc.unit), Mode: 0o644})
				break
			}
		}
	}
	if err := writeFiles(ctx, nd, changed); err != nil {
		return err
	}
	for _, f := range changed {
		if !strings.HasPrefix(f.Path, restartMarkerDir) {
			c.Log.Logf(1, "  %s: wrote %s", nodeName, f.Path)
		}
	}
	var script strings.Builder
	for _, svc := range svcs {
		if err := c.installBinaries(ctx, nd, svc); err != nil {
			return err
		}
		block := ""
		if noBlock {
			block = " --no-block"
		}
		// A marker means: reload unit files (one may have changed) and restart.
		fmt.Fprintf(&script, "if [ -e %[1]s ]; then systemctl daemon-reload && systemctl enable --quiet %[2]s && systemctl restart%[3]s %[2]s && rm -f %[1]s && echo restarted %[2]s; else systemctl enable --quiet %[2]s && systemctl start%[3]s %[2]s; fi || { echo %[2]s failed to start >&2; exit 1; }\n",
			restartMarker(svc.unit), svc.unit, block)
	}
	out, err := node.Sh(ctx, nd, "set -e\n"+script.String())
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			c.Log.Logf(1, "  %s: %s", nodeName, l)
		}
	}
	if err != nil {
		units := make([]string, len(svcs))
		for i, svc := range svcs {
			units[i] = svc.unit
		}
		return fmt.Errorf("starting %s: %w\n  see its log: hardway logs %s UNIT --name %s", strings.Join(units, ", "), err, nodeName, c.Config.Name)
	}
	return nil
}

// installBinaries copies a service's binaries from the read-only artifact
// mount into place when they differ, marking the service for a restart first.
func (c *Cluster) installBinaries(ctx context.Context, nd node.Node, svc service) error {
	if len(svc.binaries) == 0 {
		return nil
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	sorted := append([]string{}, svc.binaries...)
	sort.Strings(sorted)
	for _, name := range sorted {
		src, dst, err := c.binary(name)
		if err != nil {
			return err
		}
		// Replace by rename so a running process keeps its old inode.
		fmt.Fprintf(&script, "if ! cmp -s %[1]s %[2]s; then mkdir -p %[3]s %[5]s; touch %[4]s; cp %[1]s %[2]s.new; chmod 0755 %[2]s.new; mv -f %[2]s.new %[2]s; echo %[2]s; fi\n",
			src, dst, path.Dir(dst), restartMarker(svc.unit), restartMarkerDir)
	}
	out, err := node.Sh(ctx, nd, script.String())
	if err != nil {
		return fmt.Errorf("installing %s: %w", strings.Join(sorted, ", "), err)
	}
	for _, l := range strings.Fields(string(out)) {
		c.Log.Logf(1, "  %s: installed %s", nd.Name(), l)
	}
	return nil
}

// explainFiles prints the rendered files a service gets on node n.
func (c *Cluster) explainFiles(b *strings.Builder, n config.Node, svc service) error {
	files, err := c.serviceFiles(n, svc)
	if err != nil {
		return err
	}
	section(b, fmt.Sprintf("Files for %s on %s", svc.unit, n.Name))
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".service") || strings.HasSuffix(f.Path, ".yaml") && !strings.Contains(f.Path, "kubeconfig") || strings.HasSuffix(f.Path, ".toml") || strings.HasSuffix(f.Path, ".conflist") {
			fmt.Fprintf(b, "\n  %s (mode %o):\n", f.Path, f.Mode.Perm())
			b.WriteString(indent(string(f.Data), "    │ "))
			continue
		}
		fmt.Fprintf(b, "  %s (mode %o, %d bytes)\n", f.Path, f.Mode.Perm(), len(f.Data))
	}
	binDirs := []string{}
	for _, name := range svc.binaries {
		if _, dst, err := c.binary(name); err == nil {
			binDirs = append(binDirs, dst)
		}
	}
	if len(binDirs) > 0 {
		fmt.Fprintf(b, "  binaries: %s (copied from %s)\n", strings.Join(binDirs, ", "), NodeArtifactsDir)
	}
	return nil
}

// manifest renders one cluster-level manifest (applied through the API).
func (c *Cluster) manifest(name string) ([]byte, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	ms, err := render.Manifests(in)
	if err != nil {
		return nil, err
	}
	m, ok := ms[name]
	if !ok {
		return nil, fmt.Errorf("no manifest %s (a bug in hardway)", name)
	}
	return m, nil
}
