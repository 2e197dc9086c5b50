package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/wait"
)

// Namespace holds the soak's Service and its pods; each run writes into a
// namespace of its own (WriteNamespace), deleted at the end.
const Namespace = "hardway-chaos"

// WriteNamespace is where run seed writes its objects.
func WriteNamespace(seed uint64) string { return fmt.Sprintf("%s-w%d", Namespace, seed) }

// Env is what a soak needs from the cluster and this host.
type Env struct {
	Targets []Target
	// Host runs a command on this host (docker ...).
	Host func(ctx context.Context, argv []string) ([]byte, error)
	// Client talks to the API through the load balancer (the writer's and
	// the checks' client; no client-side rate limit).
	Client kubernetes.Interface
	// APIReady is nil when the API answers through the load balancer and,
	// on a control plane, on t's own API server.
	APIReady func(ctx context.Context, t Target) error
	// UnitsDown lists the expected units that are not active on node.
	UnitsDown func(ctx context.Context, node string) ([]string, error)
	// Etcdctl runs etcdctl (endpoints, TLS flags given) with args on a
	// control plane that answers.
	Etcdctl func(ctx context.Context, args ...string) ([]byte, error)
	// Members is how many etcd members there are.
	Members int
	// Verify runs the smoke tests; failed is each failed check as verify
	// prints it, err says how many failed.
	Verify func(ctx context.Context) (failed []string, err error)
	// Progress is told each fault as it ends; Log gets other lines.
	Progress func(Outcome)
	Log      func(string)
}

// Options bound a soak.
type Options struct {
	Duration  time.Duration
	MaxFaults int
	Kinds     []Kind
	Seed      uint64
	// Hold and Gap bounds (Plan); RecoverBound is how long a fault may
	// take to heal before it counts as not recovered.
	HoldMin, HoldMax, GapMin, GapMax, RecoverBound time.Duration
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if len(o.Kinds) == 0 {
		o.Kinds = Kinds()
	}
	if o.HoldMin == 0 {
		o.HoldMin = 10 * time.Second
	}
	if o.HoldMax == 0 {
		o.HoldMax = 30 * time.Second
	}
	if o.GapMin == 0 {
		o.GapMin = time.Second
	}
	if o.GapMax == 0 {
		o.GapMax = 8 * time.Second
	}
	if o.RecoverBound == 0 {
		o.RecoverBound = 3 * time.Minute
	}
	if o.MaxFaults == 0 {
		o.MaxFaults = 1000
	}
}

// Run is the soak: Service set up, writer and poller started, faults until
// the duration or the count is reached, every fault lifted, then the
// checks. The Report is returned even with an error (what was seen so far).
func Run(ctx context.Context, e Env, o Options) (*Report, error) {
	o.Defaults()
	r := &Report{Seed: o.Seed}
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	// Whatever happens, nothing a fault did stays on a machine.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, t := range e.Targets {
			for _, c := range CleanupCommands(t) {
				if _, err := e.Host(cctx, c); err != nil {
					r.Errors = append(r.Errors, fmt.Sprintf("cleaning up %s: %s", t.Node, lines.First(err.Error())))
				}
			}
		}
	}()

	urls, err := prepareService(ctx, e, len(workers(e.Targets)))
	if err != nil {
		return r, err
	}
	wns := WriteNamespace(o.Seed)
	if _, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: wns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return r, fmt.Errorf("creating namespace %s: %v", wns, err)
	}

	lctx, stopLoad := context.WithCancel(ctx)
	w := &writer{client: e.Client, ns: wns, acked: map[string]string{}}
	p := &poller{urls: urls}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.run(lctx) }()
	go func() { defer wg.Done(); p.run(lctx) }()

	plan := &Plan{Kinds: o.Kinds, Targets: e.Targets, HoldMin: o.HoldMin, HoldMax: o.HoldMax, GapMin: o.GapMin, GapMax: o.GapMax,
		Rand: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	deadline := start.Add(o.Duration)
	for len(r.Faults) < o.MaxFaults && time.Now().Before(deadline) && ctx.Err() == nil {
		f, err := plan.Next()
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			break
		}
		if sleep(ctx, f.Gap) != nil || !time.Now().Before(deadline) {
			break
		}
		out := inject(ctx, e, f, urls, o.RecoverBound)
		r.Faults = append(r.Faults, out)
		if e.Progress != nil {
			e.Progress(out)
		}
	}
	stopLoad()
	wg.Wait()
	r.Stats = Stats(r.Faults)
	r.ServicePolls, r.ServiceFailures, r.ServiceOutage, r.ServiceOutageAt = p.total, p.failures, p.longest, p.longestAt
	if ctx.Err() != nil {
		return r, ctx.Err()
	}

	// The checks, after the load stopped.
	e.Log("reading back every write")
	read, err := readBack(ctx, e.Client, wns)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	r.Writes = Writes{Acknowledged: len(w.acked), Unknown: len(w.unknown), Refused: w.refused, LongestGap: w.longestGap, LongestGapAt: w.longestAt}
	if err == nil {
		r.Writes.Lost, r.Writes.Wrong, r.Writes.UnknownFound = CheckWrites(w.acked, w.unknown, read)
	}
	e.Log("comparing the etcd members' hashes")
	r.Hashes, err = hashes(ctx, e)
	if err != nil {
		r.HashErr = err.Error()
	}
	e.Log("running verify")
	if failed, err := e.Verify(ctx); err != nil {
		r.VerifyErr, r.VerifyFailed = lines.First(err.Error()), failed
	}
	// The written objects go; the Service stays for the next run.
	_ = e.Client.CoreV1().Namespaces().Delete(ctx, wns, metav1.DeleteOptions{})
	return r, nil
}

