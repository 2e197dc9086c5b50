package diagram

import (
	"fmt"
	"math"
	"net/netip"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

// Network draws the pod network: the Service virtual IPs at the top, every
// node with its pods, bridge, routes and VXLAN device, the node network
// below, and one tunnel for every pair of nodes that route pods to each
// other.
func Network(c *config.Cluster) []byte {
	const (
		margin = 20.0
		gap    = 40.0
		inset  = 16.0
		boxV   = 22.0 // vertical gap between boxes: room for an arrow
	)
	type layer struct {
		id, class string
		lines     []string
	}
	type column struct {
		node   config.Node
		layers []layer
		box    rect
		rects  map[string]rect
	}
	cols := make([]column, len(c.Nodes))
	nodeW := 280.0
	for i, n := range c.Nodes {
		col := column{node: n, rects: map[string]rect{}}
		vx := render.VXLANFor(n)
		if n.IsWorker() {
			first, last := PodRange(n.PodCIDR)
			col.layers = append(col.layers,
				layer{"pod", "pod", []string{"a pod: eth0 " + first + "…" + last, "resolv.conf: nameserver " + c.Network.ClusterDNS}},
				layer{"cni0", "bridge", []string{"cni0 bridge " + Gateway(n.PodCIDR), fmt.Sprintf("pod CIDR %s, MTU %d", n.PodCIDR, render.PodMTUFor(c))}},
				layer{"kube-proxy", "service", []string{"kube-proxy rules (" + c.Network.KubeProxyMode + ")", "Service IP:port → a pod IP:port"}},
			)
		} else {
			col.layers = append(col.layers, layer{"pod", "pod", []string{"no pods here", "(control plane only, no pod CIDR)"}})
		}
		routes := []string{"routes to other nodes' pods"}
		for _, r := range render.PodRoutes(c, n) {
			routes = append(routes, RouteLine(c, r))
		}
		if len(routes) == 1 {
			routes = append(routes, noRoutes)
		}
		col.layers = append(col.layers, layer{"routes", "routes", routes})
		// With direct routes there is no tunnel: the packet leaves by the
		// node's own interface, pod addresses and all.
		if !render.DirectRoutes(c) {
			addr := "no tunnel address (no pod CIDR)"
			if vx.Address != "" {
				addr = vx.Address + "/32 MAC " + vx.MAC
			}
			col.layers = append(col.layers, layer{"vxlan", "vxlan", []string{fmt.Sprintf("%s VNI %d", vx.Device, vx.ID), addr}})
		}
		col.layers = append(col.layers, layer{"eth0", "eth", []string{nodeInterface(c) + " " + n.IP}})
		for _, l := range col.layers {
			w, _ := boxSize(l.lines)
			nodeW = math.Max(nodeW, w+2*inset)
		}
		cols[i] = col
	}
	width := 2*margin + float64(len(cols))*nodeW + float64(len(cols)-1)*gap

	title := fmt.Sprintf("Pod network of cluster %q: pods %s, Services %s, nodes %s", c.Name, c.Network.PodCIDR, c.Network.ServiceCIDR, c.Network.NodeSubnet)
	services := []layer{
		{"kubernetes", "service", []string{fmt.Sprintf("default/kubernetes %s:443", c.KubernetesServiceIP()), fmt.Sprintf("→ every kube-apiserver :%d", c.Network.APIServerPort)}},
		{"kube-dns", "service", []string{"kube-system/kube-dns " + c.Network.ClusterDNS + ":53", "→ CoreDNS pods (UDP and TCP)"}},
		{"nodeport", "service", []string{"NodePort 30000-32767", "on every node IP → a pod"}},
	}
	bandHead := fmt.Sprintf("Services: virtual IPs from %s; no interface has them, kube-proxy rules on every node rewrite them", c.Network.ServiceCIDR)
	svcW := 0.0
	for _, s := range services {
		w, _ := boxSize(s.lines)
		svcW += w + 12
	}
	width = math.Max(width, math.Max(svcW+2*margin+2*padX, textWidth(bandHead)+2*margin+2*padX))
	width = math.Max(width, textWidth(title)+2*margin)

	var body canvas
	y := margin
	body.text(margin, y+14, "", "title", title)
	y += 34

	// The Service band.
	band := rect{margin, y, width - 2*margin, lineGap + 2*padY + boxHeight(2) + 12}
	body.open("g", attr{"class", "band"})
	body.rect(band, "")
	body.text(band.X+padX, band.Y+padY+fontSize, "", "bold", bandHead)
	x := band.X + padX
	for _, s := range services {
		w, h := boxSize(s.lines)
		body.box(rect{x, band.Y + lineGap + 2*padY + 4, w, h}, s.class, s.lines, data("service", s.id))
		x += w + 12
	}
	body.close("g")
	y = band.bottom() + 24

	// Nodes.
	nodeH := 0.0
	for _, col := range cols {
		h := headerHeight - lineGap
		for _, l := range col.layers {
			h += boxHeight(len(l.lines)) + boxV
		}
		nodeH = math.Max(nodeH, h)
	}
	for i := range cols {
		col := &cols[i]
		col.box = rect{margin + float64(i)*(nodeW+gap), y, nodeW, nodeH}
		body.open("g", attr{"class", "node"}, data("node", col.node.Name))
		body.rect(col.box, "")
		body.text(col.box.X+padX, col.box.Y+padY+fontSize, "", "bold", col.node.Name)
		body.text(col.box.X+padX, col.box.Y+padY+fontSize+lineGap, "", "", "node IP "+col.node.IP)
		ly := col.box.Y + headerHeight - lineGap
		// Lay the stack out bottom-aligned so every eth0 sits on one line
		// above the node network, whatever the node runs.
		total := 0.0
		for _, l := range col.layers {
			total += boxHeight(len(l.lines)) + boxV
		}
		ly += nodeH - (headerHeight - lineGap) - total
		for _, l := range col.layers {
			r := rect{col.box.X + inset, ly, nodeW - 2*inset, boxHeight(len(l.lines))}
			col.rects[l.id] = r
			as := []attr{data("node", col.node.Name), data("part", l.id)}
			if l.id == "routes" {
				body.open("g", append([]attr{{"class", "routes"}}, as...)...)
				body.rect(r, "")
				for k, line := range l.lines {
					cls := "route"
					switch {
					case k == 0:
						cls = "bold"
					case line == noRoutes:
						cls = ""
					}
					lineAttrs := []attr{{"x", num(r.X + padX)}, {"y", num(r.Y + padY + fontSize + float64(k)*lineGap)}}
					if cls != "" {
						lineAttrs = append(lineAttrs, attr{"class", cls})
					}
					body.b.WriteString("<text")
					body.attrs(lineAttrs)
					body.b.WriteString(">" + esc(line) + "</text>\n")
				}
				body.close("g")
			} else {
				body.box(r, l.class, l.lines, as...)
			}
			ly = r.bottom() + boxV
		}
		body.close("g")
	}
	// The path a packet takes down the stack, drawn over the boxes.
	for _, col := range cols {
		n := col.node.Name
		order := []string{"pod", "cni0", "kube-proxy", "routes", "vxlan", "eth0"}
		var prev string
		for _, id := range order {
			if _, ok := col.rects[id]; !ok {
				continue
			}
			if prev != "" && (prev != "pod" || col.node.IsWorker()) {
				a, b := col.rects[prev], col.rects[id]
				x := a.X + a.W*0.85
				body.polyline([]point{{x, a.bottom()}, {x, b.Y}}, "arrow", false, data("from", n+"/"+prev), data("to", n+"/"+id))
			}
			prev = id
		}
	}
	y += nodeH + 24

	// The node network.
	netLines := []string{render.NodeNetwork(c).Describe()}
	_, nh := boxSize(netLines)
	bar := rect{margin, y, width - 2*margin, nh}
	for _, col := range cols {
		e := col.rects["eth0"]
		body.polyline([]point{{e.centerX(), e.bottom()}, {e.centerX(), bar.Y}}, "link", false)
	}
	body.box(bar, "net", netLines, data("subnet", c.Network.NodeSubnet))
	y = bar.bottom()

	// Tunnels: VXLAN packets are UDP between node IPs, so they ride the node
	// network; one arc per pair of nodes with a route between them. Direct
	// routes have no tunnel: the arc is the plain hop, pod addresses on the
	// wire.
	depthMax := 0.0
	class, label := "tunnel", func(a, b config.Node) string {
		return fmt.Sprintf("VXLAN UDP :%d %s ⇄ %s", render.VXLANFor(a).Port, a.IP, b.IP)
	}
	if render.DirectRoutes(c) {
		class, label = "hop", func(a, b config.Node) string {
			return fmt.Sprintf("pod packets as they are, %s ⇄ %s", a.IP, b.IP)
		}
	}
	for i := range cols {
		for j := i + 1; j < len(cols); j++ {
			if !routes(c, cols[i].node, cols[j].node) {
				continue
			}
			x1, x2 := cols[i].rects["eth0"].centerX(), cols[j].rects["eth0"].centerX()
			depth := 34.0 + 30*float64(j-i-1) + 8*float64(i)
			depthMax = math.Max(depthMax, depth)
			d := fmt.Sprintf("M%s %s Q%s %s %s %s", num(x1), num(y), num((x1+x2)/2), num(y+2*depth), num(x2), num(y))
			body.empty("path", attr{"class", class}, attr{"d", d}, data("from", cols[i].node.Name), data("to", cols[j].node.Name))
			body.label((x1+x2)/2, y+depth+4, "middle", "small", label(cols[i].node, cols[j].node))
		}
	}
	y += depthMax + 28
	for _, l := range walk(c) {
		body.text(margin, y, "", "small", l)
		width = math.Max(width, float64(len([]rune(l)))*6+2*margin)
		y += 14
	}
	return document(width, y+margin-6, title, &body)
}

// noRoutes stands in the routes box of a node that needs none.
const noRoutes = "none: no other node has pods"

// routes reports whether a or b sends pods' packets to the other.
func routes(c *config.Cluster, a, b config.Node) bool {
	for _, r := range render.PodRoutes(c, a) {
		if r.Node == b.Name {
			return true
		}
	}
	for _, r := range render.PodRoutes(c, b) {
		if r.Node == a.Name {
			return true
		}
	}
	return false
}

// walk narrates one packet from a pod on the first worker to a pod on the
// second, with this cluster's addresses.
func walk(c *config.Cluster) []string {
	ws := c.Workers()
	if len(ws) < 2 {
		name := "the node"
		if len(ws) == 1 {
			name = ws[0].Name
		}
		return []string{fmt.Sprintf("Every pod runs on %s: pods reach each other through the cni0 bridge, no route or tunnel is involved.", name)}
	}
	a, b := ws[0], ws[1]
	src, _ := PodRange(a.PodCIDR)
	dst, _ := PodRange(b.PodCIDR)
	vb := render.VXLANFor(b)
	first := fmt.Sprintf("A packet from pod %s on %s to pod %s on %s: out of the pod's eth0 into cni0 (its default gateway %s),", src, a.Name, dst, b.Name, Gateway(a.PodCIDR))
	if render.DirectRoutes(c) {
		return []string{first,
			fmt.Sprintf("the route %s via %s sends it out of %s to %s's MAC, unchanged: pod addresses on the wire;", b.PodCIDR, b.IP, nodeInterface(c), b.Name),
			fmt.Sprintf("%s routes it to its cni0 bridge, which delivers it to the pod. Replies take the mirror path.", b.Name),
		}
	}
	return []string{first,
		fmt.Sprintf("the route %s via %s sends it into %s, which wraps it in UDP from %s to %s:%d;", b.PodCIDR, vb.Address, vb.Device, a.IP, b.IP, vb.Port),
		fmt.Sprintf("%s unwraps it and its cni0 bridge delivers it to the pod. Replies take the mirror path.", b.Name),
	}
}

// RouteLine is one pod route as «ip route» shows it on the node.
func RouteLine(c *config.Cluster, r render.Route) string {
	if render.DirectRoutes(c) {
		return r.CIDR + " via " + r.NodeIP
	}
	return r.CIDR + " via " + r.Via + " dev " + render.VXLANFor(config.Node{}).Device
}

// nodeInterface names the node's interface on the node network: eth0 in a
// container; on machines whatever the interface holding the node IP is.
func nodeInterface(c *config.Cluster) string {
	switch render.NodeNetwork(c).Kind {
	case render.NetworkDocker:
		return "eth0"
	case render.NetworkLima:
		return "lima0"
	}
	return "the NIC"
}

// PodRange is the first and last address host-local IPAM hands to pods in
// cidr: the network address is the tunnel's, the first host the bridge's.
func PodRange(cidr string) (first, last string) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return "?", "?"
	}
	p = p.Masked()
	a := p.Addr().Next().Next()
	b := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1<<hostBits - 1)
	bc := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a.String(), bc.Prev().String()
}

// Gateway is the first host address of cidr, with its prefix length: where
// the cni0 bridge (pod CIDR) or the host (node subnet) sits.
func Gateway(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "?"
	}
	return netip.PrefixFrom(p.Masked().Addr().Next(), p.Bits()).String()
}
