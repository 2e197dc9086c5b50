// Package verify proves a cluster works the way the hard way's smoke tests
// do: real pods on every node, traffic across nodes, Services, DNS, the
// apiserver→kubelet paths (logs, exec, port-forward), a NodePort from the
// host and Secret encryption at rest.
package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
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
	"k8s.io/client-go/rest"

	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/wait"
)

// Namespace holds every object verify creates. They stay, like the
// tutorial's nginx Deployment, so a user can look at them and a second run
// reuses them instead of waiting for a namespace to be deleted.
const Namespace = "hardway-verify"

const appPort = images.TestAppPort

// Env is what the checks need from the cluster.
type Env struct {
	REST   *rest.Config
	Client kubernetes.Interface
	// NodeIPs are the addresses the host reaches the nodes at.
	NodeIPs []string
	// Workers is how many nodes run pods: one test pod per worker, and two
	// on a single worker, so pod-to-pod traffic always crosses a bridge
	// between two pods.
	Workers int
	// ClusterDomain is e.g. cluster.local.
	ClusterDomain string
	// EtcdGet reads a raw key from etcd (through etcdctl on a control-plane
	// node): the only way to see what is really stored.
	EtcdGet func(ctx context.Context, key string) ([]byte, error)
	// Proxy carries connections to node IPs when this host has no route
	// to them (through a node; nil dials directly).
	Proxy func(*http.Request) (*url.URL, error)
	// Components says which expected component of any machine is not
	// active (nil when all are): a control plane that lost one of its
	// schedulers still answers, so only asking systemd shows it.
	Components func(ctx context.Context) error
	// CheckTimeout bounds each smoke test of Run; 0: a minute.
	CheckTimeout time.Duration
	// LoadBalancer: MetalLB is on, so a LoadBalancer Service must get an
	// address (the loadbalancer check runs only then).
	LoadBalancer bool
	// LoadBalancerFromPod: this host has no route to the node network
	// (network.hostAccess published), so the address is fetched from a
	// test pod instead of from here.
	LoadBalancerFromPod bool
	// NetworkPolicy: the netpol add-on is on, so a policy must block and
	// open traffic (the networkpolicy check runs only then).
	NetworkPolicy bool
	// GitOps: Argo CD is on, so its Application must be Synced and
	// Healthy and its app answer (the gitops check runs only then).
	GitOps *GitOps
	// Gateway, when the gateway add-on is on, says where its Gateway is
	// (the gateway check runs only then).
	Gateway *GatewayEnv
}

// Check is one smoke test.
type Check struct {
	Name string
	// When, if set, says whether the check applies to a cluster (an
	// add-on's check runs only when the add-on is on).
	When func(Env) bool
	// Run returns what the check did, one line per fact, when that is more
	// than its name says (which pod reached which, at which address).
	Run func(ctx context.Context, s *session) (detail []string, err error)
	// Timeout, when longer than the run's bound for each check, is this
	// check's bound.
	Timeout time.Duration
}

// Result is one check's outcome.
type Result struct {
	Name    string
	Elapsed time.Duration
	// Detail says what a passed check did (see Check.Run).
	Detail []string
	Err    error
}

