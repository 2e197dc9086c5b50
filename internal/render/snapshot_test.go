package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
)

func snapshotCluster(t *testing.T) *config.Cluster {
	c := cluster(t, 3)
	c.Etcd = &config.Etcd{Snapshots: &config.EtcdSnapshots{Every: config.Duration{Duration: time.Hour}, Keep: 5}}
	return c
}

// The timer and what it starts are on the first control-plane node only,
// with the schedule and the number kept from the config; none without one.
func TestSnapshotUnits(t *testing.T) {
	c := snapshotCluster(t)
	for _, n := range c.Nodes {
		units, err := NodeUnits(inputs(c, hostV1), n)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(units, func(u converge.Unit) bool { return u.Name == UnitEtcdSnapshotTimer })
		if (i >= 0) != (n.Name == c.ControlPlanes()[0].Name) {
			t.Errorf("%s: snapshot timer present = %v", n.Name, i >= 0)
			continue
		}
		if i < 0 {
			continue
		}
		files := map[string]string{}
		for _, f := range units[i].Files {
			files[f.Path] = string(f.Data)
		}
		timer, service, script := files[SystemdDir+"/"+UnitEtcdSnapshotTimer], files[SystemdDir+"/"+EtcdSnapshotService+".service"], files[EtcdSnapshotScript]
		for _, want := range []string{"OnActiveSec=3600s", "OnUnitActiveSec=3600s", "Unit=hardway-etcd-snapshot.service", "WantedBy=timers.target"} {
			if !strings.Contains(timer, want) {
				t.Errorf("timer lacks %q:\n%s", want, timer)
			}
		}
		if want := "ExecStart=/bin/sh " + EtcdSnapshotScript + " " + EtcdSnapshotDir + " 5"; !strings.Contains(service, want) || !strings.Contains(service, "Type=oneshot") {
			t.Errorf("service lacks %q:\n%s", want, service)
		}
		if !strings.Contains(script, "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379") {
			t.Errorf("script does not run etcdctl against the local member:\n%s", script)
		}
		// After etcd, which it saves.
		if e := slices.IndexFunc(units, func(u converge.Unit) bool { return u.Name == UnitEtcd }); e > i {
			t.Errorf("timer before etcd")
		}
	}
	plain := cluster(t, 3)
	units, err := NodeUnits(inputs(plain, hostV1), plain.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(units, func(u converge.Unit) bool { return u.Name == UnitEtcdSnapshotTimer }) {
		t.Errorf("a cluster without etcd.snapshots got a snapshot timer")
	}
}

// fakeSnapshot is what etcdctl snapshot save writes: a bbolt meta page
// (magic at offset 16) and the SHA-256 of it all appended.
func fakeSnapshot(damaged bool) []byte {
	body := make([]byte, 4096)
	binary.LittleEndian.PutUint32(body[16:20], 0xED0CDAED)
	copy(body[100:], "hardway test keys")
	sum := sha256.Sum256(body)
	if damaged {
		body[200] ^= 0xff
	}
	return append(body, sum[:]...)
}

// The snapshot script, run against a fake etcdctl: it keeps only the newest
// KEEP whole snapshots, and a damaged one is refused with the older ones
// kept and nothing half-written left.
func TestSnapshotScript(t *testing.T) {
	units, err := NodeUnits(inputs(snapshotCluster(t), hostV1), cluster(t, 3).Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, u := range units {
		for _, f := range u.Files {
			if f.Path == EtcdSnapshotScript {
				script = string(f.Data)
			}
		}
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "snapshots")
	fake := filepath.Join(tmp, "etcdctl")
	script = strings.ReplaceAll(script, "/usr/local/bin/etcdctl", fake)
	scriptPath := filepath.Join(tmp, "etcd-snapshot.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	good, bad := filepath.Join(tmp, "good.db"), filepath.Join(tmp, "bad.db")
	os.WriteFile(good, fakeSnapshot(false), 0o600)
	os.WriteFile(bad, fakeSnapshot(true), 0o600)
	// etcdctl ... snapshot save PATH: the path is its last argument.
	writeFake := func(src string) {
		if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do last=$a; done\ncp "+src+" \"$last\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Older snapshots, by the names the script gives them.
	for _, ts := range []string{"20200101T000000Z", "20200101T010000Z", "20200101T020000Z"} {
		os.WriteFile(filepath.Join(dir, "etcd-"+ts+".db"), fakeSnapshot(false), 0o600)
	}
	run := func(keep int) (string, error) {
		out, err := exec.Command("sh", scriptPath, dir, fmt.Sprint(keep)).CombinedOutput()
		return string(out), err
	}
	names := func() []string {
		es, _ := os.ReadDir(dir)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}

	writeFake(bad)
	if out, err := run(2); err == nil || !strings.Contains(out, "not whole") {
		t.Errorf("a damaged snapshot was accepted: %v %s", err, out)
	}
	if got := names(); len(got) != 3 {
		t.Errorf("after a damaged snapshot: %v, want the 3 older ones and nothing else", got)
	}

	writeFake(good)
	out, err := run(2)
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	got := names()
	if len(got) != 2 || got[0] != "etcd-20200101T020000Z.db" || !strings.HasPrefix(got[1], "etcd-20") || got[1] <= got[0] {
		t.Errorf("kept %v, want the newest two (the 02:00 one and the new one)", got)
	}
	saved, _ := os.ReadFile(filepath.Join(dir, got[1]))
	if !bytes.Equal(saved, fakeSnapshot(false)) {
		t.Errorf("the saved snapshot is not what etcdctl wrote")
	}
	if fi, _ := os.Stat(filepath.Join(dir, got[1])); fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
}
