package book

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/diagram"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// vars are the names every chapter uses for this cluster.
type vars struct {
	Name string
	C    *config.Cluster
	// State is the cluster's state directory on this host.
	State string
	// Build is the command that builds this cluster from its config.
	Build string
	// CP is the first control-plane node, Worker the first worker, Chosen
	// the worker the pod-launch story runs on.
	CP, Worker, Chosen config.Node
	// SchedulerV is the -v the scheduler's unit runs with (-1 if unknown):
	// what its journal shows depends on it.
	SchedulerV int
}

func newVars(c *config.Cluster, stateDir, configFile string) vars {
	v := vars{Name: c.Name, C: c, State: stateDir, CP: c.Nodes[0], Worker: c.Nodes[0]}
	// Without -c, up uses the saved config of a built cluster, else the
	// defaults; a config file must be named until up has saved it.
	v.Build = "hardway up --name " + c.Name
	if configFile != "" {
		v.Build = "hardway up -c " + configFile
	}
	if cps := c.ControlPlanes(); len(cps) > 0 {
		v.CP = cps[0]
	}
	if ws := c.Workers(); len(ws) > 0 {
		v.Worker = ws[0]
	}
	v.SchedulerV = unitVerbosity(c, v.CP, render.UnitScheduler)
	v.Chosen, _ = diagram.ChosenWorker(c)
	if v.Chosen.Name == "" {
		v.Chosen = v.Worker
	}
	return v
}

// hw is a hardway command for this cluster.
func (v vars) hw(args ...string) string {
	return "hardway " + strings.Join(args, " ") + " --name " + v.Name
}

// shell runs cmd on node through `hardway shell`.
func (v vars) shell(node, cmd string) string {
	return fmt.Sprintf("hardway shell %s --name %s -- %s", node, v.Name, cmd)
}

// logs is the journal of unit on node.
func (v vars) logs(node, unit string) string {
	return fmt.Sprintf("hardway logs %s %s --name %s", node, unit, v.Name)
}

// etcdctl runs etcdctl on the first control-plane node as the health-check
// client, the way `hardway explain etcd` shows.
func (v vars) etcdctl(args string) string {
	return v.shell(v.CP.Name, strings.Join(steps.EtcdctlArgs(), " ")+" "+args)
}

// nodeNames lists the names of nodes.
func nodeNames(ns []config.Node) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = "«" + n.Name + "»"
	}
	switch len(names) {
	case 0:
		return "no node"
	case 1:
		return names[0]
	default:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writer writes the chapters of one book.
type writer struct {
	in Input
	c  *config.Cluster
	v  vars
	// net is the node network: what the machines are and how pods cross.
	net render.Network
	// The pictures, drawn once and shown wherever they help.
	arch, pkiTree, network, launch, launch0 Picture
	identities, node, loops                 Picture
}

func newWriter(in Input) *writer {
	c := in.Cluster
	return &writer{
		in: in, c: c, v: newVars(c, in.StateDir, in.ConfigFile), net: render.NodeNetwork(c),
		arch:       Picture{File: "architecture.svg", Alt: fmt.Sprintf("Architecture of cluster %s: nodes, components, ports and identities", c.Name), SVG: diagram.Architecture(c, nil)},
		pkiTree:    Picture{File: "pki.svg", Alt: fmt.Sprintf("PKI of cluster %s: CAs, certificates and who uses them", c.Name), SVG: diagram.PKI(c, pki.Specs(c))},
		network:    Picture{File: "network.svg", Alt: fmt.Sprintf("Pod network of cluster %s: pod CIDRs, bridges, routes (%s) and Service IPs", c.Name, c.Network.PodRoutes), SVG: diagram.Network(c)},
		launch:     Picture{File: "launch.svg", Alt: fmt.Sprintf("Every component taking part in launching a pod on cluster %s", c.Name), SVG: diagram.Launch(c)},
		launch0:    Picture{File: "launch-overview.svg", Alt: fmt.Sprintf("Launching a pod on cluster %s, seen from outside", c.Name), SVG: diagram.LaunchOverview(c)},
		identities: Picture{File: "identities.svg", Alt: fmt.Sprintf("Who each connection of cluster %s says it is, and which CA checks it", c.Name), SVG: diagram.Identities(c, pki.Specs(c))},
		node:       Picture{File: "node.svg", Alt: fmt.Sprintf("On a node of cluster %s: kubelet, containerd, CNI, shim, runc, the process", c.Name), SVG: diagram.NodeLevel(c)},
		loops:      Picture{File: "control-loops.svg", Alt: fmt.Sprintf("The control loops a Deployment passes through on cluster %s", c.Name), SVG: diagram.ControlLoops(c)},
	}
}

func (w *writer) pictures() []Picture {
	return []Picture{w.arch, w.pkiTree, w.network, w.launch, w.launch0, w.identities, w.node, w.loops}
}

// chapterLink is a Markdown link to chapter id, with text.
func chapterLink(id, text string) string { return fmt.Sprintf("[%s](%s.md)", text, id) }

// stepLink links to the chapter of step name, if the build has that step.
func (w *writer) stepLink(name string) string {
	for i, s := range w.in.Steps {
		if s.Name == name {
			return chapterLink(StepChapterID(name), fmt.Sprintf("step %d, %s", i+1, name))
		}
	}
	return "«hardway explain " + name + "»"
}

// lifetime says how long a certificate lives, in days (and years when whole).
func lifetime(d time.Duration) string {
	days := int(d.Hours() / 24)
	if time.Duration(days)*24*time.Hour != d {
		return d.String()
	}
	if days >= 365 && days%365 == 0 {
		return fmt.Sprintf("%s (%s)", plural(days, "day", "days"), plural(days/365, "year", "years"))
	}
	return plural(days, "day", "days")
}

var verbosityFlag = regexp.MustCompile(`--v=(\d+)`)

// unitVerbosity is the --v flag of unit on node n as hardway renders it, or
// -1 when the unit has none.
func unitVerbosity(c *config.Cluster, n config.Node, unit string) int {
	units, err := render.Footprint(c, n)
	if err != nil {
		return -1
	}
	for _, u := range units {
		for _, f := range u.Files {
			if f.Path != render.SystemdDir+"/"+unit+".service" {
				continue
			}
			if m := verbosityFlag.FindSubmatch(f.Data); m != nil {
				v, _ := strconv.Atoi(string(m[1]))
				return v
			}
		}
	}
	return -1
}
