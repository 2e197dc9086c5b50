// Package host is this machine as hardway uses it: the artifact cache, the
// runner of host commands (docker, limactl), the clusters whose state it
// keeps. It opens a cluster — assembles, from its config, what the steps and
// procedures run against — in one way for every command, so the CLI only
// parses flags, opens, calls a procedure and prints.
package host

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/machinecheck"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/docker"
	"hardway.dev/hardway/internal/provider/lima"
	"hardway.dev/hardway/internal/provider/ssh"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// Host is what hardway uses of this machine. Tests build one with a fake
// Runner, so nothing they run reaches a real Docker engine.
type Host struct {
	// Runner makes the runner of host commands, logging through log (the
	// progress display during up, so -v output does not garble it).
	Runner func(log logx.Logger) exec.Runner
	// Cache is the artifact cache root.
	Cache string
	// Facts detects the render facts of container nodes, which share this
	// machine's kernel and cgroups (render.DetectHostFacts).
	Facts func() (render.Facts, error)
	// Checks is this machine for the host preflight.
	Checks func(r exec.Runner) machinecheck.HostEnv
	// OS is runtime.GOOS; Addrs lists this host's addresses (LocalAddrs):
	// together they say whether this host routes to Docker's bridges.
	OS    string
	Addrs func() ([]netip.Addr, error)
}

// Local is this machine.
func Local() (*Host, error) {
	root, err := artifacts.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return &Host{
		Runner: func(log logx.Logger) exec.Runner { return exec.OS{Log: log} },
		Cache:  root,
		Facts:  render.DetectHostFacts,
		Checks: func(r exec.Runner) machinecheck.HostEnv { return machinecheck.LocalHost(r, root) },
		OS:     runtime.GOOS,
		Addrs:  LocalAddrs,
	}, nil
}

// Store is the artifact cache for this host's architecture.
func (h *Host) Store() *artifacts.Store { return artifacts.NewStore(h.Cache) }

// Provider is the provider of cfg's cluster, by cfg.Provider.
func (h *Host) Provider(cfg *config.Cluster, log logx.Logger) provider.Provider {
	switch cfg.Provider {
	case config.ProviderSSH:
		return ssh.New(ssh.Options{Cluster: cfg.Name, Machines: ssh.MachinesFrom(cfg), Pool: sshPool(cfg.Name, log),
			// What hardway installs is worked out only when stop, start or
			// down need it.
			Footprint: func(node string) (provider.Footprint, error) {
				n, ok := cfg.Node(node)
				if !ok {
					return provider.Footprint{}, fmt.Errorf("no node %s in the config", node)
				}
				return steps.Footprint(cfg, n)
			}})
	case config.ProviderLima:
		return lima.New(lima.Options{Runner: h.Runner(log), Log: log, Config: cfg, Pool: sshPool(cfg.Name, log), StateDir: state.For(cfg.Name).Path()})
	default:
		return h.docker(log)
	}
}

func (h *Host) docker(log logx.Logger) *docker.Provider {
	return docker.New(docker.Options{Runner: h.Runner(log), Log: log})
}

