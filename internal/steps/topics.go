package steps

import (
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/artifacts"
)

// Topic is a lesson that is not a step of `up`: a day-2 operation.
// `hardway explain NAME` prints it like a step.
type Topic struct {
	Name    string
	Title   string
	Explain func(c *Cluster) (string, error)
}

// Topics lists the lessons beyond the steps.
func Topics() []Topic {
	return []Topic{
		{Name: "upgrade", Title: "Upgrading Kubernetes in place, in the order the version-skew policy requires", Explain: explainUpgrade},
	}
}

// FindTopic returns the topic called name.
func FindTopic(name string) (Topic, bool) {
	for _, t := range Topics() {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

var upgradeProse = dedent(`
	Kubernetes upgrades one minor version at a time, and its version-skew
	policy fixes the order, because of who talks to whom:

	  1. etcd first: the API server of the new version may expect its
	     features; etcd rolls one member at a time, the others keep quorum.
	  2. kube-apiserver, one at a time: while both versions serve, clients
	     meet either; API servers may differ by one minor version.
	  3. kube-controller-manager and kube-scheduler: never newer than the API
	     server they talk to (theirs is the local one, already upgraded).
	  4. kubelet and kube-proxy last, node by node: never newer than the API
	     server, and up to three minor versions older. Each node is drained
	     first (its pods move elsewhere, PodDisruptionBudgets respected), its
	     binaries replaced, and it is uncordoned once its kubelet is back.

	Going back is not an upgrade in reverse: etcd's data format and stored
	objects only move forward, so hardway refuses a downgrade (recreate the
	cluster instead), and refuses to skip a minor version.

	hardway does it with the same rollout as every change: it compares what
	each node runs with what the new version renders, and restarts running
	services one node at a time, each healthy again before the next, while
	the load balancer keeps sending clients to the API servers that are up.
`)

func explainUpgrade(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(upgradeProse)
	section(&b, fmt.Sprintf("For cluster %q (Kubernetes %s)", c.Config.Name, c.Config.KubernetesVersion))
	cur, err := artifacts.ManifestFor(c.Config.KubernetesVersion)
	if err != nil {
		return "", err
	}
	var targets []string
	for _, v := range artifacts.SupportedVersions() {
		if v != c.Config.KubernetesVersion {
			targets = append(targets, v)
		}
	}
	rows := [][]string{{"COMPONENT", c.Config.KubernetesVersion}}
	for _, t := range targets {
		rows[0] = append(rows[0], t)
	}
	others := map[string]*artifacts.Manifest{}
	for _, t := range targets {
		if m, err := artifacts.ManifestFor(t); err == nil {
			others[t] = m
		}
	}
	for _, comp := range cur.Components {
		row := []string{comp.Name, comp.Version}
		for _, t := range targets {
			v := "-"
			if m := others[t]; m != nil {
				if oc, ok := m.Component(comp.Name); ok {
					v = oc.Version
				}
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	table(&b, rows)
	fmt.Fprintf(&b, "\nTry it (to a version from the table, if the policy allows):\n  hardway artifacts build --kubernetes-version VERSION\n  hardway upgrade VERSION --name %s\n", c.Config.Name)
	return b.String(), nil
}
