package diagram

import (
	"fmt"
	"math"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// Status is what `hardway status` saw on the machines. Architecture draws
// the design alone when it is nil.
type Status struct {
	// Machines maps a node name (and "lb") to its machine state: running,
	// exited, ...
	Machines map[string]string
	// Units maps a node name to the systemd state of each unit on it
	// (active, failed, inactive, activating, ...).
	Units map[string]map[string]string
}

// state is the health of one unit on one node: "" without a status.
func (s *Status) state(node, unit string) string {
	if s == nil {
		return ""
	}
	if m := s.Machines[node]; m != "running" {
		if m == "" {
			return "missing"
		}
		return m
	}
	if st := s.Units[node][unit]; st != "" {
		return st
	}
	return "unknown"
}

// healthClass maps a systemd state to the class that colours a box.
func healthClass(state string) string {
	switch state {
	case "":
		return ""
	case "active":
		return " health-active"
	case "failed":
		return " health-failed"
	case "exited", "missing", "created", "dead", "paused":
		return " health-down"
	default:
		return " health-other"
	}
}

// component is one program on a node, named by its systemd unit.
type component struct {
	unit  string
	kind  string // control-plane, worker or network: the box colour
	lines []string
}

// apiEndpoint is the id of the box every client of the API talks to in the
// architecture picture: the load balancer, or the lone API server's address.
const apiEndpoint = "api"

// nodeComponents lists what runs on n, in the order the picture stacks them:
// the API server first (everything calls it), the pod network last.
func nodeComponents(c *config.Cluster, n config.Node) []component {
	var out []component
	port := c.Network.APIServerPort
	if n.IsControlPlane() {
		out = append(out,
			component{"kube-apiserver", "control-plane", []string{fmt.Sprintf("kube-apiserver :%d", port), "serves as CN=kube-apiserver"}},
			component{"etcd", "control-plane", []string{"etcd :2379 clients, :2380 peers", "clients: kube-apiserver-etcd-client"}},
			component{"kube-controller-manager", "control-plane", []string{"kube-controller-manager", fmt.Sprintf("→ 127.0.0.1:%d as", port), "  system:kube-controller-manager"}},
			component{"kube-scheduler", "control-plane", []string{"kube-scheduler", fmt.Sprintf("→ 127.0.0.1:%d as", port), "  system:kube-scheduler"}},
		)
	}
	if n.IsWorker() {
		out = append(out,
			component{"kubelet", "worker", []string{"kubelet :10250", "→ API as system:node:" + n.Name, "← kube-apiserver-kubelet-client"}},
			component{"containerd", "worker", []string{"containerd + runc + CNI", "pods in " + n.PodCIDR}},
			component{"kube-proxy", "worker", []string{"kube-proxy (" + c.Network.KubeProxyMode + ")", "→ API as system:kube-proxy"}},
		)
	}
	peers := len(render.PodRoutes(c, n))
	out = append(out, component{render.PodNetworkUnit, "network", []string{render.PodNetworkUnit, podRoutesLine(c, peers)}})
	return out
}

// Architecture draws the cluster: this host, the API endpoint, every node
// with its components and ports, and who calls whom with which identity.
// With a status, every component is coloured by its health.
func Architecture(c *config.Cluster, st *Status) []byte {
	const (
		margin = 20.0
		gap    = 64.0 // between node columns: room for peer arrows
		inset  = 30.0 // component boxes sit inside lanes for arrows
		compV  = 10.0 // vertical gap between components
	)
	type placed struct {
		node  config.Node
		box   rect
		comps []component
		rects map[string]rect
	}
	nodes := make([]placed, len(c.Nodes))
	nodeW := 300.0
	for i, n := range c.Nodes {
		nodes[i] = placed{node: n, comps: nodeComponents(c, n), rects: map[string]rect{}}
		for j := range nodes[i].comps {
			if s := st.state(n.Name, nodes[i].comps[j].unit); s != "" {
				nodes[i].comps[j].lines = append(nodes[i].comps[j].lines, "state: "+s)
			}
			w, _ := boxSize(nodes[i].comps[j].lines)
			nodeW = math.Max(nodeW, w+2*inset)
		}
		for _, l := range nodeHeader(n, st) {
			nodeW = math.Max(nodeW, textWidth(l)+2*padX)
		}
	}
	width := 2*margin + float64(len(nodes))*nodeW + float64(len(nodes)-1)*gap

	nodeWord := "nodes"
	if len(c.Nodes) == 1 {
		nodeWord = "node"
	}
	title := fmt.Sprintf("Cluster %q: %d %s, Kubernetes %s", c.Name, len(c.Nodes), nodeWord, c.KubernetesVersion)
	if st != nil {
		title += " — live status"
	}
	hostLines := []string{"this host", "you: kubectl with admin.kubeconfig", "as CN=admin, O=hardway:cluster-admins"}
	var barLines []string
	barClass := "endpoint"
	if lb := c.Network.LoadBalancerIP; lb != "" {
		barClass = "lb"
		barLines = []string{fmt.Sprintf("API load balancer: haproxy in container %s-lb at %s:%d", c.Name, lb, c.Network.APIServerPort),
			"TCP to every kube-apiserver; every kubeconfig outside the control plane points here"}
		if s := st.state("lb", "haproxy"); s != "" {
			barLines = append(barLines, "state: "+s)
			barClass += healthClass(s)
		}
	} else {
		barLines = []string{"API endpoint: " + c.APIServerURL() + " (one control-plane node, no load balancer)",
			"every kubeconfig outside the control plane points here"}
	}
	for _, l := range append(append([]string{}, hostLines...), barLines...) {
		width = math.Max(width, textWidth(l)+2*padX+2*margin)
	}
	width = math.Max(width, textWidth(title)+2*margin)

	var body canvas
	y := margin
	body.text(margin, y+14, "", "title", title)
	y += 34
	hw, hh := boxSize(hostLines)
	host := rect{margin, y, hw, hh}
	body.box(host, "host", hostLines, data("id", "kubectl"))
	y = host.bottom() + 36
	_, bh := boxSize(barLines)
	bar := rect{margin, y, width - 2*margin, bh}
	body.box(bar, barClass, barLines, data("id", apiEndpoint))
	y = bar.bottom() + 44

	// Nodes: one column each, the same height so rows of components line up.
	nodeH := 0.0
	for i := range nodes {
		h := headerHeight
		for _, comp := range nodes[i].comps {
			h += boxHeight(len(comp.lines)) + compV
		}
		nodeH = math.Max(nodeH, h+compV)
	}
	for i := range nodes {
		p := &nodes[i]
		p.box = rect{margin + float64(i)*(nodeW+gap), y, nodeW, nodeH}
		cls := "node"
		if st != nil && st.Machines[p.node.Name] != "running" {
			cls += " down"
		}
		body.open("g", attr{"class", cls}, data("node", p.node.Name))
		body.rect(p.box, "")
		for k, l := range nodeHeader(p.node, st) {
			cl := ""
			if k == 0 {
				cl = "bold"
			}
			body.text(p.box.X+padX, p.box.Y+padY+fontSize+float64(k)*lineGap, "", cl, l)
		}
		cy := p.box.Y + headerHeight
		for _, comp := range p.comps {
			r := rect{p.box.X + inset, cy, nodeW - 2*inset, boxHeight(len(comp.lines))}
			p.rects[comp.unit] = r
			cls := "comp"
			if comp.kind != "control-plane" {
				cls += " " + comp.kind
			}
			cls += healthClass(st.state(p.node.Name, comp.unit))
			body.box(r, cls, comp.lines, data("unit", comp.unit), data("node", p.node.Name))
			cy = r.bottom() + compV
		}
		body.close("g")
	}

	// Arrows, drawn over the boxes. Lanes left of the components carry calls
	// inside a node; lanes right of them carry calls up to the API endpoint.
	arrow := func(pts []point, from, to, identity string, both bool) {
		cls := "arrow"
		if both {
			cls += " peer"
		}
		as := []attr{data("from", from), data("to", to)}
		if identity != "" {
			as = append(as, data("identity", identity))
		}
		body.polyline(pts, cls, both, as...)
	}
	arrow([]point{{host.centerX(), host.bottom()}, {host.centerX(), bar.Y}}, "kubectl", apiEndpoint, "admin", false)
	var etcds []struct {
		name string
		r    rect
	}
	for _, p := range nodes {
		n := p.node.Name
		left := func(lane float64) float64 { return p.box.X + lane }
		right := func(lane float64) float64 { return p.box.right() - lane }
		if api, ok := p.rects["kube-apiserver"]; ok {
			x := api.X + api.W*0.8
			arrow([]point{{x, bar.bottom()}, {x, api.Y}}, apiEndpoint, n+"/kube-apiserver", "", false)
			if e, ok := p.rects["etcd"]; ok {
				arrow([]point{{api.X + api.W*0.5, api.bottom()}, {api.X + api.W*0.5, e.Y}}, n+"/kube-apiserver", n+"/etcd", "kube-apiserver-etcd-client", false)
				etcds = append(etcds, struct {
					name string
					r    rect
				}{n, e})
			}
			// Lanes: the longest call outermost, so no two lines cross.
			if cm, ok := p.rects["kube-controller-manager"]; ok {
				arrow([]point{{cm.X, cm.centerY()}, {left(22), cm.centerY()}, {left(22), api.Y + api.H*0.75}, {api.X, api.Y + api.H*0.75}},
					n+"/kube-controller-manager", n+"/kube-apiserver", "system:kube-controller-manager", false)
			}
			if s, ok := p.rects["kube-scheduler"]; ok {
				arrow([]point{{s.X, s.centerY()}, {left(14), s.centerY()}, {left(14), api.Y + api.H*0.5}, {api.X, api.Y + api.H*0.5}},
					n+"/kube-scheduler", n+"/kube-apiserver", "system:kube-scheduler", false)
			}
			if k, ok := p.rects["kubelet"]; ok {
				arrow([]point{{api.X, api.Y + api.H*0.25}, {left(6), api.Y + api.H*0.25}, {left(6), k.centerY()}, {k.X, k.centerY()}},
					n+"/kube-apiserver", n+"/kubelet", "kube-apiserver-kubelet-client", false)
			}
		}
		if k, ok := p.rects["kubelet"]; ok {
			y := k.Y + 10
			arrow([]point{{k.right(), y}, {right(18), y}, {right(18), bar.bottom()}}, n+"/kubelet", apiEndpoint, "system:node:"+n, false)
			if ctr, ok := p.rects["containerd"]; ok {
				x := k.X + k.W*0.5
				arrow([]point{{x, k.bottom()}, {x, ctr.Y}}, n+"/kubelet", n+"/containerd", "CRI "+render.ContainerdSocket, false)
			}
		}
		if kp, ok := p.rects["kube-proxy"]; ok {
			y := kp.Y + 10
			arrow([]point{{kp.right(), y}, {right(8), y}, {right(8), bar.bottom()}}, n+"/kube-proxy", apiEndpoint, "system:kube-proxy", false)
		}
	}
	// etcd members form one Raft cluster; neighbours are linked, which the
	// label says is a full mesh.
	for i := 1; i < len(etcds); i++ {
		a, b := etcds[i-1], etcds[i]
		y := a.r.Y + a.r.H*0.5
		arrow([]point{{a.r.right(), y}, {b.r.X, y}}, a.name+"/etcd", b.name+"/etcd", "etcd-peer", true)
		body.label((a.r.right()+b.r.X)/2, y-6, "middle", "small", ":2380")
	}
	y += nodeH + 26
	legend := []string{
		"Arrows point from caller to callee; \"as X\" is the client certificate's CN (O = group). Every connection is mutual TLS:",
	}
	for _, l := range TrustLegend(pki.Specs(c)) {
		legend = append(legend, "  "+l)
	}
	if len(etcds) > 1 {
		legend = append(legend, "etcd members talk to each other on :2380 (a full mesh), each checking the other against etcd-ca.")
	}
	if st != nil {
		legend = append(legend, "Green: active; red: failed or machine down; amber: any other state (hardway logs NODE UNIT says why).")
	}
	for _, l := range legend {
		body.text(margin, y, "", "small", l)
		width = math.Max(width, float64(len([]rune(l)))*6+2*margin)
		y += 14
	}
	return document(width, y+margin-8, title, &body)
}

// headerHeight is the room for a node's three header lines.
const headerHeight = 2*padY + fontSize + 2*lineGap + 12

func nodeHeader(n config.Node, st *Status) []string {
	first := n.Name
	if st != nil {
		s := st.Machines[n.Name]
		if s == "" {
			s = "missing"
		}
		first += "  (" + s + ")"
	}
	return []string{first, n.IP, strings.Join(n.Roles, ", ")}
}

// podRoutesLine says what the pod-network unit sets up on a node.
func podRoutesLine(c *config.Cluster, peers int) string {
	if render.DirectRoutes(c) {
		return fmt.Sprintf("direct routes to %d peer(s)", peers)
	}
	return fmt.Sprintf("VXLAN routes to %d peer(s)", peers)
}