// Text is the result as verify, the verify step and lab check show it: a
// mark, the name and the time, then the error or the details indented
// below; every line starts with indent.
func (r Result) Text(indent string) string {
	mark, more := "✓", r.Detail
	if r.Err != nil {
		mark, more = "✗", strings.Split(r.Err.Error(), "\n")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s %-13s %5.1fs", indent, mark, r.Name, r.Elapsed.Seconds())
	for _, l := range more {
		b.WriteString("\n" + indent + "    " + l)
	}
	return b.String()
}

// session carries what earlier checks found to later ones.
type session struct {
	env      Env
	pods     []corev1.Pod
	service  *corev1.Service
	nodePort int32
}

// Checks lists the smoke tests in the order they are reported; later ones use the
// Deployment the first one creates.
func Checks() []Check {
	return []Check{
		{Name: "components", Run: quiet(checkComponents)},
		{Name: "deployment", Run: quiet(checkDeployment)},
		{Name: "rollout", Run: quiet(checkRollout)},
		{Name: "pod-to-pod", Run: checkPodToPod},
		{Name: "service", Run: quiet(checkService)},
		{Name: "dns", Run: quiet(checkDNS)},
		{Name: "logs", Run: quiet(checkLogs)},
		{Name: "exec", Run: quiet(checkExec)},
		{Name: "port-forward", Run: quiet(checkPortForward)},
		{Name: "nodeport", Run: quiet(checkNodePort)},
		{Name: "encryption", Run: quiet(checkEncryption)},
		{Name: "loadbalancer", Run: checkLoadBalancer, When: func(e Env) bool { return e.LoadBalancer }, Timeout: LoadBalancerBound + time.Minute},
		{Name: "networkpolicy", Run: checkNetworkPolicy, When: func(e Env) bool { return e.NetworkPolicy }, Timeout: time.Minute + 3*NetpolBound},
		{Name: "gateway", Run: checkGateway, When: func(e Env) bool { return e.Gateway != nil }, Timeout: 2*GatewayBound + time.Minute},
		{Name: "gitops", Run: checkGitOps, When: func(e Env) bool { return e.GitOps != nil }, Timeout: GitOpsBound},
	}
}

// applying are the checks of list that apply to env.
func applying(list []Check, env Env) []Check {
	var out []Check
	for _, c := range list {
		if c.When == nil || c.When(env) {
			out = append(out, c)
		}
	}
	return out
}

// quiet is a check whose name says all it did.
func quiet(f func(ctx context.Context, s *session) error) func(ctx context.Context, s *session) ([]string, error) {
	return func(ctx context.Context, s *session) ([]string, error) { return nil, f(ctx, s) }
}

// Run executes every check, reporting each as it finishes, and returns the
// results. A failed check does not stop the others unless they depend on it.
func Run(ctx context.Context, env Env, report func(Result)) []Result {
	timeout := env.CheckTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	return run(ctx, env, applying(Checks(), env), timeout, report)
}

// needs lists the checks whose findings check name uses: every check but
// encryption works on the test Deployment's pods, and the NodePort and the
// names DNS resolves are those of the Service the service check created.
func needs(name string) []string {
	switch name {
	case "components", "deployment", "encryption", "rollout":
		return nil
	case "nodeport", "dns", "gateway":
		return []string{"deployment", "service"}
	default:
		return []string{"deployment"}
	}
}

// RunSome executes the named checks and those they depend on, in the order
// Checks lists them, each bounded by timeout: the probes a break-and-fix lab
// uses to tell whether one part of the cluster works again.
func RunSome(ctx context.Context, env Env, names []string, timeout time.Duration, report func(Result)) ([]Result, error) {
	want := map[string]bool{}
	for _, n := range names {
		if !slices.ContainsFunc(Checks(), func(c Check) bool { return c.Name == n }) {
			return nil, fmt.Errorf("no smoke test %q; the smoke tests are: %s", n, strings.Join(CheckNames(), ", "))
		}
		want[n] = true
		for _, d := range needs(n) {
			want[d] = true
		}
	}
	var list []Check
	for _, c := range Checks() {
		if want[c.Name] {
			list = append(list, c)
		}
	}
	return run(ctx, env, applying(list, env), timeout, report), nil
}

// CheckNames lists the smoke tests in the order they run.
func CheckNames() []string {
	var out []string
	for _, c := range Checks() {
		out = append(out, c.Name)
	}
	return out
}

// run starts each check as soon as the checks it needs have finished (the
// Deployment first, then everything that uses its pods side by side, then
// what uses the Service), so verify takes as long as its longest chain, not
// the sum. Results are reported in list order as they become known. A check
// whose dependency failed is skipped and says which one.
func run(ctx context.Context, env Env, list []Check, timeout time.Duration, report func(Result)) []Result {
	s := &session{env: env}
	out := make([]Result, len(list))
	done := map[string]chan struct{}{}
	for _, c := range list {
		done[c.Name] = make(chan struct{})
	}
	// failed is written by a check before it closes its channel and read by
	// its dependents after: the channel orders the two.
	failed := map[string]bool{}
	var mu sync.Mutex
	for i, c := range list {
		go func() {
			defer close(done[c.Name])
			var skip error
			for _, d := range needs(c.Name) {
				ch, ok := done[d]
				if !ok {
					continue
				}
				<-ch
				mu.Lock()
				f := failed[d]
				mu.Unlock()
				if f && skip == nil {
					skip = skipped(d)
				}
			}
			start := time.Now()
			err := skip
			var detail []string
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, max(timeout, c.Timeout))
				detail, err = c.Run(cctx, s)
				cancel()
			}
			if err != nil {
				mu.Lock()
				failed[c.Name] = true
				mu.Unlock()
				detail = nil
			}
			out[i] = Result{Name: c.Name, Elapsed: time.Since(start), Detail: detail, Err: err}
		}()
	}
	for i, c := range list {
		<-done[c.Name]
		report(out[i])
	}
	return out
}

