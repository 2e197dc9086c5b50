package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/verify"
)

// The argocd add-on.

func argocdAddon() addon {
	img, redis := artifacts.ArgoCDImages()
	return addon{
		name:      config.AddonArgoCD,
		title:     "GitOps: Argo CD " + artifacts.ArgoCDVersion + " syncing an app from the cluster's own Git server",
		prose:     argocdProse,
		images:    []string{img, redis},
		install:   installArgoCD,
		objects:   argocdObjects,
		namespace: render.ArgoCDNamespace,
		explain:   explainArgoCD,
	}
}

func (c *Cluster) argocdManifests() (render.ArgoCD, error) {
	img, redis := artifacts.ArgoCDImages()
	return render.ArgoCDManifests(c.Config, artifacts.ArgoCDVersion, img, redis)
}

// argocdCRDNames are the CRDs of artifacts.argocdCRDFiles; removal needs
// their names without the cache.
func argocdCRDNames() []string {
	return []string{"applications.argoproj.io", "appprojects.argoproj.io", "applicationsets.argoproj.io"}
}

// argocdObjects is everything the add-on makes, for removal (deleted last
// first): the Application and AppProject, then the namespace Argo CD
// deployed the app into (the app goes with it), then Argo CD itself, its
// namespace, and its CRDs.
func argocdObjects(c *Cluster) ([]byte, error) {
	m, err := c.argocdManifests()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	writeCRDNames(&b, argocdCRDNames())
	b.WriteString("---\n")
	b.Write(m.Objects)
	// Made by Argo CD (CreateNamespace=true), not by hardway: named here
	// so that removing the add-on removes the app too.
	fmt.Fprintf(&b, "\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n", render.ArgoCDAppNamespace)
	b.Write(m.App)
	return []byte(b.String()), nil
}

// ArgoCDSyncBound is how long up waits for the Application to be Synced
// and Healthy after Argo CD's pods are ready: a first look at Git, a
// render, an apply and the app's pod starting. Seen: ~20 s on one node.
const ArgoCDSyncBound = 4 * time.Minute

func installArgoCD(ctx context.Context, c *Cluster, admin *kube.Client) ([]converge.Change, error) {
	crds, err := c.addonCRDs(artifacts.CompArgoCD, artifacts.ArgoCDCRDs, "Argo CD's CRDs")
	if err != nil {
		return nil, err
	}
	m, err := c.argocdManifests()
	if err != nil {
		return nil, err
	}
	changes, err := c.applyParts(ctx, admin, crds, m.Objects)
	if err != nil {
		return changes, err
	}
	kinds := []string{"appprojects.argoproj.io", "applications.argoproj.io"}
	applied, err := c.applyAfterCRDs(ctx, admin, kinds, m.App, "Argo CD's Application",
		converge.Change{Action: converge.Wrote, Target: "AppProject " + render.ArgoCDNamespace + "/hardway", Reason: "applied through the API"},
		converge.Change{Action: converge.Wrote, Target: "Application " + render.ArgoCDNamespace + "/" + render.ArgoCDApp, Reason: "applied through the API"})
	changes = append(changes, applied...)
	if err != nil || c.DryRun {
		return changes, err
	}
	return changes, c.waitArgoCD(ctx, admin)
}

// waitArgoCD waits until every part of Argo CD and the Git server are
// ready, then until the Application is Synced and Healthy: the add-on
// is installed when it has done its job once.
func (c *Cluster) waitArgoCD(ctx context.Context, admin *kube.Client) error {
	apps := admin.Clientset.AppsV1()
	ns := render.ArgoCDNamespace
	for _, name := range []string{"argocd-redis", render.ArgoCDGitName, "argocd-repo-server", "argocd-server"} {
		if err := c.until(ctx, "Deployment "+ns+"/"+name+" to be available", time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
			d, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1 && d.Status.AvailableReplicas >= 1 && d.Status.UnavailableReplicas == 0 {
				return true, nil
			}
			return false, fmt.Errorf("%d available (kubectl -n %s describe pods -l app.kubernetes.io/name=%s)", d.Status.AvailableReplicas, ns, name)
		}); err != nil {
			return err
		}
	}
	const ctl = "argocd-application-controller"
	if err := c.until(ctx, "StatefulSet "+ns+"/"+ctl+" to be ready", time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		s, err := apps.StatefulSets(ns).Get(ctx, ctl, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas >= 1 && s.Status.UpdatedReplicas >= 1 {
			return true, nil
		}
		return false, fmt.Errorf("%d ready (kubectl -n %s logs statefulset/%s)", s.Status.ReadyReplicas, ns, ctl)
	}); err != nil {
		return err
	}
	d, err := dynamic.NewForConfig(admin.REST)
	if err != nil {
		return err
	}
	return c.until(ctx, "Application "+ns+"/"+render.ArgoCDApp+" to be Synced and Healthy", time.Second, ArgoCDSyncBound, func(ctx context.Context) (bool, error) {
		a, err := kube.GetArgoApp(ctx, d, ns, render.ArgoCDApp)
		if err != nil {
			return false, err
		}
		if a.Ready() {
			return true, nil
		}
		return false, fmt.Errorf("%s (kubectl -n %s describe application %s; kubectl -n %s logs statefulset/%s)", a, ns, render.ArgoCDApp, ns, ctl)
	})
}

