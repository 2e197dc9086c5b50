package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"

	"hardway.dev/hardway/internal/kube"
)

// GitOps names what the gitops check looks at when Argo CD is on.
type GitOps struct {
	// Namespace and Application name the Argo CD Application.
	Namespace, Application string
	// URL is where its app answers inside the cluster (its Service), and
	// Want a text its page holds whatever the revision.
	URL, Want string
}

// GitOpsBound is how long the gitops check waits for the Application to
// be Synced and Healthy: right after a start or a restore the controller
// first rebuilds its cache of the cluster and looks at Git again.
const GitOpsBound = 3 * time.Minute

// checkGitOps reads the Application's status until it is Synced and
// Healthy (what Argo CD itself says: the cluster matches the Git revision
// and the app's Deployment is available), then fetches the app's page
// through its Service from a test pod: the thing Argo CD deployed answers.
func checkGitOps(ctx context.Context, s *session) ([]string, error) {
	g := s.env.GitOps
	d, err := dynamic.NewForConfig(s.env.REST)
	if err != nil {
		return nil, err
	}
	var app kube.ArgoApp
	start := time.Now()
	err = poll(ctx, func() (bool, error) {
		app, err = kube.GetArgoApp(ctx, d, g.Namespace, g.Application)
		if err != nil {
			return false, fmt.Errorf("reading Application %s/%s (is the argocd add-on installed? hardway up): %w", g.Namespace, g.Application, err)
		}
		return app.Ready(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("Application %s/%s: %s after %.0fs (kubectl -n %s describe application %s)", g.Namespace, g.Application, app, time.Since(start).Seconds(), g.Namespace, g.Application)
	}
	detail := []string{fmt.Sprintf("Application %s/%s: %s", g.Namespace, g.Application, app)}
	p := s.pods[0]
	var out string
	var last error
	err = poll(ctx, func() (bool, error) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, last = s.exec(tctx, p, "wget", "-T", "3", "-q", "-O", "-", g.URL)
		return last == nil && strings.Contains(out, g.Want), nil
	})
	if err != nil {
		return nil, fmt.Errorf("the app Argo CD deployed does not answer: wget %s from pod %s: %v %s", g.URL, p.Name, last, truncate([]byte(strings.TrimSpace(out)), 200))
	}
	return append(detail, fmt.Sprintf("pod %s fetched %s: %q", p.Name, g.URL, firstLine(out, g.Want))), nil
}

// firstLine is the line of out that holds want.
func firstLine(out, want string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			return strings.TrimSpace(l)
		}
	}
	return want
}
