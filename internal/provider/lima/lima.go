// Package lima makes each node a Lima VM (as the original tutorial did on
// macOS): hardway writes one template per node, creates and starts the VMs
// with limactl, and then drives them over SSH exactly like provider ssh, with
// the address and key `limactl show-ssh` reports. The VM's cluster address is
// the one its shared network (vzNAT or socket_vmnet) gives it.
//
// Every limactl command goes through exec.Runner, so tests check the exact
// command lines with a fake.
package lima

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	_ "embed"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/provider/ssh"
)

// Options configure the provider.
type Options struct {
	Runner exec.Runner
	Log    logx.Logger
	// Config is the cluster whose nodes are VMs; Nodes, Status, Stop, Start
	// and Delete act on its nodes only (Lima has no labels to find them by).
	Config *config.Cluster
	// Pool is how the VMs are reached once they run.
	Pool ssh.PoolOptions
	// StateDir is the cluster's state directory; the templates go to
	// StateDir/lima/.
	StateDir string
}

// Provider implements provider.Provider with limactl.
type Provider struct {
	o    Options
	pool *ssh.Pool
}

var _ provider.Provider = (*Provider)(nil)

// New returns the provider.
func New(o Options) *Provider {
	if o.Log == nil {
		o.Log = logx.Discard{}
	}
	return &Provider{o: o, pool: ssh.NewPool(o.Pool)}
}

// Instance is the Lima instance name of a node.
func Instance(cluster, node string) string { return cluster + "-" + node }

// Interface is the VM's network interface on the shared network: Lima
// names the first entry of `networks` lima0.
const Interface = "lima0"

func (p *Provider) limactl(ctx context.Context, args ...string) ([]byte, error) {
	out, err := p.o.Runner.Run(ctx, exec.Cmd{Name: "limactl", Args: args})
	if err != nil {
		var re *exec.RunError
		if errors.As(err, &re) && re.ExitCode == -1 && strings.Contains(re.Error(), "executable file not found") {
			return nil, fmt.Errorf("limactl is not installed: provider lima needs Lima (https://lima-vm.io: brew install lima)")
		}
	}
	return out, err
}

// instanceJSON is the part of `limactl list --json` hardway reads.
type instanceJSON struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	Arch         string `json:"arch"`
	Dir          string `json:"dir"`
	SSHLocalPort int    `json:"sshLocalPort"`
}

// list returns every Lima instance by name; limactl prints one JSON object
// per line.
func (p *Provider) list(ctx context.Context) (map[string]instanceJSON, error) {
	out, err := p.limactl(ctx, "list", "--json")
	if err != nil {
		return nil, fmt.Errorf("listing Lima instances: %w", err)
	}
	all := map[string]instanceJSON{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var in instanceJSON
		if err := json.Unmarshal(line, &in); err != nil {
			return nil, fmt.Errorf("unexpected answer from limactl list --json: %q (a newer Lima? report it)", lines.Clip(string(line), 200))
		}
		all[in.Name] = in
	}
	return all, sc.Err()
}

func (p *Provider) checkCluster(cluster string) bool {
	return p.o.Config != nil && p.o.Config.Name == cluster
}

// Create implements provider.Provider: writes each node's template, creates
// the VMs that do not exist, starts the stopped ones, and returns them with
// their SSH coordinates and cluster addresses.
func (p *Provider) Create(ctx context.Context, c *config.Cluster, _ provider.CreateOptions) ([]provider.Node, error) {
	have, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		name := Instance(c.Name, n.Name)
		in, exists := have[name]
		switch {
		case !exists:
			path, err := p.writeTemplate(c, n)
			if err != nil {
				return nil, err
			}
			p.o.Log.Logf(0, "creating Lima VM %s (a few minutes the first time: Lima downloads the Debian cloud image)", name)
			if _, err := p.limactl(ctx, "create", "--name="+name, "--tty=false", path); err != nil {
				return nil, fmt.Errorf("creating Lima VM %s for node %s: %w", name, n.Name, err)
			}
			fallthrough
		case in.Status != "Running":
			if _, err := p.limactl(ctx, "start", "--tty=false", name); err != nil {
				return nil, fmt.Errorf("starting Lima VM %s for node %s: %w", name, n.Name, err)
			}
		}
	}
	return p.nodes(ctx, c)
}

// nodes returns a node per VM, reached at what `limactl show-ssh` says.
func (p *Provider) nodes(ctx context.Context, c *config.Cluster) ([]provider.Node, error) {
	var out []provider.Node
	for _, n := range c.Nodes {
		m, err := p.machine(ctx, c, n)
		if err != nil {
			return nil, err
		}
		out = append(out, &Node{Node: p.pool.Node(m), configIP: n.IP, iface: Interface})
	}
	return out, nil
}

// machine reads a VM's SSH coordinates from `limactl show-ssh --format=config`.
func (p *Provider) machine(ctx context.Context, c *config.Cluster, n config.Node) (ssh.Machine, error) {
	name := Instance(c.Name, n.Name)
	out, err := p.limactl(ctx, "show-ssh", "--format=config", name)
	if err != nil {
		return ssh.Machine{}, fmt.Errorf("asking Lima how to reach VM %s (node %s): %w", name, n.Name, err)
	}
	m, err := parseSSHConfig(out)
	if err != nil {
		return ssh.Machine{}, fmt.Errorf("VM %s (node %s): %w", name, n.Name, err)
	}
	m.Name, m.IP, m.Role = n.Name, n.IP, strings.Join(n.Roles, ",")
	return m, nil
}

