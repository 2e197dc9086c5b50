// Package docker runs each cluster machine as a Docker container that boots
// systemd, on a Docker network of its own (never the default bridge).
//
// Every docker command goes through exec.Runner, so tests replace Docker with
// a fake and check the exact command lines.
package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
)

// Labels put on everything this provider creates; Nodes, Status and Delete
// find a cluster by them, so nothing else is ever touched.
const (
	LabelCluster = "dev.hardway.cluster"
	LabelNode    = "dev.hardway.node"
	LabelRole    = "dev.hardway.role"
	// LabelIndex keeps config order without needing the config.
	LabelIndex = "dev.hardway.index"
)

// NetworkName is the Docker network of a cluster.
func NetworkName(cluster string) string { return render.DockerNetworkName(cluster) }

// ContainerName is the container of a node.
func ContainerName(cluster, node string) string { return render.DockerContainerName(cluster, node) }

// Options configure the provider.
type Options struct {
	Runner exec.Runner
	Log    logx.Logger
	// Host is nil to detect it (DetectHost).
	Host *HostInfo
}

// Provider implements provider.Provider with Docker.
type Provider struct {
	r    exec.Runner
	log  logx.Logger
	host HostInfo
	// poll is how often WaitForSystemd asks; tests shorten it.
	poll time.Duration
}

var _ provider.Provider = (*Provider)(nil)

// New returns a Docker provider.
func New(o Options) *Provider {
	p := &Provider{r: o.Runner, log: o.Log, poll: time.Second}
	if p.log == nil {
		p.log = logx.Discard{}
	}
	if o.Host != nil {
		p.host = *o.Host
	} else {
		p.host = DetectHost()
	}
	return p
}

func (p *Provider) docker(ctx context.Context, args ...string) ([]byte, error) {
	return p.r.Run(ctx, exec.Cmd{Name: "docker", Args: args})
}

// spec is one machine to create.
type spec struct {
	node  string
	ip    string
	role  string
	index int
}

func specs(c *config.Cluster) []spec {
	var out []spec
	for i, n := range c.Nodes {
		out = append(out, spec{node: n.Name, ip: n.IP, role: strings.Join(n.Roles, ","), index: i})
	}
	if c.Network.LoadBalancerIP != "" {
		out = append(out, spec{node: provider.LBName, ip: c.Network.LoadBalancerIP, role: provider.RoleLB, index: len(c.Nodes)})
	}
	return out
}

