package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
			env := Env{Client: fake.NewClientset(), Workers: 1, LoadBalancer: true, NetworkPolicy: true, GitOps: &GitOps{Namespace: "argocd", Application: "hello"}, Gateway: &GatewayEnv{Namespace: "traefik", Name: "hardway", Domain: "x.hardway.test"}, EtcdGet: func(context.Context, string) ([]byte, error) { return nil, context.Canceled }}
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
	want := `no smoke test "ping"; the smoke tests are: components, deployment, rollout, pod-to-pod, service, dns, logs, exec, port-forward, nodeport, encryption, loadbalancer, networkpolicy, gateway, gitops`
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
	env := Env{Client: fake.NewClientset(), Workers: 1, LoadBalancer: true, NetworkPolicy: true, GitOps: &GitOps{Namespace: "argocd", Application: "hello"}, Gateway: &GatewayEnv{Namespace: "traefik", Name: "hardway", Domain: "x.hardway.test"}, EtcdGet: func(context.Context, string) ([]byte, error) {
		ran = true
		return nil, context.Canceled
	}}
	res := Run(ctx, env, func(Result) {})
	if len(res) != len(Checks()) {
		t.Fatalf("%d results, want %d", len(res), len(Checks()))
	}
	for _, r := range res {
		switch r.Name {
		case "components", "deployment", "encryption", "rollout":
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

// TestTestPods: the Deployment asks for one pod per worker, and for two on
// a single worker, so that pod-to-pod always has another pod to reach.
func TestTestPods(t *testing.T) {
	for _, tt := range []struct{ workers, want int32 }{{1, 2}, {2, 2}, {3, 3}, {5, 5}} {
		cs := fake.NewClientset()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		// The fake API makes no pods: the check times out after creating it.
		err := checkDeployment(ctx, &session{env: Env{Client: cs, Workers: int(tt.workers)}})
		cancel()
		if err == nil {
			t.Fatalf("%d workers: the check passed without pods", tt.workers)
		}
		d, err := cs.AppsV1().Deployments(Namespace).Get(context.Background(), "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != tt.want {
			t.Errorf("%d workers: %d replicas, want %d", tt.workers, *d.Spec.Replicas, tt.want)
		}
	}
}

func pod(name, node, ip string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{PodIP: ip}}
}

// TestPodPairs: every pod fetches from another pod, never from itself: on
// the next node, or on a single node from its other pod.
func TestPodPairs(t *testing.T) {
	tests := []struct {
		name string
		pods []corev1.Pod
		want []string
	}{
		{"one node, two pods", []corev1.Pod{pod("b", "solo", "10.200.0.3"), pod("a", "solo", "10.200.0.2")},
			[]string{"a@solo → b@solo", "b@solo → a@solo"}},
		{"three nodes", []corev1.Pod{pod("x", "node-2", "10.200.2.2"), pod("y", "node-0", "10.200.0.2"), pod("z", "node-1", "10.200.1.2")},
			[]string{"y@node-0 → z@node-1", "z@node-1 → x@node-2", "x@node-2 → y@node-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range podPairs(tt.pods) {
				got = append(got, p[0].Name+"@"+p[0].Spec.NodeName+" → "+p[1].Name+"@"+p[1].Spec.NodeName)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestResultText: how verify, the verify step and lab check show a result.
func TestResultText(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Name: "pod-to-pod", Elapsed: 1234 * time.Millisecond, Detail: []string{"from pod a on solo to pod b on solo at 10.200.0.3:8080", "from pod b on solo to pod a on solo at 10.200.0.2:8080"}},
			"  ✓ pod-to-pod      1.2s\n      from pod a on solo to pod b on solo at 10.200.0.3:8080\n      from pod b on solo to pod a on solo at 10.200.0.2:8080"},
		{Result{Name: "dns", Elapsed: 3 * time.Second, Err: errors.New("nslookup failed\nsecond line")},
			"  ✗ dns             3.0s\n      nslookup failed\n      second line"},
		{Result{Name: "exec", Elapsed: 100 * time.Millisecond}, "  ✓ exec            0.1s"},
	}
	for _, tt := range tests {
		if got := tt.r.Text("  "); got != tt.want {
			t.Errorf("got\n%s\nwant\n%s", got, tt.want)
		}
	}
}

// TestRolloutNamesTheStage: with no controller manager (the fake API runs
// no controllers), the rollout check fails naming the Deployment
// controller, and leaves no Deployment behind.
func TestRolloutNamesTheStage(t *testing.T) {
	cs := fake.NewClientset()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := checkRollout(ctx, &session{env: Env{Client: cs, Workers: 1}})
	if err == nil || !strings.Contains(err.Error(), "the Deployment has no ReplicaSet: the Deployment controller (kube-controller-manager) has not acted") {
		t.Fatalf("err %v", err)
	}
	deps, _ := cs.AppsV1().Deployments(Namespace).List(context.Background(), metav1.ListOptions{})
	if len(deps.Items) != 0 {
		t.Errorf("left %d Deployments behind", len(deps.Items))
	}
}

// TestLoadBalancerCheckOnlyWithMetalLB: the loadbalancer check runs only
// when the cluster has MetalLB; the others do not depend on it.
func TestLoadBalancerCheckOnlyWithMetalLB(t *testing.T) {
	for _, on := range []bool{false, true} {
		var names []string
		for _, c := range applying(Checks(), Env{LoadBalancer: on}) {
			names = append(names, c.Name)
		}
		if got := slices.Contains(names, "loadbalancer"); got != on {
			t.Errorf("LoadBalancer %v: checks %v", on, names)
		}
		if len(names) < 9 {
			t.Errorf("LoadBalancer %v: only %v", on, names)
		}
	}
}

func TestAgainOnEOF(t *testing.T) {
	for _, tt := range []struct {
		name      string
		errs      []error // what each call returns, in turn
		wantCalls int
		wantErr   error
	}{
		{"first try", []error{nil}, 1, nil},
		{"EOF once, then fine", []error{fmt.Errorf("%w: ", io.EOF), nil}, 2, nil},
		{"EOF every time", []error{io.EOF, io.ErrUnexpectedEOF, io.EOF, io.EOF}, 3, io.EOF},
		{"another error is not retried", []error{errors.New("container not found")}, 1, errors.New("container not found")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			_, err := againOnEOF(3, func() (string, error) {
				calls++
				return "node-0", tt.errs[calls-1]
			})
			if calls != tt.wantCalls || (err == nil) != (tt.wantErr == nil) || (err != nil && err.Error() != tt.wantErr.Error()) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
