// Package machinecheck is the preflight for real machines (providers ssh and
// lima): one command per node reads what hardway must know about it (OS,
// architecture, kernel features, swap, busy ports, clock, free disk, tools,
// software that would clash), and Check turns the answers into one line per
// item, each missing one with its fix. The same answers give the facts the
// node files are rendered for (cgroup version, capabilities).
package machinecheck

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hardway.dev/hardway/internal/node"
)

// probeScript prints one line per fact. Arguments are pairs:
//
//	m MODULE   "M MODULE <loaded 0|1> <builtin 0|1> <available 0|1>"
//	c COMMAND  "C COMMAND <found 0|1>"
//	u UNIT     "U UNIT <fragment path or -> <is-active>"
//	p PEER     "P PEER <route get output, one line>"
//	d DIR      "D DIR <available KiB>" of the file system holding DIR
//
// and, once: "S kernel|release|machine|pid1|systemd|cgroup2|capbnd|swap|
// overlay|bridge|time|stamps VALUE", then the listening TCP ports as
// "L <hex port>" from /proc/net/tcp and tcp6.
const probeScript = `printf 'S time %s\n' "$(date +%s%N)"
k=$(uname -r)
printf 'S kernel %s\n' "$(uname -s)"
printf 'S release %s\n' "$k"
printf 'S machine %s\n' "$(uname -m)"
printf 'S pid1 %s\n' "$(cat /proc/1/comm 2>/dev/null)"
if [ -d /run/systemd/system ]; then echo 'S systemd 1'; else echo 'S systemd 0'; fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo 'S cgroup2 1'; else echo 'S cgroup2 0'; fi
printf 'S capbnd %s\n' "$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
printf 'S swap %s\n' "$(awk 'NR > 1' /proc/swaps | wc -l)"
if grep -qw overlay /proc/filesystems; then echo 'S overlay 1'; else echo 'S overlay 0'; fi
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then echo 'S bridge 1'; else echo 'S bridge 0'; fi
if [ -d /var/lib/hardway/sums ]; then echo 'S stamps 1'; else echo 'S stamps 0'; fi
while [ $# -ge 2 ]; do
  t=$1; a=$2; shift 2
  case $t in
  m)
    l=0; b=0; v=0
    if [ -d "/sys/module/$a" ]; then l=1; fi
    if grep -q "/$a.ko" "/lib/modules/$k/modules.builtin" 2>/dev/null; then b=1; fi
    if grep -q "/$a.ko" "/lib/modules/$k/modules.dep" 2>/dev/null; then v=1; fi
    printf 'M %s %s %s %s\n' "$a" "$l" "$b" "$v" ;;
  c)
    if command -v "$a" >/dev/null 2>&1; then printf 'C %s 1\n' "$a"; else printf 'C %s 0\n' "$a"; fi ;;
  u)
    f=$(systemctl show -p FragmentPath --value "$a.service" 2>/dev/null)
    s=$(systemctl is-active "$a.service" 2>/dev/null)
    printf 'U %s %s %s\n' "$a" "${f:--}" "${s:-unknown}" ;;
  p)
    printf 'P %s %s\n' "$a" "$(ip -4 route get "$a" 2>&1 | head -n 1)" ;;
  d)
    printf 'D %s %s\n' "$a" "$(df -Pk "$a" 2>/dev/null | awk 'NR == 2 {print $4}')" ;;
  esac
done
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" {n = split($2, a, ":"); print "L " a[n]}'
true`

// Spec says what to ask a node about.
type Spec struct {
	Modules  []string
	Commands []string
	Units    []string
	Peers    []string // other nodes' IPs, for the on-link check
	Dirs     []string // for free disk
}

// Report is what one node answered.
type Report struct {
	Node string
	// Kernel is uname -s, Release uname -r, Machine uname -m.
	Kernel, Release, Machine string
	PID1                     string
	Systemd                  bool
	CgroupV2                 bool
	CapBnd                   uint64
	Swaps                    int
	Overlay                  bool
	Bridge                   bool // br_netfilter's sysctls exist
	// Stamps: hardway installed binaries here before (its stamp directory
	// exists), so units it finds are its own.
	Stamps   bool
	Modules  map[string]Module
	Commands map[string]bool
	Units    map[string]Unit
	Routes   map[string]string // peer → first line of `ip route get`
	Free     map[string]int64  // dir → available bytes (-1 unknown)
	Listen   map[int]bool
	// Offset is the node's clock minus this host's, measured at the middle
	// of the round trip (the clock is read first, so the error is at most
	// half the time a command takes to start).
	Offset time.Duration
}

