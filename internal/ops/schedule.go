package ops

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// ScheduledSnapshot is one snapshot the etcd.snapshots timer saved on its
// node.
type ScheduledSnapshot struct {
	Node  string
	Path  string
	Size  int64
	Saved time.Time
}

// listScript prints "NAME SIZE MTIME" for every whole snapshot in $1 (the
// script writes them under a hidden name until they are checked).
const listScript = `cd "$1" 2>/dev/null || exit 0
for f in etcd-*.db; do
  if [ -f "$f" ]; then stat -c '%n %s %Y' "$f"; fi
done`

// ScheduledSnapshots lists the scheduled snapshots on the node that takes
// them, newest first.
func ScheduledSnapshots(ctx context.Context, e steps.Env) ([]ScheduledSnapshot, error) {
	c := e.Cluster
	sn, ok := render.SnapshotNode(c.Config)
	if !ok {
		return nil, fmt.Errorf("cluster %s schedules no etcd snapshots: add etcd.snapshots.every (e.g. 1h) to its config and run hardway up -c FILE", c.Config.Name)
	}
	nd, err := c.Node(ctx, sn.Name)
	if err != nil {
		return nil, err
	}
	out, err := nd.Run(ctx, nil, "sh", "-c", listScript, "list", render.EtcdSnapshotDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s on %s: %w", render.EtcdSnapshotDir, sn.Name, err)
	}
	return parseSnapshotList(sn.Name, string(out))
}

func parseSnapshotList(node, out string) ([]ScheduledSnapshot, error) {
	var list []ScheduledSnapshot
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected line from %s: %q", node, line)
		}
		size, err1 := strconv.ParseInt(f[1], 10, 64)
		mtime, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected line from %s: %q", node, line)
		}
		list = append(list, ScheduledSnapshot{Node: node, Path: path.Join(render.EtcdSnapshotDir, f[0]), Size: size, Saved: time.Unix(mtime, 0)})
	}
	// Names carry the UTC time they were taken: their order is time order.
	sort.Slice(list, func(i, j int) bool { return list[i].Path > list[j].Path })
	return list, nil
}

// FetchSnapshot copies a scheduled snapshot (the newest when name is
// empty) from its node to file on this host, checked like a saved one, so
// `etcd snapshot restore FILE` can use it.
func FetchSnapshot(ctx context.Context, e steps.Env, name, file string) (SnapshotInfo, error) {
	c := e.Cluster
	list, err := ScheduledSnapshots(ctx, e)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if len(list) == 0 {
		return SnapshotInfo{}, fmt.Errorf("no scheduled snapshot on %s yet (the first one comes etcd.snapshots.every after up); take one now: hardway etcd snapshot save FILE --name %s", mustSnapshotNode(c), c.Config.Name)
	}
	pick := list[0]
	if name != "" {
		found := false
		for _, s := range list {
			if path.Base(s.Path) == name || s.Path == name {
				pick, found = s, true
			}
		}
		if !found {
			return SnapshotInfo{}, fmt.Errorf("no scheduled snapshot %s; the snapshots are listed by: hardway etcd snapshot list --name %s", name, c.Config.Name)
		}
	}
	nd, err := c.Node(ctx, pick.Node)
	if err != nil {
		return SnapshotInfo{}, err
	}
	data, err := nd.ReadFile(ctx, pick.Path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("reading %s from %s: %w", pick.Path, pick.Node, err)
	}
	if err := CheckSnapshot(data); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%s on %s: %v; fetch an older one (hardway etcd snapshot list --name %s)", pick.Path, pick.Node, err, c.Config.Name)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return SnapshotInfo{}, err
	}
	if err := fsutil.WriteFileAtomic(file, data, 0o600); err != nil {
		return SnapshotInfo{}, err
	}
	return SnapshotInfo{File: file, Size: len(data), Node: pick.Node}, nil
}

func mustSnapshotNode(c *steps.Cluster) string {
	sn, _ := render.SnapshotNode(c.Config)
	return sn.Name
}
