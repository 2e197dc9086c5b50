package host

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
)

type fakeDocker map[string]string // argv → stdout; missing: "No such network"

func (f fakeDocker) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	if out, ok := f[c.String()]; ok {
		return []byte(out), nil
	}
	return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("Error: No such network"), Err: errors.New("exit status 1")}
}

func TestAccess(t *testing.T) {
	// Docker 20.10's default bridge names no gateway: the subnet's first
	// address is it.
	bridge := `[{"Name":"bridge","IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}}]`
	own := `[{"Name":"hardway-hardway","Internal":true,"IPAM":{"Config":[{"Subnet":"10.240.0.0/24","Gateway":"10.240.0.1"}]}}]`
	here := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("10.240.0.1")}
	inContainer := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.226.0.2")}
	tests := []struct {
		name    string
		os      string
		set     string
		docker  fakeDocker
		addrs   []netip.Addr
		want    string
		whyPart string
	}{
		{"macOS", "darwin", "", nil, nil, config.AccessPublished, "on darwin the engine runs in a VM"},
		{"the config says", "linux", config.AccessPublished, nil, here, config.AccessPublished, "network.hostAccess in the config"},
		{"a new cluster beside a local engine", "linux", "", fakeDocker{"docker network inspect bridge": bridge}, here, config.AccessRouted, "this host is 172.17.0.1"},
		{"its own network here", "linux", "", fakeDocker{"docker network inspect hardway-hardway": own}, here, config.AccessRouted, "this host is 10.240.0.1"},
		{"a container with the engine's socket", "linux", "", fakeDocker{"docker network inspect hardway-hardway": own}, inContainer, config.AccessPublished, "10.240.0.1 is not an address of this host"},
		{"no engine", "linux", "", fakeDocker{}, here, config.AccessRouted, "the engine did not say where its bridges are"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{OS: tt.os, Runner: func(logx.Logger) exec.Runner { return tt.docker },
				Addrs: func() ([]netip.Addr, error) { return tt.addrs, nil }}
			c := config.Default()
			if tt.set != "" {
				c.Network.HostAccess = tt.set
			}
			got, why := h.Access(context.Background(), c, logx.Discard{})
			if got != tt.want || !strings.Contains(why, tt.whyPart) {
				t.Errorf("%s (%s), want %s (%s)", got, why, tt.want, tt.whyPart)
			}
		})
	}
}

// A published one-node cluster gets a load-balancer machine: the one that
// publishes the API port, so the node stays on the internal network.
func TestSettlePublishedAddsLB(t *testing.T) {
	h := &Host{OS: "darwin"}
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: solo\nnodes:\n- name: solo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.LoadBalancerIP != "" {
		t.Fatalf("a one-node cluster has an LB before settling: %s", c.Network.LoadBalancerIP)
	}
	if err := h.settleAccess(context.Background(), c, logx.Discard{}); err != nil {
		t.Fatal(err)
	}
	if !c.Published() || c.Network.LoadBalancerIP != "10.240.0.2" || !strings.HasPrefix(c.APIServerURL(), "https://127.0.0.1:") {
		t.Errorf("settled: %s, LB %q, API %s", c.Network.HostAccess, c.Network.LoadBalancerIP, c.APIServerURL())
	}
}