// restrictedPod and restrictedContainer meet Pod Security's restricted
// level: not root, the runtime's default seccomp profile, no privilege
// escalation, no capabilities.
func restrictedPod() *corev1.PodSecurityContext {
	yes, nobody := true, int64(65534)
	return &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &nobody, RunAsGroup: &nobody,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func restrictedContainer() *corev1.SecurityContext {
	no := false
	return &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// skipped is the error of a check that did not run because dep failed.
func skipped(dep string) error {
	if dep == "deployment" {
		return fmt.Errorf("skipped: the test Deployment did not come up")
	}
	return fmt.Errorf("skipped: the %s check failed", dep)
}

func checkDeployment(ctx context.Context, s *session) error {
	cs := s.env.Client
	if err := ensureNamespace(ctx, cs); err != nil {
		return err
	}
	replicas := int32(max(2, s.env.Workers))
	labels := map[string]string{"app": "hello"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				// The worker count in the template: a cluster that grew
				// from one worker to two keeps 2 replicas, and without a
				// change here both would stay on the first node (spread
				// constraints act only when a pod is scheduled).
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"hardway.dev/workers": strconv.Itoa(s.env.Workers)}},
				Spec: corev1.PodSpec{
					// Pod Security's restricted level, the strictest: the
					// test app needs nothing more, and the smoke tests then
					// pass whatever podSecurity the config sets.
					SecurityContext: restrictedPod(),
					// One pod per node: the point is to exercise every node
					// (and two on the only one, for pod-to-pod).
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
						// Spread each ReplicaSet's pods by themselves: counting
						// the old ones that a rollout is replacing put both new
						// pods on the new node of a cluster grown to two.
						MatchLabelKeys: []string{appsv1.DefaultDeploymentUniqueLabelKey},
					}},
					Containers: []corev1.Container{testAppContainer("hello")},
				},
			},
		},
	}
	_, err := cs.AppsV1().Deployments(Namespace).Create(ctx, dep, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An earlier run's Deployment: bring it to this spec (unchanged
		// specs roll nothing).
		var cur *appsv1.Deployment
		if cur, err = cs.AppsV1().Deployments(Namespace).Get(ctx, dep.Name, metav1.GetOptions{}); err == nil {
			dep.ResourceVersion = cur.ResourceVersion
			_, err = cs.AppsV1().Deployments(Namespace).Update(ctx, dep, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return err
	}
	var last string
	err = poll(ctx, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err
		}
		// A rollout (the spec changed since the last run) must be over:
		// pods of the old ReplicaSet are about to go.
		d, err := cs.AppsV1().Deployments(Namespace).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != replicas || d.Status.Replicas != replicas {
			last = fmt.Sprintf("rollout: %d of %d pods updated, %d in all", d.Status.UpdatedReplicas, replicas, d.Status.Replicas)
			return false, nil
		}
		var ready []corev1.Pod
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && kube.PodReady(p) {
				ready = append(ready, p)
				nodes[p.Spec.NodeName] = true
			}
		}
		last = describePods(pods.Items)
		if len(ready) == int(replicas) && len(nodes) == s.env.Workers {
			s.pods = ready
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%d ready pods on %d different nodes not reached: %v (pods: %s)", replicas, s.env.Workers, err, last)
	}
	for _, p := range s.pods {
		var out string
		// A kubelet that restarted a moment ago answers "pod does not exist"
		// until it has taken its pods over again: that passes by itself.
		err := poll(ctx, func() (bool, error) {
			var err error
			out, err = s.exec(ctx, p, "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/", appPort))
			if err != nil && strings.Contains(err.Error(), "pod does not exist") {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return fmt.Errorf("pod %s on %s: %w", p.Name, p.Spec.NodeName, err)
		}
		if !strings.Contains(out, "Hello World") {
			return fmt.Errorf("pod %s on %s served %q, want Hello World", p.Name, p.Spec.NodeName, out)
		}
	}
	return nil
}

// checkPodToPod fetches from every pod the page of another pod, at that
// pod's IP: on the next node (across the network between nodes) or, with a
// single worker, from one of its two pods to the other (across the node's
// bridge). A pod fetching from its own IP would prove neither.
func checkPodToPod(ctx context.Context, s *session) ([]string, error) {
	if len(s.pods) < 2 {
		return nil, fmt.Errorf("%d test pods, want at least 2 (a bug in hardway)", len(s.pods))
	}
	var did []string
	for _, p := range podPairs(s.pods) {
		from, to := p[0], p[1]
		what := fmt.Sprintf("from pod %s on %s to pod %s on %s at %s:%d", from.Name, from.Spec.NodeName, to.Name, to.Spec.NodeName, to.Status.PodIP, appPort)
		if err := s.wgetFrom(ctx, from, to.Status.PodIP); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		did = append(did, what)
	}
	return did, nil
}

// podPairs pairs every pod with the next one in the list, which is on
// another node when every node has one pod, and another pod of the same
// node when there is one node.
func podPairs(pods []corev1.Pod) [][2]corev1.Pod {
	sorted := slices.Clone(pods)
	slices.SortFunc(sorted, func(a, b corev1.Pod) int {
		return strings.Compare(a.Spec.NodeName+"/"+a.Name, b.Spec.NodeName+"/"+b.Name)
	})
	var out [][2]corev1.Pod
	for i, p := range sorted {
		out = append(out, [2]corev1.Pod{p, sorted[(i+1)%len(sorted)]})
	}
	return out
}

func checkService(ctx context.Context, s *session) error {
	cs := s.env.Client
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "hello"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(appPort)}},
		},
	}
	got, err := cs.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = cs.CoreV1().Services(Namespace).Get(ctx, "hello", metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	s.service = got
	s.nodePort = got.Spec.Ports[0].NodePort
	// From every pod, so kube-proxy's rules are exercised on every node.
	for _, p := range s.pods {
		if err := s.wgetFrom(ctx, p, got.Spec.ClusterIP+":80"); err != nil {
			return fmt.Errorf("ClusterIP %s from %s: %w", got.Spec.ClusterIP, p.Spec.NodeName, err)
		}
	}
	return nil
}

