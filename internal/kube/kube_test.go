package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func TestContains(t *testing.T) {
	live := `apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
  resourceVersion: "123"
  labels: {a: "1", b: "2"}
data:
  Corefile: ".:53 {}"
spec:
  replicas: 2
  ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
status:
  readyReplicas: 2
`
	tests := []struct {
		name, want string
		same       bool
	}{
		{"subset of fields", "metadata: {name: coredns, labels: {a: \"1\"}}\ndata: {Corefile: \".:53 {}\"}", true},
		{"number from YAML against the server's", "spec: {replicas: 2}", true},
		{"changed value", "data: {Corefile: \".:53 { log }\"}", false},
		{"new label", "metadata: {labels: {c: \"3\"}}", false},
		{"list changed", "spec: {ports: [{port: 53, protocol: UDP}]}", false},
		{"list equal", "spec: {ports: [{port: 53}, {port: 53, protocol: TCP}]}", true},
		// Gateway API's CRD files end in an empty status: not a change.
		{"a manifest's status", "data: {Corefile: \".:53 {}\"}\nstatus: {acceptedNames: {kind: \"\"}, conditions: null}", true},
	}
	var have map[string]any
	if err := yaml.Unmarshal([]byte(live), &have); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		var want map[string]any
		if err := yaml.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatal(err)
		}
		if got := unchanged(have, want); got != tt.same {
			t.Errorf("%s: unchanged = %v, want %v", tt.name, got, tt.same)
		}
	}
}

func TestEvictable(t *testing.T) {
	ds := metav1.OwnerReference{Kind: "DaemonSet", Name: "x"}
	rs := metav1.OwnerReference{Kind: "ReplicaSet", Name: "x"}
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"ReplicaSet pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{rs}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"DaemonSet pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ds}}}, false},
		{"mirror pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "h"}}}, false},
		{"finished pod", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"bare pod", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, true},
	}
	for _, tt := range tests {
		if got := evictable(tt.pod); got != tt.want {
			t.Errorf("%s: evictable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
