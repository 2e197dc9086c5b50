package lab

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
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
	want := []string{"etcd-member", "pod-route", "kubelet-cert", "coredns-corefile", "kube-proxy", "kubelet-rbac", "service-selector", "scheduler", "controller-manager", "containerd", "apiserver-down", "coredns-scaled", "kubelet", "netpol-dns",
		"kubelet-expired", "clock-skew", "kubelet-dns", "encryption-key", "etcd-quorum",
		"build-coredns", "build-pod-routes", "build-kubeconfig", "build-kube-proxy", "gateway-port", "gitops-drift"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("labs %v, want %v", got, want)
	}
	c := config.Default()
	// gitops-drift needs the argocd add-on, gateway-port the gateway
	// (TestTargets holds the refusals).
	c.Addons = append(c.Addons, config.AddonGateway, config.AddonArgoCD)
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
			tg, err := l.TargetIn(c)
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
			"apiserver-down":     "node=node-2 peer= url=https://10.240.0.12:6443/readyz",
			"coredns-scaled":     "node= peer= ip=10.32.0.10",
			"kubelet":            "node=node-0 peer=",
			"netpol-dns":         "node= peer= dns=10.32.0.10 ns=hardway-verify",
			"build-coredns":      "node= peer= dir=/tmp/hardway-files ip=10.32.0.10 zone=cluster.local",
			"build-pod-routes":   "node=node-0 peer=node-1 mode=vxlan",
			"gitops-drift":       "lab gitops-drift needs the argocd add-on; cluster hardway has addons [metallb netpol gateway]: add argocd to addons in its config, then hardway up",
			"gateway-port":       "node= peer= host=one.hardway.hardway.test port=80 route=gw-one wrong=8081",
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
			"apiserver-down":     "lab apiserver-down needs 2 control-plane nodes behind a load balancer (the others keep the API up); cluster duo has 1",
			"coredns-scaled":     "node= peer= ip=10.32.0.10",
			"kubelet":            "node=w-a peer=",
			"netpol-dns":         "node= peer= dns=10.32.0.10 ns=hardway-verify",
			"build-coredns":      "node= peer= dir=/tmp/duo-files ip=10.32.0.10 zone=k8s.test",
			"build-pod-routes":   "node=w-a peer=w-b mode=vxlan",
			"gitops-drift":       "lab gitops-drift needs the argocd add-on; cluster duo has addons [metallb netpol gateway]: add argocd to addons in its config, then hardway up",
			"gateway-port":       "node= peer= host=one.duo.hardway.test port=80 route=gw-one wrong=8081",
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
			"apiserver-down":     "lab apiserver-down needs 2 control-plane nodes behind a load balancer (the others keep the API up); cluster lab has 1",
			"coredns-scaled":     "node= peer= ip=10.32.0.10",
			"kubelet":            "node=m-0 peer=",
			"netpol-dns":         "node= peer= dns=10.32.0.10 ns=hardway-verify",
			"build-coredns":      "node= peer= dir=/tmp/lab-files ip=10.32.0.10 zone=cluster.local",
			"build-pod-routes":   "node=m-0 peer=m-1 mode=direct",
			"gitops-drift":       "lab gitops-drift needs the argocd add-on; cluster lab has addons [netpol]: add argocd to addons in its config, then hardway up",
			"gateway-port":       "lab gateway-port needs the gateway add-on; cluster lab has addons [netpol]: add gateway to addons in its config, then hardway up",
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
			"apiserver-down":     "lab apiserver-down needs 2 control-plane nodes behind a load balancer (the others keep the API up); cluster solo has 1",
			"coredns-scaled":     "node= peer= ip=10.32.0.10",
			"kubelet":            "node=solo peer=",
			"netpol-dns":         "node= peer= dns=10.32.0.10 ns=hardway-verify",
			"build-coredns":      "node= peer= dir=/tmp/solo-files ip=10.32.0.10 zone=cluster.local",
			"build-pod-routes":   "lab build-pod-routes needs 2 worker nodes (routes join their pod networks); cluster solo has 1",
			"gitops-drift":       "lab gitops-drift needs the argocd add-on; cluster solo has addons [metallb netpol gateway]: add argocd to addons in its config, then hardway up",
			"gateway-port":       "node= peer= host=one.solo.hardway.test port=80 route=gw-one wrong=8081",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, tt.doc)
			for k, v := range moreTargets(c)[tt.name] {
				tt.want[k] = v
			}
			for _, l := range All() {
				tg, err := l.TargetIn(c)
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
						if k == "fix" { // TestBuildPodRoutesIsTheUnit holds it
							continue
						}
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
	tg, err := l.TargetIn(config.Default())
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
	want := `no lab "dns"; the labs are: ` + strings.Join(Names(), ", ") + ` (details: hardway lab list)`
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
	tg, _ := l.TargetIn(config.Default())
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

// TestBuildPodRoutesIsTheUnit: the commands build-pod-routes documents are
// exactly what the hardway-pod-network unit runs, for VXLAN and for direct
// routes, so a learner who types them builds what up would have.
func TestBuildPodRoutesIsTheUnit(t *testing.T) {
	for _, doc := range []string{"", "name: lab\nprovider: ssh\nnodes:\n- name: m-0\n  ip: 192.168.50.10\n- name: m-1\n  ip: 192.168.50.11\n  roles: [worker]\n"} {
		c := cluster(t, doc)
		n := c.Workers()[0]
		units, err := render.Footprint(c, n)
		if err != nil {
			t.Fatal(err)
		}
		var unit string
		for _, u := range units {
			for _, f := range u.Files {
				if f.Path == render.SystemdDir+"/"+render.PodNetworkUnit+".service" {
					unit = string(f.Data)
				}
			}
		}
		cmds := podNetworkCommands(c, n)
		if len(cmds) == 0 || unit == "" {
			t.Fatalf("%s: no commands (%d) or no unit", c.Name, len(cmds))
		}
		starts := 0
		for _, l := range strings.Split(unit, "\n") {
			if strings.HasPrefix(l, "ExecStart=/sbin/") {
				starts++
			}
		}
		for _, cmd := range cmds {
			if !strings.Contains(unit, "ExecStart=/sbin/"+cmd+"\n") {
				t.Errorf("%s: %q is not a line of the unit", c.Name, cmd)
			}
		}
		if starts != len(cmds) {
			t.Errorf("%s: the unit runs %d ip/bridge commands, the lab documents %d", c.Name, starts, len(cmds))
		}
	}
}

// TestPodRouteProblems: what build-pod-routes' check says for a node as ip
// prints it: nothing when the node has what the unit would write, each
// missing or wrong piece with the command that writes it.
func TestPodRouteProblems(t *testing.T) {
	c := config.Default()
	n, _ := c.Node("node-0")
	goodRoutes := "default via 10.240.0.1 dev eth0\n10.200.0.0/24 dev cni0 proto kernel scope link src 10.200.0.1\n10.200.1.0/24 via 10.200.1.0 dev hardway.vxlan onlink\n10.200.2.0/24 via 10.200.2.0 dev hardway.vxlan onlink\n"
	goodLink := "5: hardway.vxlan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ether 0e:68:77:f0:00:0a brd ff:ff:ff:ff:ff:ff promiscuity 0 \\    vxlan id 4242 local 10.240.0.10 srcport 0 0 dstport 4789 nolearning ttl auto ageing 300\n\n" +
		"5: hardway.vxlan    inet 10.200.0.0/32 scope global hardway.vxlan\\       valid_lft forever preferred_lft forever\n\n" +
		"0e:68:77:f0:00:0b dst 10.240.0.11 self permanent\n0e:68:77:f0:00:0c dst 10.240.0.12 self permanent\n\n" +
		"10.200.1.0 lladdr 0e:68:77:f0:00:0b PERMANENT\n10.200.2.0 lladdr 0e:68:77:f0:00:0c PERMANENT\n"
	if got := podRouteProblems(c, n, goodRoutes, goodLink); len(got) != 0 {
		t.Errorf("a node built right: %q", got)
	}
	got := podRouteProblems(c, n, strings.Replace(goodRoutes, "10.200.2.0/24 via 10.200.2.0 dev hardway.vxlan onlink\n", "", 1),
		strings.Replace(strings.Replace(goodLink, "dstport 4789", "dstport 8472", 1), "0e:68:77:f0:00:0c dst 10.240.0.12 self permanent\n", "", 1))
	want := []string{
		"node-0: device hardway.vxlan lacks dstport 4789",
		"node-0: no fdb entry sends node-2's tunnel MAC 0e:68:77:f0:00:0c to 10.240.0.12: bridge fdb append 0e:68:77:f0:00:0c dev hardway.vxlan dst 10.240.0.12",
		"node-0 has no route to 10.200.2.0/24 (node-2's pods): ip route add 10.200.2.0/24 via 10.200.2.0 dev hardway.vxlan onlink",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := podRouteProblems(c, n, goodRoutes, ""); len(got) != 1 || !strings.HasPrefix(got[0], "node-0 has no VXLAN device hardway.vxlan: ip link add hardway.vxlan type vxlan id 4242 local 10.240.0.10 dstport 4789 nolearning") {
		t.Errorf("no device: %q", got)
	}
	m := cluster(t, "name: lab\nprovider: ssh\nnodes:\n- name: m-0\n  ip: 192.168.50.10\n- name: m-1\n  ip: 192.168.50.11\n  roles: [worker]\n")
	m0, _ := m.Node("m-0")
	for routes, want := range map[string]string{
		"10.200.1.0/24 via 192.168.50.11 dev eth0\n": "",
		"": "m-0 has no route to 10.200.1.0/24 (m-1's pods): ip route add 10.200.1.0/24 via 192.168.50.11",
		"10.200.1.0/24 via 192.168.50.99 dev eth0\n": `m-0 routes 10.200.1.0/24 as "10.200.1.0/24 via 192.168.50.99 dev eth0"; it must go via 192.168.50.11, m-1's node IP`,
	} {
		got := strings.Join(podRouteProblems(m, m0, routes, ""), "\n")
		if got != want {
			t.Errorf("direct routes %q: %q, want %q", routes, got, want)
		}
	}
}

// TestCoreDNSProblems: build-coredns' check on an empty kube-system names
// every missing piece, and a Service at the wrong address says which one
// the pods ask.
func TestCoreDNSProblems(t *testing.T) {
	l, _ := Find("build-coredns")
	tg, _ := l.TargetIn(config.Default())
	cs := fake.NewClientset()
	got, err := coreDNSProblems(context.Background(), cs, tg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ServiceAccount kube-system/coredns does not exist",
		"no ClusterRoleBinding binds ServiceAccount kube-system/coredns to a ClusterRole",
		"ConfigMap kube-system/coredns (the Corefile) does not exist",
		"Service kube-system/kube-dns does not exist",
		"Deployment kube-system/coredns does not exist",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.32.0.57", Selector: map[string]string{"k8s-app": "kube-dns"},
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}}}
	if _, err := cs.CoreV1().Services("kube-system").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ = coreDNSProblems(context.Background(), cs, tg)
	for _, w := range []string{
		"Service kube-system/kube-dns has ClusterIP 10.32.0.57; pods ask 10.32.0.10 (kubelet's clusterDNS): delete it and create it with clusterIP: 10.32.0.10",
		"Service kube-system/kube-dns has no port 53/TCP",
	} {
		if !slices.Contains(got, w) {
			t.Errorf("lacks %q: %q", w, got)
		}
	}
}
