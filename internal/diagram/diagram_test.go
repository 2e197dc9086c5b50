package diagram

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// element is one SVG element with its attributes and the text directly in it.
type element struct {
	name  string
	attrs map[string]string
	text  string
	depth int
}

func (e element) class(c string) bool { return slices.Contains(strings.Fields(e.attrs["class"]), c) }

// parse reads an SVG document; a picture that is not well-formed XML with an
// <svg> root fails the test.
func parse(t *testing.T, data []byte) []element {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []element
	var stack []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := element{name: tk.Name.Local, attrs: map[string]string{}, depth: len(stack)}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if len(out) == 0 && e.name != "svg" {
				t.Fatalf("root element is <%s>, want <svg>", e.name)
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tk)
			}
		}
	}
	return out
}

// with returns the elements that have class c.
func with(es []element, c string) []element {
	var out []element
	for _, e := range es {
		if e.class(c) {
			out = append(out, e)
		}
	}
	return out
}

// values lists attribute a of es, sorted, duplicates kept.
func values(es []element, a string) []string {
	var out []string
	for _, e := range es {
		if v, ok := e.attrs[a]; ok {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func distinct(vs []string) []string { return slices.Compact(slices.Clone(vs)) }

// arrows lists "from → to" of every element carrying both, sorted.
func arrows(es []element) []string {
	var out []string
	for _, e := range es {
		if e.attrs["data-from"] != "" && e.attrs["data-to"] != "" {
			out = append(out, e.attrs["data-from"]+" → "+e.attrs["data-to"])
		}
	}
	sort.Strings(out)
	return out
}

func text(es []element) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.text + "\n")
	}
	return b.String()
}

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

// sshConfig is two machines of someone else's, with the default direct
// pod routes.
const sshConfig = "name: lab\nprovider: ssh\nnodes:\n- name: m-0\n  ip: 192.168.50.10\n- name: m-1\n  ip: 192.168.50.11\n  roles: [worker]\n"

// configs are the clusters every picture is drawn for.
func configs(t *testing.T) map[string]*config.Cluster {
	return map[string]*config.Cluster{
		"default":   config.Default(),
		"one node":  cluster(t, "name: tiny\nnodes:\n- name: solo\n"),
		"mixed":     cluster(t, "name: mixed\nnodes:\n- name: cp-a\n  roles: [control-plane]\n- name: cp-b\n  roles: [control-plane, worker]\n- name: w-c\n  roles: [worker]\n"),
		"ssh":       cluster(t, sshConfig),
		"ssh vxlan": cluster(t, sshConfig+"network:\n  podRoutes: vxlan\n"),
		"lima":      cluster(t, "name: vms\nprovider: lima\nnodes:\n- name: vm-0\n  ip: 192.168.105.10\n- name: vm-1\n  ip: 192.168.105.11\n  roles: [worker]\n"),
	}
}

