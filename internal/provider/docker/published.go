package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/provider"
)

// A published cluster (network.hostAccess: published) is for a host that
// has no route to the node network. Docker publishes no port of a container
// that is only on an --internal network, so the load-balancer machine alone
// also joins a second, ordinary bridge network, on which its API port is
// published at network.apiPublishAddress:apiPublishPort of the engine's
// host. That network does no NAT, and the machine drops its default route
// at boot (render's hardway-no-egress unit): it still cannot send anything
// off this machine. The nodes stay on the internal network only.

// PublishNetworkName is the network on which the load balancer's API port
// is published.
func PublishNetworkName(cluster string) string { return NetworkName(cluster) + "-publish" }

func (p *Provider) ensurePublishNetwork(ctx context.Context, c *config.Cluster) error {
	name := PublishNetworkName(c.Name)
	out, err := p.docker(ctx, "network", "inspect", name)
	if err == nil {
		var nets []networkJSON
		if err := json.Unmarshal(out, &nets); err != nil || len(nets) != 1 {
			return fmt.Errorf("unexpected answer from docker network inspect %s: %s", name, lines.Clip(string(out), 200))
		}
		if nets[0].Labels[LabelCluster] != c.Name {
			return fmt.Errorf("docker network %s exists but was not made by hardway for cluster %q: remove it (docker network rm %s) or pick another --name", name, c.Name, name)
		}
		return nil
	}
	if !isNoSuch(err) {
		return dockerErr("inspecting network "+name, err)
	}
	p.log.Logf(1, "creating network %s (the published API port's, no NAT)", name)
	if _, err := p.docker(ctx, "network", "create", "--driver", "bridge",
		"--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
		"--label", LabelCluster+"="+c.Name, name); err != nil {
		return dockerErr("creating network "+name, err)
	}
	return nil
}

// publishedLB makes the load-balancer machine of a published cluster:
// created on the publish network with its port published, joined to the
// node network at its fixed address, then started.
func (p *Provider) publishedLB(ctx context.Context, c *config.Cluster, s spec, opts provider.CreateOptions) error {
	name := ContainerName(c.Name, s.node)
	publish := fmt.Sprintf("%s:%d:%d", c.Network.APIPublishAddress, c.Network.APIPublishPort, c.Network.APIServerPort)
	args := p.containerArgs("create", c, s, opts, []string{"--network", PublishNetworkName(c.Name), "--publish", publish})
	if _, err := p.docker(ctx, args...); err != nil {
		return dockerErr("creating node "+s.node, err)
	}
	if _, err := p.docker(ctx, "network", "connect", "--ip", s.ip, "--alias", s.node, NetworkName(c.Name), name); err != nil {
		return dockerErr("connecting "+name+" to "+NetworkName(c.Name), err)
	}
	if _, err := p.docker(ctx, "container", "start", name); err != nil {
		return publishErr(c, name, err)
	}
	return nil
}

// publishErr names the config field when the published port is taken.
func publishErr(c *config.Cluster, name string, err error) error {
	if re, ok := exec.IsRunError(err); ok {
		o := strings.ToLower(re.Output())
		if strings.Contains(o, "already allocated") || strings.Contains(o, "address already in use") {
			return fmt.Errorf("network.apiPublishPort: %s:%d is already taken on the engine's host (another program or cluster listens there): set network.apiPublishPort to a free port, then run hardway up again",
				c.Network.APIPublishAddress, c.Network.APIPublishPort)
		}
	}
	return dockerErr("starting "+name, err)
}

// Gateway is this cluster's node network's gateway (the engine host's
// address on it), else the default bridge network's: an address of this
// host exactly when this host is where the engine's bridges are, which is
// when it can route to the nodes.
func (p *Provider) Gateway(ctx context.Context, cluster string) (string, error) {
	var lastErr error
	for _, name := range []string{NetworkName(cluster), "bridge"} {
		out, err := p.docker(ctx, "network", "inspect", name)
		if err != nil {
			lastErr = err
			continue
		}
		var nets []networkJSON
		if err := json.Unmarshal(out, &nets); err != nil || len(nets) != 1 {
			continue
		}
		for _, cfg := range nets[0].IPAM.Config {
			if cfg.Gateway != "" {
				return cfg.Gateway, nil
			}
			// The default bridge often names no gateway: Docker gives
			// it the subnet's first address.
			if pf, err := netip.ParsePrefix(cfg.Subnet); err == nil && pf.Addr().Is4() {
				return pf.Masked().Addr().Next().String(), nil
			}
		}
	}
	if lastErr != nil {
		return "", dockerErr("finding the engine's bridge", lastErr)
	}
	return "", fmt.Errorf("docker has no bridge network with a gateway")
}

// PublishedPort is where the machine's API port is published, as docker
// reports it ("" when it is not).
func (p *Provider) PublishedPort(ctx context.Context, cluster string, apiPort int) (string, error) {
	out, err := p.docker(ctx, "container", "port", ContainerName(cluster, provider.LBName), strconv.Itoa(apiPort)+"/tcp")
	if err != nil {
		return "", dockerErr("asking docker for the published API port", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line, nil
}
