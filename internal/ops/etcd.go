package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// snapshotOnNode is where a snapshot is written (save) or placed (restore)
// on a control-plane node; it is removed afterwards.
const snapshotOnNode = "/var/lib/hardway/etcd-snapshot.db"

// boltMagic is the magic number of a bbolt database's meta page, the file
// format etcd stores its keys in; etcd appends the SHA-256 of the database
// to a snapshot.
const boltMagic = 0xED0CDAED

// CheckSnapshot tells whether data is a whole etcd snapshot: a bbolt
// database followed by the SHA-256 of everything before it, which is what
// `etcdctl snapshot save` writes and `etcdutl snapshot restore` checks.
func CheckSnapshot(data []byte) error {
	const hashLen = sha256.Size
	if len(data) < 4096+hashLen {
		return fmt.Errorf("it is %d bytes, too small for an etcd snapshot", len(data))
	}
	// Meta page 0: a 16-byte page header, then the meta's magic.
	if binary.LittleEndian.Uint32(data[16:20]) != boltMagic {
		return errors.New("it is not an etcd snapshot (no bbolt database inside)")
	}
	body, sum := data[:len(data)-hashLen], data[len(data)-hashLen:]
	if h := sha256.Sum256(body); !bytes.Equal(h[:], sum) {
		return errors.New("it is damaged: the SHA-256 etcd appended does not match its content (truncated or changed after it was saved)")
	}
	return nil
}

// SnapshotInfo describes a saved snapshot.
type SnapshotInfo struct {
	File string
	Size int
	Node string
}

// SnapshotSave takes a snapshot of etcd on the first control-plane node
// whose member answers, checks it, and writes it to file (0600: it holds
// every object of the cluster; Secrets inside are encrypted).
func SnapshotSave(ctx context.Context, e steps.Env, file string) (SnapshotInfo, error) {
	c := e.Cluster
	if file == "" {
		return SnapshotInfo{}, errors.New("name the file to save the snapshot to: hardway etcd snapshot save FILE")
	}
	var errs []string
	for _, n := range c.Config.ControlPlanes() {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, err := nd.Run(ctx, nil, append(steps.EtcdctlArgs(), "snapshot", "save", snapshotOnNode)...); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		data, err := nd.ReadFile(ctx, snapshotOnNode)
		_, _ = nd.Run(ctx, nil, "rm", "-f", snapshotOnNode)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("reading the snapshot from %s: %w", n.Name, err)
		}
		if err := CheckSnapshot(data); err != nil {
			return SnapshotInfo{}, fmt.Errorf("the snapshot taken on %s %v; try again", n.Name, err)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return SnapshotInfo{}, err
		}
		if err := fsutil.WriteFileAtomic(file, data, 0o600); err != nil {
			return SnapshotInfo{}, err
		}
		return SnapshotInfo{File: file, Size: len(data), Node: n.Name}, nil
	}
	return SnapshotInfo{}, fmt.Errorf("no etcd member could take a snapshot: %s", strings.Join(errs, "; "))
}

// restoreScript replaces a member's data directory with one restored from
// the snapshot at $1: $2 member name, $3 --initial-cluster, $4 its peer URL,
// $5 the new cluster token, $6 the data directory, $7 etcd's user. The old
// directory is kept beside it (only the first time, so a rerun after an
// interruption never overwrites the real original).
const restoreScript = `set -e
snap=$1; name=$2; cluster=$3; peer=$4; token=$5; data=$6; user=$7
rm -rf "$data.restored"
etcdutl snapshot restore "$snap" --name "$name" --initial-cluster "$cluster" \
  --initial-advertise-peer-urls "$peer" --initial-cluster-token "$token" \
  --data-dir "$data.restored" --bump-revision 1000000000 --mark-compacted >/dev/null
if [ -d "$data" ] && [ ! -d "$data.before-restore" ]; then mv "$data" "$data.before-restore"; fi
rm -rf "$data"
mv "$data.restored" "$data"
chown -R "$user:$user" "$data"
chmod 0700 "$data"
rm -f "$snap"`

