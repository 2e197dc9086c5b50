package kube

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"hardway.dev/hardway/internal/wait"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets: a new value makes the Deployment replace every pod. Using
// kubectl's key means a learner's own `kubectl rollout restart` and
// hardway's look the same in `kubectl rollout history`.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// RolloutRestart does what `kubectl rollout restart deployment` does and
// waits, at most timeout, until every new pod is available and no old one
// is left.
func (c *Client) RolloutRestart(ctx context.Context, namespace, name, fieldManager string, timeout time.Duration) error {
	deps := c.Clientset.AppsV1().Deployments(namespace)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
	d, err := deps.Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		return fmt.Errorf("restarting deployment %s/%s: %w", namespace, name, err)
	}
	gen := d.Generation
	return wait.Until(ctx, fmt.Sprintf("deployment %s/%s restarted", namespace, name), time.Second, timeout, func(ctx context.Context) (bool, error) {
		d, err := deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return RolledOut(d, gen)
	})
}

// RolledOut: the Deployment's controller has seen generation gen and every
// replica is updated and available, nothing old is left. The error says
// how far it got.
func RolledOut(d *appsv1.Deployment, gen int64) (bool, error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.ObservedGeneration >= gen && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want {
		return true, nil
	}
	return false, fmt.Errorf("%d of %d updated, %d available, %d in all", s.UpdatedReplicas, want, s.AvailableReplicas, s.Replicas)
}
