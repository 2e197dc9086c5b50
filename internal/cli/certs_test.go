package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/pki"
)

// TestKubeletCertsInUse: a kubelet read on its node is judged by the pairs it
// uses, one not read by the state directory's copy; notes name the unread
// ones once per reason.
func TestKubeletCertsInUse(t *testing.T) {
	soon, later := time.Now().Add(time.Hour), time.Now().Add(300*24*time.Hour)
	state := []pki.Info{{Name: "ca", NotAfter: later}, {Name: "kubelet-a", NotAfter: later}, {Name: "kubelet-b", NotAfter: later}, {Name: "kubelet-c", NotAfter: later}}
	down := errors.New("machine b of cluster x is not running (exited); start it first: hardway start --name x")
	u := kubeletUse{nodes: []ops.KubeletNode{
		{Node: "a", Certs: []ops.KubeletCert{
			{Node: "a", Use: ops.KubeletClient, Rotated: true, Info: pki.Info{Name: "kubelet-a client", NotAfter: soon}},
			{Node: "a", Use: ops.KubeletServing, Info: pki.Info{Name: "kubelet-a serving", NotAfter: later}},
		}},
		{Node: "b", Err: down},
		{Node: "c", Err: down},
	}}
	var names []string
	for _, i := range u.inUse(state) {
		names = append(names, i.Name)
	}
	if got, want := strings.Join(names, ","), "kubelet-a client,kubelet-a serving,ca,kubelet-b,kubelet-c"; got != want {
		t.Errorf("in use: %s, want %s", got, want)
	}
	first, _ := firstToExpire(u.inUse(state))
	if first.Name != "kubelet-a client" || renewName(first.Name) != "kubelet-a" {
		t.Errorf("first to expire %s (renew %s), want kubelet-a client (renew kubelet-a)", first.Name, renewName(first.Name))
	}
	notes := u.notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "(machine b of cluster x is not running (exited); start it first: hardway start --name x)") || !strings.Contains(notes[0], "kubelet-b, kubelet-c") {
		t.Errorf("notes %q", notes)
	}
}