func checkDNS(ctx context.Context, s *session) error {
	p := s.pods[0]
	// busybox nslookup sends the name as given (no search list), so it gets
	// fully qualified names; wget below resolves short names the way
	// applications do, through the search list kubelet wrote.
	for _, name := range []string{
		"kubernetes.default.svc." + s.env.ClusterDomain,
		fmt.Sprintf("hello.%s.svc.%s", Namespace, s.env.ClusterDomain),
	} {
		var out string
		err := poll(ctx, func() (bool, error) {
			var err error
			out, err = s.exec(ctx, p, "nslookup", name)
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("nslookup %s in pod %s: %s", name, p.Name, truncate([]byte(strings.TrimSpace(out)), 300))
		}
	}
	// Short names must work for traffic too, not just resolve.
	for _, short := range []string{"hello", "hello." + Namespace} {
		if err := s.wgetFrom(ctx, p, short); err != nil {
			return err
		}
	}
	return nil
}

func checkLogs(ctx context.Context, s *session) error {
	for _, p := range s.pods {
		req := s.env.Client.CoreV1().Pods(Namespace).GetLogs(p.Name, &corev1.PodLogOptions{})
		data, err := req.DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("logs of %s on %s: %w", p.Name, p.Spec.NodeName, err)
		}
		// busybox httpd -v logs each answer as "response:200" on stderr.
		if !strings.Contains(string(data), "response:200") {
			return fmt.Errorf("logs of %s on %s do not show the requests made to it: %q", p.Name, p.Spec.NodeName, truncate(data, 200))
		}
	}
	return nil
}

