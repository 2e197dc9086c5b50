package kube

import (
	"testing"

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
		if got := contains(have, want); got != tt.same {
			t.Errorf("%s: contains = %v, want %v", tt.name, got, tt.same)
		}
	}
}