func TestArchitecture(t *testing.T) {
	tests := []struct {
		config    string
		nodes     []string
		arrows    []string // every arrow, exactly
		units     map[string][]string
		noLB      bool
		textHas   []string
		textLacks []string
	}{
		{
			config: "default",
			nodes:  []string{"node-0", "node-1", "node-2"},
			arrows: append(append(append(nodeArrows("node-0", true, true), nodeArrows("node-1", true, true)...), nodeArrows("node-2", true, true)...),
				"kubectl → api", "node-0/etcd → node-1/etcd", "node-1/etcd → node-2/etcd"),
			units: map[string][]string{"node-1": {"containerd", "etcd", "hardway-pod-network", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet"}},
			textHas: []string{"haproxy in container hardway-lb at 10.240.0.2:6443", "system:node:node-2", "10.240.0.12", "pods in 10.200.2.0/24", "VXLAN routes to 2 peer(s)",
				"etcd-ca (CN=etcd-ca) is trusted by etcd, kube-apiserver, etcdctl only.", "ca (CN=kubernetes-ca) is trusted by kube-apiserver,"},
			textLacks: []string{"checked against the cluster CA"},
		},
		{
			config:    "one node",
			nodes:     []string{"solo"},
			arrows:    append(nodeArrows("solo", true, true), "kubectl → api"),
			noLB:      true,
			textHas:   []string{"API endpoint: https://10.240.0.10:6443", "system:node:solo", "VXLAN routes to 0 peer(s)"},
			textLacks: []string{"node-0", "haproxy", ":2380\n"},
		},
		{
			config: "mixed",
			nodes:  []string{"cp-a", "cp-b", "w-c"},
			arrows: append(append(append(nodeArrows("cp-a", true, false), nodeArrows("cp-b", true, true)...), nodeArrows("w-c", false, true)...),
				"kubectl → api", "cp-a/etcd → cp-b/etcd"),
			units: map[string][]string{
				"cp-a": {"etcd", "hardway-pod-network", "kube-apiserver", "kube-controller-manager", "kube-scheduler"},
				"w-c":  {"containerd", "hardway-pod-network", "kube-proxy", "kubelet"},
			},
			textHas: []string{"system:node:w-c", "haproxy"},
		},
	}
	cs := configs(t)
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			es := parse(t, Architecture(cs[tt.config], nil))
			nodes := with(es, "node")
			if got := values(nodes, "data-node"); !slices.Equal(got, tt.nodes) {
				t.Errorf("node boxes %v, want exactly %v", got, tt.nodes)
			}
			if got, want := arrows(es), sorted(tt.arrows); !slices.Equal(got, want) {
				t.Errorf("arrows:\n got %q\nwant %q", got, want)
			}
			for node, want := range tt.units {
				var got []string
				for _, e := range with(es, "comp") {
					if e.attrs["data-node"] == node {
						got = append(got, e.attrs["data-unit"])
					}
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Errorf("components on %s: %v, want %v", node, got, want)
				}
			}
			if got := len(with(es, "lb")); (got == 0) != tt.noLB {
				t.Errorf("load balancer boxes: %d, want one unless the cluster has none (noLB=%v)", got, tt.noLB)
			}
			all := text(es)
			for _, s := range tt.textHas {
				if !strings.Contains(all, s) {
					t.Errorf("picture lacks %q", s)
				}
			}
			for _, s := range tt.textLacks {
				if strings.Contains(all, s) {
					t.Errorf("picture has %q", s)
				}
			}
		})
	}
}

