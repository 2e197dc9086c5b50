package steps

import (
	"context"
	"reflect"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/provider"
)

func shrinkConfig(t *testing.T, nodes string) *config.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: s\nnetwork:\n  nodeSubnet: 10.9.0.0/24\nnodes:\n" + nodes))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The machines that left the config, workers before control planes; the
// load balancer is never one.
func TestLeaving(t *testing.T) {
	three := "- name: node-0\n  roles: [control-plane, worker]\n- name: node-1\n  roles: [control-plane, worker]\n- name: node-2\n  roles: [control-plane, worker]\n"
	cfg := shrinkConfig(t, three)
	both := config.RoleControlPlane + "," + config.RoleWorker
	tests := []struct {
		name string
		have []provider.NodeStatus
		want []string
	}{
		{"nothing left", []provider.NodeStatus{{Name: "node-0", Role: both}, {Name: "lb", Role: provider.RoleLB}}, nil},
		{"a worker and a control plane left", []provider.NodeStatus{
			{Name: "node-0", Role: both}, {Name: "node-4", Role: both}, {Name: "node-3", Role: config.RoleWorker},
			{Name: "node-1", Role: both}, {Name: "lb", Role: provider.RoleLB}}, []string{"node-3", "node-4"}},
		{"workers in name order", []provider.NodeStatus{{Name: "w-b", Role: config.RoleWorker}, {Name: "w-a", Role: config.RoleWorker}}, []string{"w-a", "w-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range leaving(cfg, tt.have) {
				got = append(got, s.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("leaving = %v, want %v", got, tt.want)
			}
		})
	}
}

// etcd's membership rule: the members that stay need a quorum of running ones.
func TestEtcdRemovalSafe(t *testing.T) {
	members := func(names ...string) []etcdMember {
		var out []etcdMember
		for _, n := range names {
			out = append(out, etcdMember{Name: n})
		}
		return out
	}
	running := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	tests := []struct {
		name    string
		members []etcdMember
		running map[string]bool
		leave   string
		want    string
	}{
		{"3 running, one leaves", members("a", "b", "c"), running("a", "b", "c"), "c", ""},
		{"the leaving one is down", members("a", "b", "c"), running("a", "b"), "c", ""},
		{"one that stays is down: 1 of 2 is below 2", members("a", "b", "c"), running("a", "c"), "c",
			"removing control-plane node c would leave etcd 1 running of 2 members, below its quorum of 2: bring b back first (hardway start, or up with it in the config), then run up again"},
		{"4 members, one down, one leaves: 2 of 3 keep the quorum", members("a", "b", "c", "d"), running("a", "b", "d"), "d", ""},
		{"the last member", members("a"), running("a"), "a",
			"removing control-plane node a would remove etcd's last member and with it the cluster's data: keep it in the config (add the new control plane first, run up, then remove this one)"},
		{"2 members, one leaves, the other running", members("a", "b"), running("a", "b"), "b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := etcdRemovalSafe(tt.members, tt.running, tt.leave)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// noRemover is a provider that cannot remove one machine (calling any
// method of it panics: nothing may be asked before the refusal).
type noRemover struct{ provider.Provider }

func TestRemoveLeavingNeedsARemover(t *testing.T) {
	c := &Cluster{Config: shrinkConfig(t, "- name: node-0\n"), Provider: noRemover{}}
	c.Config.Provider = "ssh"
	_, err := c.removeLeaving(context.Background(), []provider.NodeStatus{{Name: "node-0", Role: "control-plane,worker"}, {Name: "node-1", Role: "worker"}})
	want := "machine node-1 is not in the config of cluster s, and provider ssh cannot remove one machine: put it back in the config, or remove it by hand and then run up"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// etcdctl's JSON, as etcd v3.6/3.7 print it: 64-bit IDs as numbers (member
// remove wants them in hex), endpoint status per client URL that answered.
func TestEtcdctlJSON(t *testing.T) {
	list := []byte(`{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"raft_term":2},"members":[` +
		`{"ID":10276657743932975437,"name":"node-0","peerURLs":["https://10.9.0.10:2380"],"clientURLs":["https://10.9.0.10:2379"]},` +
		`{"ID":1,"name":"node-1","peerURLs":["https://10.9.0.11:2380"],"clientURLs":["https://10.9.0.11:2379"]}]}`)
	ms, err := parseMemberList(list)
	if err != nil {
		t.Fatal(err)
	}
	want := []etcdMember{
		{ID: "8e9e05c52164694d", Name: "node-0", PeerURLs: []string{"https://10.9.0.10:2380"}, ClientURLs: []string{"https://10.9.0.10:2379"}},
		{ID: "1", Name: "node-1", PeerURLs: []string{"https://10.9.0.11:2380"}, ClientURLs: []string{"https://10.9.0.11:2379"}},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("members %+v\nwant %+v", ms, want)
	}
	// endpoint status lists only the endpoints that answered.
	status := []byte(`[{"Endpoint":"https://10.9.0.10:2379","Status":{"header":{"cluster_id":12376427213326996182,"member_id":3364723880269298867,"revision":2044,"raft_term":6},"version":"3.7.0","leader":3364723880269298867}}]`)
	if got := runningMembers(ms, status); !reflect.DeepEqual(got, map[string]bool{"node-0": true}) {
		t.Errorf("running = %v", got)
	}
	if got := runningMembers(ms, []byte("Error: unexpected")); len(got) != 0 {
		t.Errorf("running from garbage = %v", got)
	}
}
