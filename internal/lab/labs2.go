package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
	"hardway.dev/hardway/internal/wait"
)

// The labs of the second edition: a Service that selects nothing, a
// stopped scheduler, a stopped controller manager and a stopped
// containerd. Each is found with the tools of any cluster and probed by
// the same smoke tests as verify.

// serviceName is verify's Service, which service-selector breaks.
const serviceName = "hello"

func serviceSelector() Lab {
	return Lab{
		Name:  "service-selector",
		Title: "a Service selects no pods",
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab service-selector needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Values: map[string]string{"want": "hello", "typo": "helo"}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("The Service %s in namespace %s answers nothing: its ClusterIP and its NodePort fail, from\n"+
				"every node. The pods behind it run, are Ready, and answer at their own IPs.", serviceName, verify.Namespace)
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl -n " + verify.Namespace + " get endpointslices -l kubernetes.io/service-name=" + serviceName}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl -n " + verify.Namespace + " get service " + serviceName + " -o wide",
				"kubectl -n " + verify.Namespace + " get pods --show-labels",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The Service's selector is app=%s; the pods are labelled app=%s. The EndpointSlice controller finds\n"+
				"no pod that matches, so the Service has no endpoints and kube-proxy has nowhere to send its traffic\n"+
				"(its rules reject it). A Service is only a selector and a virtual IP: nothing checks that the selector\n"+
				"matches anything.", t.Values["typo"], t.Values["want"])
		},
		Fix: func(t Target) []string {
			return []string{fmt.Sprintf(`kubectl -n %s patch service %s -p '{"spec":{"selector":{"app":"%s"}}}'`, verify.Namespace, serviceName, t.Values["want"])}
		},
		Why: func(t Target) string {
			return "The EndpointSlice controller (kube-controller-manager) watches Services and pods: with a selector\n" +
				"that matches the pods' label it lists their IPs in the Service's EndpointSlice within a second, and\n" +
				"kube-proxy on every node, watching EndpointSlices, writes the rules that send the ClusterIP and the\n" +
				"NodePort there."
		},
		Step:   "verify",
		Probes: []string{"service", "nodeport"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return setSelector(ctx, e, t.Values["typo"])
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// verify keeps a Service that exists: put its selector back first.
			return setSelector(ctx, e, t.Values["want"])
		},
	}
}

// setSelector points verify's Service at pods labelled app=value.
func setSelector(ctx context.Context, e steps.Env, value string) error {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	svcs := admin.Clientset.CoreV1().Services(verify.Namespace)
	svc, err := svcs.Get(ctx, serviceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("service %s/%s does not exist; create it with: hardway verify --name %s", verify.Namespace, serviceName, e.Cluster.Config.Name)
	}
	if err != nil {
		return err
	}
	svc.Spec.Selector = map[string]string{"app": value}
	_, err = svcs.Update(ctx, svc, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}

// stoppedControlPlane is a lab that stops one control-plane program on
// every control-plane node: its leader lease runs out and nobody takes it.
func stoppedControlPlane(name, unit, title, symptom, evidenceApp, cause, why string) Lab {
	return Lab{
		Name:  name,
		Title: title,
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab %s needs a worker node for new pods; cluster %s has none", name, c.Name)
			}
			var cps []string
			for _, n := range c.ControlPlanes() {
				cps = append(cps, n.Name)
			}
			return Target{Cluster: c.Name, Node: c.ControlPlanes()[0], Values: map[string]string{"nodes": strings.Join(cps, " "), "app": evidenceApp}}, nil
		},
		Symptom: func(t Target) string { return symptom },
		Evidence: func(t Target) []string {
			ns := "kubectl -n " + verify.Namespace + " "
			return []string{
				ns + "create deployment " + t.Values["app"] + " --image=" + images.TestApp,
				ns + "get deployment,replicasets,pods -l app=" + t.Values["app"] + " -o wide",
			}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl -n kube-system get lease " + unit,
				t.shell(t.Node, "systemctl status "+unit),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("%s is stopped on every control-plane node (%s).\n%s", unit, t.Values["nodes"], cause)
		},
		Fix: func(t Target) []string {
			var out []string
			for _, n := range strings.Fields(t.Values["nodes"]) {
				out = append(out, "hardway shell "+n+" --name "+t.Cluster+" -- systemctl start "+unit)
			}
			return out
		},
		Why:    func(t Target) string { return why },
		Step:   "control-plane",
		Probes: []string{"rollout"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			for _, n := range e.Cluster.Config.ControlPlanes() {
				if err := run(ctx, e, n, "systemctl", "stop", unit); err != nil {
					return err
				}
			}
			return nil
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The evidence's Deployment is the learner's; it goes with the lab.
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			err = admin.Clientset.AppsV1().Deployments(verify.Namespace).Delete(ctx, t.Values["app"], metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			// control-plane starts the units that are enabled but stopped,
			// then waits for both leader leases.
			_, err = e.Rerun(ctx, "control-plane")
			return err
		},
	}
}

