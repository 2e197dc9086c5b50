package host

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/docker"
	"hardway.dev/hardway/internal/reach"
)

// Access says how this host reaches a docker cluster's nodes, and why:
// routed when the engine's bridge gateway (the cluster's network's, else
// the default bridge's) is an address of this host — then this host is
// where the bridges are and routes to them — else published (Docker
// Desktop and colima run the engine in a VM, a remote or rootless engine
// keeps its bridges elsewhere, a container with the engine's socket has
// its own network). Not Linux: always published.
func (h *Host) Access(ctx context.Context, cfg *config.Cluster, log logx.Logger) (access, why string) {
	if cfg.Network.HostAccess != config.AccessAuto {
		return cfg.Network.HostAccess, "network.hostAccess in the config"
	}
	if h.OS != "linux" {
		return config.AccessPublished, fmt.Sprintf("on %s the engine runs in a VM this host cannot route to", h.OS)
	}
	gw, err := docker.New(docker.Options{Runner: h.Runner(log), Log: log}).Gateway(ctx, cfg.Name)
	if err != nil {
		return config.AccessRouted, "the engine did not say where its bridges are (" + lines.First(err.Error()) + "); assuming they are here"
	}
	addrs, err := h.Addrs()
	if err != nil {
		return config.AccessRouted, "this host's addresses are unknown (" + err.Error() + "); assuming the bridges are here"
	}
	want, err := netip.ParseAddr(gw)
	if err != nil {
		return config.AccessRouted, "the engine's bridge gateway " + gw + " is not an address; assuming the bridges are here"
	}
	for _, a := range addrs {
		if a == want {
			return config.AccessRouted, "this host is " + gw + " on the engine's bridge"
		}
	}
	return config.AccessPublished, "the engine's bridge gateway " + gw + " is not an address of this host: its bridges are elsewhere (a VM, another machine or network namespace)"
}

// LocalAddrs are this host's interface addresses.
func LocalAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// settleAccess turns network.hostAccess: auto into what this host can do,
// in cfg itself (so the saved config keeps it), and fills what a published
// cluster adds (a load-balancer machine).
func (h *Host) settleAccess(ctx context.Context, cfg *config.Cluster, log logx.Logger) error {
	if cfg.Network.HostAccess != config.AccessAuto {
		return nil
	}
	access, why := h.Access(ctx, cfg, log)
	log.Logf(1, "this host reaches the nodes: %s (%s)", access, why)
	cfg.Network.HostAccess = access
	cfg.SetDefaults()
	_, err := cfg.Validate()
	return err
}

// proxy starts the local proxy that carries this host's connections to a
// published cluster: to the published API port directly when it answers
// here, else, like everything else on the node network, through a machine
// of the cluster (docker exec … socat).
func proxy(ctx context.Context, cfg *config.Cluster, d *docker.Provider) (*reach.Proxy, error) {
	machines := map[string]string{}
	for _, n := range cfg.Nodes {
		machines[n.IP] = n.Name
	}
	lb := cfg.Network.LoadBalancerIP
	machines[lb] = provider.LBName
	published := net.JoinHostPort(cfg.Network.APIPublishAddress, strconv.Itoa(cfg.Network.APIPublishPort))
	hosts := []string{published}
	for ip := range machines {
		hosts = append(hosts, ip)
	}
	return reach.Start(ctx, hosts, func(ctx context.Context, addr string) (net.Conn, error) {
		if addr == published {
			dc, cancel := context.WithTimeout(ctx, 2*time.Second)
			conn, err := (&net.Dialer{}).DialContext(dc, "tcp", addr)
			cancel()
			if err == nil {
				return conn, nil
			}
			// The published port is on the engine's host, which is not
			// this one (a container, another machine).
			return d.Tunnel(ctx, cfg.Name, provider.LBName, net.JoinHostPort(lb, strconv.Itoa(cfg.Network.APIServerPort)))
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if m, ok := machines[host]; ok {
			return d.Tunnel(ctx, cfg.Name, m, addr)
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	})
}

// Proxy is what carries this host's connections to cfg's cluster: nil when
// it routes to the nodes, else a running proxy (until ctx ends). For
// commands that reach the API without opening the cluster (status).
func (h *Host) Proxy(ctx context.Context, cfg *config.Cluster, log logx.Logger) (func(*http.Request) (*url.URL, error), error) {
	if cfg.Machines() || !cfg.Published() {
		return nil, nil
	}
	p, err := proxy(ctx, cfg, h.docker(log))
	if err != nil {
		return nil, err
	}
	return p.Func(), nil
}
