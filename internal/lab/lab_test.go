package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

func cluster(t *testing.T, doc string) *config.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRegistry: every lab can break, check, hint and restore, and documents
// its fix.
func TestRegistry(t *testing.T) {
	want := []string{"etcd-member", "pod-route", "kubelet-cert", "coredns-corefile", "kube-proxy", "kubelet-rbac", "service-selector", "scheduler", "controller-manager", "containerd"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("labs %v, want %v", got, want)
	}
	c := config.Default()
	for _, l := range All() {
		t.Run(l.Name, func(t *testing.T) {
			if l.Title == "" || l.Target == nil || l.Symptom == nil || l.Reveal == nil || l.Cause == nil || l.Fix == nil || l.Why == nil || l.Break == nil || l.Restore == nil {
				t.Fatalf("lab %s lacks a part: %+v", l.Name, l)
			}
			if _, ok := steps.Find(steps.All(), l.Step); !ok {
				t.Errorf("the debrief's step %q is no step of up", l.Step)
			}
			if len(l.Probes) == 0 {
				t.Error("no probe: check could not tell a fixed cluster from a broken one")
			}
			for _, p := range l.Probes {
				if !slices.Contains(verify.CheckNames(), p) {
					t.Errorf("probe %q is no smoke test", p)
				}
			}
			tg, err := l.Target(c)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Cluster != c.Name {
				t.Errorf("target of cluster %q, want %q", tg.Cluster, c.Name)
			}
			texts := map[string]string{"symptom": l.Symptom(tg), "cause": l.Cause(tg), "reveal": strings.Join(l.Reveal(tg), "\n"), "fix": strings.Join(l.Fix(tg), "\n"), "why": l.Why(tg), "debrief": l.Debrief(tg)}
			if l.Evidence != nil {
				texts["evidence"] = strings.Join(l.Evidence(tg), "\n")
			}
			// Graded: 2 or 3 hints, the symptom's evidence before the
			// commands that show the cause, the fix only in the last.
			hints := l.Hints(tg)
			if len(hints) < 2 || len(hints) > 3 {
				t.Errorf("%d hints, want 2 or 3", len(hints))
			}
			for i, h := range hints {
				if strings.Contains(h, "Fix it:") != (i == len(hints)-1) {
					t.Errorf("hint %d of %d: the fix must be in the last hint only:\n%s", i+1, len(hints), h)
				}
			}
			if !strings.Contains(l.Debrief(tg), "explain "+l.Step+" --name "+tg.Cluster) {
				t.Errorf("the debrief does not point at hardway explain %s: %s", l.Step, l.Debrief(tg))
			}
			for part, s := range texts {
				if strings.TrimSpace(s) == "" {
					t.Errorf("empty %s", part)
				}
				if strings.Contains(s, "%!") || strings.Contains(s, "<no value>") {
					t.Errorf("%s is badly formatted: %s", part, s)
				}
			}
			hint := l.Hint(tg)
			for _, part := range []string{texts["reveal"], texts["cause"], texts["fix"]} {
				for _, line := range strings.Split(part, "\n") {
					if !strings.Contains(hint, line) {
						t.Errorf("the hint lacks %q", line)
					}
				}
			}
		})
	}
}

