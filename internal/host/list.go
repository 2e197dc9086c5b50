package host

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/provider/docker"
	"hardway.dev/hardway/internal/state"
)

// ClusterInfo is one line of `hardway list`.
type ClusterInfo struct {
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	Kubernetes string `json:"kubernetesVersion"`
	// Nodes is how many nodes the config has; Running how many machines
	// (load balancer included) run, Machines how many exist.
	Nodes    int `json:"nodes"`
	Machines int `json:"machines"`
	Running  int `json:"running"`
	// State: running, stopped, partly running, no machines (only the
	// saved state is left), no state (containers without a state
	// directory), or unreachable.
	State string `json:"state"`
	// Detail says why, for unreachable.
	Detail string `json:"detail,omitempty"`
	// StateDir is where its state lives; empty when it has none.
	StateDir string `json:"stateDir,omitempty"`
}

// The states of ClusterInfo.
const (
	ClusterRunning     = "running"
	ClusterStopped     = "stopped"
	ClusterPartly      = "partly running"
	ClusterNoMachines  = "no machines"
	ClusterNoState     = "no state"
	ClusterUnreachable = "unreachable"
)

// List finds the clusters of this host: every state directory, and every
// cluster whose containers exist without one. Machines are asked with a
// bound, so one unreachable SSH machine does not hold up the list.
func (h *Host) List(ctx context.Context, log logx.Logger) ([]ClusterInfo, error) {
	byName := map[string]*ClusterInfo{}
	entries, err := os.ReadDir(filepath.Join(state.Root(), "clusters"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		dir := state.For(e.Name())
		if !e.IsDir() || !fileExists(dir.Config()) {
			continue
		}
		info := &ClusterInfo{Name: e.Name(), StateDir: dir.Path()}
		cfg, err := config.Load(dir.Config())
		if err != nil {
			info.State, info.Detail = ClusterUnreachable, lines.First(err.Error())
			byName[info.Name] = info
			continue
		}
		cfg.Name = e.Name()
		info.Provider, info.Kubernetes, info.Nodes = cfg.Provider, cfg.KubernetesVersion, len(cfg.Nodes)
		h.machineState(ctx, cfg, info, log)
		byName[info.Name] = info
	}
	// Containers whose state directory is gone (removed by hand): down
	// still removes them.
	if names, err := docker.New(docker.Options{Runner: h.Runner(log), Log: log}).Clusters(ctx); err == nil {
		for _, n := range names {
			if _, ok := byName[n]; ok {
				continue
			}
			info := &ClusterInfo{Name: n, Provider: config.ProviderDocker}
			cfg := config.Default()
			cfg.Name = n
			h.machineState(ctx, cfg, info, log)
			info.State = ClusterNoState
			byName[n] = info
		}
	}
	out := make([]ClusterInfo, 0, len(byName))
	for _, i := range byName {
		out = append(out, *i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// machineState asks the provider about the cluster's machines, for at most
// 10 s.
func (h *Host) machineState(ctx context.Context, cfg *config.Cluster, info *ClusterInfo, log logx.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p := h.Provider(cfg, log)
	if c, ok := p.(io.Closer); ok {
		defer c.Close()
	}
	st, err := p.Status(ctx, cfg.Name)
	if err != nil {
		info.State, info.Detail = ClusterUnreachable, lines.First(err.Error())
		return
	}
	info.Machines = len(st)
	for _, s := range st {
		if s.State == "running" {
			info.Running++
		}
	}
	switch {
	case info.Machines == 0:
		info.State = ClusterNoMachines
	case info.Running == 0:
		info.State = ClusterStopped
	case info.Running < info.Machines:
		info.State = ClusterPartly
	default:
		info.State = ClusterRunning
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
