// Package converge brings one machine to a declared set of systemd units:
// their files, their binaries, running and enabled, each restarted only when
// something it reads changed. It is the only code that changes files on a
// node, whatever the transport (docker exec, SSH): it speaks to a node only
// through node.Node.
//
// A run is two phases. Plan asks the node, in one command, for the hash, mode
// and owner of every file and binary the units own and for each unit's state.
// Apply then sends what differs in one tar stream and restarts what must
// restart, in one more command. A node that already matches costs one round
// trip.
package converge

import (
	"fmt"
	"io/fs"
	"strings"
)

// File is one file a unit reads, at its absolute path on the node.
type File struct {
	Path string
	Mode fs.FileMode
	// Owner is "user:group"; empty means root:root. A user other than root
	// must be declared by the unit (Unit.User) so it exists before the file
	// is written.
	Owner string
	Data  []byte
	// NoRestart: a change to this file does not restart the unit (a file the
	// unit ships for its command-line tools, not for the service itself).
	NoRestart bool
}

// owner is the file's owner as stat prints it ("%U:%G").
func (f File) owner() string {
	if f.Owner == "" {
		return "root:root"
	}
	return f.Owner
}

// Unit is one systemd service and everything it reads. Its unit file is one
// of Files (SystemdDir/<Name>.service).
type Unit struct {
	Name string
	// Binaries are artifact names ("etcd", "kubelet"); Options.Binary says
	// where each comes from and where it goes.
	Binaries []string
	Files    []File
	// User is a system account the service runs as (etcd); it is created
	// before any file is written, so files can be owned by it.
	User string
	// NoBlock starts a stopped unit without waiting for it to report ready:
	// the members of a new etcd cluster each wait for the others, so
	// starting them one by one would never return. Restarts still block.
	NoBlock bool
}

// Binary is one program from the artifact cache and where a node installs it.
type Binary struct {
	Name   string
	Dst    string // absolute path on the node
	SHA256 string // hex, of the file's content
	// HostPath is the file on the machine running hardway, sent in the tar
	// stream to nodes that do not see the artifact cache.
	HostPath string
	// CacheRel is the file relative to the artifact cache root, for nodes
	// that mount the cache (node.ArtifactMount).
	CacheRel string
}

// Action is what converging did (or, in a dry run, would do) to a node.
type Action string

const (
	Wrote     Action = "wrote"
	Installed Action = "installed"
	Restarted Action = "restarted"
	Started   Action = "started"
	Enabled   Action = "enabled"
	Created   Action = "created"
	Reissued  Action = "reissued"
	Imported  Action = "imported"
	Removed   Action = "removed"
	Added     Action = "added"
	// Drained: a node's pods evicted before it leaves the cluster.
	Drained Action = "drained"
	// Stopped: a service stopped for good (its node leaves the cluster).
	Stopped Action = "stopped"
	Pushed  Action = "pushed"
)

// Change is one thing that changed. Steps return them, so `up` can say what
// it did, `up --dry-run` what it would do, and a test can assert that a second
// run changed nothing.
type Change struct {
	// Node is where it happened; empty for this host (certificates,
	// kubeconfigs) and the cluster's API.
	Node   string
	Action Action
	// Target is a path, a unit, a user or an object, e.g.
	// "/etc/etcd/server.pem", "unit etcd", "user etcd".
	Target string
	// Reason says why, e.g. "content differs", "mode 644, want 600".
	Reason string
}

func (c Change) String() string {
	where := c.Node
	if where == "" {
		where = "host"
	}
	s := fmt.Sprintf("%s: %s %s", where, c.Action, c.Target)
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// Summary counts changes by action: "3 wrote, 1 restarted".
func Summary(changes []Change) string {
	if len(changes) == 0 {
		return "no changes"
	}
	order := []Action{}
	count := map[Action]int{}
	for _, c := range changes {
		if count[c.Action] == 0 {
			order = append(order, c.Action)
		}
		count[c.Action]++
	}
	parts := make([]string, len(order))
	for i, a := range order {
		parts[i] = fmt.Sprintf("%d %s", count[a], a)
	}
	return strings.Join(parts, ", ")
}
