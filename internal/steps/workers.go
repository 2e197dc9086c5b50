package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/timing"
)

func workersStep() Step {
	return Step{
		Name:    "workers",
		Title:   "Workers: containerd, runc, CNI, kubelet and kube-proxy on every node",
		Explain: explainWorkers,
		Run:     runWorkers,
	}
}

func runWorkers(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	workers := c.Config.Workers()
	// containerd first, then the pod images into it, then kubelet and
	// kube-proxy. The kernel settings pods need are applied by containerd's
	// unit (ExecStartPre) whenever it starts.
	runtime, err := c.nodeTargets(workers, nil, runtimeUnits(c.Config)...)
	if err != nil {
		return nil, err
	}
	changes, err := c.rollout(ctx, runtime)
	if err != nil {
		return changes, err
	}
	var mu sync.Mutex
	err = c.forEachNode(ctx, workers, func(ctx context.Context, n config.Node) error {
		imported, err := c.importImages(ctx, n)
		mu.Lock()
		changes = append(changes, imported...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return changes, err
	}
	// A machine made anew for a lost one: its old pods and Node go before
	// its kubelet starts (lostnode.go).
	forgot, err := c.forgetLostMachines(ctx, workers)
	changes = append(changes, forgot...)
	if err != nil {
		return changes, err
	}
	// A running kubelet restarts one node at a time, each Ready again
	// before the next, so the pods of a Deployment keep a home.
	agents, err := c.nodeTargets(workers, func(ctx context.Context, n config.Node, since time.Time) error {
		return c.waitKubeletBack(ctx, n, since, 3*time.Minute)
	}, agentUnits()...)
	if err != nil {
		return changes, err
	}
	for i := range agents {
		agents[i].before = c.drainForNewKubelet(agents[i].node)
	}
	more, err := c.rollout(ctx, agents)
	changes = append(changes, more...)
	if err != nil || c.DryRun {
		return changes, err
	}
	if err := c.waitNodesReady(ctx, workers, 3*time.Minute); err != nil {
		return changes, err
	}
	labeled, err := c.labelRoles(ctx)
	return append(changes, labeled...), err
}

// drainForNewKubelet drains a node before its kubelet binary is replaced
// (a Kubernetes upgrade): the version-skew policy's order, and pods leave
// the node under their disruption budgets instead of meeting a kubelet
// restart. The node is uncordoned once its new kubelet is back.
func (c *Cluster) drainForNewKubelet(node string) func(ctx context.Context, p *converge.Plan) (func(ctx context.Context) error, error) {
	return func(ctx context.Context, p *converge.Plan) (func(ctx context.Context) error, error) {
		kubelet := path.Join(render.BinDir, "kubelet")
		upgrading := false
		for _, ch := range p.Changes() {
			if ch.Action == converge.Installed && ch.Target == kubelet && ch.Reason != "missing" {
				upgrading = true
			}
		}
		if !upgrading {
			return nil, nil
		}
		admin, err := c.Admin()
		if err != nil {
			return nil, err
		}
		c.Log.Logf(0, "    draining %s before its kubelet is replaced", node)
		if err := admin.Drain(ctx, node, 3*time.Minute); err != nil {
			return nil, fmt.Errorf("%w\n  the node stays cordoned; uncordon it by hand if you stop here: kubectl uncordon %s", err, node)
		}
		return func(ctx context.Context) error {
			c.Log.Logf(0, "    %s uncordoned", node)
			return admin.Cordon(ctx, node, false)
		}, nil
	}
}

// RoleLabel marks control-plane nodes, so `kubectl get nodes` shows ROLES as
// kubeadm and kind users expect. A kubelet may not set node-role labels on
// itself (NodeRestriction), so hardway applies them with the admin identity.
const RoleLabel = "node-role.kubernetes.io/control-plane"

// nodeLabelsManifest is a partial Node for server-side apply: hardway owns
// only this label.
const nodeLabelsManifest = `apiVersion: v1
kind: Node
metadata:
  name: %q
  labels:
    %s: ""
`

func (c *Cluster) labelRoles(ctx context.Context) ([]converge.Change, error) {
	admin, err := c.Admin()
	if err != nil {
		return nil, err
	}
	var changes []converge.Change
	for _, n := range c.Config.ControlPlanes() {
		if !n.IsWorker() {
			continue // registers no Node
		}
		applied, err := admin.Apply(ctx, []byte(fmt.Sprintf(nodeLabelsManifest, n.Name, RoleLabel)), c.DryRun)
		if err != nil {
			return changes, fmt.Errorf("labeling node %s: %w", n.Name, err)
		}
		for _, a := range applied {
			changes = append(changes, converge.Change{Action: converge.Wrote, Target: a + " label " + RoleLabel, Reason: "control-plane node"})
		}
	}
	return changes, nil
}

// imageMarkerDir holds one empty file per imported image archive, named by
// its digest: a re-run skips archives already imported and imports rebuilt
// ones.
const imageMarkerDir = "/var/lib/hardway/images"

// importScript imports the pod image archives into containerd's k8s.io
// namespace (the one the CRI uses). Arguments come in triples: the archive
// path on the node, its digest and its image reference; "check" as $1 only
// reports which would be imported.
const importScript = `set -e
mode=$1; shift
mkdir -p ` + imageMarkerDir + `
while [ $# -ge 3 ]; do
  if [ ! -e "` + imageMarkerDir + `/$2" ]; then
    if [ "$mode" = import ]; then
      ctr -n k8s.io images import "$1" >/dev/null
      touch "` + imageMarkerDir + `/$2"
    fi
    echo "$3"
  fi
  shift 3
done`

// importStreamScript imports one image archive from stdin into containerd's
// k8s.io namespace and marks it imported; $1 is its digest, $2 its reference.
const importStreamScript = `set -e
mkdir -p ` + imageMarkerDir + `
ctr -n k8s.io images import - >/dev/null
touch "` + imageMarkerDir + `/$1"
echo "$2"`

// importImages loads the locally built pod images into containerd.
func (c *Cluster) importImages(ctx context.Context, n config.Node) ([]converge.Change, error) {
	if c.Artifacts == nil {
		return nil, c.artifactsMissing()
	}
	nd, err := c.Node(ctx, n.Name)
	if err != nil && c.DryRun {
		// The machine would be made by the nodes step (a node added to
		// the config): every image is new to it.
		var changes []converge.Change
		for _, img := range c.Artifacts.Images {
			changes = append(changes, converge.Change{Node: n.Name, Action: converge.Imported, Target: "image " + img.Ref, Reason: "new machine"})
		}
		return changes, nil
	}
	if err != nil {
		return nil, err
	}
	if _, mounted := nd.(node.ArtifactMount); !mounted {
		return c.streamImages(ctx, n, nd)
	}
	mode := "import"
	if c.DryRun {
		mode = "check"
	}
	args := []string{"sh", "-c", importScript, "import", mode}
	for _, img := range c.Artifacts.Images {
		args = append(args, artifacts.NodePath(img.Rel), img.SHA256, img.Ref)
	}
	start := time.Now()
	out, err := nd.Run(ctx, nil, args...)
	c.Timings.Since(ctx, timing.Command, n.Name, "import images", start)
	if err != nil {
		return nil, fmt.Errorf("importing pod images: %w", err)
	}
	var changes []converge.Change
	for _, ref := range strings.Fields(string(out)) {
		ch := converge.Change{Node: n.Name, Action: converge.Imported, Target: "image " + ref}
		c.Log.Logf(1, "  %s", ch)
		changes = append(changes, ch)
	}
	return changes, nil
}

// streamImages imports the archives a node without the artifact mount
// lacks, each sent once over its connection: the same script lists what is
// missing ("check"), then each missing archive is streamed into ctr.
func (c *Cluster) streamImages(ctx context.Context, n config.Node, nd node.Node) ([]converge.Change, error) {
	args := []string{"sh", "-c", importScript, "import", "check"}
	for _, img := range c.Artifacts.Images {
		args = append(args, "-", img.SHA256, img.Ref)
	}
	out, err := nd.Run(ctx, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("listing the pod images to import: %w", err)
	}
	var changes []converge.Change
	for _, ref := range strings.Fields(string(out)) {
		ch := converge.Change{Node: n.Name, Action: converge.Imported, Target: "image " + ref}
		changes = append(changes, ch)
		if c.DryRun {
			continue
		}
		for _, img := range c.Artifacts.Images {
			if img.Ref != ref {
				continue
			}
			f, err := os.Open(c.Artifacts.HostPath(img.Rel))
			if err != nil {
				return changes, fmt.Errorf("reading pod image %s: %w (rebuild it: hardway artifacts build)", ref, err)
			}
			_, err = nd.Run(ctx, f, "sh", "-c", importStreamScript, "import", img.SHA256, img.Ref)
			f.Close()
			if err != nil {
				return changes, fmt.Errorf("importing pod image %s: %w", ref, err)
			}
		}
		c.Log.Logf(1, "  %s", ch)
	}
	return changes, nil
}

// waitKubeletBack waits until node n's kubelet, restarted at since, has
// renewed its Lease (kube-node-lease) and the Node is Ready: a Ready
// condition alone is stale for 40 s after kubelet stops.
func (c *Cluster) waitKubeletBack(ctx context.Context, n config.Node, since time.Time, timeout time.Duration) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	leases := admin.Clientset.CoordinationV1().Leases("kube-node-lease")
	err = c.until(ctx, "kubelet on "+n.Name+" to renew its lease", 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		l, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if r := l.Spec.RenewTime; r != nil && r.After(since) {
			return true, nil
		}
		return false, fmt.Errorf("lease last renewed %v", l.Spec.RenewTime)
	})
	if err != nil {
		return fmt.Errorf("%w (see: hardway logs %s kubelet --name %s)", err, n.Name, c.Config.Name)
	}
	if err := c.waitNodesReady(ctx, []config.Node{n}, timeout); err != nil {
		return err
	}
	// A kubelet that just started answers exec and logs for a pod only once
	// it has taken the pod over again: wait until it knows every pod the
	// API server has bound to its node.
	pods := admin.Clientset.CoreV1()
	return c.until(ctx, "kubelet on "+n.Name+" to take its pods over", 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		bound, err := pods.Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
		if err != nil {
			return false, err
		}
		raw, err := pods.RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "pods").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		var known corev1.PodList
		if err := json.Unmarshal(raw, &known); err != nil {
			return false, fmt.Errorf("reading the kubelet's pod list: %w", err)
		}
		have := map[string]bool{}
		for _, p := range known.Items {
			have[string(p.UID)] = true
		}
		var missing []string
		for _, p := range bound.Items {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && !have[string(p.UID)] {
				missing = append(missing, p.Namespace+"/"+p.Name)
			}
		}
		if len(missing) > 0 {
			return false, fmt.Errorf("it does not know %s yet", strings.Join(missing, ", "))
		}
		return true, nil
	})
}