// nodeArrows are the arrows of one node: cp and worker say which roles it has.
func nodeArrows(n string, cp, worker bool) []string {
	var out []string
	if cp {
		out = append(out, "api → "+n+"/kube-apiserver", n+"/kube-apiserver → "+n+"/etcd",
			n+"/kube-controller-manager → "+n+"/kube-apiserver", n+"/kube-scheduler → "+n+"/kube-apiserver")
	}
	if worker {
		out = append(out, n+"/kubelet → api", n+"/kubelet → "+n+"/containerd", n+"/kube-proxy → api")
	}
	if cp && worker {
		out = append(out, n+"/kube-apiserver → "+n+"/kubelet")
	}
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestArchitecturePodRoutes: the pod-network box says what the unit sets
// up for the cluster's pod routes.
func TestArchitecturePodRoutes(t *testing.T) {
	cs := configs(t)
	for name, want := range map[string]string{"default": "VXLAN routes to 2 peer(s)", "ssh": "direct routes to 1 peer(s)", "ssh vxlan": "VXLAN routes to 1 peer(s)", "lima": "direct routes to 1 peer(s)"} {
		if all := text(parse(t, Architecture(cs[name], nil))); !strings.Contains(all, want) {
			t.Errorf("%s: the architecture picture lacks %q", name, want)
		}
	}
}

func TestArchitectureHealth(t *testing.T) {
	c := config.Default()
	st := &Status{
		Machines: map[string]string{"node-0": "running", "node-1": "running", "node-2": "exited", "lb": "running"},
		Units: map[string]map[string]string{
			"node-0": {"kube-apiserver": "active", "etcd": "failed", "kubelet": "activating"},
			"node-1": {"kube-apiserver": "active"},
			"lb":     {"haproxy": "active"},
		},
	}
	es := parse(t, Architecture(c, st))
	class := func(node, unit string) string {
		for _, e := range with(es, "comp") {
			if e.attrs["data-node"] == node && e.attrs["data-unit"] == unit {
				return e.attrs["class"]
			}
		}
		return "(missing)"
	}
	tests := []struct{ node, unit, want string }{
		{"node-0", "kube-apiserver", "health-active"},
		{"node-0", "etcd", "health-failed"},
		{"node-0", "kubelet", "health-other"},
		{"node-1", "kube-scheduler", "health-other"}, // not reported: unknown
		{"node-2", "kube-apiserver", "health-down"},
		{"node-2", "kubelet", "health-down"},
	}
	for _, tt := range tests {
		if got := class(tt.node, tt.unit); !strings.Contains(got, tt.want) {
			t.Errorf("%s/%s has class %q, want %s", tt.node, tt.unit, got, tt.want)
		}
	}
	for _, e := range with(es, "node") {
		if down := e.class("down"); down != (e.attrs["data-node"] == "node-2") {
			t.Errorf("node %s: down=%v, only node-2 is down", e.attrs["data-node"], down)
		}
	}
	if lb := with(es, "lb"); len(lb) != 1 || !lb[0].class("health-active") {
		t.Errorf("the load balancer is not drawn as active: %v", lb)
	}
	all := text(es)
	for _, s := range []string{"live status", "state: failed", "state: exited", "node-2  (exited)"} {
		if !strings.Contains(all, s) {
			t.Errorf("status picture lacks %q", s)
		}
	}
}

func TestPKITree(t *testing.T) {
	cs := configs(t)
	extraCA := func(c *config.Cluster) []pki.Spec {
		return append(pki.Specs(c),
			pki.Spec{Name: "audit-ca", CommonName: "audit-ca", Usage: pki.UsageCA, Scope: pki.ScopeCluster, UsedBy: "audit webhook: trusts the sink"},
			pki.Spec{Name: "audit-client", CA: "audit-ca", CommonName: "audit", Usage: pki.UsageClient, Scope: pki.ScopeCluster, UsedBy: "kube-apiserver → audit sink"})
	}
	tests := []struct {
		name    string
		specs   []pki.Spec
		roots   []string // entries drawn without a signer
		nodes   []string
		edges   int
		textHas []string
	}{
		{"default", pki.Specs(cs["default"]), []string{"ca", "etcd-ca", "front-proxy-ca", "gateway-ca", "service-account"}, []string{"node-0", "node-1", "node-2"},
			len(pki.Specs(cs["default"])) - 5, []string{"CN=system:node:node-1 O=system:nodes", "kubelet on node-2", "etcd on node-0 (peers)", "kube-apiserver → etcd", "trusted by etcd, kube-apiserver, etcdctl"}},
		{"one node", pki.Specs(cs["one node"]), []string{"ca", "etcd-ca", "front-proxy-ca", "gateway-ca", "service-account"}, []string{"solo"},
			len(pki.Specs(cs["one node"])) - 5, []string{"kubelet on solo", "etcd-server-solo"}},
		{"a new CA appears", extraCA(cs["default"]), []string{"audit-ca", "ca", "etcd-ca", "front-proxy-ca", "gateway-ca", "service-account"}, []string{"node-0", "node-1", "node-2"},
			len(pki.Specs(cs["default"])) - 5 + 1, []string{"audit-ca", "CA, CN=audit-ca, self-signed", "audit webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cs["default"]
			if tt.name == "one node" {
				c = cs["one node"]
			}
			es := parse(t, PKI(c, tt.specs))
			var entries []element
			for _, e := range es {
				if e.attrs["data-name"] != "" {
					entries = append(entries, e)
				}
			}
			if len(entries) != len(tt.specs) {
				t.Errorf("%d entries drawn, the table has %d", len(entries), len(tt.specs))
			}
			var roots []string
			for _, e := range entries {
				if e.attrs["data-ca"] == "" {
					roots = append(roots, e.attrs["data-name"])
				}
			}
			sort.Strings(roots)
			if !slices.Equal(roots, tt.roots) {
				t.Errorf("roots %v, want %v", roots, tt.roots)
			}
			// Every signed entry has exactly one arrow from its signer.
			edges := arrows(es)
			if len(edges) != tt.edges {
				t.Errorf("%d signing arrows, want %d: %v", len(edges), tt.edges, edges)
			}
			for _, s := range tt.specs {
				if s.CA != "" && !slices.Contains(edges, s.CA+" → "+s.Name) {
					t.Errorf("no arrow %s → %s", s.CA, s.Name)
				}
			}
			if got := distinct(values(entries, "data-node")); !slices.Equal(got, tt.nodes) {
				t.Errorf("per-node entries name nodes %v, want %v", got, tt.nodes)
			}
			users := with(es, "user")
			if len(users) != len(tt.specs) {
				t.Errorf("%d user boxes, want one per entry (%d)", len(users), len(tt.specs))
			}
			all := text(es)
			for _, s := range tt.textHas {
				if !strings.Contains(all, s) {
					t.Errorf("tree lacks %q", s)
				}
			}
		})
	}
}

func TestNetwork(t *testing.T) {
	tests := []struct {
		config  string
		nodes   []string
		tunnels []string
		textHas []string
		// hops are the plain (direct-route) links; lacks, text that would
		// describe another provider or the other kind of pod routes.
		hops  []string
		lacks []string
	}{
		{"default", []string{"node-0", "node-1", "node-2"}, []string{"node-0 → node-1", "node-0 → node-2", "node-1 → node-2"},
			[]string{"default/kubernetes 10.32.0.1:443", "kube-system/kube-dns 10.32.0.10:53", "cni0 bridge 10.200.1.1/24", "10.200.0.0/32 MAC 0e:68:77:f0:00:0a",
				"Docker network hardway-hardway: 10.240.0.0/24", "VXLAN UDP :4789 10.240.0.10 ⇄ 10.240.0.12", "A packet from pod 10.200.0.2 on node-0 to pod 10.200.1.2 on node-1", "eth0 10.240.0.10"}, nil, []string{"pod packets as they are"}},
		{"one node", []string{"solo"}, nil,
			[]string{"cni0 bridge 10.200.0.1/24", "none: no other node has pods", "Every pod runs on solo"}, nil, nil},
		{"mixed", []string{"cp-a", "cp-b", "w-c"}, []string{"cp-a → cp-b", "cp-a → w-c", "cp-b → w-c"},
			[]string{"no pods here", "no tunnel address (no pod CIDR)"}, nil, nil},
		{config: "ssh", nodes: []string{"m-0", "m-1"}, hops: []string{"m-0 → m-1"},
			textHas: []string{"the machines' own network", "10.200.1.0/24 via 192.168.50.11", "MTU 1500", "pod packets as they are, 192.168.50.10 ⇄ 192.168.50.11", "out of the NIC to m-1's MAC, unchanged"},
			lacks:   []string{"Docker", "VXLAN", "hardway.vxlan", "eth0 192.168"}},
		{config: "ssh vxlan", nodes: []string{"m-0", "m-1"}, tunnels: []string{"m-0 → m-1"},
			textHas: []string{"the machines' own network", "dev hardway.vxlan", "MTU 1450", "VXLAN UDP :4789 192.168.50.10 ⇄ 192.168.50.11"},
			lacks:   []string{"Docker"}},
		{config: "lima", nodes: []string{"vm-0", "vm-1"}, hops: []string{"vm-0 → vm-1"},
			textHas: []string{"Lima's shared network (lima0 in each VM)", "lima0 192.168.105.10", "10.200.0.0/24 via 192.168.105.10"},
			lacks:   []string{"Docker", "VXLAN"}},
	}
	cs := configs(t)
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			c := cs[tt.config]
			es := parse(t, Network(c))
			if got := values(with(es, "node"), "data-node"); !slices.Equal(got, tt.nodes) {
				t.Errorf("node boxes %v, want exactly %v", got, tt.nodes)
			}
			if got := arrows(with(es, "tunnel")); !slices.Equal(got, tt.tunnels) {
				t.Errorf("tunnels %v, want %v", got, tt.tunnels)
			}
			if got := arrows(with(es, "hop")); !slices.Equal(got, tt.hops) {
				t.Errorf("direct hops %v, want %v", got, tt.hops)
			}
			// Every route of every node is written in that node's box.
			for _, n := range c.Nodes {
				var lines []string
				for _, e := range with(es, "route") {
					lines = append(lines, e.text)
				}
				for _, r := range render.PodRoutes(c, n) {
					want := RouteLine(c, r)
					if !slices.Contains(lines, want) {
						t.Errorf("%s: route %q not drawn", n.Name, want)
					}
				}
			}
			want := 0
			for _, n := range c.Nodes {
				want += len(render.PodRoutes(c, n))
			}
			if got := len(with(es, "route")); got != want {
				t.Errorf("%d route lines, the nodes have %d routes", got, want)
			}
			all := text(es)
			for _, s := range tt.textHas {
				if !strings.Contains(all, s) {
					t.Errorf("picture lacks %q", s)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(all, s) {
					t.Errorf("picture says %q", s)
				}
			}
		})
	}
}