// SnapshotRestore replaces the cluster's whole state with a snapshot,
// following etcd's disaster-recovery procedure: stop every API server (no
// writes), stop every member, restore each member's data directory from the
// same snapshot with a new cluster token (a new cluster that cannot mix
// with the old one), start the members together, then the control plane,
// then check with the smoke tests. Revisions jump ahead by 10^9 and are
// marked compacted, so every watcher (kubelets, controllers) notices and
// lists again instead of trusting its cache.
// ReadSnapshot reads a snapshot file, or says in one line why it cannot and
// what to do.
func ReadSnapshot(file, cluster string) ([]byte, error) {
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("snapshot %s does not exist; nothing was changed (take one with: hardway etcd snapshot save FILE --name %s)", file, cluster)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("snapshot %s cannot be read: permission denied; nothing was changed (run as the user who saved it, or root)", file)
	case err != nil:
		return nil, fmt.Errorf("snapshot %s cannot be read: %v; nothing was changed (give the file etcd snapshot save wrote)", file, err)
	}
	return data, nil
}

func SnapshotRestore(ctx context.Context, e steps.Env, file string) error {
	c := e.Cluster
	data, err := ReadSnapshot(file, c.Config.Name)
	if err != nil {
		return err
	}
	if err := CheckSnapshot(data); err != nil {
		return fmt.Errorf("%s: %v; nothing was changed", file, err)
	}
	if err := c.RequireRunning(ctx); err != nil {
		return err
	}
	cps := c.Config.ControlPlanes()
	nodes := map[string]node.Node{}
	for _, n := range cps {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return err
		}
		nodes[n.Name] = nd
	}
	e.Log.Logf(0, "Stopping the API servers (no writes), then every etcd member.")
	control := []string{render.UnitAPIServer, render.UnitControllerManager, render.UnitScheduler}
	for _, n := range cps {
		if _, err := nodes[n.Name].Run(ctx, nil, append([]string{"systemctl", "stop"}, control...)...); err != nil {
			return fmt.Errorf("stopping the control plane on %s: %w", n.Name, err)
		}
	}
	for _, n := range cps {
		if _, err := nodes[n.Name].Run(ctx, nil, "systemctl", "stop", render.UnitEtcd); err != nil {
			return fmt.Errorf("stopping etcd on %s: %w", n.Name, err)
		}
	}
	token := fmt.Sprintf("%s-restored-%d", c.Config.Name, time.Now().Unix())
	e.Log.Logf(0, "Restoring every member from %s (cluster token %s).", filepath.Base(file), token)
	for _, n := range cps {
		nd := nodes[n.Name]
		if err := nd.WriteFile(ctx, snapshotOnNode, data, 0o600); err != nil {
			return fmt.Errorf("copying the snapshot to %s: %w", n.Name, err)
		}
		if _, err := nd.Run(ctx, nil, "sh", "-c", restoreScript, "restore", snapshotOnNode, n.Name, c.Config.EtcdInitialCluster(),
			"https://"+n.IP+":2380", token, render.EtcdDataDir, render.EtcdUser); err != nil {
			return fmt.Errorf("restoring etcd on %s: %w\n  run the same command again once the cause is fixed: the original data is kept in %s.before-restore", n.Name, err, render.EtcdDataDir)
		}
	}
	e.Log.Logf(0, "Starting the members together, then the control plane.")
	for _, n := range cps {
		if _, err := nodes[n.Name].Run(ctx, nil, "systemctl", "start", "--no-block", render.UnitEtcd); err != nil {
			return fmt.Errorf("starting etcd on %s: %w", n.Name, err)
		}
	}
	for _, n := range cps {
		if _, err := nodes[n.Name].Run(ctx, nil, append([]string{"systemctl", "start"}, control...)...); err != nil {
			return fmt.Errorf("starting the control plane on %s: %w", n.Name, err)
		}
	}
	if err := c.WaitHealthy(ctx, time.Now(), 3*time.Minute, func(s steps.Stage) {
		e.Log.Logf(0, "  %s serving", s.Name)
	}); err != nil {
		return fmt.Errorf("%w\n  see what is still down: hardway status --name %s", err, c.Config.Name)
	}
	if _, err := e.Rerun(ctx, "verify"); err != nil {
		return err
	}
	for _, n := range cps {
		_, _ = nodes[n.Name].Run(ctx, nil, "rm", "-rf", render.EtcdDataDir+".before-restore")
	}
	return nil
}
