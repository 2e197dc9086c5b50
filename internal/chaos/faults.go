// Package chaos is the fault soak: while a writer creates objects through the
// API load balancer and a poller asks a Service on every node, faults hit
// random machines of one cluster at random intervals; afterwards every
// acknowledged write must be readable and every etcd member must hold the
// same data. It prints nothing: the CLI's hidden `chaos` command and
// hack/chaos.sh drive it.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind is one kind of fault.
type Kind string

// The fault kinds. A kill is SIGKILL to the unit's main process only (as
// `kill -9 PID` would): containerd's shims and pods live on, as they do when
// containerd crashes.
const (
	KillEtcd       Kind = "kill-etcd"
	KillAPIServer  Kind = "kill-apiserver"
	KillKubelet    Kind = "kill-kubelet"
	KillContainerd Kind = "kill-containerd"
	// Restart is `docker restart`: the machine shuts down (systemd's
	// clean shutdown) and boots again.
	Restart Kind = "restart"
	// Pause is `docker pause` for Hold: every process frozen, sockets open.
	Pause Kind = "pause"
	// Partition drops every packet in and out of the machine's network
	// interface for Hold (iptables inside the machine): cut off from the
	// others and from this host; loopback still works.
	Partition Kind = "partition"
	// Disk writes a bounded file (DiskFill) on the machine's /var for Hold,
	// then frees it.
	Disk Kind = "disk"
)

// Kinds are every fault kind, in the order reports list them.
func Kinds() []Kind {
	return []Kind{KillEtcd, KillAPIServer, KillKubelet, KillContainerd, Restart, Pause, Partition, Disk}
}

// ParseKinds reads a comma-separated list of kinds; empty is every kind.
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "" {
		return Kinds(), nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if !k.known() {
			var all []string
			for _, k := range Kinds() {
				all = append(all, string(k))
			}
			return nil, fmt.Errorf("--kinds: %q is not a fault kind; choose from %s", f, strings.Join(all, ","))
		}
		out = append(out, k)
	}
	return out, nil
}

func (k Kind) known() bool {
	for _, x := range Kinds() {
		if x == k {
			return true
		}
	}
	return false
}

// Held reports whether the fault lasts Hold before it is lifted (the
// others are over once injected: the machine heals itself).
func (k Kind) Held() bool { return k == Pause || k == Partition || k == Disk }

// unit is the systemd unit a kill fault hits.
func (k Kind) unit() string {
	switch k {
	case KillEtcd:
		return "etcd"
	case KillAPIServer:
		return "kube-apiserver"
	case KillKubelet:
		return "kubelet"
	case KillContainerd:
		return "containerd"
	}
	return ""
}

// Target is a machine faults may hit.
type Target struct {
	Node, IP, Container  string
	ControlPlane, Worker bool
}

// eligible: a kind hits only machines that run what it kills.
func (k Kind) eligible(t Target) bool {
	switch k {
	case KillEtcd, KillAPIServer:
		return t.ControlPlane
	case KillKubelet, KillContainerd:
		return t.Worker
	}
	return true
}

// Fault is one planned fault.
type Fault struct {
	Kind Kind
	// Target is the machine it hits.
	Target Target
	// Hold is how long a held fault lasts.
	Hold time.Duration
	// Gap is the pause before it, after the previous one healed.
	Gap time.Duration
}

// Plan draws faults: kinds in shuffled rounds, so every kind comes once in
// each round of len(kinds) faults (a short soak still sees each kind), a
// random eligible machine for each, a random Hold and Gap in the bounds.
type Plan struct {
	Kinds            []Kind
	Targets          []Target
	HoldMin, HoldMax time.Duration
	GapMin, GapMax   time.Duration
	Rand             *rand.Rand

	deck []Kind
}

// Next is the next fault; an error when no machine can take a kind.
func (p *Plan) Next() (Fault, error) {
	if len(p.deck) == 0 {
		p.deck = append([]Kind(nil), p.Kinds...)
		p.Rand.Shuffle(len(p.deck), func(i, j int) { p.deck[i], p.deck[j] = p.deck[j], p.deck[i] })
	}
	k := p.deck[0]
	p.deck = p.deck[1:]
	var ts []Target
	for _, t := range p.Targets {
		if k.eligible(t) {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return Fault{}, fmt.Errorf("no machine of the cluster can take fault %s", k)
	}
	f := Fault{Kind: k, Target: ts[p.Rand.IntN(len(ts))], Gap: between(p.Rand, p.GapMin, p.GapMax)}
	if k.Held() {
		f.Hold = between(p.Rand, p.HoldMin, p.HoldMax)
	}
	return f, nil
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// chaosMark tags what a fault leaves inside a machine (iptables rules, the
// fill file) so lifting it removes exactly that.
const chaosMark = "hardway-chaos"

// DiskFillPath is the file the disk fault writes.
const DiskFillPath = "/var/lib/" + chaosMark + "-fill"

// DiskFill is how much the disk fault writes. The machines' /var is a
// Docker volume on this host's disk, which other work shares: filling it up
// would take space from everything else, so the fault is bounded (it adds
// I/O and takes space, it does not reach ENOSPC on a large disk).
const DiskFill = "1G"

// Commands are the host commands (docker ...) that inject a fault and the
// ones that lift it; lift is empty for a fault that heals by itself.
func (f Fault) Commands() (inject, lift [][]string) {
	c := f.Target.Container
	exec := func(args ...string) []string { return append([]string{"docker", "exec", c}, args...) }
	switch f.Kind {
	case KillEtcd, KillAPIServer, KillKubelet, KillContainerd:
		// --kill-whom=main: only the main process, as kill -9 of its PID;
		// the unit's other processes (containerd's shims) stay.
		return [][]string{exec("systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", f.Kind.unit())}, nil
	case Restart:
		return [][]string{{"docker", "restart", "--time", "30", c}}, nil
	case Pause:
		return [][]string{{"docker", "pause", c}}, [][]string{{"docker", "unpause", c}}
	case Partition:
		in := []string{"INPUT", "-i", "eth0", "-m", "comment", "--comment", chaosMark, "-j", "DROP"}
		out := []string{"OUTPUT", "-o", "eth0", "-m", "comment", "--comment", chaosMark, "-j", "DROP"}
		return [][]string{exec(append([]string{"iptables", "-w", "-I"}, in...)...), exec(append([]string{"iptables", "-w", "-I"}, out...)...)},
			[][]string{exec(append([]string{"iptables", "-w", "-D"}, in...)...), exec(append([]string{"iptables", "-w", "-D"}, out...)...)}
	case Disk:
		return [][]string{exec("fallocate", "-l", DiskFill, DiskFillPath)}, [][]string{exec("rm", "-f", DiskFillPath)}
	}
	return nil, nil
}

// CleanupCommands lift whatever any fault may have left on t (a run that
// was interrupted between inject and lift): each is harmless when there is
// nothing to lift.
func CleanupCommands(t Target) [][]string {
	c := t.Container
	return [][]string{
		{"sh", "-c", `[ "$(docker inspect -f '{{.State.Paused}}' "$1")" != true ] || docker unpause "$1"`, "sh", c},
		{"docker", "exec", c, "sh", "-c", `for ch in INPUT OUTPUT; do iptables -w -S $ch | grep -- "$1" | sed "s/^-A/-D/" | while read -r r; do eval iptables -w $r; done; done; rm -f "$2"`, "sh", chaosMark, DiskFillPath},
	}
}
