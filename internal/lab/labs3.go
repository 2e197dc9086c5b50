package lab

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
	"hardway.dev/hardway/internal/wait"
)

// Three more labs: an API server down behind the load balancer, CoreDNS
// scaled to nothing, and a stopped kubelet.

func apiServerDown() Lab {
	return Lab{
		Name:  "apiserver-down",
		Title: "one API server is down behind the load balancer",
		Target: func(c *config.Cluster) (Target, error) {
			cps := c.ControlPlanes()
			if len(cps) < 2 || (c.Network.LoadBalancerIP == "" && !c.NodeLocalLB()) {
				return Target{}, fmt.Errorf("lab apiserver-down needs 2 control-plane nodes behind a load balancer (the others keep the API up); cluster %s has %d", c.Name, len(cps))
			}
			n := cps[len(cps)-1]
			return Target{Cluster: c.Name, Node: n, Values: map[string]string{"url": fmt.Sprintf("https://%s:%d/readyz", n.IP, c.Network.APIServerPort)}}, nil
		},
		Symptom: func(t Target) string {
			return "Everything seems to work: kubectl answers, pods run, Services and DNS answer. Yet the cluster has\n" +
				"lost its safety margin on the control plane, and hardway's health check fails."
		},
		Evidence: func(t Target) []string { return []string{t.hw("status")} },
		Reveal: func(t Target) []string {
			return []string{"curl -sk " + t.Values["url"], t.shell(t.Node, "systemctl status kube-apiserver")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("kube-apiserver on %s is stopped. The load balancer checks every API server's /readyz each\n"+
				"second and sends no connection to one that fails, so clients (you, the kubelets, kube-proxy) never\n"+
				"notice; the controller manager and scheduler on %s, which talk to their own node's API server, are\n"+
				"idle but the leaders elsewhere carry on. One more control-plane failure and the API is gone.", t.Node.Name, t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.shell(t.Node, "systemctl start kube-apiserver")} },
		Why: func(t Target) string {
			return "Started, the API server reads everything from etcd (it keeps no state of its own), passes /readyz once\n" +
				"its caches are filled, and the load balancer's next health check puts it back into rotation."
		},
		Step:   "control-plane",
		Probes: []string{"encryption"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return run(ctx, e, t.Node, "systemctl", "stop", render.UnitAPIServer)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			_, err := e.Rerun(ctx, "control-plane")
			return err
		},
	}
}

func corednsScaled() Lab {
	return Lab{
		Name:  "coredns-scaled",
		Title: "CoreDNS runs no pod",
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab coredns-scaled needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Values: map[string]string{"ip": c.Network.ClusterDNS}}, nil
		},
		Symptom: func(t Target) string {
			return "Pods cannot resolve any name: nslookup kubernetes.default from a pod times out. Services still\n" +
				"answer at their IPs, and no pod is failing."
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s exec deploy/hello -- nslookup kubernetes.default", verify.Namespace)}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl -n kube-system get deployment coredns",
				"kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The CoreDNS Deployment is scaled to 0 replicas. No CoreDNS pod runs, so the kube-dns Service has\n"+
				"no endpoints, and every query pods send to %s goes nowhere (kube-proxy rejects it). Nothing\n"+
				"is failing, so nothing restarts: 0 of 0 replicas is a Deployment doing exactly what it was told.", t.Values["ip"])
		},
		Fix: func(t Target) []string {
			return []string{
				"kubectl -n kube-system scale deployment coredns --replicas=2",
				"kubectl -n kube-system rollout status deployment coredns --timeout=120s",
			}
		},
		Why: func(t Target) string {
			return "The ReplicaSet controller creates two CoreDNS pods; once they are Ready the EndpointSlice controller\n" +
				"lists them behind kube-dns, and kube-proxy on every node sends the Service's address to them."
		},
		Step:   "dns",
		Probes: []string{"dns"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			deps := admin.Clientset.AppsV1().Deployments(corednsNamespace)
			sc, err := deps.GetScale(ctx, corednsName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			sc.Spec.Replicas = 0
			if _, err = deps.UpdateScale(ctx, corednsName, sc, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				return err
			}
			// Terminating pods still answer for a moment: wait until none
			// is left, so a check right after start sees the break.
			pods := admin.Clientset.CoreV1().Pods(corednsNamespace)
			return wait.Until(ctx, "no CoreDNS pod left", 500*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, error) {
				l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
				if err != nil {
					return false, err
				}
				if len(l.Items) > 0 {
					return false, fmt.Errorf("%d CoreDNS pods still there", len(l.Items))
				}
				return true, nil
			})
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// dns applies coredns.yaml (replicas: 2), forcing its fields
			// back, then waits for a real answer.
			_, err := e.Rerun(ctx, "dns")
			return err
		},
	}
}

func kubeletStopped() Lab {
	return Lab{
		Name:  "kubelet",
		Title: "a kubelet is stopped",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab kubelet needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Node: ws[0]}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Node %s went NotReady (its status: Unknown). Its pods still answer at their IPs, but kubectl\n"+
				"logs and exec to them fail.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl get nodes", "kubectl -n kube-node-lease get lease " + t.Node.Name}
		},
		Reveal: func(t Target) []string {
			return []string{t.shell(t.Node, "systemctl status kubelet"), t.hw("logs", t.Node.Name, "kubelet")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The kubelet on %s is stopped. Nobody renews the node's lease in kube-node-lease or posts its\n"+
				"status, so the node lifecycle controller marks it Unknown after its grace period (about 50 s); five\n"+
				"minutes later it would start evicting its pods (taint node.kubernetes.io/unreachable). containerd and\n"+
				"the pods run on: nothing on the node stops them, but nothing there answers the API server either.", t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.shell(t.Node, "systemctl start kubelet")} },
		Why: func(t Target) string {
			return "Started, the kubelet renews its lease, asks containerd which pods run, finds them as it left them, and\n" +
				"posts a Ready node status; the node lifecycle controller lifts the unreachable taint."
		},
		Step:   "workers",
		Probes: []string{"deployment", "exec"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			if err := run(ctx, e, t.Node, "systemctl", "stop", "kubelet"); err != nil {
				return err
			}
			return waitNodeNotReady(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}
