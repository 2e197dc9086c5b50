package converge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"hardway.dev/hardway/internal/node"
)

// SystemdDir is where unit files live; a change there needs a daemon-reload.
const SystemdDir = "/etc/systemd/system"

// Options are what Plan needs beyond the units.
type Options struct {
	// Binary resolves an artifact name to the file to install. It may be nil
	// when no unit has binaries.
	Binary func(name string) (Binary, error)
}

// Plan is the difference between what units declare and what a node has.
type Plan struct {
	node  string
	units []Unit
	// everything the units own, deduplicated, in unit order
	files    []File
	binaries []Binary

	changedFiles []File
	changedBins  []Binary
	newUsers     []string
	markers      []string // units whose marker must be written
	restart      []string // units to restart (they run, or ran, old files)
	start        []string // units that are down and changed nothing
	enable       []string
	reload       bool
	running      map[string]bool
	changes      []Change
}

// Changes lists what Apply will do, in order.
func (p *Plan) Changes() []Change { return slices.Clone(p.changes) }

// Empty reports whether the node already matches.
func (p *Plan) Empty() bool { return len(p.changes) == 0 }

// RestartsRunning lists the units Apply restarts while they are running: the
// ones whose users notice. A caller rolls such nodes one at a time.
func (p *Plan) RestartsRunning() []string {
	var out []string
	for _, u := range p.restart {
		if p.running[u] {
			out = append(out, u)
		}
	}
	return out
}

// ownedFile is one path with the units that restart when it changes.
type ownedFile struct {
	File
	restarts []string
}

// collect deduplicates the units' files and binaries. Two units may share a
// file (the CA) only with identical content and mode.
func collect(units []Unit, opts Options) ([]ownedFile, []Binary, map[string][]string, error) {
	var files []ownedFile
	byPath := map[string]int{}
	var bins []Binary
	binUnits := map[string][]string{}
	for _, u := range units {
		for _, f := range u.Files {
			if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || strings.ContainsFunc(f.Path, unicode.IsSpace) {
				return nil, nil, nil, fmt.Errorf("unit %s: file %q is not a clean absolute path without white space (a bug in hardway)", u.Name, f.Path)
			}
			i, ok := byPath[f.Path]
			if !ok {
				i = len(files)
				byPath[f.Path] = i
				files = append(files, ownedFile{File: f})
			} else if o := files[i]; !bytes.Equal(o.Data, f.Data) || o.Mode != f.Mode || o.owner() != f.owner() {
				return nil, nil, nil, fmt.Errorf("%s is declared by two units with different content, mode or owner (a bug in hardway)", f.Path)
			}
			if !f.NoRestart && !slices.Contains(files[i].restarts, u.Name) {
				files[i].restarts = append(files[i].restarts, u.Name)
			}
		}
		for _, name := range u.Binaries {
			if opts.Binary == nil {
				return nil, nil, nil, fmt.Errorf("unit %s needs binary %s but no artifacts are given (a bug in hardway)", u.Name, name)
			}
			b, err := opts.Binary(name)
			if err != nil {
				return nil, nil, nil, err
			}
			if !path.IsAbs(b.Dst) || strings.ContainsFunc(b.Dst, unicode.IsSpace) {
				return nil, nil, nil, fmt.Errorf("binary %s: destination %q is not an absolute path without white space (a bug in hardway)", name, b.Dst)
			}
			if _, seen := binUnits[b.Dst]; !seen {
				bins = append(bins, b)
			}
			binUnits[b.Dst] = append(binUnits[b.Dst], u.Name)
		}
	}
	return files, bins, binUnits, nil
}

// state is what the probe found on the node.
type state struct {
	files map[string]string // path → "sha mode owner"
	bins  map[string]string // path → sha
	units map[string]unitState
	users map[string]bool
}

type unitState struct {
	active, enabled string
	marker          bool
}

func (u unitState) running() bool {
	return u.active == "active" || u.active == "activating" || u.active == "reloading"
}

// NewPlan probes node n (one command) and compares it with units.
func NewPlan(ctx context.Context, n node.Node, units []Unit, opts Options) (*Plan, error) {
	snap, err := Probe(ctx, n, units, opts)
	if err != nil {
		return nil, err
	}
	return snap.Plan(units, opts)
}

