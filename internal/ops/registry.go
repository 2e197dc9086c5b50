package ops

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/steps"
)

// Registry is the cluster's image registry once EnsureRegistry ran.
type Registry struct {
	// At is where it listens (host:port on the cluster network) and how
	// this host reaches it.
	registry.At
	// Machine runs it: the load balancer, else the first node.
	Machine string
	Changes []converge.Change
	Elapsed time.Duration
}

// EnsureRegistry builds the registry with b when it is not cached, then
// installs and starts it on its machine; a second call changes nothing.
func EnsureRegistry(ctx context.Context, c *steps.Cluster, b *artifacts.Builder) (Registry, error) {
	store := b.Store
	m := artifacts.RegistryManifest(c.Config.KubernetesVersion)
	if _, err := b.Build(ctx, m, artifacts.Option{Source: artifacts.SourceAuto}); err != nil {
		return Registry{}, err
	}
	comp, _ := m.Component(artifacts.CompRegistry)
	e, ok := store.Find(comp.Name, comp.Version)
	if !ok {
		return Registry{}, fmt.Errorf("artifact %s %s not built; run: hardway registry address --name %s", comp.Name, comp.Version, c.Config.Name)
	}
	rel, err := filepath.Rel(store.Root, e.Dir)
	if err != nil {
		return Registry{}, err
	}
	bin := converge.Binary{Name: "registry", Dst: path.Join(artifacts.BinDir, "registry"), HostPath: filepath.Join(e.Dir, "registry"),
		CacheRel: path.Join(filepath.ToSlash(rel), "registry")}
	for _, f := range e.Files {
		if f.Name == "registry" {
			bin.SHA256 = f.SHA256
		}
	}
	r := Registry{Machine: registry.Machine(c.Config), At: registry.At{Host: registry.Host(c.Config), Proxy: c.Proxy}}
	n, err := c.Node(ctx, r.Machine)
	if err != nil {
		return Registry{}, err
	}
	start := time.Now()
	r.Changes, err = registry.Ensure(ctx, n, c.Config, r.At, bin, func(format string, args ...any) { c.Log.Logf(2, "  "+format, args...) })
	r.Elapsed = time.Since(start)
	return r, err
}
