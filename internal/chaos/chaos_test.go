package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
)

var threeNodes = []Target{
	{Node: "node-0", IP: "10.218.0.10", Container: "ch3-node-0", ControlPlane: true, Worker: true},
	{Node: "node-1", IP: "10.218.0.11", Container: "ch3-node-1", ControlPlane: true, Worker: true},
	{Node: "node-2", IP: "10.218.0.12", Container: "ch3-node-2", Worker: true},
}

// Every kind comes once in each round of len(kinds) faults, on a machine
// that runs what it hits; held faults get a hold in the bounds, every
// fault a gap in the bounds.
func TestPlanRoundsAndEligibility(t *testing.T) {
	p := &Plan{Kinds: Kinds(), Targets: threeNodes, HoldMin: 10 * time.Second, HoldMax: 30 * time.Second,
		GapMin: time.Second, GapMax: 8 * time.Second, Rand: rand.New(rand.NewPCG(1, 2))}
	for round := 0; round < 5; round++ {
		seen := map[Kind]int{}
		for i := 0; i < len(Kinds()); i++ {
			f, err := p.Next()
			if err != nil {
				t.Fatal(err)
			}
			seen[f.Kind]++
			if (f.Kind == KillEtcd || f.Kind == KillAPIServer) && !f.Target.ControlPlane {
				t.Errorf("%s on %s, which is no control plane", f.Kind, f.Target.Node)
			}
			if f.Kind.Held() != (f.Hold > 0) || f.Hold != 0 && (f.Hold < 10*time.Second || f.Hold >= 30*time.Second) {
				t.Errorf("%s: hold %s", f.Kind, f.Hold)
			}
			if f.Gap < time.Second || f.Gap >= 8*time.Second {
				t.Errorf("gap %s", f.Gap)
			}
		}
		for _, k := range Kinds() {
			if seen[k] != 1 {
				t.Errorf("round %d: %s came %d times", round, k, seen[k])
			}
		}
	}
	only := &Plan{Kinds: []Kind{KillEtcd}, Targets: []Target{{Node: "w", Worker: true}}, Rand: rand.New(rand.NewPCG(1, 2))}
	if _, err := only.Next(); err == nil || err.Error() != "no machine of the cluster can take fault kill-etcd" {
		t.Errorf("a kind no machine can take: %v", err)
	}
}

func TestParseKinds(t *testing.T) {
	if ks, err := ParseKinds(""); err != nil || !reflect.DeepEqual(ks, Kinds()) {
		t.Errorf("empty: %v %v", ks, err)
	}
	if ks, err := ParseKinds("pause, kill-etcd"); err != nil || !reflect.DeepEqual(ks, []Kind{Pause, KillEtcd}) {
		t.Errorf("two: %v %v", ks, err)
	}
	if _, err := ParseKinds("pause,freeze"); err == nil || !strings.Contains(err.Error(), `"freeze" is not a fault kind; choose from kill-etcd,`) {
		t.Errorf("unknown: %v", err)
	}
}

// The exact host commands of each fault: only the unit's main process is
// killed, the partition drops only the machine's network interface (and is
// lifted by deleting the same rules), the disk fill is bounded.
func TestFaultCommands(t *testing.T) {
	tg := threeNodes[2]
	join := func(cs [][]string) string {
		var s []string
		for _, c := range cs {
			s = append(s, strings.Join(c, " "))
		}
		return strings.Join(s, " && ")
	}
	tests := []struct {
		kind         Kind
		inject, lift string
	}{
		{KillEtcd, "docker exec ch3-node-2 systemctl kill --kill-whom=main --signal=SIGKILL etcd", ""},
		{KillAPIServer, "docker exec ch3-node-2 systemctl kill --kill-whom=main --signal=SIGKILL kube-apiserver", ""},
		{KillKubelet, "docker exec ch3-node-2 systemctl kill --kill-whom=main --signal=SIGKILL kubelet", ""},
		{KillContainerd, "docker exec ch3-node-2 systemctl kill --kill-whom=main --signal=SIGKILL containerd", ""},
		{Restart, "docker restart --time 30 ch3-node-2", ""},
		{Pause, "docker pause ch3-node-2", "docker unpause ch3-node-2"},
		{Partition,
			"docker exec ch3-node-2 iptables -w -I INPUT -i eth0 -m comment --comment hardway-chaos -j DROP && docker exec ch3-node-2 iptables -w -I OUTPUT -o eth0 -m comment --comment hardway-chaos -j DROP",
			"docker exec ch3-node-2 iptables -w -D INPUT -i eth0 -m comment --comment hardway-chaos -j DROP && docker exec ch3-node-2 iptables -w -D OUTPUT -o eth0 -m comment --comment hardway-chaos -j DROP"},
		{Disk, "docker exec ch3-node-2 fallocate -l 1G /var/lib/hardway-chaos-fill", "docker exec ch3-node-2 rm -f /var/lib/hardway-chaos-fill"},
	}
	for _, tt := range tests {
		in, lift := Fault{Kind: tt.kind, Target: tg}.Commands()
		if got := join(in); got != tt.inject {
			t.Errorf("%s inject:\n got %s\nwant %s", tt.kind, got, tt.inject)
		}
		if got := join(lift); got != tt.lift {
			t.Errorf("%s lift:\n got %s\nwant %s", tt.kind, got, tt.lift)
		}
	}
	if len(tests) != len(Kinds()) {
		t.Errorf("%d kinds tested, %d exist", len(tests), len(Kinds()))
	}
}