// Snapshot is what one probe found on a node: the state of every file,
// binary, unit and user of the units it was asked about. A run that
// converges a node in several steps probes it once and plans each step from
// the snapshot, until it changes something there (then the snapshot is
// stale and the caller probes again).
type Snapshot struct {
	node                      string
	st                        state
	files, bins, units, users map[string]bool // what was asked
}

// Probe reads the state of everything units declare on n, in one command.
func Probe(ctx context.Context, n node.Node, units []Unit, opts Options) (*Snapshot, error) {
	owned, bins, _, err := collect(units, opts)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{node: n.Name(), files: map[string]bool{}, bins: map[string]bool{}, units: map[string]bool{}, users: map[string]bool{}}
	args := []string{"sh", "-c", probeScript, "probe"}
	for _, f := range owned {
		args = append(args, "f", f.Path)
		snap.files[f.Path] = true
	}
	for _, b := range bins {
		args = append(args, "b", b.Dst)
		snap.bins[b.Dst] = true
	}
	for _, u := range units {
		args = append(args, "u", u.Name)
		snap.units[u.Name] = true
		if u.User != "" {
			args = append(args, "p", u.User)
			snap.users[u.User] = true
		}
	}
	out, err := n.Run(ctx, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", strings.Join(unitNames(units), ", "), err)
	}
	if snap.st, err = parseProbe(out, unitNames(units)); err != nil {
		return nil, err
	}
	return snap, nil
}

// ErrNotCovered is Snapshot.Plan's error for units the probe was not asked
// about: their state was never read, so the caller probes again.
var ErrNotCovered = errors.New("not covered by the probe")

func (s *Snapshot) covers(units []Unit, owned []ownedFile, bins []Binary) bool {
	for _, f := range owned {
		if !s.files[f.Path] {
			return false
		}
	}
	for _, b := range bins {
		if !s.bins[b.Dst] {
			return false
		}
	}
	for _, u := range units {
		if !s.units[u.Name] || (u.User != "" && !s.users[u.User]) {
			return false
		}
	}
	return true
}

// Plan compares units with the snapshot. Units it does not cover are
// refused with an error wrapping ErrNotCovered, never guessed.
func (s *Snapshot) Plan(units []Unit, opts Options) (*Plan, error) {
	owned, bins, binUnits, err := collect(units, opts)
	if err != nil {
		return nil, err
	}
	if !s.covers(units, owned, bins) {
		return nil, fmt.Errorf("%s on %s: %w", strings.Join(unitNames(units), ", "), s.node, ErrNotCovered)
	}
	p := &Plan{node: s.node, units: units, running: map[string]bool{}}
	for _, f := range owned {
		p.files = append(p.files, f.File)
	}
	p.binaries = bins
	p.decide(owned, binUnits, s.st)
	return p, nil
}

func unitNames(units []Unit) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = u.Name
	}
	return out
}

// parseProbe reads probeScript's output; units are the names it was given,
// in order, since `systemctl show` answers in blocks in that order.
func parseProbe(out []byte, units []string) (state, error) {
	st := state{files: map[string]string{}, bins: map[string]string{}, units: map[string]unitState{}, users: map[string]bool{}}
	sums, modes := map[string]string{}, map[string]string{}
	markers := map[string]bool{}
	var blocks []map[string]string
	inBlock := false
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if v, ok := strings.CutPrefix(line, "V "); ok || line == "V" {
			if v == "" {
				inBlock = false
				continue
			}
			if !inBlock {
				blocks = append(blocks, map[string]string{})
				inBlock = true
			}
			k, val, _ := strings.Cut(v, "=")
			blocks[len(blocks)-1][k] = val
			continue
		}
		f := strings.SplitN(line, " ", 4)
		switch {
		case f[0] == "S" && len(f) == 3:
			sums[f[2]] = f[1]
		case f[0] == "M" && len(f) == 4:
			modes[f[3]] = f[1] + " " + f[2]
		case f[0] == "B" && len(f) == 3:
			st.bins[f[2]] = f[1]
		case f[0] == "K" && len(f) == 3:
			markers[f[2]] = f[1] == "1"
		case f[0] == "P" && len(f) == 3:
			st.users[f[2]] = f[1] == "1"
		default:
			return st, fmt.Errorf("unexpected line from the node's probe: %q (a bug in hardway)", line)
		}
	}
	for p, sum := range sums {
		// A file removed between the two commands has a sum and no mode:
		// it counts as changed, which a rerun settles.
		st.files[p] = sum + " " + modes[p]
	}
	// No blocks at all: systemd did not answer (it is not PID 1 yet, or
	// has gone); every unit is unknown and Apply's systemctl says why.
	if len(blocks) != 0 && len(blocks) != len(units) {
		return st, fmt.Errorf("systemctl show answered for %d units, asked for %d (a bug in hardway)", len(blocks), len(units))
	}
	for i, name := range units {
		us := unitState{active: "unknown", enabled: "unknown", marker: markers[name]}
		if len(blocks) > 0 {
			b := blocks[i]
			if id := b["Id"]; id != name && id != name+".service" {
				return st, fmt.Errorf("systemctl show answered for %s where %s was asked (a bug in hardway)", id, name)
			}
			if v := b["ActiveState"]; v != "" {
				us.active = v
			}
			if v := b["UnitFileState"]; v != "" {
				us.enabled = v
			}
		}
		st.units[name] = us
	}
	return st, nil
}