// Create implements provider.Provider.
func (p *Provider) Create(ctx context.Context, c *config.Cluster, opts provider.CreateOptions) ([]provider.Node, error) {
	if opts.Image == "" {
		return nil, fmt.Errorf("no node image given: build one with `hardway node-image build`")
	}
	if opts.ArtifactsDir != "" {
		abs, err := filepath.Abs(opts.ArtifactsDir)
		if err != nil {
			return nil, fmt.Errorf("artifact cache %q: %w", opts.ArtifactsDir, err)
		}
		opts.ArtifactsDir = abs
	}
	if err := p.ensureNetwork(ctx, c); err != nil {
		return nil, err
	}
	if c.Published() {
		if err := p.ensurePublishNetwork(ctx, c); err != nil {
			return nil, err
		}
	}
	var nodes []provider.Node
	for _, s := range specs(c) {
		n, err := p.ensureContainer(ctx, c, s, opts)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// networkJSON is the part of `docker network inspect` we read.
type networkJSON struct {
	Name     string
	Internal bool
	Labels   map[string]string
	IPAM     struct {
		Config []struct{ Subnet, Gateway string }
	}
}

func (p *Provider) ensureNetwork(ctx context.Context, c *config.Cluster) error {
	name := NetworkName(c.Name)
	subnet, err := netip.ParsePrefix(c.Network.NodeSubnet)
	if err != nil {
		return fmt.Errorf("network.nodeSubnet %q is not a CIDR", c.Network.NodeSubnet)
	}
	subnet = subnet.Masked()
	out, err := p.docker(ctx, "network", "inspect", name)
	if err == nil {
		var nets []networkJSON
		if err := json.Unmarshal(out, &nets); err != nil || len(nets) != 1 {
			return fmt.Errorf("unexpected answer from docker network inspect %s: %s", name, lines.Clip(string(out), 200))
		}
		return checkNetwork(nets[0], c, subnet)
	}
	if !isNoSuch(err) {
		return dockerErr("inspecting network "+name, err)
	}
	gw := subnet.Addr().Next()
	args := []string{"network", "create", "--driver", "bridge",
		"--subnet", subnet.String(), "--gateway", gw.String()}
	if c.IsIsolated() {
		// Docker drops everything a node sends outside the subnet: cluster
		// traffic never leaves this machine.
		args = append(args, "--internal")
	}
	args = append(args, "--label", LabelCluster+"="+c.Name, name)
	p.log.Logf(1, "creating network %s (%s, isolated=%v)", name, subnet, c.IsIsolated())
	if _, err := p.docker(ctx, args...); err != nil {
		if re, ok := exec.IsRunError(err); ok && strings.Contains(strings.ToLower(re.Output()), "pool overlaps") {
			return p.subnetTaken(ctx, c, subnet)
		}
		return dockerErr("creating network "+name, err)
	}
	return nil
}

func checkNetwork(n networkJSON, c *config.Cluster, subnet netip.Prefix) error {
	if n.Labels[LabelCluster] != c.Name {
		return fmt.Errorf("docker network %s exists but was not made by hardway for cluster %q: remove it (docker network rm %s) or pick another --name", n.Name, c.Name, n.Name)
	}
	var have []string
	for _, cfg := range n.IPAM.Config {
		have = append(have, cfg.Subnet)
		if cfg.Subnet == subnet.String() {
			if n.Internal != c.IsIsolated() {
				return fmt.Errorf("network %s has internal=%v but the config says isolated=%v: run `hardway down --name %s` first", n.Name, n.Internal, c.IsIsolated(), c.Name)
			}
			return nil
		}
	}
	return fmt.Errorf("network %s has subnet %s but network.nodeSubnet is %s: run `hardway down --name %s` first, or keep the old subnet", n.Name, strings.Join(have, ","), subnet, c.Name)
}

// subnetTaken explains a "Pool overlaps" answer, naming the network that
// holds the range when Docker has one (else a host route or VPN has it).
func (p *Provider) subnetTaken(ctx context.Context, c *config.Cluster, subnet netip.Prefix) error {
	holder := ""
	if ids, err := p.docker(ctx, "network", "ls", "--quiet"); err == nil && len(strings.Fields(string(ids))) > 0 {
		out, _ := p.docker(ctx, append([]string{"network", "inspect"}, strings.Fields(string(ids))...)...)
		var nets []networkJSON
		_ = json.Unmarshal(out, &nets)
		for _, n := range nets {
			for _, cfg := range n.IPAM.Config {
				if pf, err := netip.ParsePrefix(cfg.Subnet); err == nil && pf.Overlaps(subnet) {
					holder = n.Name
					if other := n.Labels[LabelCluster]; other != "" {
						holder += fmt.Sprintf(" (hardway cluster %q: `hardway down --name %s` removes it)", other, other)
					}
				}
			}
		}
	}
	if holder == "" {
		holder = "another network"
	}
	return fmt.Errorf("node subnet %s overlaps %s: set network.nodeSubnet in the config to a free range, or remove the other network", subnet, holder)
}

// containerJSON is the part of `docker container inspect` we read.
type containerJSON struct {
	Name  string
	State struct {
		Status  string
		Running bool
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress  string
			IPAMConfig *struct{ IPv4Address string }
		}
	}
}

func (j containerJSON) name() string { return strings.TrimPrefix(j.Name, "/") }

// ip is the configured address (known even while stopped), else the current.
func (j containerJSON) ip(network string) string {
	n, ok := j.NetworkSettings.Networks[network]
	if !ok {
		return ""
	}
	if n.IPAMConfig != nil && n.IPAMConfig.IPv4Address != "" {
		return n.IPAMConfig.IPv4Address
	}
	return n.IPAddress
}

func (p *Provider) inspect(ctx context.Context, names ...string) ([]containerJSON, error) {
	out, err := p.docker(ctx, append([]string{"container", "inspect"}, names...)...)
	if err != nil {
		return nil, err
	}
	var cs []containerJSON
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("unexpected answer from docker container inspect: %s", lines.Clip(string(out), 200))
	}
	return cs, nil
}