// TestTargets: which machines each lab breaks, by cluster shape, and why a
// cluster too small for a lab is refused.
func TestTargets(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want map[string]string
	}{
		{"default", "", map[string]string{
			"etcd-member":        "node=node-2 peer=node-0",
			"pod-route":          "node=node-0 peer=node-1 cidr=10.200.1.0/24 over=the VXLAN tunnel hardway.vxlan route=ip route replace 10.200.1.0/24 via 10.200.1.0 dev hardway.vxlan onlink via=10.200.1.0",
			"kubelet-cert":       "node=node-1 peer=node-2",
			"coredns-corefile":   "node= peer= typo=cluster.locla zone=cluster.local",
			"kube-proxy":         "node=node-2 peer=",
			"kubelet-rbac":       "node= peer= user=kube-apiserver-kubelet-client",
			"service-selector":   "node= peer= typo=helo want=hello",
			"scheduler":          "node=node-0 peer= app=lab-pending nodes=node-0 node-1 node-2",
			"controller-manager": "node=node-0 peer= app=lab-stuck nodes=node-0 node-1 node-2",
			"containerd":         "node=node-2 peer=",
		}},
		{"two workers", "name: duo\nnodes:\n- name: cp\n  roles: [control-plane]\n- name: w-a\n  roles: [worker]\n- name: w-b\n  roles: [worker]\nnetwork:\n  clusterDomain: k8s.test\n", map[string]string{
			"etcd-member":        "lab etcd-member needs 3 control-plane nodes (quorum survives one member down); cluster duo has 1",
			"pod-route":          "node=w-a peer=w-b cidr=10.200.2.0/24 over=the VXLAN tunnel hardway.vxlan route=ip route replace 10.200.2.0/24 via 10.200.2.0 dev hardway.vxlan onlink via=10.200.2.0",
			"kubelet-cert":       "node=w-b peer=w-a",
			"coredns-corefile":   "node= peer= typo=k8s.tets zone=k8s.test",
			"kube-proxy":         "node=w-b peer=",
			"kubelet-rbac":       "node= peer= user=kube-apiserver-kubelet-client",
			"service-selector":   "node= peer= typo=helo want=hello",
			"scheduler":          "node=cp peer= app=lab-pending nodes=cp",
			"controller-manager": "node=cp peer= app=lab-stuck nodes=cp",
			"containerd":         "node=w-b peer=",
		}},
		{"machines, direct routes", "name: lab\nprovider: ssh\nnodes:\n- name: m-0\n  ip: 192.168.50.10\n- name: m-1\n  ip: 192.168.50.11\n  roles: [worker]\n", map[string]string{
			"etcd-member":        "lab etcd-member needs 3 control-plane nodes (quorum survives one member down); cluster lab has 1",
			"pod-route":          "node=m-0 peer=m-1 cidr=10.200.1.0/24 over=m-1's node IP, on the shared network route=ip route replace 10.200.1.0/24 via 192.168.50.11 via=192.168.50.11",
			"kubelet-cert":       "node=m-1 peer=m-0",
			"coredns-corefile":   "node= peer= typo=cluster.locla zone=cluster.local",
			"kube-proxy":         "node=m-1 peer=",
			"kubelet-rbac":       "node= peer= user=kube-apiserver-kubelet-client",
			"service-selector":   "node= peer= typo=helo want=hello",
			"scheduler":          "node=m-0 peer= app=lab-pending nodes=m-0",
			"controller-manager": "node=m-0 peer= app=lab-stuck nodes=m-0",
			"containerd":         "node=m-1 peer=",
		}},
		{"one node", "name: solo\nnodes:\n- name: solo\n", map[string]string{
			"etcd-member":        "lab etcd-member needs 3 control-plane nodes (quorum survives one member down); cluster solo has 1",
			"pod-route":          "lab pod-route needs 2 worker nodes (routes join their pod networks); cluster solo has 1",
			"kubelet-cert":       "lab kubelet-cert needs 2 worker nodes (one lends its certificate); cluster solo has 1",
			"coredns-corefile":   "node= peer= typo=cluster.locla zone=cluster.local",
			"kube-proxy":         "node=solo peer=",
			"kubelet-rbac":       "node= peer= user=kube-apiserver-kubelet-client",
			"service-selector":   "node= peer= typo=helo want=hello",
			"scheduler":          "node=solo peer= app=lab-pending nodes=solo",
			"controller-manager": "node=solo peer= app=lab-stuck nodes=solo",
			"containerd":         "node=solo peer=",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, tt.doc)
			for _, l := range All() {
				tg, err := l.Target(c)
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					got = "node=" + tg.Node.Name + " peer=" + tg.Peer.Name
					var keys []string
					for k := range tg.Values {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					for _, k := range keys {
						got += " " + k + "=" + tg.Values[k]
					}
				}
				if got != tt.want[l.Name] {
					t.Errorf("%s: %q, want %q", l.Name, got, tt.want[l.Name])
				}
			}
		})
	}
}