// Unit is what systemd says about a unit name.
type Unit struct {
	// Fragment is the unit file systemd loads ("" when there is none).
	Fragment string
	Active   bool
}

// Module is what the node says about a kernel module.
type Module struct{ Loaded, Builtin, Available bool }

// Probe asks n, in one command.
func Probe(ctx context.Context, n node.Node, s Spec) (Report, error) {
	args := probeArgs(s)
	before := time.Now()
	out, err := n.Run(ctx, nil, args...)
	after := time.Now()
	if err != nil {
		return Report{}, fmt.Errorf("node %s: reading what the machine has: %w", n.Name(), err)
	}
	mid := before.Add(after.Sub(before) / 2)
	return Parse(n.Name(), out, mid)
}

func probeArgs(s Spec) []string {
	args := []string{"sh", "-c", probeScript, "probe"}
	for _, m := range s.Modules {
		args = append(args, "m", m)
	}
	for _, c := range s.Commands {
		args = append(args, "c", c)
	}
	for _, u := range s.Units {
		args = append(args, "u", u)
	}
	for _, p := range s.Peers {
		args = append(args, "p", p)
	}
	for _, d := range s.Dirs {
		args = append(args, "d", d)
	}
	return args
}

// Parse reads the probe's output; at is this host's time when the node
// read its clock.
func Parse(nodeName string, out []byte, at time.Time) (Report, error) {
	r := Report{Node: nodeName, Modules: map[string]Module{}, Commands: map[string]bool{}, Units: map[string]Unit{},
		Routes: map[string]string{}, Free: map[string]int64{}, Listen: map[int]bool{}}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func() error {
			return fmt.Errorf("node %s: unexpected line from the preflight probe: %q (a bug in hardway)", nodeName, line)
		}
		switch {
		case f[0] == "S" && len(f) >= 2:
			v := strings.Join(f[2:], " ")
			switch f[1] {
			case "kernel":
				r.Kernel = v
			case "release":
				r.Release = v
			case "machine":
				r.Machine = v
			case "pid1":
				r.PID1 = v
			case "systemd":
				r.Systemd = v == "1"
			case "cgroup2":
				r.CgroupV2 = v == "1"
			case "capbnd":
				r.CapBnd, _ = strconv.ParseUint(v, 16, 64)
			case "swap":
				r.Swaps, _ = strconv.Atoi(v)
			case "overlay":
				r.Overlay = v == "1"
			case "bridge":
				r.Bridge = v == "1"
			case "stamps":
				r.Stamps = v == "1"
			case "time":
				ns, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return r, fmt.Errorf("node %s: its clock reads %q, not nanoseconds (date without %%N? install GNU coreutils)", nodeName, v)
				}
				r.Offset = time.Unix(0, ns).Sub(at)
			}
		case f[0] == "M" && len(f) == 5:
			r.Modules[f[1]] = Module{Loaded: f[2] == "1", Builtin: f[3] == "1", Available: f[4] == "1"}
		case f[0] == "C" && len(f) == 3:
			r.Commands[f[1]] = f[2] == "1"
		case f[0] == "U" && len(f) == 4:
			u := Unit{Fragment: f[2], Active: f[3] == "active"}
			if u.Fragment == "-" {
				u.Fragment = ""
			}
			r.Units[f[1]] = u
		case f[0] == "P" && len(f) >= 2:
			r.Routes[f[1]] = strings.Join(f[2:], " ")
		case f[0] == "D" && len(f) >= 2:
			r.Free[f[1]] = -1
			if len(f) == 3 {
				if kb, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					r.Free[f[1]] = kb * 1024
				}
			}
		case f[0] == "L" && len(f) == 2:
			p, err := strconv.ParseInt(f[1], 16, 32)
			if err != nil {
				return r, bad()
			}
			r.Listen[int(p)] = true
		default:
			return r, bad()
		}
	}
	return r, nil
}

// Arch is the Go name of the node's architecture ("" when unknown).
func (r Report) Arch() string {
	switch r.Machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return ""
}
