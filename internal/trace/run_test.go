package trace

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestWaitReady(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "launch-abcde", ResourceVersion: "1"}}
	cs := fake.NewClientset(pod)
	pods := cs.CoreV1().Pods(Namespace)
	done := make(chan struct{})
	defer close(done)
	go func() {
		// The kubelet's update, repeated: the watch may open after the
		// first one.
		p := pod.DeepCopy()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			}
		}
	}()
	before := time.Now()
	got, at, err := waitReady(context.Background(), pods, pod, 10*time.Second, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodRunning || at.Before(before) {
		t.Errorf("returned %s at %s, want the Ready pod after %s", got.Status.Phase, at, before)
	}
}

func TestNotReady(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "launch-abcde"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: `image "x:1" is not present`}}}}}}
	want := `pod hardway-trace/launch-abcde not Ready after 2m0s (ErrImageNeverPull: image "x:1" is not present); see: kubectl -n hardway-trace describe pod launch-abcde (is the image on every node? hardway shell NODE --name demo -- crictl images)`
	if got := notReady(p, 2*time.Minute, "demo").Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	p.Status = corev1.PodStatus{}
	if got := notReady(p, time.Minute, "demo").Error(); got != "pod hardway-trace/launch-abcde not Ready after 1m0s (not scheduled yet); see: kubectl -n hardway-trace describe pod launch-abcde (is the image on every node? hardway shell NODE --name demo -- crictl images)" {
		t.Errorf("got %s", got)
	}
}
