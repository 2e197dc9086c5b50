package steps

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/timing"
	"hardway.dev/hardway/internal/wait"
)

// Cluster is what every step works on: the config, where its state lives on
// the host, the machines, and what earlier steps produced.
type Cluster struct {
	Config *config.Cluster
	State  state.Dir
	Facts  render.Facts
	Log    logx.Logger
	// Provider creates and finds the machines (Docker containers, ...).
	Provider provider.Provider
	// Create is what Provider.Create needs beyond the config: the node
	// image and the artifact cache to mount.
	Create provider.CreateOptions
	// Artifacts locates binaries and image archives in the cache; nil
	// until the cache is resolved (explain works without it).
	Artifacts *artifacts.Bundle
	// ArtifactsErr says why Artifacts is nil (what is not built, for which
	// version), so a step that needs a binary can say so.
	ArtifactsErr error
	// Addons locates what the config's add-ons need in the cache (their
	// images, manifests and the registry that serves the images); nil when
	// no add-on is on or the cache lacks them (AddonsErr says which).
	Addons    *artifacts.Bundle
	AddonsErr error
	// Preflight checks the host (the check step); nil skips it.
	Preflight func(ctx context.Context) error
	// Timings, when set, records where the run's time goes (up
	// --trace-timings); nil records nothing.
	Timings *timing.Recorder
	// AfterNodes runs once the machines answer (end of the nodes step):
	// machines the provider just made (Lima VMs) are checked there, and the
	// facts and artifacts that depend on them are settled. Nil skips it.
	AfterNodes func(ctx context.Context, nodes []provider.Node) error
	// PKIOptions are passed to pki.EnsureWith (certificate renewal).
	PKIOptions pki.Options
	// Proxy carries this host's connections to the cluster when it has no
	// route to the nodes (network.hostAccess: published; reach.Proxy); nil
	// dials directly.
	Proxy func(*http.Request) (*url.URL, error)
	// DryRun: steps change nothing (State is a scratch copy) and return
	// the changes they would make; waits and checks that need the result
	// of a change are skipped.
	DryRun bool
	// Slowdown multiplies the bound of every wait (and of each smoke
	// test): nodes under qemu-user emulation (another architecture than
	// this host's) run every program several times slower, so a bound
	// written for native nodes would call a healthy cluster broken. 0 or
	// 1: the bounds as written.
	Slowdown int

	mu          sync.Mutex
	pki         *pki.Set
	pkiChanges  []converge.Change
	kubeconfigs map[string][]byte
	encryption  []byte
	// encryptionNew: this run generated the key (for the step's changes).
	encryptionNew      bool
	kubeconfigsChanged []string
	admin              *kube.Client
	// adminMoved: this run moved the admin certificate out of
	// system:masters (a cluster made by an older hardway), and the admin
	// group's binding has not been made yet (Admin makes it).
	adminMoved bool
	nodes      map[string]provider.Node
	stopped    []string
	// run is what one Run of the steps learned and may reuse; nil outside
	// Run, so a day-2 procedure that stops units by hand never plans from
	// an old probe.
	run *runMemo
}

// runMemo is what the steps of one Run share so that a no-op run asks
// each machine once, not once per step.
type runMemo struct {
	// probes: one probe of every unit of each node, taken when a step
	// first plans there and dropped when a step changes something there.
	probes map[string]*converge.Snapshot
	// registry: the add-ons' registry was ensured and answered in this
	// run (every add-on step needs it; the first one makes it so).
	registry bool
}

// Bound is a wait's bound d for this cluster's nodes (see Slowdown).
func (c *Cluster) Bound(d time.Duration) time.Duration {
	if c.Slowdown > 1 {
		return d * time.Duration(c.Slowdown)
	}
	return d
}

// NodeArtifactsDir is where a node sees the host's artifact cache.
const NodeArtifactsDir = provider.ArtifactsMount