func checkExec(ctx context.Context, s *session) error {
	for _, p := range s.pods {
		out, err := againOnEOF(3, func() (string, error) { return s.exec(ctx, p, "hostname") })
		if err != nil {
			return fmt.Errorf("exec in %s on %s: %w", p.Name, p.Spec.NodeName, err)
		}
		if strings.TrimSpace(out) != p.Name {
			return fmt.Errorf("exec hostname in %s printed %q", p.Name, out)
		}
	}
	return nil
}

func checkPortForward(ctx context.Context, s *session) error {
	for _, p := range s.pods {
		body, err := portForwardGet(ctx, s.env.REST, p, appPort)
		if err != nil {
			return fmt.Errorf("port-forward to %s on %s: %w", p.Name, p.Spec.NodeName, err)
		}
		if !strings.Contains(body, "Hello World") {
			return fmt.Errorf("port-forward to %s returned %q", p.Name, body)
		}
	}
	return nil
}

func checkNodePort(ctx context.Context, s *session) error {
	if s.service == nil {
		return fmt.Errorf("skipped: the Service was not created")
	}
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: s.env.Proxy}}
	for _, ip := range s.env.NodeIPs {
		url := fmt.Sprintf("http://%s:%d/", ip, s.nodePort)
		if last, err := getHello(ctx, client, url); err != nil {
			return fmt.Errorf("GET %s from this host: %s", url, last)
		}
	}
	return nil
}

// getHello GETs url until the test app's page answers; on failure it
// returns the last error or body seen.
func getHello(ctx context.Context, client *http.Client, url string) (string, error) {
	var body string
	err := poll(ctx, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			body = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "Hello World"), nil
	})
	return strings.TrimSpace(body), err
}

