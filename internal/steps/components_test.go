package steps

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/render"
)

// fakeMachines is a provider whose running machines answer `systemctl
// is-active` from a table: unit -> its successive states (the last one
// stays), every other unit active.
type fakeMachines struct {
	provider.Provider
	names  []string
	mu     sync.Mutex
	states map[string]map[string][]string
	asked  int
	// kubeletRan: machines whose kubelet has run (lostnode.go's probe).
	kubeletRan map[string]bool
}

func (f *fakeMachines) Nodes(context.Context, string) ([]provider.Node, error) {
	var out []provider.Node
	for _, n := range f.names {
		out = append(out, &fakeMachine{name: n, f: f})
	}
	return out, nil
}

func (f *fakeMachines) Status(context.Context, string) ([]provider.NodeStatus, error) {
	var out []provider.NodeStatus
	for _, n := range f.names {
		out = append(out, provider.NodeStatus{Name: n, State: "running"})
	}
	return out, nil
}

type fakeMachine struct {
	provider.Node
	name string
	f    *fakeMachines
}

func (m *fakeMachine) Name() string { return m.name }

func (m *fakeMachine) Run(_ context.Context, _ io.Reader, argv ...string) ([]byte, error) {
	if len(argv) == 5 && argv[0] == "sh" && argv[4] == kubeletPodsDir {
		if m.f.kubeletRan[m.name] {
			return []byte("ran\n"), nil
		}
		return []byte("new\n"), nil
	}
	if len(argv) < 2 || argv[0] != "systemctl" || argv[1] != "is-active" {
		return nil, fmt.Errorf("unexpected command %v", argv)
	}
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.f.asked++
	var b strings.Builder
	for _, u := range argv[2:] {
		s := "active"
		if seq := m.f.states[m.name][u]; len(seq) > 0 {
			s = seq[0]
			if len(seq) > 1 {
				m.f.states[m.name][u] = seq[1:]
			}
		}
		b.WriteString(s + "\n")
	}
	return []byte(b.String()), nil
}

func TestExpectedUnits(t *testing.T) {
	c := config.Default()
	got := ExpectedUnits(c)
	cp := []string{render.UnitEtcd, render.UnitAPIServer, render.UnitControllerManager, render.UnitScheduler}
	for _, n := range c.Nodes {
		for _, u := range append(slices.Clone(cp), render.UnitContainerd, render.UnitKubelet, render.UnitKubeProxy) {
			if !slices.Contains(got[n.Name], u) {
				t.Errorf("%s: %s not expected (%v)", n.Name, u, got[n.Name])
			}
		}
		if slices.Contains(got[n.Name], render.UnitPodsStop) {
			t.Errorf("%s: %s is expected, but it is active only around a shutdown", n.Name, render.UnitPodsStop)
		}
	}
	one := config.Default()
	one.Nodes = one.Nodes[:1]
	one.Network.LoadBalancerIP = ""
	if _, ok := ExpectedUnits(one)[provider.LBName]; ok {
		t.Errorf("a cluster without a load balancer expects one")
	}
	// The registry is expected where it runs, and only with add-ons.
	for _, tc := range []struct {
		name    string
		cfg     *config.Cluster
		addons  []string
		machine string
		want    []string
	}{
		{"3 nodes, no add-ons", config.Default(), nil, provider.LBName, []string{"haproxy"}},
		{"3 nodes, metallb", config.Default(), []string{"metallb"}, provider.LBName, []string{"haproxy", registry.Unit}},
		{"1 node, metallb", one, []string{"metallb"}, one.Nodes[0].Name, []string{registry.Unit}},
		{"1 node, no add-ons", one, nil, one.Nodes[0].Name, nil},
	} {
		tc.cfg.Addons = tc.addons
		got := ExpectedUnits(tc.cfg)
		m := got[tc.machine]
		if tc.machine != provider.LBName {
			m = slices.DeleteFunc(slices.Clone(m), func(u string) bool { return u != registry.Unit })
		}
		if !slices.Equal(m, tc.want) {
			t.Errorf("%s: %s expects %v, want %v", tc.name, tc.machine, m, tc.want)
		}
		if !slices.Contains(Components(), registry.Unit) {
			t.Errorf("%s: status does not ask for %s", tc.name, registry.Unit)
		}
	}
}

func TestDownComponents(t *testing.T) {
	tests := []struct {
		name   string
		states map[string]map[string][]string
		want   []string // DownUnit strings
		err    string   // CheckComponents error, "" for none
	}{
		{"all active", nil, nil, ""},
		{"a scheduler stopped for good", map[string]map[string][]string{"node-1": {"kube-scheduler": {"inactive"}}},
			[]string{"node-1: kube-scheduler inactive"},
			"not active: node-1: kube-scheduler inactive; see why: hardway logs node-1 kube-scheduler --name hardway; start again: hardway up --name hardway"},
		{"a failed kubelet and haproxy", map[string]map[string][]string{"node-2": {"kubelet": {"failed"}}, "lb": {"haproxy": {"inactive"}}},
			[]string{"lb: haproxy inactive", "node-2: kubelet failed"}, "not active: lb: haproxy inactive, node-2: kubelet failed;"},
		// Restart=always brings it back: waited for, not reported.
		{"a controller-manager on its way back", map[string]map[string][]string{"node-0": {"kube-controller-manager": {"activating", "active"}}}, nil, ""},
		// A unit that stays on its way is reported when the bound is over.
		{"a unit that never gets there", map[string]map[string][]string{"node-0": {"etcd": {"activating"}}}, []string{"node-0: etcd activating"}, "node-0: etcd activating"},
		// A unit not expected on a machine is nobody's business.
		{"a stopped unit that is not expected", map[string]map[string][]string{"lb": {"kubelet": {"inactive"}}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeMachines{names: []string{"node-0", "node-1", "node-2", "lb"}, states: tt.states}
			c := &Cluster{Config: config.Default(), Provider: f, Log: logx.Discard{}}
			down, err := c.DownComponents(context.Background(), 1500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range down {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("down %v, want %v", got, tt.want)
			}
			f.states = tt.states
			err = c.CheckComponents(context.Background(), 1500*time.Millisecond)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("CheckComponents: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("CheckComponents: %v, want %q", err, tt.err)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("not one line: %q", err)
			}
		})
	}
	// A unit that stays inactive is reported at once, without waiting out
	// the bound.
	f := &fakeMachines{names: []string{"node-0", "node-1", "node-2", "lb"}, states: map[string]map[string][]string{"node-1": {"kube-scheduler": {"inactive"}}}}
	c := &Cluster{Config: config.Default(), Provider: f, Log: logx.Discard{}}
	start := time.Now()
	if _, err := c.DownComponents(context.Background(), time.Minute); err != nil || time.Since(start) > 5*time.Second || f.asked != 4 {
		t.Errorf("a settled state took %s and %d questions (err %v), want one round", time.Since(start), f.asked, err)
	}
}