// Node returns the running node called name.
func (c *Cluster) Node(ctx context.Context, name string) (provider.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		if c.Provider == nil {
			return nil, fmt.Errorf("no provider configured")
		}
		ns, err := c.Provider.Nodes(ctx, c.Config.Name)
		if err != nil {
			return nil, err
		}
		st, err := c.Provider.Status(ctx, c.Config.Name)
		if err != nil {
			return nil, err
		}
		state := map[string]string{}
		for _, s := range st {
			state[s.Name] = s.State
		}
		c.nodes = map[string]provider.Node{}
		for _, n := range ns {
			if state[n.Name()] != "running" {
				// A stopped container would fail every command with a
				// docker message that says nothing about the fix.
				c.stopped = append(c.stopped, n.Name()+" ("+state[n.Name()]+")")
				continue
			}
			c.nodes[n.Name()] = n
		}
	}
	n, ok := c.nodes[name]
	if !ok && len(c.stopped) > 0 {
		return nil, fmt.Errorf("node %s of cluster %s is not running (stopped: %s); start the cluster with: hardway start --name %s", name, c.Config.Name, strings.Join(c.stopped, ", "), c.Config.Name)
	}
	if !ok {
		return nil, fmt.Errorf("node %s of cluster %s is not running; create it with: hardway up --name %s --from nodes", name, c.Config.Name, c.Config.Name)
	}
	return n, nil
}

// Reload forgets what this run generated or read from the state directory
// (PKI, kubeconfigs, encryption config), so the next step reads it afresh:
// day-2 procedures change those files between rollouts.
func (c *Cluster) Reload() {
	c.mu.Lock()
	c.pki, c.pkiChanges, c.kubeconfigs, c.kubeconfigsChanged, c.encryption, c.encryptionNew = nil, nil, nil, nil, nil, false
	c.admin = nil
	c.mu.Unlock()
}

// RequireRunning fails, before anything is changed, when a machine of the
// cluster is missing or stopped: a rollout would stop half-way there.
func (c *Cluster) RequireRunning(ctx context.Context) error {
	st, err := c.machines(ctx)
	if err != nil {
		return err
	}
	for _, ch := range machineChanges(c.Config, st) {
		if ch.Action == converge.Started {
			return fmt.Errorf("machine %s of cluster %s is not running (%s); start it first: hardway start --name %s", ch.Node, c.Config.Name, ch.Reason, c.Config.Name)
		}
		return fmt.Errorf("machine %s of cluster %s is missing; recreate it first: hardway up --name %s", ch.Node, c.Config.Name, c.Config.Name)
	}
	return nil
}

// RequireMachines fails when the cluster has no machines at all: only its
// saved state is left, and its API address may by now be another
// cluster's. Stopped machines are fine (start, stop).
func (c *Cluster) RequireMachines(ctx context.Context) error {
	_, err := c.machines(ctx)
	return err
}

// machines is the provider's view of the cluster's machines; none is an
// error that says what is left and how to go on.
func (c *Cluster) machines(ctx context.Context) ([]provider.NodeStatus, error) {
	if c.Provider == nil {
		return nil, fmt.Errorf("no provider configured")
	}
	st, err := c.Provider.Status(ctx, c.Config.Name)
	if err != nil {
		return nil, err
	}
	if len(st) == 0 {
		return nil, fmt.Errorf("cluster %s has no machines (provider %s), only its saved state in %s: create them with: hardway up --name %s (or forget the cluster: hardway down --name %s)", c.Config.Name, c.Config.Provider, c.State.Path(), c.Config.Name, c.Config.Name)
	}
	return st, nil
}

// ForgetNodes drops the cached node list after machines were (re)created
// or started.
func (c *Cluster) ForgetNodes() { c.forgetNodes() }

// forgetNodes drops the cached node list after nodes are (re)created.
func (c *Cluster) forgetNodes() {
	c.mu.Lock()
	c.nodes, c.stopped = nil, nil
	if c.run != nil {
		c.run.probes = map[string]*converge.Snapshot{}
	}
	c.mu.Unlock()
}

func (c *Cluster) artifactsMissing() error {
	if c.ArtifactsErr != nil {
		return c.ArtifactsErr
	}
	return fmt.Errorf("the artifacts for Kubernetes %s are not built; run: hardway artifacts build --name %s", c.Config.KubernetesVersion, c.Config.Name)
}

// until is wait.Until, recorded in the run's timings.
func (c *Cluster) until(ctx context.Context, what string, interval, timeout time.Duration, check func(ctx context.Context) (bool, error)) error {
	start := time.Now()
	err := wait.Until(ctx, what, interval, c.Bound(timeout), check)
	c.Timings.Since(ctx, timing.Wait, "", what, start)
	return err
}
