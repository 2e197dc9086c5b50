package trace

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/wait"
)

// Namespace holds the pods hardway trace launches. It stays between runs
// (like verify's), so a trace does not wait for a namespace to be made.
const Namespace = "hardway-trace"

// Env is what a trace needs from the cluster.
type Env struct {
	// Cluster is the cluster's name, for the commands errors suggest.
	Cluster string
	// Client talks to the API server as the admin (through a Recorder's
	// transport for --http).
	Client kubernetes.Interface
	// Node returns a running node by name.
	Node func(ctx context.Context, name string) (node.Node, error)
	// ControlPlanes run etcd and an API server (and write its audit log).
	ControlPlanes []string
	// Etcdctl is etcdctl with its flags as run on a control-plane node,
	// talking to that node's member.
	Etcdctl []string
	Image   string
	// Timeout bounds the wait for the pod to be Ready.
	Timeout time.Duration
	// ClientOnly skips everything on the nodes: only the client's requests
	// are of interest (hardway trace --http).
	ClientOnly bool
	// Recorder, when the client's transport goes through it, gives the
	// moment the create request was sent.
	Recorder *Recorder
	Log      logx.Logger
}

// Collect launches one pod and gathers what every component recorded about
// it. The pod is deleted again, whatever happens.
func Collect(ctx context.Context, env Env) (Evidence, error) {
	ev := Evidence{Namespace: Namespace, Name: "launch-" + suffix(), Image: env.Image}
	if err := ensureNamespace(ctx, env.Client, env.Cluster); err != nil {
		return ev, err
	}
	key := "/registry/pods/" + ev.Namespace + "/" + ev.Name
	var ws *watches
	if !env.ClientOnly {
		env.Log.Logf(0, "  starting an etcd watch on %s", strings.Join(env.ControlPlanes, ", "))
		var err error
		if ws, err = startWatches(ctx, env, ev.Name); err != nil {
			return ev, err
		}
		// Should anything below fail, the watches end anyway.
		defer func() { _, _ = ws.stop(context.WithoutCancel(ctx), "", "") }()
	}
	pods := env.Client.CoreV1().Pods(ev.Namespace)
	ev.Start = time.Now()
	created, err := pods.Create(ctx, podSpec(ev.Name, env.Image), metav1.CreateOptions{})
	if err != nil {
		return ev, fmt.Errorf("creating pod %s/%s: %w (is the API up? hardway status --name %s)", ev.Namespace, ev.Name, err, env.Cluster)
	}
	if env.Recorder != nil {
		// Closer to the wire than the call: the moment the request reached
		// the HTTP transport, after client-go encoded it.
		if sent, ok := env.Recorder.Sent(http.MethodPost, "/api/v1/namespaces/"+ev.Namespace+"/pods"); ok {
			ev.Start = sent
		}
	}
	defer func() {
		// The trace is over once the evidence is in: no grace period to
		// wait for, the container is only a test server.
		zero := int64(0)
		_ = pods.Delete(context.WithoutCancel(ctx), ev.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	ev.ResourceVersion = created.ResourceVersion
	env.Log.Logf(0, "  created pod %s/%s, waiting until it is Ready", ev.Namespace, ev.Name)
	ev.Pod, ev.ClientReady, err = waitReady(ctx, pods, created, env.Timeout, env.Cluster)
	if err != nil {
		return ev, err
	}
	if env.ClientOnly {
		return ev, nil
	}
	env.Log.Logf(0, "  reading the evidence: etcd watches, audit logs, journals of %s", ev.Pod.Spec.NodeName)
	writes, err := ws.stop(ctx, key, ev.Pod.ResourceVersion)
	if err != nil {
		return ev, err
	}
	ev.Writes = writes
	err = errors.Join(
		collectAudit(ctx, env, &ev),
		collectNode(ctx, env, &ev),
	)
	return ev, err
}

// podSpec is the pod a trace launches: one container from an image that is
// already on every node, so the timeline shows a launch, not a download.
func podSpec(name, image string) *corev1.Pod {
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/created-by": "hardway-trace"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// waitReady follows the pod with a watch (what kubectl wait does) until it
// is Ready, and returns it with the time the event arrived.
func waitReady(ctx context.Context, pods podWatcher, created *corev1.Pod, timeout time.Duration, cluster string) (*corev1.Pod, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last, rv := created, created.ResourceVersion
	for {
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + created.Name, ResourceVersion: rv})
		if err != nil {
			if ctx.Err() != nil {
				return nil, time.Time{}, notReady(last, timeout, cluster)
			}
			return nil, time.Time{}, fmt.Errorf("watching pod %s/%s: %w (is the API up? hardway status --name %s)", created.Namespace, created.Name, err, cluster)
		}
		for e := range w.ResultChan() {
			p, ok := e.Object.(*corev1.Pod)
			if !ok || e.Type == watch.Error {
				continue
			}
			at := time.Now()
			last, rv = p, p.ResourceVersion
			if c := condition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
				w.Stop()
				return p, at, nil
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return nil, time.Time{}, notReady(last, timeout, cluster)
		}
		// The API server ended the watch (it does, after a while): go on
		// from the last version seen.
	}
}

type podWatcher interface {
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// notReady says why the pod is not Ready, the way kubectl get pods would.
func notReady(p *corev1.Pod, timeout time.Duration, cluster string) error {
	why := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			why = w.Reason + ": " + w.Message
		}
	}
	if why == "" {
		why = "not scheduled yet"
	}
	return fmt.Errorf("pod %s/%s not Ready after %s (%s); see: kubectl -n %s describe pod %s (is the image on every node? hardway shell NODE --name %s -- crictl images)",
		p.Namespace, p.Name, timeout, why, p.Namespace, p.Name, cluster)
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, cluster string) error {
	var last string
	err := wait.Until(ctx, "namespace "+Namespace+" to exist", 500*time.Millisecond, time.Minute, func(ctx context.Context) (bool, error) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return false, wait.Permanent(err)
			}
			return err == nil, nil
		case err != nil:
			return false, wait.Permanent(err)
		case ns.DeletionTimestamp != nil:
			last = "it is being deleted"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: %v %s (is the API up? hardway status --name %s)", Namespace, err, last, cluster)
	}
	return nil
}