func fileKey(f File) string {
	sum := sha256.Sum256(f.Data)
	return fmt.Sprintf("%s %o %s", hex.EncodeToString(sum[:]), f.Mode.Perm(), f.owner())
}

// why says how the node's file differs from f.
func why(have string, f File) string {
	if have == "" {
		return "missing"
	}
	h := strings.SplitN(have, " ", 3)
	w := strings.SplitN(fileKey(f), " ", 3)
	var parts []string
	if h[0] != w[0] {
		parts = append(parts, "content differs")
	}
	if len(h) > 1 && h[1] != w[1] {
		parts = append(parts, fmt.Sprintf("mode %s, want %s", h[1], w[1]))
	}
	if len(h) > 2 && h[2] != w[2] {
		parts = append(parts, fmt.Sprintf("owner %s, want %s", h[2], w[2]))
	}
	return strings.Join(parts, "; ")
}

func (p *Plan) decide(owned []ownedFile, binUnits map[string][]string, st state) {
	reasons := map[string][]string{} // unit → what changed
	add := func(c Change) {
		c.Node = p.node
		p.changes = append(p.changes, c)
	}
	for _, u := range p.units {
		if u.User != "" && !st.users[u.User] && !slices.Contains(p.newUsers, u.User) {
			p.newUsers = append(p.newUsers, u.User)
			add(Change{Action: Created, Target: "user " + u.User, Reason: "unit " + u.Name + " runs as it"})
		}
	}
	for _, f := range owned {
		have := st.files[f.Path]
		if have == fileKey(f.File) {
			continue
		}
		p.changedFiles = append(p.changedFiles, f.File)
		add(Change{Action: Wrote, Target: f.Path, Reason: why(have, f.File)})
		for _, u := range f.restarts {
			reasons[u] = append(reasons[u], f.Path)
		}
		if strings.HasPrefix(f.Path, SystemdDir+"/") {
			p.reload = true
		}
	}
	for _, b := range p.binaries {
		have, ok := st.bins[b.Dst]
		if ok && have == b.SHA256 {
			continue
		}
		reason := "missing"
		if ok {
			reason = "content differs"
		}
		p.changedBins = append(p.changedBins, b)
		add(Change{Action: Installed, Target: b.Dst, Reason: reason})
		for _, u := range binUnits[b.Dst] {
			reasons[u] = append(reasons[u], b.Dst)
		}
	}
	for _, u := range p.units {
		us := st.units[u.Name]
		p.running[u.Name] = us.running()
		if us.enabled != "enabled" && us.enabled != "static" {
			p.enable = append(p.enable, u.Name)
			add(Change{Action: Enabled, Target: "unit " + u.Name})
		}
		switch {
		case len(reasons[u.Name]) > 0 || us.marker:
			if len(reasons[u.Name]) > 0 && !us.marker {
				p.markers = append(p.markers, u.Name)
			}
			p.restart = append(p.restart, u.Name)
			why := "interrupted restart of an earlier run"
			if len(reasons[u.Name]) > 0 {
				why = "changed: " + shortList(reasons[u.Name])
			}
			action := Restarted
			if !us.running() {
				action = Started
			}
			add(Change{Action: action, Target: "unit " + u.Name, Reason: why})
		case !us.running():
			p.start = append(p.start, u.Name)
			add(Change{Action: Started, Target: "unit " + u.Name, Reason: "was " + us.active})
		}
	}
}

// shortList names up to three paths, then counts the rest.
func shortList(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}
