package lab

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// gitopsDrift: the Application's automated sync is turned off and the
// app's Service deleted by hand. Argo CD sees the drift (OutOfSync,
// Missing) but, told not to act, only reports it; the app answers nobody.
func gitopsDrift() Lab {
	app, ns, appNS := render.ArgoCDApp, render.ArgoCDNamespace, render.ArgoCDAppNamespace
	return Lab{
		Name:  "gitops-drift",
		Title: "an Argo CD Application out of sync",
		Needs: config.AddonArgoCD,
		Target: func(c *config.Cluster) (Target, error) {
			return Target{Cluster: c.Name, Values: map[string]string{"url": render.ArgoCDRepoURL(c)}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("The app Argo CD deploys from %s no longer answers at its Service\n"+
				"(http://%s.%s.svc/). Git has not changed, and Argo CD's pods all run.", t.Values["url"], app, appNS)
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s get application %s", ns, app), fmt.Sprintf("kubectl -n %s get deployment,service", appNS)}
		},
		Reveal: func(t Target) []string {
			return []string{
				fmt.Sprintf("kubectl -n %s get application %s -o jsonpath='{.status.resources}'", ns, app),
				fmt.Sprintf("kubectl -n %s get application %s -o jsonpath='{.spec.syncPolicy}'", ns, app),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("Someone deleted Service %s/%s by hand and, before that, turned off the Application's automated\n"+
				"sync. Argo CD compares Git with the cluster all the same: the Service is in Git and not in the cluster,\n"+
				"so the Application is OutOfSync and the Service Missing. Without automated sync (and selfHeal) Argo CD\n"+
				"only reports the drift; it waits for someone to sync.", appNS, app)
		},
		Fix: func(t Target) []string {
			return []string{fmt.Sprintf(`kubectl -n %s patch application %s --type merge -p '{"spec":{"syncPolicy":{"automated":{"prune":true,"selfHeal":true}}}}'`, ns, app)}
		},
		Why: func(t Target) string {
			return "With automated sync back on, the application-controller applies what Git holds whenever the live\n" +
				"objects differ from it (selfHeal: also when the difference was made in the cluster, not in Git). It\n" +
				"creates the missing Service within seconds, the Application turns Synced and, once the Service has\n" +
				"its endpoints, Healthy. The same sync would run once with argocd app sync, or a sync operation written\n" +
				"into the Application's .operation field."
		},
		Step:   config.AddonArgoCD,
		Probes: []string{"gitops"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			d, err := dynamic.NewForConfig(admin.REST)
			if err != nil {
				return err
			}
			apps := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
			patch := []byte(`{"spec":{"syncPolicy":{"automated":null}}}`)
			if _, err := d.Resource(apps).Namespace(ns).Patch(ctx, app, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
				return fmt.Errorf("turning off the Application's automated sync: %w (is argocd installed? hardway up --name %s)", err, t.Cluster)
			}
			err = admin.Clientset.CoreV1().Services(appNS).Delete(ctx, app, metav1.DeleteOptions{})
			if err != nil {
				return fmt.Errorf("deleting Service %s/%s: %w", appNS, app, err)
			}
			return nil
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The add-on's step applies the Application as hardway wrote it
			// (automated sync on) and waits until it is Synced and Healthy.
			_, err := e.Rerun(ctx, config.AddonArgoCD)
			return err
		},
	}
}
