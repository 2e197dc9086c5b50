package steps

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
)

// Stage is one part of the cluster found healthy, and when.
type Stage struct {
	Name string
	At   time.Duration // since the wait began
}

// WaitHealthy waits until the whole cluster serves again after its machines
// (re)started at since: every etcd member healthy, every API server ready
// and the load balancer passing, every kubelet back (its lease renewed after
// since, so a Ready left over from before the stop does not count) and
// Ready, CoreDNS available. It reports each stage as it passes.
func (c *Cluster) WaitHealthy(ctx context.Context, since time.Time, timeout time.Duration, report func(Stage)) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := func(name string) { report(Stage{Name: name, At: time.Since(start)}) }
	if err := c.waitEtcd(ctx, timeout); err != nil {
		return err
	}
	done("etcd")
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	for _, n := range c.Config.ControlPlanes() {
		if err := c.waitAPIServer(ctx, admin, n); err != nil {
			return err
		}
	}
	if err := c.until(ctx, "/readyz through "+c.Config.APIServerURL(), 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		err := admin.Readyz(ctx)
		return err == nil, err
	}); err != nil {
		return err
	}
	done("api")
	err = c.forEachNode(ctx, c.Config.Workers(), func(ctx context.Context, n config.Node) error {
		return c.waitKubeletBack(ctx, n, since, timeout)
	})
	if err != nil {
		return err
	}
	done("nodes")
	deps := admin.Clientset.AppsV1().Deployments("kube-system")
	if err := c.until(ctx, "CoreDNS available", 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		d, err := deps.Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Spec.Replicas != nil && d.Status.AvailableReplicas == *d.Spec.Replicas {
			return true, nil
		}
		return false, fmt.Errorf("%d available", d.Status.AvailableReplicas)
	}); err != nil {
		return err
	}
	done("dns")
	return nil
}
