package render

import (
	"bytes"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
)

// Argo CD's names: where it runs, its Git server and the app it syncs.
const (
	ArgoCDNamespace = "argocd"
	// ArgoCDGitName is the Git server's Deployment and Service.
	ArgoCDGitName = "git"
	// ArgoCDGitRepo is the one repository it serves.
	ArgoCDGitRepo = "app.git"
	// ArgoCDApp is the Application, and the Deployment and Service it
	// deploys.
	ArgoCDApp = "hello"
	// ArgoCDAppNamespace is where the Application deploys them.
	ArgoCDAppNamespace = "hardway-gitops"
	// ArgoCDAppFile is the app's one file in the repository.
	ArgoCDAppFile = "hello.yaml"
	// ArgoCDReconcile is how often the controller looks for a new
	// revision unasked.
	ArgoCDReconcile = "30s"
	// ArgoCDAppGreeting is on the app's page at every revision.
	ArgoCDAppGreeting = "Hello from GitOps"
)

// ArgoCDRepoURL is the repository's address inside the cluster.
func ArgoCDRepoURL(c *config.Cluster) string {
	return fmt.Sprintf("git://%s.%s.svc.%s/%s", ArgoCDGitName, ArgoCDNamespace, c.Network.ClusterDomain, ArgoCDGitRepo)
}

// ArgoCD is what the argocd add-on applies besides its CRDs: Objects
// (namespace, RBAC, settings, Redis, repo-server, controller, server and the
// Git server with its seed), and App (the AppProject and Application, of
// kinds the CRDs define). AppFile is the app's file as first committed.
type ArgoCD struct {
	Objects []byte
	App     []byte
	AppFile []byte
}

// ArgoCDManifests renders the argocd add-on for c with the given images.
func ArgoCDManifests(c *config.Cluster, version, image, redisImage string) (ArgoCD, error) {
	r, err := newRenderer()
	if err != nil {
		return ArgoCD{}, err
	}
	v := struct {
		Version, Namespace, Image, RedisImage string
		GitName, GitRepo, RepoURL, Reconcile  string
		AppName, AppNamespace, TestApp, Seed  string
		Greeting                              string
		AppPort                               int
	}{
		Version: version, Namespace: ArgoCDNamespace, Image: image, RedisImage: redisImage,
		GitName: ArgoCDGitName, GitRepo: ArgoCDGitRepo, RepoURL: ArgoCDRepoURL(c), Reconcile: ArgoCDReconcile,
		AppName: ArgoCDApp, AppNamespace: ArgoCDAppNamespace, TestApp: images.TestApp, AppPort: images.TestAppPort,
		Greeting: ArgoCDAppGreeting,
	}
	exec := func(name string) ([]byte, error) {
		var b bytes.Buffer
		if err := r.t.ExecuteTemplate(&b, name+".tmpl", v); err != nil {
			return nil, fmt.Errorf("rendering %s (a bug in hardway): %w", name, err)
		}
		return b.Bytes(), nil
	}
	var out ArgoCD
	if out.AppFile, err = exec("argocd-hello.yaml"); err != nil {
		return ArgoCD{}, err
	}
	// The seed ConfigMap carries the file as a block scalar.
	v.Seed = "  " + ArgoCDAppFile + ": |\n" + indentLines(string(out.AppFile), "    ")
	if out.Objects, err = exec("argocd.yaml"); err != nil {
		return ArgoCD{}, err
	}
	if out.App, err = exec("argocd-app.yaml"); err != nil {
		return ArgoCD{}, err
	}
	return out, nil
}

// indentLines puts prefix before every non-empty line of s.
func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
		b.WriteString("\n")
	}
	return b.String()
}