func workers(ts []Target) []Target {
	var out []Target
	for _, t := range ts {
		if t.Worker {
			out = append(out, t)
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// inject runs one fault and measures how long the machine takes to heal.
// Recoveries count from the fault's start for faults that heal by
// themselves (a kill, a restart), from the moment it was lifted for held
// ones.
func inject(ctx context.Context, e Env, f Fault, urls map[string]string, bound time.Duration) Outcome {
	out := Outcome{Fault: f, At: time.Now(), API: -1, Service: -1, Units: -1}
	in, lift := f.Commands()
	from := out.At
	for _, c := range in {
		// docker pause can fail on a busy machine ("OCI runtime pause
		// failed: unable to freeze", runc thaws it again): tried three
		// times, then the fault counts as not injected, which says
		// nothing about the cluster.
		var err error
		for try := 0; try < 3; try++ {
			if _, err = e.Host(ctx, c); err == nil || ctx.Err() != nil {
				break
			}
			_ = sleep(ctx, time.Second)
		}
		if err != nil {
			out.NotInjected = lines.First(err.Error())
			return out
		}
	}
	if f.Kind.Held() {
		_ = sleep(ctx, f.Hold)
		lctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, c := range lift {
			if _, err := e.Host(lctx, c); err != nil && out.Err == "" {
				out.Err = "lifting: " + lines.First(err.Error())
			}
		}
		cancel()
		from = time.Now()
	}
	if out.Err != "" {
		return out
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	err := wait.Until(ctx, "the cluster to recover from "+string(f.Kind)+" on "+f.Target.Node, 500*time.Millisecond, bound, func(ctx context.Context) (bool, error) {
		now := time.Since(from)
		var missing []string
		if out.API < 0 {
			if err := e.APIReady(ctx, f.Target); err == nil {
				out.API = now
			} else {
				missing = append(missing, "API: "+lines.First(err.Error()))
			}
		}
		if out.Service < 0 {
			if err := get(ctx, client, urls[f.Target.Node]); err == nil {
				out.Service = now
			} else {
				missing = append(missing, "Service: "+lines.First(err.Error()))
			}
		}
		if out.Units < 0 {
			down, err := e.UnitsDown(ctx, f.Target.Node)
			switch {
			case err != nil:
				missing = append(missing, "units: "+lines.First(err.Error()))
			case len(down) > 0:
				missing = append(missing, "not active: "+strings.Join(down, ", "))
			default:
				out.Units = now
			}
		}
		if len(missing) > 0 {
			return false, errors.New(strings.Join(missing, "; "))
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		out.Err = lines.First(err.Error())
	}
	return out
}

func get(ctx context.Context, c *http.Client, url string) error {
	if url == "" {
		return errors.New("no address")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// writer creates ConfigMaps one after another, as fast as one client can,
// and remembers what the API acknowledged.
type writer struct {
	client     kubernetes.Interface
	ns         string
	acked      map[string]string
	unknown    []string
	refused    int
	longestGap time.Duration
	// longestAt is when the longest time without an acknowledged write
	// began.
	longestAt time.Time
}

func (w *writer) run(ctx context.Context) {
	last := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("w-%07d", i)
		val := strconv.Itoa(i)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := w.client.CoreV1().ConfigMaps(w.ns).Create(cctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"seq": val}}, metav1.CreateOptions{})
		cancel()
		now := time.Now()
		switch {
		case err == nil:
			w.acked[name] = val
			if d := now.Sub(last); d > w.longestGap {
				w.longestGap, w.longestAt = d, last
			}
			last = now
			continue
		case ctx.Err() != nil:
			// Cut short by the end of the run: it may have happened.
			w.unknown = append(w.unknown, name)
			return
		case Refused(err):
			w.refused++
		default:
			w.unknown = append(w.unknown, name)
		}
		if d := now.Sub(last); d > w.longestGap {
			w.longestGap, w.longestAt = d, last
		}
		_ = sleep(ctx, 100*time.Millisecond)
	}
}

// Refused reports whether an error answer means the write did not happen:
// a 4xx the API server decided before storage (invalid, forbidden, too
// many requests). Timeouts, 5xx (etcd's "request timed out" may have
// committed) and cut connections are unknown.
func Refused(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	code := st.Status().Code
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusGatewayTimeout
}

// poller asks the Service's NodePort on every node in turn.
type poller struct {
	urls            map[string]string
	total, failures int
	longest         time.Duration
	// longestAt is when the longest outage began.
	lastOK, longestAt time.Time
}

func (p *poller) run(ctx context.Context) {
	var order []string
	for _, u := range p.urls {
		order = append(order, u)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}
	p.lastOK = time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		err := get(ctx, client, order[i%len(order)])
		if ctx.Err() != nil {
			return
		}
		p.total++
		now := time.Now()
		if err != nil {
			p.failures++
		} else {
			p.lastOK = now
		}
		if d := now.Sub(p.lastOK); d > p.longest {
			p.longest, p.longestAt = d, p.lastOK
		}
		_ = sleep(ctx, 200*time.Millisecond)
	}
}

// readBack lists every ConfigMap of ns (quorum reads, in pages), retrying
// for a minute while the API is still settling.
func readBack(ctx context.Context, c kubernetes.Interface, ns string) (map[string]string, error) {
	var read map[string]string
	err := wait.Until(ctx, "every written ConfigMap to be listed", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		read = map[string]string{}
		opts := metav1.ListOptions{Limit: 2000}
		for {
			l, err := c.CoreV1().ConfigMaps(ns).List(ctx, opts)
			if err != nil {
				return false, fmt.Errorf("listing the written ConfigMaps: %s", lines.First(err.Error()))
			}
			for _, cm := range l.Items {
				read[cm.Name] = cm.Data["seq"]
			}
			if l.Continue == "" {
				return true, nil
			}
			opts.Continue = l.Continue
		}
	})
	return read, err
}

// hashes asks every etcd member for its hash at one revision all have.
func hashes(ctx context.Context, e Env) ([]MemberHash, error) {
	var hs []MemberHash
	var agreeErr error
	err := wait.Until(ctx, "every etcd member's hash", 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		out, err := e.Etcdctl(ctx, "endpoint", "status", "-w", "json")
		if err != nil {
			return false, fmt.Errorf("etcdctl endpoint status: %s", lines.First(err.Error()))
		}
		revs, err := ParseStatusRevisions(out)
		if err != nil {
			return false, err
		}
		if len(revs) != e.Members {
			return false, fmt.Errorf("%d of %d members answered", len(revs), e.Members)
		}
		var rev int64
		for _, r := range revs {
			if rev == 0 || r < rev {
				rev = r
			}
		}
		out, err = e.Etcdctl(ctx, "endpoint", "hashkv", "--rev="+strconv.FormatInt(rev, 10), "-w", "json")
		if err != nil {
			return false, fmt.Errorf("etcdctl endpoint hashkv: %s", lines.First(err.Error()))
		}
		if hs, err = ParseHashKV(out); err != nil {
			return false, err
		}
		// A disagreement at one revision is final: no retry hides it.
		agreeErr = Agree(hs, e.Members)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return hs, agreeErr
}

// prepareService makes the Service the poller asks (a Deployment with one
// pod per worker, spread, and a NodePort Service) and waits until it
// answers on every node; it returns each node's URL.
func prepareService(ctx context.Context, e Env, replicas int) (map[string]string, error) {
	c := e.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %v", Namespace, err)
	}
	labels := map[string]string{"app": "chaos-web"}
	n := int32(replicas)
	no, yes := false, true
	var uid int64 = 65534
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "chaos-web", Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(2)),
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: "web", Image: images.TestApp, ImagePullPolicy: corev1.PullNever,
						Ports: []corev1.ContainerPort{{ContainerPort: images.TestAppPort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(images.TestAppPort)}},
							PeriodSeconds: 1},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		},
	}
	if _, err := c.AppsV1().Deployments(Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the soak's Deployment: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "chaos-web", Namespace: Namespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(images.TestAppPort)}}},
	}
	if _, err := c.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the soak's Service: %v", err)
	}
	s, err := c.CoreV1().Services(Namespace).Get(ctx, "chaos-web", metav1.GetOptions{})
	if err != nil || len(s.Spec.Ports) == 0 || s.Spec.Ports[0].NodePort == 0 {
		return nil, fmt.Errorf("reading the soak's Service: %v", err)
	}
	port := s.Spec.Ports[0].NodePort
	urls := map[string]string{}
	for _, t := range e.Targets {
		urls[t.Node] = fmt.Sprintf("http://%s:%d/", t.IP, port)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	err = wait.Until(ctx, "the soak's Service to answer on every node", time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		for node, u := range urls {
			if err := get(ctx, client, u); err != nil {
				return false, fmt.Errorf("no answer on %s (%s): %v", node, u, err)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return urls, nil
}

func ptr[T any](v T) *T { return &v }
