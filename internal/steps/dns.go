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
		return false, fmt.Errorf("%d of %d available", d.Status.AvailableReplicas, want)
	}); err != nil {
		return changes, err
	}
	return changes, c.probeDNS(ctx)
}

// probeDNS proves an answer comes back the way a pod asks: a short-lived pod
// resolves kubernetes.default through the kube-dns Service IP.
func (c *Cluster) probeDNS(ctx context.Context) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	pods := admin.Clientset.CoreV1().Pods("kube-system")
	zero := int64(0)
	_ = pods.Delete(ctx, dnsProbePod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	name := "kubernetes.default.svc." + c.Config.Network.ClusterDomain
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dnsProbePod, Namespace: "kube-system"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "nslookup", Image: images.TestApp, ImagePullPolicy: corev1.PullNever,
				Command: []string{"nslookup", name, c.Config.Network.ClusterDNS},
			}},
		},
	}
	err = c.until(ctx, "the probe pod to be created", time.Second, 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			return true, nil
		}
		if apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("the previous probe pod is still being deleted")
		}
		return false, err
	})
	if err != nil {
		return err
	}
	defer func() {
		_ = pods.Delete(context.WithoutCancel(ctx), dnsProbePod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	var logs string
	err = c.until(ctx, "a DNS answer for "+name, time.Second, 90*time.Second, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, dnsProbePod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if b, err := pods.GetLogs(dnsProbePod, &corev1.PodLogOptions{}).DoRaw(ctx); err == nil {
			logs = strings.TrimSpace(string(b))
		}
		if p.Status.Phase == corev1.PodSucceeded {
			return true, nil
		}
		return false, fmt.Errorf("probe pod %s: %s", p.Status.Phase, logs)
	})
	if err != nil {
		return err
	}
	if got := answers(logs); !slices.Contains(got, c.Config.KubernetesServiceIP()) {
		return fmt.Errorf("%s resolved to %v, want %s: %s", name, got, c.Config.KubernetesServiceIP(), logs)
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