func (p *Provider) ensureContainer(ctx context.Context, c *config.Cluster, s spec, opts provider.CreateOptions) (provider.Node, error) {
	name := ContainerName(c.Name, s.node)
	cs, err := p.inspect(ctx, name)
	switch {
	case err == nil && len(cs) == 1:
		have := cs[0]
		if have.Config.Labels[LabelCluster] != c.Name || have.Config.Labels[LabelNode] != s.node {
			return nil, fmt.Errorf("a container named %s exists but is not node %q of hardway cluster %q: remove it (docker rm -f %s) or pick another --name", name, s.node, c.Name, name)
		}
		if ip := have.ip(NetworkName(c.Name)); ip != s.ip {
			return nil, fmt.Errorf("node %s exists with IP %q but the config says %s: run `hardway down --name %s` first", s.node, ip, s.ip, c.Name)
		}
		if have.Config.Image != opts.Image {
			p.log.Logf(0, "note: node %s keeps running image %s (current is %s); `hardway down` and recreate to switch", s.node, have.Config.Image, opts.Image)
		}
		if !have.State.Running {
			p.log.Logf(1, "starting existing node %s (%s)", s.node, have.State.Status)
			if _, err := p.docker(ctx, "container", "start", name); err != nil {
				return nil, publishErr(c, name, err)
			}
		} else {
			p.log.Logf(1, "node %s already running", s.node)
		}
	case err != nil && !isNoSuch(err):
		return nil, dockerErr("inspecting "+name, err)
	default:
		p.log.Logf(1, "creating node %s (%s, %s)", s.node, s.ip, s.role)
		if c.Published() && s.role == provider.RoleLB {
			if err := p.publishedLB(ctx, c, s, opts); err != nil {
				return nil, err
			}
			break
		}
		if _, err := p.docker(ctx, p.runArgs(c, s, opts)...); err != nil {
			return nil, dockerErr("creating node "+s.node, err)
		}
	}
	return &Node{p: p, name: s.node, container: name, ip: s.ip, role: s.role}, nil
}

// runArgs is the `docker run` command line of one machine.
func (p *Provider) runArgs(c *config.Cluster, s spec, opts provider.CreateOptions) []string {
	return p.containerArgs("run", c, s, opts, []string{"--network", NetworkName(c.Name), "--ip", s.ip, "--network-alias", s.node})
}

// containerArgs is `docker run --detach` or `docker create` of one machine
// with the given network flags.
func (p *Provider) containerArgs(verb string, c *config.Cluster, s spec, opts provider.CreateOptions, network []string) []string {
	name := ContainerName(c.Name, s.node)
	a := []string{verb}
	if verb == "run" {
		a = append(a, "--detach")
	}
	a = append(a,
		"--name", name,
		"--hostname", s.node,
		"--label", LabelCluster+"="+c.Name,
		"--label", LabelNode+"="+s.node,
		"--label", LabelRole+"="+s.role,
		"--label", LabelIndex+"="+strconv.Itoa(s.index))
	a = append(a, network...)
	a = append(a,
		// Nodes come back after a dockerd restart, with the same IP (fixed
		// with --ip) and the same /var volume.
		"--restart", "unless-stopped",
		// systemd shuts down cleanly on SIGRTMIN+3; SIGTERM would only
		// make it re-execute itself.
		"--stop-signal", "SIGRTMIN+3")
	if p.host.Privileged {
		a = append(a, "--privileged",
			"--security-opt", "seccomp=unconfined",
			"--security-opt", "apparmor=unconfined")
	} else {
		// Everything --privileged would give except what the host cannot
		// grant: CAP_SYS_RESOURCE (containerd then needs
		// restrict_oom_score_adj), and every device by rule instead of by
		// copying the host's /dev.
		a = append(a,
			"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
			"--security-opt", "seccomp=unconfined",
			"--security-opt", "apparmor=unconfined",
			"--security-opt", "systempaths=unconfined",
			"--device-cgroup-rule", "a *:* rwm",
			"--device", "/dev/kmsg")
	}
	a = append(a,
		// The node's own cgroup subtree appears as its root: the entrypoint
		// remounts it writable for systemd and kubelet.
		"--cgroupns", "private",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
		// An anonymous volume keeps /var (containerd's overlayfs snapshots,
		// etcd data) off the container's own overlay, where overlay-on-
		// overlay fails.
		"--volume", "/var")
	if p.host.ModulesDir != "" {
		a = append(a, "--volume", p.host.ModulesDir+":/lib/modules:ro")
	}
	if opts.ArtifactsDir != "" {
		a = append(a, "--volume", opts.ArtifactsDir+":"+provider.ArtifactsMount+":ro")
	}
	return append(a, opts.Image)
}

