package machinecheck

import (
	"slices"
	"testing"

	"hardway.dev/hardway/internal/config"
)

func TestLBPoolResult(t *testing.T) {
	c := &config.Cluster{Provider: config.ProviderSSH, Addons: []string{config.AddonMetalLB},
		Network: config.Network{LoadBalancerIPs: "192.168.1.240-192.168.1.250"},
		Nodes:   []config.Node{{Name: "a", IP: "192.168.1.20"}, {Name: "b", IP: "192.168.1.21"}}}
	if spec := SpecFor(c, c.Nodes[0], nil); !slices.Contains(spec.Peers, "192.168.1.240") || !slices.Contains(spec.Peers, "192.168.1.250") {
		t.Fatalf("the probe does not ask for the pool's ends: %v", spec.Peers)
	}
	tests := []struct {
		name   string
		routes map[string]string
		ok     bool
	}{
		{"on-link", map[string]string{"192.168.1.240": "192.168.1.240 dev eth0 src 192.168.1.20 uid 0", "192.168.1.250": "192.168.1.250 dev eth0 src 192.168.1.20 uid 0"}, true},
		{"behind a router", map[string]string{"192.168.1.240": "192.168.1.240 via 192.168.1.1 dev eth0 src 192.168.1.20 uid 0", "192.168.1.250": "192.168.1.250 dev eth0 src 192.168.1.20 uid 0"}, false},
		{"unreachable", map[string]string{"192.168.1.240": "RTNETLINK answers: Network is unreachable"}, false},
	}
	for _, tt := range tests {
		res, ok := lbPoolResult(c, Report{Routes: tt.routes})
		if !ok || res.OK != tt.ok || (!res.OK && res.Fix == "") {
			t.Errorf("%s: %+v", tt.name, res)
		}
	}
	c.Addons = []string{}
	if _, ok := lbPoolResult(c, Report{}); ok {
		t.Errorf("a result without metallb")
	}
}