func explainArgoCD(c *Cluster, b *strings.Builder) error {
	fmt.Fprintf(b, "  Repository: %s (git daemon in Deployment %s/%s; push to it through\n", render.ArgoCDRepoURL(c.Config), render.ArgoCDNamespace, render.ArgoCDGitName)
	fmt.Fprintf(b, "    kubectl -n %s port-forward svc/%s 9418, then git push git://127.0.0.1:9418/%s)\n", render.ArgoCDNamespace, render.ArgoCDGitName, render.ArgoCDGitRepo)
	fmt.Fprintf(b, "  Application: %s/%s, deploying into namespace %s, automated sync with prune and self-heal;\n", render.ArgoCDNamespace, render.ArgoCDApp, render.ArgoCDAppNamespace)
	fmt.Fprintf(b, "    the controller looks at Git every %s unasked (argocd-cm timeout.reconciliation).\n", render.ArgoCDReconcile)
	fmt.Fprintf(b, "  No web UI: its npm dependency argo-ui is pinned to a GitHub commit that no package registry\n    serves (docs/addons.md). argocd-server serves the API: kubectl -n %s port-forward svc/argocd-server 8080:80.\n", render.ArgoCDNamespace)
	fmt.Fprintf(b, "  CRDs: Argo CD's own (manifests/crds of github.com/argoproj/argo-cd/v3 %s), kept in the artifact\n  cache with the program.\n", artifacts.ArgoCDVersion)
	m, err := c.argocdManifests()
	if err != nil {
		return err
	}
	section(b, "The app as first committed ("+render.ArgoCDAppFile+")")
	b.WriteString(indent(string(m.AppFile), "  │ "))
	section(b, "The Application")
	b.WriteString(indent(string(m.App), "  │ "))
	section(b, "The manifests applied (after the CRDs)")
	b.WriteString(indent(string(m.Objects), "  │ "))
	return nil
}

const argocdProse = `GitOps keeps what should run in a Git repository and lets a controller
in the cluster make the cluster match it: nobody runs kubectl apply, a
commit is the change, and git log is the history of the cluster.

Argo CD is such a controller. Its loop, for each Application:
  1. the repo-server fetches the Application's repository at its target
     revision (branch main here) and renders the manifests in it (plain
     YAML here; Helm or Kustomize too);
  2. the application-controller compares them with the live objects it
     watches: equal is Synced, different is OutOfSync;
  3. with automated sync it applies the difference (and with prune deletes
     what Git no longer has, with selfHeal puts back what someone changed by
     hand), then judges the result: Healthy when the Deployment's pods are
     available, Progressing while they roll out, Degraded when they fail.
It looks at Git again every few seconds to minutes, or at once when asked
(a webhook, or the refresh annotation).

hardway builds Argo CD from source (one program that is the server, the
repo-server or the controller by the name it is called by), packs it on a
Debian base with git into an image, runs Redis (its cache) from Debian's
package, and serves a Git repository inside the cluster with git daemon.
That repository holds one app: a page, a Deployment of the test app and a
Service. One Application syncs it into namespace hardway-gitops.
`

// gitOpsCheck is what verify's gitops check looks at; nil when Argo CD
// is off.
func (c *Cluster) gitOpsCheck() *verify.GitOps {
	if !c.Config.Addon(config.AddonArgoCD) {
		return nil
	}
	return &verify.GitOps{
		Namespace: render.ArgoCDNamespace, Application: render.ArgoCDApp,
		URL:  fmt.Sprintf("http://%s.%s.svc.%s/", render.ArgoCDApp, render.ArgoCDAppNamespace, c.Config.Network.ClusterDomain),
		Want: render.ArgoCDAppGreeting,
	}
}
