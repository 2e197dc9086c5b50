package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cordon marks a node unschedulable (or schedulable again).
func (c *Client) Cordon(ctx context.Context, node string, unschedulable bool) error {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": unschedulable}})
	_, err := c.Clientset.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("cordoning %s: %w", node, err)
	}
	return nil
}

// Drain cordons node and evicts its pods through the Eviction API, so
// PodDisruptionBudgets are honoured (an eviction they refuse is retried),
// then waits until the evicted pods are gone. DaemonSet pods stay (their
// controller would recreate them at once), and so do static (mirror) pods.
// It gives up after timeout, saying which pods were still there.
func (c *Client) Drain(ctx context.Context, node string, timeout time.Duration) error {
	if err := c.Cordon(ctx, node, true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods := c.Clientset.CoreV1()
	evicted := map[types.UID]string{}
	for {
		list, err := pods.Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return fmt.Errorf("draining %s: %w", node, err)
		}
		var left []string
		for _, p := range list.Items {
			if !evictable(p) {
				continue
			}
			name := p.Namespace + "/" + p.Name
			left = append(left, name)
			if _, done := evicted[p.UID]; done {
				continue
			}
			err := pods.Pods(p.Namespace).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
			switch {
			case err == nil, apierrors.IsNotFound(err):
				evicted[p.UID] = name
			case apierrors.IsTooManyRequests(err):
				// A disruption budget says not now: try again next round.
			default:
				return fmt.Errorf("evicting %s from %s: %w", name, node, err)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(left)
			return fmt.Errorf("draining %s: after %s these pods are still there (a PodDisruptionBudget may forbid evicting them): %s", node, timeout, strings.Join(left, ", "))
		case <-time.After(time.Second):
		}
	}
}

// evictable says whether drain moves the pod away.
func evictable(p corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}

// DeleteNode deletes the Node object; one already gone is no error.
func (c *Client) DeleteNode(ctx context.Context, node string) error {
	err := c.Clientset.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Node %s: %w", node, err)
	}
	return nil
}
