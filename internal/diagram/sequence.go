package diagram

import (
	"fmt"
	"math"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
)

// participant is one lifeline of a sequence picture.
type participant struct {
	id    string
	lines []string
}

// event is one row of a sequence picture: a message between two lifelines,
// a note beside one, or the scheduler's choice among the nodes.
type event struct {
	from, to string
	label    string
	note     []string
	choice   []config.Node
	chosen   string
}

func message(from, to, label string) event  { return event{from: from, to: to, label: label} }
func note(at string, lines ...string) event { return event{from: at, note: lines} }

// sequence lays out lifelines side by side and events top to bottom.
func sequence(title string, ps []participant, events []event) []byte {
	const (
		margin = 20.0
		colGap = 34.0
		msgH   = 30.0
	)
	colW := 0.0
	for _, p := range ps {
		w, _ := boxSize(p.lines)
		colW = math.Max(colW, w)
	}
	headH := 0.0
	for _, p := range ps {
		headH = math.Max(headH, boxHeight(len(p.lines)))
	}
	x := map[string]float64{}
	for i, p := range ps {
		x[p.id] = margin + float64(i)*(colW+colGap) + colW/2
	}
	width := 2*margin + float64(len(ps))*colW + float64(len(ps)-1)*colGap
	width = math.Max(width, textWidth(title)+2*margin)

	var body canvas
	y := margin
	body.text(margin, y+14, "", "title", title)
	y += 34
	top := y
	// Lifelines go under everything else; their length is known only at
	// the end, so the events are drawn into their own canvas first.
	var ev canvas
	y += headH + 26
	n := 0
	for _, e := range events {
		switch {
		case e.choice != nil:
			ev.text(x[e.from]+10, y, "", "small", "filter, then score every node:")
			y += 8
			cx := x[e.from] + 10
			for _, nd := range e.choice {
				cls := "candidate"
				if nd.Name == e.chosen {
					cls += " chosen"
				}
				w, h := boxSize([]string{nd.Name})
				ev.box(rect{cx, y, w, h}, cls, []string{nd.Name}, data("node", nd.Name))
				cx += w + 8
				width = math.Max(width, cx+margin)
			}
			y += boxHeight(1) + 22
		case e.note != nil:
			w, h := boxSize(e.note)
			ev.box(rect{x[e.from] + 10, y - 10, w, h}, "note", e.note, data("at", e.from))
			width = math.Max(width, x[e.from]+10+w+margin)
			y += h + 20
		default:
			n++
			x1, x2 := x[e.from], x[e.to]
			ev.open("g", attr{"class", "message"}, data("from", e.from), data("to", e.to), data("n", fmt.Sprint(n)))
			ev.polyline([]point{{x1, y}, {x2, y}}, "arrow", false)
			label := fmt.Sprintf("%d. %s", n, e.label)
			lx := math.Min(x1, x2) + 8
			ev.label(lx, y-6, "", "", label)
			ev.close("g")
			width = math.Max(width, lx+textWidth(label)+margin)
			y += msgH
		}
	}
	for _, p := range ps {
		cx := x[p.id]
		body.empty("line", attr{"x1", num(cx)}, attr{"y1", num(top + headH)}, attr{"x2", num(cx)}, attr{"y2", num(y)}, attr{"class", "lifeline"})
		w, _ := boxSize(p.lines)
		body.box(rect{cx - w/2, top, w, headH}, "participant", p.lines, data("id", p.id))
	}
	body.b.WriteString(ev.b.String())
	return document(width, y+margin, title, &body)
}

// ChosenWorker is the node the pictures (and the tutorial's story) let the
// scheduler pick. The real scheduler scores nodes at run time; the story
// names one so it has concrete addresses: the second worker, as there is
// more to see when the pod is not on the first node.
func ChosenWorker(c *config.Cluster) (config.Node, bool) {
	ws := c.Workers()
	if len(ws) == 0 {
		return config.Node{}, false
	}
	return ws[1%len(ws)], true
}

