package kube

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// argoApplications is the resource of Argo CD's Application kind.
var argoApplications = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// ArgoApp is what an Argo CD Application's status says: whether the
// cluster matches Git (Sync: Synced or OutOfSync) at which commit
// (Revision), whether what it deployed works (Health: Healthy,
// Progressing, Degraded, Missing ...), and its conditions (errors the
// controller met, such as a repository it cannot reach).
type ArgoApp struct {
	Sync, Revision, Health string
	// Operation is the phase of the last sync operation (Running,
	// Succeeded, Failed) and its message.
	Operation, OperationMessage string
	Conditions                  []string
}

// Ready is Synced and Healthy.
func (a ArgoApp) Ready() bool { return a.Sync == "Synced" && a.Health == "Healthy" }

// String is one line for a wait's error and for verify.
func (a ArgoApp) String() string {
	s := fmt.Sprintf("sync %s, health %s", orNone(a.Sync), orNone(a.Health))
	if a.Revision != "" {
		s += " at " + short(a.Revision)
	}
	if a.Operation != "" && a.Operation != "Succeeded" {
		s += fmt.Sprintf("; last sync %s: %s", a.Operation, a.OperationMessage)
	}
	if len(a.Conditions) > 0 {
		s += "; " + strings.Join(a.Conditions, "; ")
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// GetArgoApp reads the Application namespace/name.
func GetArgoApp(ctx context.Context, d dynamic.Interface, namespace, name string) (ArgoApp, error) {
	u, err := d.Resource(argoApplications).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ArgoApp{}, err
	}
	str := func(path ...string) string { s, _, _ := unstructured.NestedString(u.Object, path...); return s }
	a := ArgoApp{
		Sync:             str("status", "sync", "status"),
		Revision:         str("status", "sync", "revision"),
		Health:           str("status", "health", "status"),
		Operation:        str("status", "operationState", "phase"),
		OperationMessage: str("status", "operationState", "message"),
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		a.Conditions = append(a.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	return a, nil
}

// RefreshArgoApp asks the controller to compare the Application with Git
// now (the annotation the argocd CLI and the webhooks set), instead of at
// its next periodic look.
func RefreshArgoApp(ctx context.Context, d dynamic.Interface, namespace, name string) error {
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`)
	_, err := d.Resource(argoApplications).Namespace(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
