package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/exec"
)

// nsNode is a machine made of a network namespace of this host: the probe's
// script runs in it with `ip netns exec`, and its pings cross a real Linux
// bridge to the other namespaces.
type nsNode struct{ ns, name string }

func (n nsNode) Name() string { return n.name }
func (n nsNode) IP() string   { return "" }
func (n nsNode) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	cmd := osexec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ns}, argv...)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &exec.RunError{Where: n.name, Cmd: argv[0], ExitCode: cmd.ProcessState.ExitCode(), Stdout: out.Bytes(), Stderr: errb.Bytes(), Err: err}
	}
	return out.Bytes(), nil
}
func (n nsNode) WriteFile(context.Context, string, []byte, os.FileMode) error {
	return errors.New("unused")
}
func (n nsNode) ReadFile(context.Context, string) ([]byte, error) { return nil, errors.New("unused") }

// run runs a command on this host and fails the test when it fails.
func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := osexec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// netnsCluster builds three "nodes" on one bridge, as machines on one L2
// network: cp (no pods, 10.99.0.10), w1 (pods 10.98.1.0/24, 10.99.0.11) and
// w2 (pods 10.98.2.0/24, 10.99.0.12), each with direct routes to the
// others' pod CIDRs, the way hardway-pod-network sets them.
func netnsCluster(t *testing.T) map[string]nsNode {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"ip", "ping", "iptables"} {
		if _, err := osexec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the pod network probe is tested in network namespaces of this host and needs %s: run as root with iproute2, iputils-ping and iptables installed (hack/setup-host.sh installs them)", strings.Join(missing, ", "))
	}
	// Unique per process: other test runs on the host may build theirs.
	prefix := fmt.Sprintf("hwp%d", os.Getpid())
	sw := prefix + "-sw"
	run(t, "ip", "netns", "add", sw)
	t.Cleanup(func() { _ = osexec.Command("ip", "netns", "del", sw).Run() })
	run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	nodes := map[string]nsNode{}
	pods := map[string]string{"w1": "10.98.1.0/24", "w2": "10.98.2.0/24"}
	ips := map[string]string{"cp": "10.99.0.10", "w1": "10.99.0.11", "w2": "10.99.0.12"}
	for i, name := range []string{"cp", "w1", "w2"} {
		ns := prefix + "-" + name
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = osexec.Command("ip", "netns", "del", ns).Run() })
		port := fmt.Sprintf("p%d", i)
		run(t, "ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run(t, "ip", "-n", sw, "link", "set", port, "master", "br0", "up")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", ns, "addr", "add", ips[name]+"/24", "dev", "eth0")
		run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		for peer, cidr := range pods {
			if peer != name {
				run(t, "ip", "-n", ns, "route", "add", cidr, "via", ips[peer])
			}
		}
		nodes[name] = nsNode{ns: ns, name: name}
	}
	return nodes
}

