package render

import (
	"testing"

	"hardway.dev/hardway/internal/config"
)

func TestNodeNetwork(t *testing.T) {
	isolated := false
	tests := []struct {
		name     string
		set      func(c *config.Cluster)
		kind     NetworkKind
		machine  string
		describe string
	}{
		{"docker", func(*config.Cluster) {}, NetworkDocker, "hardway-node-0",
			"Docker network hardway-hardway: 10.240.0.0/24, --internal (nothing leaves this host); this host is 10.240.0.1"},
		{"docker, not isolated", func(c *config.Cluster) { c.Isolated = &isolated }, NetworkDocker, "hardway-node-0",
			"Docker network hardway-hardway: 10.240.0.0/24; this host is 10.240.0.1"},
		{"ssh", func(c *config.Cluster) { c.Provider = config.ProviderSSH }, NetworkMachines, "node-0",
			"the machines' own network: 10.240.0.0/24"},
		{"lima", func(c *config.Cluster) { c.Provider, c.Network.NodeSubnet = config.ProviderLima, "" }, NetworkLima, "node-0",
			"Lima's shared network (lima0 in each VM): the addresses the machines have"},
	}
	for _, tt := range tests {
		c := config.Default()
		tt.set(c)
		n := NodeNetwork(c)
		if n.Kind != tt.kind || n.Machine("node-0") != tt.machine || n.Describe() != tt.describe {
			t.Errorf("%s: %s %s %q", tt.name, n.Kind, n.Machine("node-0"), n.Describe())
		}
	}
}