func scheduler() Lab {
	return stoppedControlPlane("scheduler", render.UnitScheduler, "new pods stay Pending",
		"New pods never start: kubectl create deployment makes a Deployment, a ReplicaSet and a pod, but the pod\n"+
			"stays Pending and gets no node. Pods that were running go on running, and the API answers.",
		"lab-pending",
		"Nothing binds new pods to nodes: they stay Pending with no spec.nodeName, and no FailedScheduling\n"+
			"event is written either, since no scheduler looked at them. The lease kube-system/kube-scheduler is no\n"+
			"longer renewed. The API, the controllers and the running pods are fine.",
		"Started, the schedulers elect a leader through the lease kube-system/kube-scheduler (the old holder's\n"+
			"lease has run out), and the leader lists every pod without a node, filters and scores the nodes for\n"+
			"each and writes a Binding: the Pending pods get a node and the kubelets there start them.")
}

func controllerManager() Lab {
	return stoppedControlPlane("controller-manager", render.UnitControllerManager, "a Deployment makes no ReplicaSet",
		"A new Deployment makes nothing: kubectl create deployment answers \"created\", but no ReplicaSet and no\n"+
			"pod ever appear. Pods that were running go on running, and the API answers.",
		"lab-stuck",
		"Its control loops (Deployment, ReplicaSet, EndpointSlice, node lifecycle,\n"+
			"garbage collector, ...) do not run: the API stores every object, and nothing acts on them. The lease\n"+
			"kube-system/kube-controller-manager is no longer renewed.",
		"Started, one instance takes the lease kube-system/kube-controller-manager, its informers list every\n"+
			"object, and each loop compares what is asked with what is: the Deployment controller makes the missing\n"+
			"ReplicaSet, the ReplicaSet controller its pod, and the scheduler (which was running all along) places it.")
}

func containerd() Lab {
	return Lab{
		Name:  "containerd",
		Title: "containerd is stopped on one node",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab containerd needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Node: ws[len(ws)-1]}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Node %s went NotReady (its status: Unknown). Its pods still answer at their IPs, but kubectl\n"+
				"exec and logs to them fail, and nothing new starts there.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl get nodes", "kubectl describe node " + t.Node.Name}
		},
		Reveal: func(t Target) []string {
			return []string{t.hw("logs", t.Node.Name, "kubelet"), t.shell(t.Node, "systemctl status containerd kubelet"), t.shell(t.Node, "systemctl cat kubelet")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("containerd was stopped on %s, and the kubelet with it: kubelet.service says\n"+
				"Requires=containerd.service, so systemd stops the kubelet when containerd stops (and does not start it\n"+
				"again when containerd comes back). With no kubelet posting its status, the node lifecycle controller\n"+
				"marks the node Unknown after its grace period (about 50 s). The pods' processes keep running:\n"+
				"containerd's unit stops with KillMode=process, so the shims and their containers outlive it.", t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.shell(t.Node, "systemctl start containerd kubelet")} },
		Why: func(t Target) string {
			return fmt.Sprintf("Started, containerd finds its shims again (they kept running) and answers on %s;\n"+
				"the kubelet comes back, asks containerd for the pods it has, finds them running, and posts a Ready node\n"+
				"status. Starting only containerd would leave the kubelet stopped: Requires= works one way.", render.ContainerdSocket)
		},
		Step:   "workers",
		Probes: []string{"deployment", "exec"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			if err := run(ctx, e, t.Node, "systemctl", "stop", "containerd"); err != nil {
				return err
			}
			// systemd stops the kubelet too (Requires=); the node goes
			// Unknown after the grace period. Wait for it, so a check right
			// after start sees the break.
			return waitNodeNotReady(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// workers starts the unit that is enabled but stopped.
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}

// waitNodeNotReady waits until node n is no longer Ready (False or
// Unknown).
func waitNodeNotReady(ctx context.Context, e steps.Env, n config.Node) error {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	return wait.Until(ctx, fmt.Sprintf("node %s NotReady", n.Name), time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		nd, err := admin.Clientset.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status != corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("still Ready (%s)", c.Message)
			}
		}
		return false, fmt.Errorf("no Ready condition")
	})
}
