package timing

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	r := &Recorder{}
	ctx := WithStep(context.Background(), "etcd")
	base := time.Now().Add(-time.Minute)
	r.entries = []Entry{
		{Step: "etcd", Node: "node-0", Kind: Plan, What: "etcd", Start: base, Duration: 80 * time.Millisecond},
		{Step: "etcd", Node: "node-1", Kind: Plan, What: "etcd", Start: base.Add(time.Millisecond), Duration: 120 * time.Millisecond},
		{Step: "etcd", Node: "node-0", Kind: Plan, What: "etcd again", Start: base.Add(2 * time.Millisecond), Duration: 20 * time.Millisecond},
		{Step: "etcd", Kind: Wait, What: "3 healthy etcd members", Start: base.Add(3 * time.Millisecond), Duration: 900 * time.Millisecond},
		{Step: "dns", Kind: API, What: "GET /apis/apps/v1/namespaces/kube-system/deployments/coredns", Start: base.Add(4 * time.Millisecond), Duration: 5 * time.Millisecond},
	}
	r.Since(ctx, Command, "node-2", "import images", time.Now().Add(-300*time.Millisecond))
	var b bytes.Buffer
	r.Report(&b, 2)
	out := b.String()
	for _, want := range []string{
		"etcd  node-0  plan     2      100ms",
		"etcd  node-1  plan     1      120ms",
		"etcd  node-2  command  1      3",
		"etcd  -       wait     1      900ms  3 healthy etcd members (900ms)",
		"dns   -       api      1      5ms",
		"slowest:\n     900ms  etcd          -       wait    3 healthy etcd members",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "dns ") < strings.Index(out, "etcd ") {
		t.Errorf("steps not in the order they ran:\n%s", out)
	}
	var nilRecorder *Recorder
	nilRecorder.Since(ctx, Plan, "x", "y", time.Now()) // must not panic
	if nilRecorder.Entries() != nil {
		t.Error("a nil recorder recorded")
	}
}