// watches are the etcd watches running on the control-plane nodes.
type watches struct {
	env   Env
	unit  string
	mu    sync.Mutex
	nodes []node.Node
	done  bool
}

// startWatches starts one watch per control-plane node, each on its own
// member, and waits until every one is live. Every member applies every
// write; the first to tell its watcher gives the time closest to the write.
func startWatches(ctx context.Context, env Env, name string) (*watches, error) {
	ws := &watches{env: env, unit: "hardway-trace-" + name + ".service"}
	secs := fmt.Sprint(int((env.Timeout + time.Minute).Seconds()))
	err := forEach(env.ControlPlanes, func(cp string) error {
		n, err := env.Node(ctx, cp)
		if err != nil {
			return err
		}
		args := append([]string{"sh", "-c", watchStartScript, "sh", ws.unit, secs}, env.Etcdctl...)
		if _, err := n.Run(ctx, nil, args...); err != nil {
			return fmt.Errorf("starting the etcd watch on %s: %w (see: hardway logs %s etcd --name %s)", cp, err, cp, env.Cluster)
		}
		ws.mu.Lock()
		ws.nodes = append(ws.nodes, n)
		ws.mu.Unlock()
		if _, err := n.Run(ctx, nil, "sh", "-c", watchReadyScript, "sh", ws.unit); err != nil {
			return fmt.Errorf("etcd watch on %s: %w (check etcd there: hardway shell %s --name %s -- %s endpoint health)", cp, err, cp, env.Cluster, strings.Join(env.Etcdctl, " "))
		}
		return nil
	})
	if err != nil {
		_, _ = ws.stop(context.WithoutCancel(ctx), "", "")
		return nil, err
	}
	return ws, nil
}

// stop ends every watch (once) and returns the writes of key they saw,
// after waiting briefly for each to deliver the write of revision last.
func (ws *watches) stop(ctx context.Context, key, last string) ([]EtcdWrite, error) {
	ws.mu.Lock()
	if ws.done {
		ws.mu.Unlock()
		return nil, nil
	}
	ws.done = true
	nodes := ws.nodes
	ws.mu.Unlock()
	// etcdctl prints keys in base64, and the journal's JSON escapes the
	// quotes of etcdctl's: find the pod's lines by the bare base64.
	needle := base64.StdEncoding.EncodeToString([]byte(key))
	until := needle
	if last != "" {
		until = `mod_revision":` + last + ","
	}
	var mu sync.Mutex
	var all []EtcdWrite
	err := forEach(names(nodes), func(name string) error {
		out, err := byName(nodes, name).Run(ctx, nil, "sh", "-c", watchStopScript, "sh", ws.unit, needle, until)
		if err != nil {
			return fmt.Errorf("reading the etcd watch on %s: %w", name, err)
		}
		if key == "" {
			return nil
		}
		writes, err := ParseWatch(name, out, key)
		mu.Lock()
		all = append(all, writes...)
		mu.Unlock()
		return err
	})
	return all, err
}

func collectAudit(ctx context.Context, env Env, ev *Evidence) error {
	needle := `"namespace":"` + ev.Namespace + `","name":"` + ev.Name + `"`
	var mu sync.Mutex
	return forEach(env.ControlPlanes, func(cp string) error {
		n, err := env.Node(ctx, cp)
		if err != nil {
			return err
		}
		out, err := n.Run(ctx, nil, "sh", "-c", auditScript, "sh", needle)
		if err != nil {
			return fmt.Errorf("reading the audit log of %s: %w", cp, err)
		}
		events, err := ParseAudit(cp, out)
		mu.Lock()
		ev.Audit = append(ev.Audit, events...)
		mu.Unlock()
		return err
	})
}

// collectNode reads the journals and address reservations of the node the
// pod ran on.
func collectNode(ctx context.Context, env Env, ev *Evidence) error {
	name := ev.Pod.Spec.NodeName
	n, err := env.Node(ctx, name)
	if err != nil {
		return err
	}
	// A second early: journalctl --since takes whole seconds.
	since := fmt.Sprint(ev.Start.Unix() - 1)
	out, err := n.Run(ctx, nil, "sh", "-c", journalScript, "sh", since)
	if err != nil {
		return fmt.Errorf("reading the journals of %s: %w", name, err)
	}
	if ev.Journal, err = ParseJournal(name, out); err != nil {
		return err
	}
	out, err = n.Run(ctx, nil, "sh", "-c", ipamScript)
	if err != nil {
		return fmt.Errorf("reading the address reservations of %s: %w", name, err)
	}
	ev.IPs, err = ParseIPAM(name, out)
	return err
}

// forEach runs f for every name concurrently and joins the errors.
func forEach(names []string, f func(name string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func names(ns []node.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name()
	}
	return out
}

func byName(ns []node.Node, name string) node.Node {
	for _, n := range ns {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

// suffix is five random lowercase letters and digits, so that every trace
// launches a pod of its own.
func suffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
