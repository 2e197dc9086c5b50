package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodTrouble says why the pods matching selector in ns are not running
// ready, one clause a pod: its phase or container waiting reason, and the
// newest Warning event about it (where the kubelet and containerd say what
// failed, e.g. FailedCreatePodSandBox). "" when every pod is ready or the
// pods cannot be listed: it only adds detail to a wait's own message.
func PodTrouble(ctx context.Context, cs kubernetes.Interface, ns, selector string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		if PodReady(p) {
			continue
		}
		state := string(p.Status.Phase)
		for _, s := range p.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && w.Reason != "" {
				state = w.Reason
			}
		}
		clause := "pod " + p.Name + " " + state
		if ev := newestWarning(ctx, cs, ns, p.Name); ev != "" {
			clause += " (" + ev + ")"
		}
		out = append(out, clause)
	}
	return strings.Join(out, "; ")
}

// PodReady: the pod's Ready condition is True.
func PodReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// newestWarning is the reason and message of the newest Warning event
// about pod name, shortened to one line.
func newestWarning(ctx context.Context, cs kubernetes.Interface, ns, name string) string {
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + name + ",type=Warning"})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	sort.Slice(evs.Items, func(i, j int) bool { return eventTime(evs.Items[i]).Before(eventTime(evs.Items[j])) })
	e := evs.Items[len(evs.Items)-1]
	msg := strings.Join(strings.Fields(e.Message), " ")
	if len(msg) > 240 {
		msg = msg[:240] + "…"
	}
	return fmt.Sprintf("%s: %s", e.Reason, msg)
}

func eventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.EventTime.Time
}