func TestLaunch(t *testing.T) {
	tests := []struct {
		config     string
		candidates []string
		chosen     string
	}{
		{"default", []string{"node-0", "node-1", "node-2"}, "node-1"},
		{"one node", []string{"solo"}, "solo"},
		{"mixed", []string{"cp-b", "w-c"}, "w-c"},
	}
	cs := configs(t)
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			for name, pic := range map[string][]byte{"overview": LaunchOverview(cs[tt.config]), "full": Launch(cs[tt.config])} {
				es := parse(t, pic)
				cands := with(es, "candidate")
				if got := values(cands, "data-node"); !slices.Equal(got, tt.candidates) {
					t.Errorf("%s: candidates %v, want the workers %v", name, got, tt.candidates)
				}
				if got := values(with(cands, "chosen"), "data-node"); !slices.Equal(got, []string{tt.chosen}) {
					t.Errorf("%s: chosen %v, want [%s]", name, got, tt.chosen)
				}
				msgs := with(es, "message")
				for i, m := range msgs {
					if m.attrs["data-n"] != fmt.Sprint(i+1) {
						t.Errorf("%s: message %d is numbered %q", name, i+1, m.attrs["data-n"])
					}
				}
				want := map[string]int{"overview": 6, "full": 15}[name]
				if len(msgs) != want {
					t.Errorf("%s: %d messages, want %d", name, len(msgs), want)
				}
			}
			es := parse(t, Launch(cs[tt.config]))
			if !strings.Contains(text(es), "POST .../pods/hello-…/binding → "+tt.chosen) {
				t.Errorf("the binding does not name %s", tt.chosen)
			}
			if !strings.Contains(text(es), "on "+tt.chosen) {
				t.Errorf("the kubelet lifeline does not name %s", tt.chosen)
			}
		})
	}
}

