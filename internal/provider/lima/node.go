package lima

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/provider/ssh"
)

// Node is a Lima VM reached over SSH. Its cluster address is the config's
// ip when given, else what the VM's shared network gave it (read when it
// is first asked for).
type Node struct {
	*ssh.Node
	configIP string
	iface    string

	mu sync.Mutex
	ip string
}

// addressArgs asks the VM for its IPv4 address on the shared network.
func addressArgs(iface string) []string {
	return []string{"ip", "-4", "-o", "addr", "show", "dev", iface}
}

// IP implements node.Node.
func (n *Node) IP() string {
	if n.configIP != "" {
		return n.configIP
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ip
}

// WaitForSystemd implements provider.Node: the VM's systemd, then its
// address on the shared network (which the nodes step adopts when the
// config has none).
func (n *Node) WaitForSystemd(ctx context.Context, timeout time.Duration) error {
	if err := n.Node.WaitForSystemd(ctx, timeout); err != nil {
		return err
	}
	out, err := n.Run(ctx, nil, addressArgs(n.iface)...)
	if err != nil {
		return fmt.Errorf("node %s: reading its address on %s: %w", n.Name(), n.iface, err)
	}
	ip, err := parseAddr(out)
	if err != nil {
		return fmt.Errorf("node %s: %w: the VM has no address on its shared network; check lima.network and that Lima's networking is set up (limactl sudoers for socket_vmnet)", n.Name(), err)
	}
	if n.configIP != "" && n.configIP != ip {
		return fmt.Errorf("node %s: its VM has address %s on %s but the config says ip %s: remove the ip from the config (the VM network assigns it) or give the VM that address", n.Name(), ip, n.iface, n.configIP)
	}
	n.mu.Lock()
	n.ip = ip
	n.mu.Unlock()
	return nil
}

// parseAddr reads the address from `ip -4 -o addr show dev IFACE`:
// "3: lima0    inet 192.168.105.3/24 brd ... scope global dynamic lima0 ...".
func parseAddr(out []byte) (string, error) {
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "inet" {
			p, err := netip.ParsePrefix(f[i+1])
			if err == nil && p.Addr().Is4() {
				return p.Addr().String(), nil
			}
		}
	}
	return "", fmt.Errorf("no IPv4 address in %q", strings.TrimSpace(string(out)))
}