// TestPodNetworkProbe runs the network step's probe between real network
// namespaces: it passes where the network carries pod addresses, names
// exactly the pairs that fail where it drops them, and leaves no address
// behind either way.
func TestPodNetworkProbe(t *testing.T) {
	nodes := netnsCluster(t)
	probe := []probeNode{
		{Name: "cp", Node: nodes["cp"]},
		{Name: "w1", Node: nodes["w1"], Addr: "10.98.1.1"},
		{Name: "w2", Node: nodes["w2"], Addr: "10.98.2.1"},
	}
	leftOnLo := func() {
		t.Helper()
		for _, w := range []string{"w1", "w2"} {
			out, err := nodes[w].Run(context.Background(), nil, "ip", "-4", "-o", "addr", "show", "dev", "lo")
			if err != nil || strings.Contains(string(out), "10.98.") {
				t.Errorf("%s: the probe left a pod address on lo: %v\n%s", w, err, out)
			}
		}
	}

	start := time.Now()
	pairs, err := probePodNetwork(context.Background(), probe, true)
	if err != nil || pairs != 4 {
		t.Fatalf("on one L2 network: %d pairs, %v; want 4 (cp→w1, cp→w2, w1→w2, w2→w1) and no error", pairs, err)
	}
	if took := time.Since(start); took >= probeWait {
		t.Errorf("a working network took %s to answer (a ping waited out its %s)", took, probeWait)
	}
	leftOnLo()

	// w2 now drops whatever comes from a pod address, the way Docker's
	// internal bridge drops packets from addresses outside its subnet.
	if _, err := nodes["w2"].Run(context.Background(), nil, "iptables", "-A", "INPUT", "-s", "10.98.0.0/16", "-j", "DROP"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	pairs, err = probePodNetwork(context.Background(), probe, true)
	if took := time.Since(start); took > 2*probeWait {
		t.Errorf("the failing probe took %s, want it bounded by about %s", took, probeWait)
	}
	want := "pods cannot reach pods on other nodes: ping w1 (10.98.1.1) → w2 (10.98.2.1), w2 (10.98.2.1) → w1 (10.98.1.1) got no answer within 3s; " +
		"the network between the nodes drops packets with pod addresses (as Docker's internal bridge and cloud VPCs with source/destination checks do): set network.podRoutes: vxlan in the config and run hardway up again"
	if err == nil || err.Error() != want {
		t.Errorf("with w2 dropping pod addresses:\n got %v\nwant %s", err, want)
	}
	if pairs != 2 {
		t.Errorf("%d pairs answered, want 2 (from cp's node IP)", pairs)
	}
	leftOnLo()
}

// cannedNode answers the probe's ping with fixed lines.
type cannedNode struct {
	nsNode
	out string
}

func (n cannedNode) Run(context.Context, io.Reader, ...string) ([]byte, error) {
	return []byte(n.out), nil
}

// TestPodNetworkProbeMessages: the error names the failed pairs (three,
// then a count) and the fix for the kind of routes.
func TestPodNetworkProbeMessages(t *testing.T) {
	tests := []struct {
		name   string
		direct bool
		out    map[string]string
		want   string
	}{
		{"vxlan", false, map[string]string{"a": "ok b 10.200.1.0\n", "b": "fail a 10.200.0.0\n"},
			"pods cannot reach pods on other nodes: ping b (10.200.1.0) → a (10.200.0.0) through VXLAN got no answer within 3s; the network between the nodes must carry UDP port 4789 between the node IPs (open it in any firewall or security group between them)"},
		{"many pairs", true, map[string]string{"a": "fail b 10.200.1.1\nfail c 10.200.2.1\n", "b": "fail a 10.200.0.1\nfail c 10.200.2.1\n", "c": "ok a 10.200.0.1\nok b 10.200.1.1\n"},
			"pods cannot reach pods on other nodes: ping a (10.200.0.1) → b (10.200.1.1), a (10.200.0.1) → c (10.200.2.1), b (10.200.1.1) → a (10.200.0.1) and 1 more pairs got no answer within 3s; the network between the nodes drops packets with pod addresses (as Docker's internal bridge and cloud VPCs with source/destination checks do): set network.podRoutes: vxlan in the config and run hardway up again"},
		{"all answer", false, map[string]string{"a": "ok b 10.200.1.0\n", "b": "ok a 10.200.0.0\n"}, ""},
		{"garbage", false, map[string]string{"a": "ok b\n", "b": "ok a 10.200.0.0\n"},
			`a: unexpected line from the pod network probe: "ok b" (a bug in hardway)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodes []probeNode
			for i, name := range []string{"a", "b", "c"} {
				if _, ok := tt.out[name]; !ok {
					continue
				}
				addr := fmt.Sprintf("10.200.%d.0", i)
				if tt.direct {
					addr = fmt.Sprintf("10.200.%d.1", i)
				}
				nodes = append(nodes, probeNode{Name: name, Node: cannedNode{nsNode{name: name}, tt.out[name]}, Addr: addr})
			}
			_, err := probePodNetwork(context.Background(), nodes, tt.direct)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