// waitNodesReady waits until every node of want is a Ready Node in the API.
func (c *Cluster) waitNodesReady(ctx context.Context, want []config.Node, timeout time.Duration) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	return c.until(ctx, fmt.Sprintf("%d Ready nodes", len(want)), time.Second, timeout, func(ctx context.Context) (bool, error) {
		list, err := admin.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]string{}
		for _, n := range list.Items {
			ready[n.Name] = "NotReady"
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					if cond.Status == corev1.ConditionTrue {
						ready[n.Name] = "Ready"
					} else {
						ready[n.Name] = "NotReady: " + cond.Message
					}
				}
			}
		}
		var missing []string
		for _, n := range want {
			st, ok := ready[n.Name]
			if !ok {
				st = "not registered"
			}
			if st != "Ready" {
				missing = append(missing, n.Name+" "+st)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			return false, fmt.Errorf("%s (see: hardway logs NODE kubelet --name %s)", strings.Join(missing, "; "), c.Config.Name)
		}
		return true, nil
	})
}

func explainWorkers(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(workersProse)
	section(&b, "Workers and their pod networks")
	rows := [][]string{{"NODE", "IP", "POD CIDR"}}
	for _, n := range c.Config.Workers() {
		rows = append(rows, []string{n.Name, n.IP, n.PodCIDR})
	}
	table(&b, rows)
	fmt.Fprintf(&b, "\n  Host facts used: cgroup v1=%v (kubelet failCgroupV1: false only then), no CAP_SYS_RESOURCE=%v (containerd restrict_oom_score_adj).\n", c.Facts.CgroupV1, c.Facts.NoSysResource)
	first := c.Config.Workers()[0]
	for _, u := range []string{render.UnitContainerd, render.UnitKubelet, render.UnitKubeProxy} {
		if err := c.explainUnit(&b, first, u); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