// sshPool: host keys go to the cluster's state directory, and the user's
// own known_hosts is honoured.
func sshPool(cluster string, log logx.Logger) ssh.PoolOptions {
	home, _ := os.UserHomeDir()
	o := ssh.PoolOptions{
		KnownHosts:  state.For(cluster).KnownHosts(),
		AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
		Home:        home,
		Log:         log,
		KeepAlive:   30 * time.Second,
	}
	if home != "" {
		o.UserKnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	return o
}

// Need is how much of a cluster must exist before a command may touch it.
type Need int

const (
	// NeedNothing: a new cluster is fine (up).
	NeedNothing Need = iota
	// NeedMachines: its machines exist, running or stopped (start, stop).
	// A cluster with only its saved state left is refused before its saved
	// API address — by now maybe another cluster's — is contacted.
	NeedMachines
	// NeedRunning: every machine runs (verify, day-2 procedures, labs,
	// trace, conformance, the registry).
	NeedRunning
)

// Open assembles what the steps run against for cfg's cluster: state
// directory, provider, facts of the machines, the resolved artifacts and the
// preflight; then checks that as much of it exists as need says. For
// container nodes it settles network.hostAccess: auto in cfg, and for a
// host that cannot route to them starts the proxy that carries its
// connections (for as long as ctx lasts).
func (h *Host) Open(ctx context.Context, cfg *config.Cluster, log logx.Logger, need Need) (*steps.Cluster, error) {
	if !cfg.Machines() {
		if err := h.settleAccess(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	c := &steps.Cluster{
		Config:   cfg,
		State:    state.For(cfg.Name),
		Log:      log,
		Provider: h.Provider(cfg, log),
	}
	switch need {
	case NeedMachines:
		if err := c.RequireMachines(ctx); err != nil {
			return nil, err
		}
	case NeedRunning:
		if err := c.RequireRunning(ctx); err != nil {
			return nil, err
		}
	}
	store := h.Store()
	// Container nodes run the node image and binaries of cfg.Arch.
	arch := NodeArch(cfg)
	if !cfg.Machines() {
		store.Arch = arch
	}
	// Resolved once here: the check step reports a missing artifact, and the
	// later steps need the bundle even when check is skipped (--from).
	c.Artifacts, c.ArtifactsErr = store.Resolve(cfg.KubernetesVersion)
	emulated := arch != runtime.GOARCH && !cfg.Machines()
	if emulated {
		// Nodes under qemu-user: containerd, runc and the shim are this
		// host's (artifacts.EmulatedNative), so the images are relabeled
		// for it, and every program runs several times slower.
		c.Artifacts, c.ArtifactsErr = store.ResolveEmulated(cfg.KubernetesVersion, artifacts.NewStore(store.Root))
		if c.ArtifactsErr == nil {
			c.ArtifactsErr = c.Artifacts.RelabelImages(runtime.GOARCH)
		}
		c.Slowdown = EmulationSlowdown
	}
	c.Addons, c.AddonsErr = ResolveAddons(store, cfg)
	if emulated && c.AddonsErr == nil && c.Addons != nil {
		// Pulled from the registry by this host's containerd too.
		c.AddonsErr = c.Addons.RelabelImages(runtime.GOARCH)
	}
	if cfg.Machines() {
		// Facts, architecture and checks come from the machines, not from
		// this host; nothing is mounted.
		if err := h.setupMachines(ctx, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	if cfg.Published() {
		p, err := proxy(ctx, cfg, h.docker(log))
		if err != nil {
			return nil, err
		}
		c.Proxy = p.Func()
	}
	// Container nodes are this host: they see its cgroups and capabilities.
	facts, err := h.Facts()
	if err != nil {
		return nil, err
	}
	c.Facts = facts
	c.Create = provider.CreateOptions{Image: nodeimage.TagFor(arch), ArtifactsDir: store.Root}
	c.Preflight = func(ctx context.Context) error {
		if failed := machinecheck.Failed(h.Checks(h.Runner(log)).Host(ctx, cfg)); len(failed) > 0 {
			return fmt.Errorf("this host is not ready:\n  %s\n  details: hardway check --name %s", joinLines(failed), cfg.Name)
		}
		// Binaries and images must exist before any node is touched.
		if c.ArtifactsErr != nil {
			return c.ArtifactsErr
		}
		if c.AddonsErr != nil {
			return c.AddonsErr
		}
		ok, err := nodeimage.Exists(ctx, h.Runner(log), c.Create.Image)
		if err != nil {
			return err
		}
		if !ok {
			if arch != runtime.GOARCH {
				return fmt.Errorf("node image %s (%s) is not built; run: hardway node-image build --arch %s", c.Create.Image, arch, arch)
			}
			return fmt.Errorf("node image %s is not built; run: hardway node-image build", c.Create.Image)
		}
		// Nodes of another architecture need qemu-user registered.
		return nodeimage.HostEmulation(arch)
	}
	return c, nil
}

// EmulationSlowdown multiplies every wait's bound for nodes under qemu-user
// (steps.Cluster.Slowdown). A guess until an emulated cluster is measured
// (docs/machines.md, arm64).
const EmulationSlowdown = 5

// NodeArch is the architecture of a cluster's container nodes: the
// config's arch, else this host's.
func NodeArch(cfg *config.Cluster) string {
	if cfg.Arch != "" {
		return cfg.Arch
	}
	return runtime.GOARCH
}

// Scratch is a cluster for teaching (explain, the book): it never touches
// a machine and never changes the cluster's state. It works on a copy of the
// state directory (or an empty one), so the text shows the cluster's real
// certificates and files while anything generated for it is thrown away.
// done removes the copy.
func (h *Host) Scratch(cfg *config.Cluster) (c *steps.Cluster, done func(), err error) {
	// Machines are not asked (explain touches nothing): their files are
	// shown for a cgroup v2 machine with every capability.
	var facts render.Facts
	if !cfg.Machines() {
		if facts, err = h.Facts(); err != nil {
			return nil, nil, err
		}
	}
	dir, done, err := ScratchState(state.For(cfg.Name))
	if err != nil {
		return nil, nil, err
	}
	c = &steps.Cluster{Config: placeholderIPs(cfg), State: dir, Facts: facts, Log: logx.Discard{}}
	store := h.Store()
	store.Arch = NodeArch(cfg)
	if b, err := store.Resolve(cfg.KubernetesVersion); err == nil {
		c.Artifacts = b
	}
	c.Addons, c.AddonsErr = ResolveAddons(store, cfg)
	return c, done, nil
}

// ResolveAddons finds what cfg's add-ons need in the cache (nil, nil when
// no add-on is on); an error names what to build.
func ResolveAddons(store *artifacts.Store, cfg *config.Cluster) (*artifacts.Bundle, error) {
	m := artifacts.AddonsManifest(cfg.KubernetesVersion, cfg.Addons)
	if m == nil {
		return nil, nil
	}
	b, err := store.ResolveManifest(m)
	if err != nil {
		return nil, fmt.Errorf("add-ons %s: %v", strings.Join(cfg.Addons, ", "), err)
	}
	return b, nil
}

// ScratchState copies a state directory (if it exists) into a temporary
// one; done removes it.
func ScratchState(from state.Dir) (dir state.Dir, done func(), err error) {
	tmp, err := os.MkdirTemp("", "hardway-scratch-")
	if err != nil {
		return "", nil, err
	}
	done = func() { os.RemoveAll(tmp) }
	if from.Exists() {
		if err := os.CopyFS(tmp, os.DirFS(from.Path())); err != nil {
			done()
			return "", nil, fmt.Errorf("copying %s: %w", from.Path(), err)
		}
	}
	return state.Dir(tmp), done, nil
}

// placeholderIPs gives nodes without an address (Lima VMs not created yet)
// one from the documentation range 192.0.2.0/24 (RFC 5737), so explain can
// show complete files; the real ones come from the VMs. cfg is not changed.
func placeholderIPs(cfg *config.Cluster) *config.Cluster {
	missing := false
	for _, n := range cfg.Nodes {
		missing = missing || n.IP == ""
	}
	if !missing {
		return cfg
	}
	cp := *cfg
	cp.Nodes = append([]config.Node(nil), cfg.Nodes...)
	for i := range cp.Nodes {
		if cp.Nodes[i].IP == "" {
			cp.Nodes[i].IP = fmt.Sprintf("192.0.2.%d", 10+i)
		}
	}
	return &cp
}

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
