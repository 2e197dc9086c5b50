package book

import (
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

const gitopsTitle = "GitOps: a control loop whose desired state is in Git"

// gitops is the chapter on Argo CD's loop. It is written for every
// cluster (the loop is worth knowing) and says how to turn the add-on on
// where it is off; the argocd step's chapter has what this cluster runs.
func (w *writer) gitops() Chapter {
	c := w.c
	on := c.Addon(config.AddonArgoCD)
	url := render.ArgoCDRepoURL(c)
	var d doc
	d.p(`
		The controllers of Kubernetes compare an object's spec with the world
		and act on the difference. GitOps puts one more loop on top: the specs
		themselves are kept in a Git repository, and a controller in the
		cluster makes the cluster's objects match what the repository holds
		at a revision. Nobody runs «kubectl apply»: a commit is the change,
		«git log» is the history, «git revert» is the rollback.`)
	if !on {
		d.p(`
			This cluster does not run it: add «%s» to «addons» in the config and
			run «hardway up» (Argo CD is built from source the first time, which
			takes long; «docs/addons.md» says how long).`, config.AddonArgoCD)
	}

	d.h2("Argo CD's loop, part by part")
	d.table([]string{"Part", "Runs as", "Does"}, [][]string{
		{"Desired state", "a Git repository (here «" + url + "»)", "holds the app's manifests; a branch («main») names the revision to deploy"},
		{"repo-server", "Deployment «argocd-repo-server»", "fetches the repository at that revision with git and renders the manifests (plain YAML, Helm, Kustomize); caches the result by commit in Redis"},
		{"application-controller", "StatefulSet «argocd-application-controller»", "watches every kind of object in the cluster; for each Application compares the rendered manifests with the live objects: equal is «Synced», different «OutOfSync»"},
		{"sync", "the same controller", "with automated sync, applies the difference (server-side dry run first); «prune» deletes what Git no longer has, «selfHeal» undoes changes made in the cluster"},
		{"health", "the same controller", "judges the live objects: a Deployment whose pods are available is «Healthy», one rolling out «Progressing», one failing «Degraded»; the Application's health is the worst of its objects'"},
	})
	d.p(`
		The loop runs when something changes in the cluster (the controller's
		watches), when the Application is asked to refresh (the annotation
		«argocd.argoproj.io/refresh», which webhooks and the «argocd» CLI set),
		and at the latest every «timeout.reconciliation» (%s here; upstream's
		default is three minutes), when the repo-server asks Git whether the
		branch moved.`, render.ArgoCDReconcile)

	d.h2("Following one commit")
	d.list(
		"A push moves branch «main» of «"+render.ArgoCDGitRepo+"» to a new commit.",
		"At its next look the controller asks the repo-server for «main»; the repo-server resolves it to the new commit, fetches it and renders «"+render.ArgoCDAppFile+"».",
		"The controller finds the Deployment's pod template changed (it now mounts the new page's ConfigMap): the Application is «OutOfSync».",
		"Automated sync applies the new ConfigMap and Deployment and, with prune, deletes the old ConfigMap; «.status.sync.revision» is the new commit.",
		"The Deployment controller rolls out new pods (the loops of the control-loops chapter); while they start the Application is «Progressing», then «Healthy».",
	)
	d.p(`
		hardway's «verify» reads the same two words: its «gitops» check waits
		for «Synced» and «Healthy», then fetches the app's page from a test
		pod.`)
	d.pre("sh", "kubectl -n "+render.ArgoCDNamespace+" get application "+render.ArgoCDApp+" -o jsonpath='{.status.sync.status} {.status.sync.revision} {.status.health.status}'")

	d.h2("What GitOps changes, and what it does not")
	d.list(
		"Whoever can push to the repository can change the cluster: the controller applies it with its own, broad rights. The «AppProject» narrows one Application to one repository and one namespace.",
		"Drift is visible: a change made with «kubectl» shows as «OutOfSync» (lab «gitops-drift»), and «selfHeal» puts Git's version back.",
		"Secrets do not belong in Git as they are; Argo CD leaves that to other tools (sealed or external secrets).",
	)
	return Chapter{ID: "gitops", Part: PartRun, Title: gitopsTitle, Short: "GitOps", Body: d.String()}
}