// list returns the cluster's containers, config order, load balancer last.
func (p *Provider) list(ctx context.Context, cluster string) ([]containerJSON, error) {
	out, err := p.docker(ctx, "container", "ls", "--all", "--quiet", "--no-trunc", "--filter", "label="+LabelCluster+"="+cluster)
	if err != nil {
		return nil, dockerErr("listing nodes of cluster "+cluster, err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil, nil
	}
	cs, err := p.inspect(ctx, ids...)
	if err != nil {
		return nil, dockerErr("inspecting nodes of cluster "+cluster, err)
	}
	sortContainers(cs)
	return cs, nil
}

func sortContainers(cs []containerJSON) {
	idx := func(j containerJSON) int {
		i, err := strconv.Atoi(j.Config.Labels[LabelIndex])
		if err != nil {
			return 1 << 30
		}
		return i
	}
	sort.SliceStable(cs, func(a, b int) bool {
		ia, ib := idx(cs[a]), idx(cs[b])
		if ia != ib {
			return ia < ib
		}
		return cs[a].name() < cs[b].name()
	})
}

// Clusters lists the names of the clusters this provider's containers
// belong to, sorted: `hardway list` shows them, also those whose state
// directory is gone.
func (p *Provider) Clusters(ctx context.Context) ([]string, error) {
	out, err := p.docker(ctx, "container", "ls", "--all", "--filter", "label="+LabelCluster, "--format", "{{.Label \""+LabelCluster+"\"}}")
	if err != nil {
		return nil, dockerErr("listing hardway's containers", err)
	}
	seen := map[string]bool{}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Nodes implements provider.Provider.
func (p *Provider) Nodes(ctx context.Context, cluster string) ([]provider.Node, error) {
	cs, err := p.list(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var out []provider.Node
	for _, j := range cs {
		out = append(out, &Node{p: p, name: j.Config.Labels[LabelNode], container: j.name(),
			ip: j.ip(NetworkName(cluster)), role: j.Config.Labels[LabelRole]})
	}
	return out, nil
}

// Node returns one node of the cluster by name.
func (p *Provider) Node(ctx context.Context, cluster, name string) (provider.Node, error) {
	return provider.NodeByName(ctx, p, cluster, name)
}

// Status implements provider.Provider.
func (p *Provider) Status(ctx context.Context, cluster string) ([]provider.NodeStatus, error) {
	cs, err := p.list(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var out []provider.NodeStatus
	for _, j := range cs {
		out = append(out, provider.NodeStatus{
			Name: j.Config.Labels[LabelNode], Container: j.name(), IP: j.ip(NetworkName(cluster)),
			Role: j.Config.Labels[LabelRole], State: j.State.Status,
		})
	}
	return out, nil
}

// Stop implements provider.Provider: docker stop sends the node's systemd its
// halt signal (SIGRTMIN+3), so every service shuts down cleanly.
func (p *Provider) Stop(ctx context.Context, cluster string) ([]string, error) {
	cs, err := p.list(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, j := range cs {
		if j.State.Status == "running" || j.State.Status == "restarting" {
			names = append(names, j.name())
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if _, err := p.docker(ctx, append([]string{"container", "stop", "--time", "60"}, names...)...); err != nil {
		return nil, dockerErr("stopping nodes of cluster "+cluster, err)
	}
	return names, nil
}

// Start implements provider.Provider. Containers keep their fixed IPs.
func (p *Provider) Start(ctx context.Context, cluster string) ([]provider.Node, error) {
	cs, err := p.list(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var stopped []string
	for _, j := range cs {
		if j.State.Status != "running" {
			stopped = append(stopped, j.name())
		}
	}
	if len(stopped) > 0 {
		if _, err := p.docker(ctx, append([]string{"container", "start"}, stopped...)...); err != nil {
			return nil, dockerErr("starting nodes of cluster "+cluster, err)
		}
	}
	return p.Nodes(ctx, cluster)
}

// Delete implements provider.Provider. It finds everything by label, so it
// also cleans up after a Create that failed half way, and never touches a
// container or network some other tool made.
func (p *Provider) Delete(ctx context.Context, cluster string) ([]string, error) {
	var removed []string
	filter := "label=" + LabelCluster + "=" + cluster
	out, err := p.docker(ctx, "container", "ls", "--all", "--quiet", "--filter", filter)
	if err != nil {
		return nil, dockerErr("listing nodes of cluster "+cluster, err)
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		names := ids
		if cs, err := p.inspect(ctx, ids...); err == nil && len(cs) == len(ids) {
			names = nil
			for _, j := range cs {
				names = append(names, j.name())
			}
		}
		// -v: the anonymous /var volumes go with their containers.
		if _, err := p.docker(ctx, append([]string{"container", "rm", "--force", "--volumes"}, ids...)...); err != nil {
			return removed, dockerErr("removing nodes of cluster "+cluster, err)
		}
		for _, n := range names {
			removed = append(removed, "container "+n)
		}
	}
	out, err = p.docker(ctx, "network", "ls", "--filter", filter, "--format", "{{.Name}}")
	if err != nil {
		return removed, dockerErr("listing networks of cluster "+cluster, err)
	}
	if names := strings.Fields(string(out)); len(names) > 0 {
		if _, err := p.docker(ctx, append([]string{"network", "rm"}, names...)...); err != nil {
			return removed, dockerErr("removing the networks of cluster "+cluster, err)
		}
		for _, n := range names {
			removed = append(removed, "network "+n)
		}
	}
	return removed, nil
}

// RemoveNode implements provider.NodeRemover: the node's container and its
// anonymous /var volume go; a container that is not this cluster's node is
// never touched.
func (p *Provider) RemoveNode(ctx context.Context, cluster, name string) error {
	if name == provider.LBName {
		return fmt.Errorf("the load balancer of cluster %s is not a node to remove", cluster)
	}
	container := ContainerName(cluster, name)
	cs, err := p.inspect(ctx, container)
	switch {
	case err != nil && isNoSuch(err):
		return nil
	case err != nil:
		return dockerErr("inspecting "+container, err)
	case len(cs) != 1 || cs[0].Config.Labels[LabelCluster] != cluster || cs[0].Config.Labels[LabelNode] != name:
		return fmt.Errorf("container %s is not node %q of hardway cluster %q: not removing it", container, name, cluster)
	}
	// -v: the anonymous /var volume (etcd data, containerd's snapshots)
	// goes with it.
	if _, err := p.docker(ctx, "container", "rm", "--force", "--volumes", container); err != nil {
		return dockerErr("removing node "+name, err)
	}
	return nil
}

func isNoSuch(err error) bool {
	re, ok := exec.IsRunError(err)
	if !ok {
		return false
	}
	o := strings.ToLower(re.Output())
	return strings.Contains(o, "no such") || strings.Contains(o, "not found")
}

// dockerErr keeps Docker's own words and adds what the user can do when the
// daemon itself is the problem.
func dockerErr(what string, err error) error {
	if re, ok := exec.IsRunError(err); ok {
		o := re.Output()
		if strings.Contains(o, "Cannot connect to the Docker daemon") || strings.Contains(o, "permission denied while trying to connect") {
			return fmt.Errorf("%s: Docker daemon not reachable (start dockerd; `hardway check` tells what is missing): %w", what, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
