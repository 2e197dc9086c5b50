package steps

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/logx"
)

// The machines that have never run a kubelet are told apart by their state.
func TestNewKubelets(t *testing.T) {
	f := &fakeMachines{names: []string{"node-0", "node-1", "node-2", "lb"}, kubeletRan: map[string]bool{"node-0": true, "node-2": true}}
	c := &Cluster{Config: config.Default(), Provider: f, Log: logx.Discard{}}
	got, err := c.newKubelets(context.Background(), c.Config.Workers())
	if err != nil || !slices.Equal(got, []string{"node-1"}) {
		t.Errorf("newKubelets = %v, %v; want [node-1]", got, err)
	}
	// A dry run changes nothing and asks nothing.
	c.DryRun = true
	if ch, err := c.forgetLostMachines(context.Background(), c.Config.Workers()); err != nil || ch != nil {
		t.Errorf("dry run: %v %v", ch, err)
	}
}

// The API as a lost machine left it: node-1's pods still Running. After
// forgetNode only the other nodes' pods are left (the bug it prevents: verify exec'd into a pod the old kubelet last
// reported Running and got "container not found").
func TestForgetNode(t *testing.T) {
	pod := func(ns, name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	node := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	cs := fake.NewClientset(node("node-0"), node("node-1"),
		pod("hardway-verify", "hello-a", "node-0"), pod("hardway-verify", "hello-b", "node-1"), pod("kube-system", "coredns-x", "node-1"))
	ctx := context.Background()
	ch, err := forgetNode(ctx, cs, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if ch == nil || ch.Node != "node-1" || ch.Action != converge.Removed || ch.Target != "2 pods of the lost machine" {
		t.Errorf("change %+v", ch)
	}
	pods, _ := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	if !slices.Equal(left, []string{"hello-a"}) {
		t.Errorf("pods left %v, want [hello-a]", left)
	}
	// The Node stays: the scheduler keeps counting it for the pods'
	// spread, so the new ones wait for it instead of crowding the others.
	if _, err := cs.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{}); err != nil {
		t.Errorf("Node node-1 was deleted: %v", err)
	}
	// Nothing left to forget: no change.
	if ch, err := forgetNode(ctx, cs, "node-1"); ch != nil || err != nil {
		t.Errorf("second time: %v %v", ch, err)
	}
	// A node the API does not know (a new cluster): nothing to forget.
	if ch, err := forgetNode(ctx, cs, "node-7"); ch != nil || err != nil {
		t.Errorf("unknown node: %v %v", ch, err)
	}
}