// LaunchOverview is level 0 of launching a pod: you, "the control plane" and
// "the nodes" as three black boxes.
func LaunchOverview(c *config.Cluster) []byte {
	var names []string
	for _, w := range c.Workers() {
		names = append(names, w.Name)
	}
	chosen, _ := ChosenWorker(c)
	ps := []participant{
		{"you", []string{"you", "kubectl"}},
		{"control-plane", []string{"the control plane", c.APIServerURL()}},
		{"nodes", []string{"the worker nodes", strings.Join(names, ", ")}},
	}
	first, _ := PodRange(chosen.PodCIDR)
	events := []event{
		message("you", "control-plane", "please run hello (a Deployment, 1 replica)"),
		message("control-plane", "you", "recorded; I will make it so"),
		{from: "control-plane", choice: c.Workers(), chosen: chosen.Name},
		message("control-plane", "nodes", chosen.Name+": run this pod"),
		message("nodes", "control-plane", "running, pod IP "+first),
		message("you", "control-plane", "how is hello doing?"),
		message("control-plane", "you", "1 of 1 ready, on "+chosen.Name),
	}
	return sequence(fmt.Sprintf("Launching a pod on %q, level 0: three black boxes", c.Name), ps, events)
}

// Launch is the whole story of `kubectl create deployment hello`: every
// component that takes part, in order, with this cluster's names.
func Launch(c *config.Cluster) []byte {
	chosen, _ := ChosenWorker(c)
	cps := len(c.ControlPlanes())
	first, _ := PodRange(chosen.PodCIDR)
	ps := []participant{
		{"kubectl", []string{"kubectl", "CN=admin"}},
		{"kube-apiserver", []string{"kube-apiserver", fmt.Sprintf("%d instance(s)", cps)}},
		{"etcd", []string{"etcd", fmt.Sprintf("%d member(s)", cps)}},
		{"kube-controller-manager", []string{"kube-controller-manager", "the leader"}},
		{"kube-scheduler", []string{"kube-scheduler", "the leader"}},
		{"kubelet", []string{"kubelet", "on " + chosen.Name}},
		{"containerd", []string{"containerd", "CRI"}},
		{"runtime", []string{"runc + CNI", "bridge, host-local"}},
	}
	events := []event{
		message("kubectl", "kube-apiserver", "POST /apis/apps/v1/namespaces/default/deployments"),
		note("kube-apiserver", "authenticate: client certificate CN=admin, O=hardway:cluster-admins",
			"authorize: RBAC (that group is bound to ClusterRole cluster-admin)",
			"admission: defaults, validation, then store"),
		message("kube-apiserver", "etcd", "put /registry/deployments/default/hello"),
		message("kube-apiserver", "kubectl", "201 Created (nothing runs yet)"),
		message("kube-controller-manager", "kube-apiserver", "watch: Deployment hello has no ReplicaSet → create it"),
		message("kube-controller-manager", "kube-apiserver", "watch: ReplicaSet wants 1 Pod, has 0 → create Pod"),
		message("kube-scheduler", "kube-apiserver", "watch: a Pod with no node"),
		{from: "kube-scheduler", choice: c.Workers(), chosen: chosen.Name},
		message("kube-scheduler", "kube-apiserver", "POST .../pods/hello-…/binding → "+chosen.Name),
		message("kubelet", "kube-apiserver", "watch: Pods with spec.nodeName="+chosen.Name),
		message("kubelet", "containerd", "RunPodSandbox: a new network namespace"),
		message("containerd", "runtime", "CNI ADD: veth into cni0, IP "+first+" from "+chosen.PodCIDR),
		message("containerd", "runtime", "runc: start the pause container holding the namespaces"),
		message("kubelet", "containerd", "CreateContainer + StartContainer "+images.TestApp),
		message("containerd", "runtime", "shim → runc create/start: cgroups, namespaces, exec"),
		message("kubelet", "kube-apiserver", "PATCH pod status: Running, podIP "+first),
		message("kubectl", "kube-apiserver", "GET pods: hello-… Running on "+chosen.Name),
	}
	return sequence(fmt.Sprintf("Launching a pod on %q: kubectl create deployment hello", c.Name), ps, events)
}

// Lifeline is one participant of a sequence picture drawn from outside this
// package (hardway trace draws what it measured): an id arrows refer to and
// the lines written in its box, the first one bold.
type Lifeline struct {
	ID    string
	Lines []string
}

// Arrow is one row of such a picture: a message From → To, or a note beside
// From when To is From (a component working on its own).
type Arrow struct {
	From, To, Label string
}

// Sequence draws lifelines side by side and arrows top to bottom, in the
// order given, with the same layout as the tutorial's launch pictures.
func Sequence(title string, ls []Lifeline, arrows []Arrow) []byte {
	ps := make([]participant, len(ls))
	for i, l := range ls {
		ps[i] = participant{id: l.ID, lines: l.Lines}
	}
	events := make([]event, len(arrows))
	for i, a := range arrows {
		if a.From == a.To {
			events[i] = note(a.From, a.Label)
			continue
		}
		events[i] = message(a.From, a.To, a.Label)
	}
	return sequence(title, ps, events)
}