func TestStats(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	outs := []Outcome{
		{Fault: Fault{Kind: Pause}, API: s(2), Service: s(3), Units: s(3)},
		{Fault: Fault{Kind: Pause}, API: s(4), Service: s(1), Units: s(5)},
		{Fault: Fault{Kind: Pause}, API: s(1), Service: s(40), Units: s(2)},
		{Fault: Fault{Kind: KillKubelet}, API: 0, Service: 0, Units: s(6)},
		{Fault: Fault{Kind: Restart}, API: -1, Service: -1, Units: -1, Err: "not recovered"},
	}
	got := Stats(outs)
	want := []KindStats{
		{Kind: KillKubelet, Count: 1, APIMedian: 0, APIMax: 0, ServiceMedian: 0, SvcMax: 0, UnitsMedian: s(6), UnitsMax: s(6)},
		{Kind: Restart, Count: 1, APIMedian: -1, APIMax: -1, ServiceMedian: -1, SvcMax: -1, UnitsMedian: -1, UnitsMax: -1, Unrecovered: 1, Slow: true},
		{Kind: Pause, Count: 3, APIMedian: s(2), APIMax: s(4), ServiceMedian: s(3), SvcMax: s(40), UnitsMedian: s(3), UnitsMax: s(5), Slow: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
}

func TestCheckWrites(t *testing.T) {
	acked := map[string]string{"w-1": "1", "w-2": "2", "w-3": "3"}
	read := map[string]string{"w-1": "1", "w-3": "x", "w-4": "4", "w-9": "9"}
	lost, wrong, found := CheckWrites(acked, []string{"w-4", "w-5"}, read)
	if !reflect.DeepEqual(lost, []string{"w-2"}) || !reflect.DeepEqual(wrong, []string{"w-3"}) || found != 1 {
		t.Errorf("lost %v wrong %v unknown found %d", lost, wrong, found)
	}
}

// Real etcdctl 3.7 output, taken from a hardway cluster.
const statusJSON = `[{"Endpoint":"https://10.215.0.10:2379","Status":{"header":{"cluster_id":18211890251611217340,"member_id":2483912369411113776,"revision":2584,"raft_term":2},"version":"3.7.0","dbSize":4276224}},{"Endpoint":"https://10.215.0.11:2379","Status":{"header":{"cluster_id":18211890251611217340,"member_id":9417044851815787788,"revision":2590,"raft_term":2},"version":"3.7.0"}}]`

const hashJSON = `[{"Endpoint":"https://10.215.0.10:2379","HashKV":{"header":{"cluster_id":18211890251611217340,"member_id":2483912369411113776,"revision":2584,"raft_term":2},"hash":3839022584,"compact_revision":-1,"hash_revision":100}},{"Endpoint":"https://10.215.0.11:2379","HashKV":{"header":{"cluster_id":18211890251611217340,"member_id":9417044851815787788,"revision":2585,"raft_term":2},"hash":3839022584,"compact_revision":-1,"hash_revision":100}}]`

func TestEtcdOutputAndAgreement(t *testing.T) {
	revs, err := ParseStatusRevisions([]byte(statusJSON))
	if err != nil || !reflect.DeepEqual(revs, map[string]int64{"https://10.215.0.10:2379": 2584, "https://10.215.0.11:2379": 2590}) {
		t.Errorf("revisions %v %v", revs, err)
	}
	hs, err := ParseHashKV([]byte(hashJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := []MemberHash{{"https://10.215.0.10:2379", 3839022584, 100, -1}, {"https://10.215.0.11:2379", 3839022584, 100, -1}}
	if !reflect.DeepEqual(hs, want) {
		t.Errorf("hashes %+v", hs)
	}
	if err := Agree(hs, 2); err != nil {
		t.Errorf("agreeing members: %v", err)
	}
	if err := Agree(hs, 3); err == nil || err.Error() != "2 of 3 etcd members answered hashkv" {
		t.Errorf("a missing member: %v", err)
	}
	hs[1].Hash = 7
	if err := Agree(hs, 2); err == nil || !strings.Contains(err.Error(), "etcd members disagree: https://10.215.0.10:2379: hash 3839022584 at revision 100; https://10.215.0.11:2379: hash 7 at revision 100") {
		t.Errorf("disagreeing members: %v", err)
	}
	for _, bad := range []string{"", "Error: context deadline exceeded", "[]"} {
		if _, err := ParseHashKV([]byte(bad)); err == nil {
			t.Errorf("hashkv %q parsed", bad)
		}
		if _, err := ParseStatusRevisions([]byte(bad)); err == nil {
			t.Errorf("status %q parsed", bad)
		}
	}
}

func TestRefused(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	tests := []struct {
		err  error
		want bool
	}{
		{apierrors.NewForbidden(gr, "x", errors.New("no")), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewTimeoutError("etcd", 1), false},
		{apierrors.NewInternalError(errors.New("etcdserver: request timed out")), false},
		{apierrors.NewServiceUnavailable("down"), false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := Refused(tt.err); got != tt.want {
			t.Errorf("Refused(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// A whole soak against fakes: the writer's acknowledged writes that vanish
// are reported lost, the faults' commands run in order and every machine is
// cleaned up, members that disagree and a failing verify are problems.
func TestRunFindsLostWritesAndDisagreement(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	defer srv.Close()
	_, portS, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(portS)
	client := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "chaos-web", Namespace: Namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: int32(port)}}},
	})
	targets := []Target{
		{Node: "node-0", IP: "127.0.0.1", Container: "ch3-node-0", ControlPlane: true, Worker: true},
		{Node: "node-1", IP: "127.0.0.1", Container: "ch3-node-1", Worker: true},
	}
	const seed = 7
	var mu sync.Mutex
	var cmds []string
	lost := -1
	env := Env{
		Targets: targets,
		Client:  client,
		Host: func(ctx context.Context, argv []string) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			cmds = append(cmds, strings.Join(argv, " "))
			// The first fault "loses" what was written so far.
			if lost < 0 && argv[0] == "docker" && argv[1] != "inspect" {
				for ctx.Err() == nil {
					l, _ := client.CoreV1().ConfigMaps(WriteNamespace(seed)).List(ctx, metav1.ListOptions{})
					if len(l.Items) > 0 {
						for _, cm := range l.Items {
							_ = client.CoreV1().ConfigMaps(WriteNamespace(seed)).Delete(ctx, cm.Name, metav1.DeleteOptions{})
						}
						lost = len(l.Items)
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			return nil, nil
		},
		APIReady:  func(context.Context, Target) error { return nil },
		UnitsDown: func(context.Context, string) ([]string, error) { return nil, nil },
		Members:   2,
		Etcdctl: func(ctx context.Context, args ...string) ([]byte, error) {
			if args[1] == "status" {
				return []byte(statusJSON), nil
			}
			if args[2] != "--rev=2584" {
				return nil, fmt.Errorf("hashkv asked at %s, want the lowest member revision 2584", args[2])
			}
			return []byte(strings.Replace(hashJSON, `"hash":3839022584,"compact_revision":-1,"hash_revision":100}}]`, `"hash":1,"compact_revision":-1,"hash_revision":100}}]`, 1)), nil
		},
		Verify: func(context.Context) ([]string, error) {
			return []string{"  ✗ dns           5.0s\n      no answer for kubernetes.default"}, errors.New("1 of 9 checks failed: dns")
		},
		Log: func(string) {},
	}
	r, err := Run(context.Background(), env, Options{Duration: 10 * time.Second, MaxFaults: 3, Kinds: []Kind{Pause}, Seed: seed,
		HoldMin: time.Millisecond, HoldMax: 2 * time.Millisecond, GapMin: time.Millisecond, GapMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Faults) != 3 || r.Stats[0].Count != 3 || r.Stats[0].Kind != Pause {
		t.Errorf("faults %+v stats %+v", r.Faults, r.Stats)
	}
	if lost < 1 || len(r.Writes.Lost) != lost || r.Writes.Acknowledged <= lost {
		t.Errorf("%d writes deleted behind the writer's back; report: %d lost of %d acknowledged", lost, len(r.Writes.Lost), r.Writes.Acknowledged)
	}
	problems := strings.Join(r.Problems(), "\n")
	for _, want := range []string{fmt.Sprintf("%d acknowledged writes lost (first: w-0000000)", lost), "etcd members disagree", "verify: 1 of 9 checks failed: dns"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	var pauses, unpauses, cleanups int
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c, "docker pause "):
			pauses++
		case strings.HasPrefix(c, "docker unpause "):
			unpauses++
		case strings.Contains(c, "iptables -w -S"):
			cleanups++
		}
	}
	if pauses != 3 || unpauses != 3 || cleanups != len(targets) {
		t.Errorf("%d pauses, %d unpauses, %d machines cleaned up:\n%s", pauses, unpauses, cleanups, strings.Join(cmds, "\n"))
	}
	if r.ServicePolls == 0 || r.ServiceFailures != 0 {
		t.Errorf("service polls %d, failures %d", r.ServicePolls, r.ServiceFailures)
	}
	table := r.Table()
	if !strings.Contains(table, "| pause | 3 |") || !strings.Contains(table, fmt.Sprintf("%d lost", lost)) ||
		!strings.Contains(table, "verify: 1 of 9 checks failed: dns\n  ✗ dns           5.0s\n      no answer for kubernetes.default\n") {
		t.Errorf("table:\n%s", table)
	}
}

// A fault the machine does not heal from within the bound is named with
// what was still wrong.
func TestInjectNotRecovered(t *testing.T) {
	env := Env{
		Host:     func(context.Context, []string) ([]byte, error) { return nil, nil },
		APIReady: func(context.Context, Target) error { return nil },
		UnitsDown: func(context.Context, string) ([]string, error) {
			return []string{"kube-controller-manager inactive"}, nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	out := inject(context.Background(), env, Fault{Kind: KillEtcd, Target: threeNodes[0]}, map[string]string{"node-0": srv.URL}, 1200*time.Millisecond)
	if out.Units != -1 || out.API < 0 || out.Service < 0 || !strings.Contains(out.Err, "not active: kube-controller-manager inactive") {
		t.Errorf("outcome %+v", out)
	}
}

// A host command that keeps failing (docker pause: "unable to freeze")
// is tried three times; then the fault is not injected: nothing is
// measured, it is not counted and it is no finding about the cluster.
func TestNotInjected(t *testing.T) {
	tries := 0
	env := Env{Host: func(context.Context, []string) ([]byte, error) {
		tries++
		return nil, errors.New("docker pause ch3-node-1: OCI runtime pause failed: unable to freeze: unknown")
	}}
	out := inject(context.Background(), env, Fault{Kind: Pause, Target: threeNodes[1], Hold: time.Hour}, nil, time.Minute)
	if tries != 3 || out.NotInjected == "" || out.Err != "" {
		t.Fatalf("%d tries, outcome %+v", tries, out)
	}
	r := &Report{Faults: []Outcome{out}, Writes: Writes{Acknowledged: 1}}
	r.Stats = Stats(r.Faults)
	if len(r.Stats) != 0 || len(r.Problems()) != 0 {
		t.Errorf("stats %+v problems %v", r.Stats, r.Problems())
	}
	if !strings.Contains(r.Table(), "not injected (not counted): pause on node-1") || !strings.Contains(Line(out), "not injected") {
		t.Errorf("table:\n%s\nline: %s", r.Table(), Line(out))
	}
	// One failure, then success: injected.
	tries = 0
	env.Host = func(context.Context, []string) ([]byte, error) {
		tries++
		if tries == 1 {
			return nil, errors.New("unable to freeze")
		}
		return nil, nil
	}
	env.APIReady = func(context.Context, Target) error { return nil }
	env.UnitsDown = func(context.Context, string) ([]string, error) { return nil, nil }
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	out = inject(context.Background(), env, Fault{Kind: Pause, Target: threeNodes[1], Hold: time.Millisecond}, map[string]string{"node-1": srv.URL}, time.Minute)
	if out.NotInjected != "" || out.Err != "" || out.API < 0 {
		t.Errorf("outcome after one retry: %+v", out)
	}
}
