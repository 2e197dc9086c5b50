package steps

import (
	"context"
	"fmt"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/render"
)

// A worker machine that was lost (its container and disk gone) and made
// anew by the nodes step gets a kubelet that knows nothing of the pods the
// old one ran. The API still shows those pods as the old kubelet last
// reported them, Running, until the new kubelet reconciles them: in that
// window a client (verify's exec, kubectl logs) reaches a kubelet that has
// no such container ("container not found"). The pods died with the
// machine, so before the new kubelet starts, hardway deletes them (force:
// no kubelet will ever confirm); their controllers make new ones, which
// show Pending until a kubelet runs them. The Node object stays: deleting
// it too was tried, and the new pods then spread over the nodes that were
// left (the verify Deployment's one-pod-per-node spread then never came
// back); with the Node kept, the scheduler still counts that node, so a pod
// that belongs there waits for it or is bound to it. A new machine is
// recognised by its state, like a lost etcd member: the kubelet makes
// kubeletPodsDir when it first starts, so a worker without it has never run
// a kubelet, and if the API knows a Node of that name, that Node was
// another machine's.

// kubeletPodsDir is made by the kubelet at its first start (its pods'
// volumes and state), never by hardway.
var kubeletPodsDir = path.Join(render.KubeletDir, "pods")

// newKubelets returns the workers whose machine has never run a kubelet.
func (c *Cluster) newKubelets(ctx context.Context, workers []config.Node) ([]string, error) {
	fresh := make([]bool, len(workers))
	err := parallel(len(workers), func(i int) error {
		n, err := c.Node(ctx, workers[i].Name)
		if err != nil {
			return err
		}
		out, err := n.Run(ctx, nil, "sh", "-c", `if test -d "$1"; then echo ran; else echo new; fi`, "probe", kubeletPodsDir)
		if err != nil {
			return fmt.Errorf("%s: asking whether a kubelet ran there: %w", workers[i].Name, err)
		}
		fresh[i] = strings.TrimSpace(string(out)) == "new"
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for i, w := range workers {
		if fresh[i] {
			out = append(out, w.Name)
		}
	}
	return out, nil
}

// forgetLostMachines deletes, for every worker that has never run a
// kubelet but whose Node the API has (on a new cluster it has none), the
// pods bound to it. It changes nothing in a dry run.
func (c *Cluster) forgetLostMachines(ctx context.Context, workers []config.Node) ([]converge.Change, error) {
	if c.DryRun {
		return nil, nil
	}
	fresh, err := c.newKubelets(ctx, workers)
	if err != nil || len(fresh) == 0 {
		return nil, err
	}
	admin, err := c.Admin()
	if err != nil {
		return nil, err
	}
	var changes []converge.Change
	for _, name := range fresh {
		ch, err := forgetNode(ctx, admin.Clientset, name)
		if err != nil {
			return changes, fmt.Errorf("%s: forgetting the lost machine's pods: %w", name, err)
		}
		if ch != nil {
			c.Log.Logf(1, "  %s", *ch)
			changes = append(changes, *ch)
		}
	}
	return changes, nil
}

// forgetNode deletes every pod bound to Node name; nil when the API has no
// such Node (a new node, nothing to forget) or no pod is bound to it.
func forgetNode(ctx context.Context, cs kubernetes.Interface, name string) (*converge.Change, error) {
	if _, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", name).String()})
	if err != nil {
		return nil, err
	}
	zero := int64(0)
	deleted := 0
	for _, p := range pods.Items {
		// The selector is the server's job; checking again costs nothing
		// and keeps every other node's pods safe from one that ignores it.
		if p.Spec.NodeName != name {
			continue
		}
		deleted++
		err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	if deleted == 0 {
		return nil, nil
	}
	return &converge.Change{Node: name, Action: converge.Removed, Target: fmt.Sprintf("%d pods of the lost machine", deleted),
		Reason: "they died with it, yet the API still showed them as the old kubelet left them"}, nil
}
