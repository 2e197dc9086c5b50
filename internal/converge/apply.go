package converge

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/node"
)

// UnitError is a unit that would not start or restart: the caller can point
// at its log.
type UnitError struct {
	Node, Unit string
	Err        error
}

func (e *UnitError) Error() string {
	return fmt.Sprintf("%s: unit %s did not start: %v", e.Node, e.Unit, e.Err)
}
func (e *UnitError) Unwrap() error { return e.Err }

// Apply makes node n match the plan made for it: one command (with a tar
// stream when files or binaries must be sent). It returns the plan's
// changes; the node's own report of each effect goes to logf.
func Apply(ctx context.Context, n node.Node, p *Plan, logf func(format string, args ...any)) ([]Change, error) {
	if p.Empty() {
		return nil, nil
	}
	mountDir := ""
	if m, ok := n.(node.ArtifactMount); ok {
		mountDir = m.ArtifactDir()
	}
	args := []string{"sh", "-c", applyScript, "apply"}
	for _, u := range p.newUsers {
		args = append(args, "user", u)
	}
	var members []member
	for _, u := range p.markers {
		// Markers first: should the run stop right after the tar, every
		// unit whose files changed is still restarted next time.
		members = append(members, member{path: path.Join(MarkerDir, u), mode: 0o644})
	}
	for _, f := range p.changedFiles {
		members = append(members, member{path: f.Path, mode: f.Mode, owner: f.owner(), data: f.Data})
	}
	var streamed, copied []Binary
	for _, b := range p.changedBins {
		if mountDir != "" && b.CacheRel != "" {
			copied = append(copied, b)
			continue
		}
		if b.HostPath == "" {
			return nil, fmt.Errorf("%s: binary %s has neither a cache path nor a host file (a bug in hardway)", p.node, b.Name)
		}
		streamed = append(streamed, b)
		members = append(members, member{path: b.Dst, mode: 0o755, hostPath: b.HostPath})
	}
	var stdin io.Reader
	if len(members) > 0 {
		args = append(args, "tar")
		for _, m := range members {
			if m.hostPath == "" {
				args = append(args, "file", m.path)
			}
		}
		for _, b := range streamed {
			args = append(args, "bin", b.Dst, b.SHA256)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(pw, members, time.Now())) }()
		defer pr.Close()
		stdin = pr
	}
	for _, b := range copied {
		args = append(args, "copy", path.Join(mountDir, b.CacheRel), b.Dst, b.SHA256)
	}
	if p.reload {
		args = append(args, "reload")
	}
	for _, u := range p.enable {
		args = append(args, "enable", u)
	}
	for _, u := range p.units {
		op := ""
		switch {
		case contains(p.restart, u.Name) && p.running[u.Name]:
			op = "restart"
		case contains(p.restart, u.Name):
			op = "start"
		case contains(p.start, u.Name):
			op = "start"
		default:
			continue
		}
		// NoBlock is for first starts only: a running member restarts into
		// a cluster that has a quorum and reports ready by itself, and a
		// caller gating on its health must not see the old process answer.
		mode := "block"
		if u.NoBlock && op == "start" {
			mode = "noblock"
		}
		args = append(args, op, mode, u.Name)
	}
	out, err := n.Run(ctx, stdin, args...)
	if logf != nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				logf("%s: %s", p.node, l)
			}
		}
	}
	if err != nil {
		if re, ok := exec.IsRunError(err); ok && re.ExitCode == 3 {
			unit := failedUnit(re.Output())
			return nil, &UnitError{Node: p.node, Unit: unit, Err: err}
		}
		return nil, fmt.Errorf("%s: applying changes: %w", p.node, err)
	}
	return p.Changes(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// failedUnit reads the unit name from the script's "unit X failed to ..." line.
func failedUnit(output string) string {
	for _, l := range strings.Split(output, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "unit "); ok {
			if name, _, ok := strings.Cut(rest, " failed to "); ok {
				return name
			}
		}
	}
	return "?"
}

// member is one entry of the tar stream.
type member struct {
	path     string
	mode     os.FileMode
	owner    string
	data     []byte
	hostPath string // streamed from this host file instead of data
}

// writeTar writes every member beside its target (PATH.hardway-new). GNU tar
// creates missing parent directories itself (0755).
//
// Every member carries now in whole seconds, cut, not rounded: archive/tar's
// default format keeps seconds only and rounds to the nearest one, which put
// files up to half a second into the future, and GNU tar then warned about
// each ("time stamp ... is 0.27 s in the future") in every output a failure
// quotes. The node extracts with -m anyway (its own clock stamps the files).
func writeTar(w io.Writer, members []member, now time.Time) error {
	tw := tar.NewWriter(w)
	now = now.Truncate(time.Second)
	for _, m := range members {
		user, group, _ := strings.Cut(m.owner, ":")
		if user == "" {
			user, group = "root", "root"
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(m.path, "/") + newSuffix,
			Mode: int64(m.mode.Perm()), ModTime: now, Uname: user, Gname: group}
		if m.hostPath == "" {
			h.Size = int64(len(m.data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(m.data); err != nil {
				return err
			}
			continue
		}
		if err := streamFile(tw, h, m.hostPath); err != nil {
			return err
		}
	}
	return tw.Close()
}

func streamFile(tw *tar.Writer, h *tar.Header, hostPath string) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("reading artifact: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
