package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodTrouble(t *testing.T) {
	labels := map[string]string{"k8s-app": "kube-dns"}
	ready := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "kube-system", Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	stuck := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: "kube-system", Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}}
	now := time.Now()
	ev := func(name, reason string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}, Type: "Warning", Reason: reason,
			Message: reason + " happened", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "stuck"}, LastTimestamp: metav1.NewTime(at)}
	}
	cs := fake.NewClientset(&ready, &stuck, ev("e1", "Old", now.Add(-time.Minute)), ev("e2", "FailedCreatePodSandBox", now))
	// The fake client ignores field selectors: every event here is about
	// "stuck", so the newest one must be picked.
	got := PodTrouble(context.Background(), cs, "kube-system", "k8s-app=kube-dns")
	want := "pod stuck ContainerCreating (FailedCreatePodSandBox: FailedCreatePodSandBox happened)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := PodTrouble(context.Background(), fake.NewClientset(&ready), "kube-system", "k8s-app=kube-dns"); got != "" {
		t.Errorf("all ready: %q", got)
	}
}