func TestHintText(t *testing.T) {
	l, err := Find("kube-proxy")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := l.Target(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	want := `See the cause:
  hardway shell node-2 --name hardway -- systemctl status kube-proxy
  hardway shell node-2 --name hardway -- iptables -t nat -L KUBE-SERVICES -n

kube-proxy on node-2 is stopped and disabled, and its rules were flushed (as after a reboot with the
unit disabled). Nothing turns a Service's IP into a pod's IP there any more: the KUBE-SERVICES chain is gone.

Fix it:
  hardway shell node-2 --name hardway -- systemctl enable --now kube-proxy
`
	if got := l.Hint(tg); got != want {
		t.Errorf("hint:\n%s\nwant:\n%s", got, want)
	}
}

func TestFind(t *testing.T) {
	if l, err := Find("pod-route"); err != nil || l.Name != "pod-route" {
		t.Errorf("Find(pod-route) = %s, %v", l.Name, err)
	}
	_, err := Find("dns")
	want := `no lab "dns"; the labs are: etcd-member, pod-route, kubelet-cert, coredns-corefile, kube-proxy, kubelet-rbac, service-selector, scheduler, controller-manager, containerd (details: hardway lab list)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestRecord(t *testing.T) {
	dir := state.Dir(t.TempDir())
	if r, err := Active(dir); r != nil || err != nil {
		t.Fatalf("no lab yet: got %+v, %v", r, err)
	}
	started := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	if err := save(dir, Record{Lab: "kube-proxy", Started: started}); err != nil {
		t.Fatal(err)
	}
	r, err := Active(dir)
	if err != nil || r == nil || r.Lab != "kube-proxy" || !r.Started.Equal(started) || r.Solved != nil {
		t.Fatalf("read back %+v, %v", r, err)
	}
	if st, err := os.Stat(dir.Lab()); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if err := os.WriteFile(dir.Lab(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Active(dir)
	want := dir.Lab() + ": unexpected end of JSON input; remove it to forget the lab (the cluster stays as it is)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestTypo(t *testing.T) {
	for in, want := range map[string]string{"cluster.local": "cluster.locla", "k8s.test": "k8s.tets", "a": "ax"} {
		if got := typo(in); got != want {
			t.Errorf("typo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRenderedNames: what the labs break is named the way render writes it.
func TestRenderedNames(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "render", "templates", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if rbac := read("kubelet-api-rbac.yaml.tmpl"); !strings.Contains(rbac, "\n  name: "+KubeletAPIBinding+"\n") {
		t.Errorf("kubelet-api-rbac.yaml does not bind %s", KubeletAPIBinding)
	}
	coredns := read("coredns.yaml.tmpl")
	for _, want := range []string{"kubernetes {{.C.Network.ClusterDomain}} in-addr.arpa", "\n  name: " + corednsName + "\n  namespace: " + corednsNamespace + "\n"} {
		if !strings.Contains(coredns, want) {
			t.Errorf("coredns.yaml lacks %q", want)
		}
	}
}

// TestNextHint: each call gives the next hint and remembers it in the
// state directory; past the last, the last again.
func TestNextHint(t *testing.T) {
	dir := state.Dir(t.TempDir())
	e := steps.Env{Cluster: &steps.Cluster{Config: config.Default(), State: dir}}
	if _, err := NextHint(e); err == nil || !strings.Contains(err.Error(), "no lab is active") {
		t.Fatalf("no lab: %v", err)
	}
	if err := save(dir, Record{Lab: "kube-proxy", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	l, _ := Find("kube-proxy")
	tg, _ := l.Target(config.Default())
	want := l.Hints(tg)
	for i, w := range []int{1, 2, 3, 3} {
		g, err := NextHint(e)
		if err != nil {
			t.Fatal(err)
		}
		if g.N != w || g.Total != len(want) || g.Text != want[w-1] {
			t.Errorf("call %d: hint %d of %d %q, want %d of %d", i+1, g.N, g.Total, g.Text, w, len(want))
		}
		if r, _ := Active(dir); r == nil || r.Hints != w {
			t.Errorf("call %d: record says %+v hints given, want %d", i+1, r, w)
		}
	}
	if !strings.HasPrefix(want[0], "Look at the symptom first:\n  hardway verify --name hardway") || !strings.HasPrefix(want[1], "See the cause:") {
		t.Errorf("hints out of order: %q", want)
	}
}

// TestPassed: the first pass of each lab is kept, later ones do not
// overwrite it, and a broken file names itself.
func TestPassed(t *testing.T) {
	dir := state.Dir(t.TempDir())
	first := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, p := range []struct {
		name string
		at   time.Time
	}{{"kube-proxy", first}, {"kube-proxy", first.Add(time.Hour)}, {"pod-route", first.Add(2 * time.Hour)}} {
		if err := pass(dir, p.name, p.at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Passed(dir)
	if err != nil || len(got) != 2 || !got["kube-proxy"].Equal(first) || !got["pod-route"].Equal(first.Add(2*time.Hour)) {
		t.Errorf("passed %v, %v", got, err)
	}
	if err := os.WriteFile(dir.LabsPassed(), []byte("["), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Passed(dir); err == nil || !strings.Contains(err.Error(), dir.LabsPassed()+": ") {
		t.Errorf("a broken file: %v", err)
	}
}