// TestDeterministic: the same config draws the same bytes; a different one
// draws different pictures.
func TestDeterministic(t *testing.T) {
	cs := configs(t)
	draw := map[string]func(*config.Cluster) []byte{
		"architecture": func(c *config.Cluster) []byte { return Architecture(c, nil) },
		"pki":          func(c *config.Cluster) []byte { return PKI(c, pki.Specs(c)) },
		"network":      Network,
		"launch":       Launch,
		"overview":     LaunchOverview,
	}
	for name, f := range draw {
		a, b := f(config.Default()), f(config.Default())
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two drawings of the same config differ", name)
		}
		if bytes.Equal(a, f(cs["one node"])) {
			t.Errorf("%s: the default and the one-node cluster draw the same picture", name)
		}
		parse(t, a)
	}
}

func TestSequence(t *testing.T) {
	ls := []Lifeline{{"a", []string{"client", "host"}}, {"b", []string{"server"}}}
	pic := Sequence("measured", ls, []Arrow{
		{From: "a", To: "b", Label: "+0 ms request"},
		{From: "b", To: "b", Label: "+5 ms work"},
		{From: "b", To: "a", Label: "+9 ms answer"},
	})
	es := parse(t, pic)
	if got := values(with(es, "participant"), "data-id"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("participants %v, want [a b]", got)
	}
	msgs := with(es, "message")
	var got []string
	for _, m := range msgs {
		got = append(got, m.attrs["data-n"]+" "+m.attrs["data-from"]+"→"+m.attrs["data-to"])
	}
	if want := []string{"1 a→b", "2 b→a"}; !slices.Equal(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}
	if notes := values(with(es, "note"), "data-at"); !slices.Equal(notes, []string{"b"}) {
		t.Errorf("notes at %v, want [b]", notes)
	}
	for _, want := range []string{"1. +0 ms request", "+5 ms work", "2. +9 ms answer"} {
		if !strings.Contains(text(es), want) {
			t.Errorf("picture lacks %q", want)
		}
	}
	if !bytes.Equal(pic, Sequence("measured", ls, []Arrow{{"a", "b", "+0 ms request"}, {"b", "b", "+5 ms work"}, {"b", "a", "+9 ms answer"}})) {
		t.Error("the same arrows draw different bytes")
	}
}