// parseSSHConfig reads User, Hostname, Port and the first IdentityFile of
// an ssh_config block.
func parseSSHConfig(b []byte) (ssh.Machine, error) {
	var m ssh.Machine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.ToLower(k) {
		case "user":
			m.User = v
		case "hostname":
			m.Address = v
		case "port":
			m.Port, _ = strconv.Atoi(v)
		case "identityfile":
			if m.IdentityFile == "" {
				m.IdentityFile = v
			}
		}
	}
	if m.User == "" || m.Address == "" || m.Port == 0 {
		return m, fmt.Errorf("limactl show-ssh gave no User, Hostname and Port (got %q): is the VM running? (limactl list)", lines.Clip(string(b), 200))
	}
	return m, nil
}

// Nodes implements provider.Provider: the VMs that run.
func (p *Provider) Nodes(ctx context.Context, cluster string) ([]provider.Node, error) {
	if !p.checkCluster(cluster) {
		return nil, nil
	}
	have, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.Node
	for _, n := range p.o.Config.Nodes {
		if have[Instance(cluster, n.Name)].Status != "Running" {
			continue
		}
		m, err := p.machine(ctx, p.o.Config, n)
		if err != nil {
			return nil, err
		}
		out = append(out, &Node{Node: p.pool.Node(m), configIP: n.IP, iface: Interface})
	}
	return out, nil
}

// Status implements provider.Provider from `limactl list`: Running is
// "running", anything else Lima's own word in lower case.
func (p *Provider) Status(ctx context.Context, cluster string) ([]provider.NodeStatus, error) {
	if !p.checkCluster(cluster) {
		return nil, nil
	}
	have, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.NodeStatus
	for _, n := range p.o.Config.Nodes {
		in, ok := have[Instance(cluster, n.Name)]
		if !ok {
			continue
		}
		out = append(out, provider.NodeStatus{Name: n.Name, Container: "lima " + in.Name, IP: n.IP,
			Role: strings.Join(n.Roles, ","), State: strings.ToLower(in.Status)})
	}
	return out, nil
}

// Stop implements provider.Provider: limactl stop shuts each VM down
// cleanly; its disk stays.
func (p *Provider) Stop(ctx context.Context, cluster string) ([]string, error) {
	st, err := p.Status(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var stopped []string
	for _, s := range st {
		if s.State != "running" {
			continue
		}
		name := Instance(cluster, s.Name)
		if _, err := p.limactl(ctx, "stop", name); err != nil {
			return stopped, fmt.Errorf("stopping Lima VM %s: %w", name, err)
		}
		stopped = append(stopped, name)
	}
	return stopped, nil
}

// Start implements provider.Provider.
func (p *Provider) Start(ctx context.Context, cluster string) ([]provider.Node, error) {
	st, err := p.Status(ctx, cluster)
	if err != nil {
		return nil, err
	}
	for _, s := range st {
		if s.State == "running" {
			continue
		}
		name := Instance(cluster, s.Name)
		if _, err := p.limactl(ctx, "start", "--tty=false", name); err != nil {
			return nil, fmt.Errorf("starting Lima VM %s: %w", name, err)
		}
	}
	return p.Nodes(ctx, cluster)
}

// Delete implements provider.Provider: the VMs are hardway's, so they go
// entirely, with their disks and templates.
func (p *Provider) Delete(ctx context.Context, cluster string) ([]string, error) {
	if !p.checkCluster(cluster) {
		return nil, nil
	}
	have, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range p.o.Config.Nodes {
		name := Instance(cluster, n.Name)
		if _, ok := have[name]; !ok {
			continue
		}
		if _, err := p.limactl(ctx, "delete", "--force", name); err != nil {
			return removed, fmt.Errorf("deleting Lima VM %s: %w", name, err)
		}
		removed = append(removed, "Lima VM "+name)
	}
	if err := os.RemoveAll(p.templateDir()); err != nil {
		return removed, fmt.Errorf("removing the Lima templates in %s: %w", p.templateDir(), err)
	}
	return removed, p.pool.Close()
}

func (p *Provider) templateDir() string { return filepath.Join(p.o.StateDir, "lima") }

//go:embed template.yaml.tmpl
var templateText string

// TemplateData is what the template sees.
type TemplateData struct {
	Cluster, Node string
	Lima          config.Lima
	Packages      []string
}

// Packages are installed in each VM by its provision script: what the
// preflight asks for on a Debian machine.
func Packages() []string {
	return []string{"iptables", "nftables", "ipset", "conntrack", "socat", "kmod", "util-linux", "mount", "haproxy", "iproute2", "ca-certificates"}
}

// Template renders the Lima template of node n.
func Template(c *config.Cluster, n config.Node) ([]byte, error) {
	t, err := template.New("lima").Option("missingkey=error").Parse(templateText)
	if err != nil {
		return nil, fmt.Errorf("parsing the Lima template (a bug in hardway): %w", err)
	}
	lc := config.Lima{}
	if c.Lima != nil {
		lc = *c.Lima
	}
	var b bytes.Buffer
	if err := t.Execute(&b, TemplateData{Cluster: c.Name, Node: n.Name, Lima: lc, Packages: Packages()}); err != nil {
		return nil, fmt.Errorf("rendering the Lima template (a bug in hardway): %w", err)
	}
	return b.Bytes(), nil
}

func (p *Provider) writeTemplate(c *config.Cluster, n config.Node) (string, error) {
	b, err := Template(c, n)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p.templateDir(), 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", p.templateDir(), err)
	}
	path := filepath.Join(p.templateDir(), Instance(c.Name, n.Name)+".yaml")
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return "", err
	}
	return path, nil
}
