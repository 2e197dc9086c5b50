package trace

import (
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/diagram"
)

// SVG draws the timeline as a sequence picture: one lifeline per
// component, one arrow per stage with its measured time.
func (t Timeline) SVG(cluster string) []byte {
	where := func(component string) string {
		var nodes []string
		for _, s := range t.Stages {
			if s.Component == component && s.Node != "" && !strings.Contains(strings.Join(nodes, ","), s.Node) {
				nodes = append(nodes, s.Node)
			}
		}
		if len(nodes) == 0 {
			return "on " + t.Node
		}
		return "on " + strings.Join(nodes, ", ")
	}
	ls := []diagram.Lifeline{
		{ID: Client, Lines: []string{"hardway trace", "this host"}},
		{ID: APIServer, Lines: []string{APIServer, where(APIServer)}},
		{ID: Etcd, Lines: []string{Etcd, "first watcher " + where(Etcd)}},
		{ID: Scheduler, Lines: []string{Scheduler, where(Scheduler)}},
		{ID: Kubelet, Lines: []string{Kubelet, "on " + t.Node}},
		{ID: Containerd, Lines: []string{Containerd, "on " + t.Node}},
		{ID: CNI, Lines: []string{"CNI", "bridge, host-local"}},
	}
	arrows := make([]diagram.Arrow, len(t.Stages))
	for i, s := range t.Stages {
		arrows[i] = diagram.Arrow{From: s.From, To: s.To, Label: fmt.Sprintf("%s %s", Offset(s.At), s.Label)}
	}
	title := fmt.Sprintf("Launching pod %s/%s on %q, measured", t.Namespace, t.Name, cluster)
	return diagram.Sequence(title, ls, arrows)
}
