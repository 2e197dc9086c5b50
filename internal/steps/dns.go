package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/kube"
)

func dnsStep() Step {
	return Step{
		Name:    "dns",
		Title:   "Cluster DNS: CoreDNS behind the kube-dns Service",
		Explain: explainDNS,
		Run:     runDNS,
	}
}

const dnsProbePod = "hardway-dns-probe"

func runDNS(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	coredns, err := c.manifest("coredns.yaml")
	if err != nil {
		return nil, err
	}
	admin, err := c.Admin()
	if err != nil {
		return nil, err
	}
	applied, err := admin.Apply(ctx, coredns, c.DryRun)
	changes := appliedChanges(applied)
	if err != nil || c.DryRun {
		return changes, err
	}
	deps := admin.Clientset.AppsV1().Deployments("kube-system")
	if err := c.until(ctx, "CoreDNS pods to be available", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := deps.Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want {
			return true, nil
		}
		if why := kube.PodTrouble(ctx, admin.Clientset, "kube-system", "k8s-app=kube-dns"); why != "" {
			return false, fmt.Errorf("%d of %d available: %s", d.Status.AvailableReplicas, want, why)
		}
		return false, fmt.Errorf("%d of %d available", d.Status.AvailableReplicas, want)
	}); err != nil {
		return changes, err
	}
	return changes, c.probeDNS(ctx)
}

// dnsProbeScript keeps the probe pod alive until it is deleted (and lets it
// end at once then: sleep alone would ignore SIGTERM as PID 1).
const dnsProbeScript = `trap 'exit 0' TERM; while :; do sleep 3600 & wait; done`

// probeDNS proves an answer comes back the way a pod asks: a pod resolves
// kubernetes.default through the kube-dns Service IP. The pod stays (in
// kube-system, like the smoke tests' Deployment in theirs), so a later run
// asks again in a fraction of a second instead of starting a pod.
func (c *Cluster) probeDNS(ctx context.Context) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	pods := admin.Clientset.CoreV1().Pods("kube-system")
	zero := int64(0)
	name := "kubernetes.default.svc." + c.Config.Network.ClusterDomain
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dnsProbePod, Namespace: "kube-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "hardway"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "probe", Image: images.TestApp, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", dnsProbeScript},
			}},
		},
	}
	var pod *corev1.Pod
	err = c.until(ctx, "the DNS probe pod to run", 500*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, dnsProbePod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = pods.Create(ctx, want, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return false, err
			}
			return false, fmt.Errorf("created")
		case err != nil:
			return false, err
		case p.DeletionTimestamp != nil:
			return false, fmt.Errorf("the previous probe pod is still being deleted")
		case len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != images.TestApp || p.Spec.RestartPolicy != corev1.RestartPolicyAlways:
			// An older hardway's one-shot probe pod: replace it.
			_ = pods.Delete(ctx, dnsProbePod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			return false, fmt.Errorf("replacing an older probe pod")
		case p.Status.Phase != corev1.PodRunning:
			return false, fmt.Errorf("probe pod %s", p.Status.Phase)
		}
		pod = p
		return true, nil
	})
	if err != nil {
		return err
	}
	var out string
	err = c.until(ctx, "a DNS answer for "+name, 500*time.Millisecond, 90*time.Second, func(ctx context.Context) (bool, error) {
		out, err = admin.Exec(ctx, pod, "nslookup", name, c.Config.Network.ClusterDNS)
		if err != nil {
			return false, fmt.Errorf("nslookup in pod %s: %v", dnsProbePod, err)
		}
		if got := answers(out); !slices.Contains(got, c.Config.KubernetesServiceIP()) {
			return false, fmt.Errorf("%s resolved to %v, want %s: %s", name, got, c.Config.KubernetesServiceIP(), strings.TrimSpace(out))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	c.Log.Logf(1, "  dns: %s → %s", name, c.Config.KubernetesServiceIP())
	return nil
}

func explainDNS(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(dnsProse)
	section(&b, "For this cluster")
	fmt.Fprintf(&b, "  Service kube-system/kube-dns at %s (port 53 UDP and TCP); every pod's resolv.conf names it.\n", c.Config.Network.ClusterDNS)
	fmt.Fprintf(&b, "  Domain %s: a Service web in namespace shop is web.shop.svc.%s.\n", c.Config.Network.ClusterDomain, c.Config.Network.ClusterDomain)
	in, err := c.Inputs()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "  Image %s, built from source and imported on every node (never pulled).\n", in.CoreDNSImage)
	coredns, err := c.manifest("coredns.yaml")
	if err != nil {
		return "", err
	}
	section(&b, "The manifest applied (coredns.yaml)")
	b.WriteString(indent(string(coredns), "  │ "))
	return b.String(), nil
}

// answers are the addresses in nslookup's output after the "Name:" line (the
// lines before it name the server that was asked).
func answers(out string) []string {
	var got []string
	seenName := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Name:"):
			seenName = true
		case seenName && strings.HasPrefix(l, "Address:"):
			addr := strings.TrimSpace(strings.TrimPrefix(l, "Address:"))
			if i := strings.LastIndex(addr, ":"); i > 0 && strings.Count(addr, ".") == 3 {
				addr = addr[:i] // "10.32.0.10:53" style
			}
			got = append(got, addr)
		}
	}
	return got
}
