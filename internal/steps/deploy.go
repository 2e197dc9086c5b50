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

// serviceFiles is the subset of node n's rendered files that svc reads.
func (c *Cluster) serviceFiles(n config.Node, svc service) ([]render.File, error) {
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
		if svc.owns(f.Path) {
			out = append(out, f)
		}
	}
	return out, nil
}

// deploy brings one service on one node to its desired state: files and
// binaries in place, unit enabled, running, restarted only if something it
// depends on changed. noBlock starts it without waiting for readiness (etcd
// members wait for each other).
func (c *Cluster) deploy(ctx context.Context, n config.Node, svc service, noBlock bool) error {
	files, err := c.serviceFiles(n, svc)
	if err != nil {
		return err
	}
	nd, err := c.Node(ctx, n.Name)
	if err != nil {
		return err
	}
	changed, err := syncFiles(ctx, nd, files)
	if err != nil {
		return err
	}
	for _, p := range changed {
		c.Log.Logf(1, "  %s: wrote %s", n.Name, p)
	}
	bins, err := c.installBinaries(ctx, nd, svc.binaries)
	if err != nil {
		return err
	}
	script := []string{}
	if anyChanged(changed, "/etc/systemd/system/") {
		script = append(script, "systemctl daemon-reload")
	}
	script = append(script, "systemctl enable --quiet "+svc.unit+".service")
	verb := "start"
	if len(changed) > 0 || len(bins) > 0 {
		verb = "restart"
	}
	if noBlock {
		verb += " --no-block"
	}
	script = append(script, "systemctl "+verb+" "+svc.unit+".service")
	if _, err := c.shell(ctx, n.Name, strings.Join(script, " && ")); err != nil {
		return fmt.Errorf("starting %s: %w\n  see its log: hardway logs %s %s --name %s", svc.unit, err, n.Name, svc.unit, c.Config.Name)
	}
	return nil
}

// installBinaries copies binaries from the read-only artifact mount into
// place when they differ, and returns the ones it replaced.
func (c *Cluster) installBinaries(ctx context.Context, nd node.Node, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	sorted := append([]string{}, names...)
	sort.Strings(sorted)
	for _, name := range sorted {
		src, dst, err := c.binary(name)
		if err != nil {
			return nil, err
		}
		// Replace by rename so a running process keeps its old inode.
		fmt.Fprintf(&script, "if ! cmp -s %[1]s %[2]s; then mkdir -p %[3]s; cp %[1]s %[2]s.new; chmod 0755 %[2]s.new; mv -f %[2]s.new %[2]s; echo %[2]s; fi\n",
			src, dst, path.Dir(dst))
	}
	c.Log.Logf(2, "  %s: installing %s", nd.Name(), strings.Join(sorted, " "))
	out, err := node.Sh(ctx, nd, script.String())
	if err != nil {
		return nil, err
	}
	var replaced []string
	for _, l := range strings.Fields(string(out)) {
		replaced = append(replaced, l)
		c.Log.Logf(1, "  %s: installed %s", nd.Name(), l)
	}
	return replaced, nil
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
