package cli

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestReadiness(t *testing.T) {
	now := time.Now()
	ready := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	cordoned := ready
	cordoned.Spec.Unschedulable = true
	notReady := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}
	tests := []struct {
		name    string
		node    corev1.Node
		renewed time.Time
		want    string
	}{
		{"fresh", ready, now.Add(-5 * time.Second), "Ready"},
		{"stale Ready after a stop", ready, now.Add(-90 * time.Second), "Ready, stale: kubelet silent for 90s"},
		{"not ready", notReady, now.Add(-time.Second), "NotReady"},
		{"cordoned", cordoned, now, "Ready,SchedulingDisabled"},
		{"no lease", ready, time.Time{}, "Ready (no lease yet)"},
	}
	for _, tt := range tests {
		if got := readiness(tt.node, tt.renewed, now); got != tt.want {
			t.Errorf("%s: readiness = %q, want %q", tt.name, got, tt.want)
		}
	}
}
