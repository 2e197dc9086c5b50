package verify

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/kube"
)

// rolloutLabel marks the Deployments of the rollout check, so one left by
// an interrupted run is removed by the next.
const rolloutLabel = "hardway.dev/rollout-check"

// checkRollout creates a new Deployment and follows it to a Ready pod:
// the Deployment controller must make a ReplicaSet, the ReplicaSet
// controller a pod (both in kube-controller-manager), the scheduler must
// bind it and a kubelet run it. The other checks use the long-lived hello
// pods, which keep running when the controller manager or the scheduler
// stops; this one fails then, naming the stage that did not happen.
func checkRollout(ctx context.Context, s *session) error {
	cs := s.env.Client
	if err := ensureNamespace(ctx, cs); err != nil {
		return err
	}
	deps := cs.AppsV1().Deployments(Namespace)
	background := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &background}
	if err := deps.DeleteCollection(ctx, del, metav1.ListOptions{LabelSelector: rolloutLabel}); err != nil {
		return err
	}
	name := "rollout-" + strconv.FormatInt(time.Now().UnixNano()%(1<<32), 36)
	labels := map[string]string{"app": name, rolloutLabel: "true"}
	one := int32(1)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// Restricted, like the deployment check's: no Pod Security
				// warning whatever podSecurity the config sets.
				Spec: corev1.PodSpec{SecurityContext: restrictedPod(), Containers: []corev1.Container{{
					Name: "hello", Image: images.TestApp, ImagePullPolicy: corev1.PullNever,
					SecurityContext: restrictedContainer(),
				}}},
			},
		},
	}
	if _, err := deps.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	// Removed whatever happens; a cancelled check still cleans up.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = deps.Delete(dctx, name, del)
	}()
	last := "the Deployment has no ReplicaSet: the Deployment controller (kube-controller-manager) has not acted"
	err := poll(ctx, func() (bool, error) {
		rss, err := cs.AppsV1().ReplicaSets(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		if len(rss.Items) == 0 {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		if len(pods.Items) == 0 {
			last = "ReplicaSet " + rss.Items[0].Name + " has no pod: the ReplicaSet controller (kube-controller-manager) has not acted"
			return false, nil
		}
		p := pods.Items[0]
		switch {
		case p.Spec.NodeName == "":
			last = "pod " + p.Name + " is Pending with no node: kube-scheduler has not bound it"
		case !kube.PodReady(p):
			last = "pod " + p.Name + " is bound to " + p.Spec.NodeName + " but not Ready: the kubelet there has not started it (" + string(p.Status.Phase) + ")"
		default:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%s (%v)", last, err)
	}
	return nil
}
