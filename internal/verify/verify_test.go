package verify

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// TestRunSome: the named checks run with the checks they depend on, in the
// order Checks lists them; an unknown name is refused before anything runs.
func TestRunSome(t *testing.T) {
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"encryption"}, []string{"encryption"}},
		{[]string{"pod-to-pod"}, []string{"deployment", "pod-to-pod"}},
		{[]string{"dns"}, []string{"deployment", "service", "dns"}},
		{[]string{"nodeport", "dns"}, []string{"deployment", "service", "dns", "nodeport"}},
		{[]string{"exec", "logs", "port-forward"}, []string{"deployment", "logs", "exec", "port-forward"}},
	}
	for _, tt := range tests {
		t.Run(tt.want[len(tt.want)-1], func(t *testing.T) {
			// A cancelled context makes every check fail at once: only the
			// order and the selection are under test here.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			env := Env{Client: fake.NewClientset(), Workers: 1, EtcdGet: func(context.Context, string) ([]byte, error) { return nil, context.Canceled }}
			var got []string
			res, err := RunSome(ctx, env, tt.names, time.Second, func(r Result) { got = append(got, r.Name) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) || len(res) != len(tt.want) {
				t.Errorf("ran %v, want %v", got, tt.want)
			}
		})
	}
	_, err := RunSome(context.Background(), Env{}, []string{"dns", "ping"}, time.Second, func(Result) { t.Error("a check ran") })
	want := `no smoke test "ping"; the smoke tests are: deployment, pod-to-pod, service, dns, logs, exec, port-forward, nodeport, encryption`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestRunSkipsDependents: when the Deployment cannot be made, every check
// that uses its pods is skipped and says why, without running (each would
// otherwise wait out its timeout); encryption, which needs no pods, runs.
func TestRunSkipsDependents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	env := Env{Client: fake.NewClientset(), Workers: 1, EtcdGet: func(context.Context, string) ([]byte, error) {
		ran = true
		return nil, context.Canceled
	}}
	res := Run(ctx, env, func(Result) {})
	if len(res) != len(Checks()) {
		t.Fatalf("%d results, want %d", len(res), len(Checks()))
	}
	for _, r := range res {
		switch r.Name {
		case "deployment", "encryption":
			if r.Err == nil || strings.HasPrefix(r.Err.Error(), "skipped") {
				t.Errorf("%s: err %v, want it to have run and failed", r.Name, r.Err)
			}
		default:
			if r.Err == nil || r.Err.Error() != "skipped: the test Deployment did not come up" {
				t.Errorf("%s: err %v, want skipped for the Deployment", r.Name, r.Err)
			}
		}
	}
	if !ran {
		t.Error("encryption did not ask etcd")
	}
}