func checkEncryption(ctx context.Context, s *session) error {
	cs := s.env.Client
	if err := ensureNamespace(ctx, cs); err != nil {
		return err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hardway-encryption-check", Namespace: Namespace},
		StringData: map[string]string{"password": "correct horse battery staple"},
	}
	_, err := cs.CoreV1().Secrets(Namespace).Create(ctx, sec, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	raw, err := s.env.EtcdGet(ctx, "/registry/secrets/"+Namespace+"/"+sec.Name)
	if err != nil {
		return err
	}
	const prefix = "k8s:enc:aescbc:v1:"
	i := bytes.Index(raw, []byte("k8s:"))
	if i < 0 || !bytes.HasPrefix(raw[i:], []byte(prefix)) {
		return fmt.Errorf("the Secret is stored in etcd without the %s prefix: %q", prefix, truncate(raw, 80))
	}
	if bytes.Contains(raw, []byte("correct horse")) {
		return fmt.Errorf("the Secret's value is readable in etcd")
	}
	return nil
}

func (s *session) wgetFrom(ctx context.Context, p corev1.Pod, target string) error {
	if !strings.Contains(target, ":") {
		if strings.Count(target, ".") == 3 {
			target = fmt.Sprintf("%s:%d", target, appPort)
		} else {
			target += ":80"
		}
	}
	// wget gives up after 3 s by itself; the context bounds the exec too.
	var out string
	var last error
	err := poll(ctx, func() (bool, error) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, last = s.exec(tctx, p, "wget", "-T", "3", "-q", "-O", "-", "http://"+target+"/")
		return last == nil && strings.Contains(out, "Hello World"), nil
	})
	if err != nil {
		return fmt.Errorf("wget http://%s/ from pod %s: %v %s", target, p.Name, last, truncate([]byte(strings.TrimSpace(out)), 200))
	}
	return nil
}

// exec runs a command in the pod through the API server and kubelet, the
// same path as kubectl exec.
func (s *session) exec(ctx context.Context, p corev1.Pod, cmd ...string) (string, error) {
	c := &kube.Client{REST: s.env.REST, Clientset: s.env.Client}
	return c.Exec(ctx, &p, cmd...)
}

// ensureNamespace creates the verify namespace, first waiting out the
// deletion a previous run's cleanup started.
func ensureNamespace(ctx context.Context, cs kubernetes.Interface) error {
	var last string
	err := poll(ctx, func() (bool, error) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{})
			return err == nil || apierrors.IsAlreadyExists(err), nil
		case err != nil:
			return false, err
		case ns.DeletionTimestamp != nil:
			last = "still being deleted by an earlier run"
			return false, nil
		default:
			return true, nil
		}
	})
	if err != nil {
		return fmt.Errorf("namespace %s: %v %s", Namespace, err, last)
	}
	return nil
}

func describePods(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		st := string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil {
				st = cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
			}
		}
		parts = append(parts, fmt.Sprintf("%s on %q %s", p.Name, p.Spec.NodeName, st))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// poll calls f every half second until it returns true, an error, or ctx
// (each check's own deadline) ends.
func poll(ctx context.Context, f func() (bool, error)) error {
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return wait.Until(ctx, "the check's condition", 500*time.Millisecond, timeout, func(context.Context) (bool, error) {
		ok, err := f()
		if err != nil {
			return false, wait.Permanent(err)
		}
		return ok, nil
	})
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// checkComponents: every component each machine's roles run is active
// (etcd, the control plane, containerd, kubelet, kube-proxy, the load
// balancer), on every machine.
func checkComponents(ctx context.Context, s *session) error {
	if s.env.Components == nil {
		return fmt.Errorf("no way to ask the machines for their components (a bug in hardway)")
	}
	return s.env.Components(ctx)
}

// againOnEOF runs f up to tries times while it fails with a stream cut
// before its end (EOF): that is the connection's doing, not the pod's (seen
// once in an exec on emulated nodes). Any other result is returned at once.
func againOnEOF(tries int, f func() (string, error)) (string, error) {
	out, err := f()
	for try := 1; try < tries && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)); try++ {
		out, err = f()
	}
	return out, err
}

// testAppContainer is the test app as verify's checks run it: the image
// every node has (never pulled), its HTTP port, Pod Security restricted,
// and ready once it answers GET / (polled every second, so a check sees a
// new pod ready without waiting).
func testAppContainer(name string) corev1.Container {
	return corev1.Container{
		Name:            name,
		Image:           images.TestApp,
		ImagePullPolicy: corev1.PullNever,
		Ports:           []corev1.ContainerPort{{ContainerPort: appPort}},
		SecurityContext: restrictedContainer(),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(appPort)}},
			PeriodSeconds: 1,
		},
	}
}
