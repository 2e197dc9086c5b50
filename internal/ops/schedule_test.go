package ops

import (
	"testing"
	"time"
)

func TestParseSnapshotList(t *testing.T) {
	out := "etcd-20261202T230000Z.db 4128 1796425200\netcd-20261202T231000Z.db 8256 1796425800\n"
	list, err := parseSnapshotList("node-0", out)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Path != "/var/lib/etcd-snapshots/etcd-20261202T231000Z.db" || list[0].Size != 8256 ||
		!list[0].Saved.Equal(time.Unix(1796425800, 0)) || list[0].Node != "node-0" || list[1].Size != 4128 {
		t.Errorf("newest first, with size and time: %+v", list)
	}
	if list, err := parseSnapshotList("node-0", ""); err != nil || len(list) != 0 {
		t.Errorf("no snapshot: %v %v", list, err)
	}
	for _, bad := range []string{"etcd-x.db 12", "etcd-x.db twelve 1796425800"} {
		if _, err := parseSnapshotList("node-0", bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
