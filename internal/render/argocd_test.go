package render

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/config"
)

// TestArgoCDManifests: every document parses; the objects are those the
// add-on's removal lists (kinds and counts); the Git server's seed is the
// app's file byte for byte; every pod meets Pod Security's restricted
// level, which the namespace enforces; the Application points at the
// in-cluster repository with the config's cluster domain.
func TestArgoCDManifests(t *testing.T) {
	c := config.Default()
	c.Network.ClusterDomain = "example.internal"
	m, err := ArgoCDManifests(c, "v3.6.1", "quay.io/argoproj/argocd:v3.6.1", "hardway.local/argocd-redis:v3.6.1")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var seed string
	pods := 0
	for _, part := range [][]byte{m.Objects, m.App} {
		for _, doc := range strings.Split(string(part), "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("document does not parse: %v\n%s", err, doc)
			}
			kind := obj["kind"].(string)
			kinds[kind]++
			meta := obj["metadata"].(map[string]any)
			if kind == "ConfigMap" && meta["name"] == ArgoCDGitName+"-seed" {
				seed = obj["data"].(map[string]any)[ArgoCDAppFile].(string)
			}
			if kind == "Deployment" || kind == "StatefulSet" {
				pods++
				spec := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
				psc := spec["securityContext"].(map[string]any)
				if psc["runAsNonRoot"] != true || psc["seccompProfile"].(map[string]any)["type"] != "RuntimeDefault" {
					t.Errorf("%s %s: pod security context %v does not meet restricted", kind, meta["name"], psc)
				}
				for _, key := range []string{"initContainers", "containers"} {
					list, _ := spec[key].([]any)
					for _, ct := range list {
						sc := ct.(map[string]any)["securityContext"].(map[string]any)
						if sc["allowPrivilegeEscalation"] != false || !strings.Contains(strings.Join(strings.Fields(toString(sc["capabilities"])), " "), "ALL") {
							t.Errorf("%s %s: container security context %v does not meet restricted", kind, meta["name"], sc)
						}
					}
				}
			}
		}
	}
	want := map[string]int{"Namespace": 1, "ServiceAccount": 4, "Role": 3, "RoleBinding": 3, "ClusterRole": 2, "ClusterRoleBinding": 2,
		"ConfigMap": 4, "Secret": 1, "Service": 4, "Deployment": 4, "StatefulSet": 1, "AppProject": 1, "Application": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	if len(kinds) != len(want) {
		t.Errorf("kinds %v, want exactly %v", kinds, want)
	}
	if pods != 5 {
		t.Errorf("%d workloads, want 5", pods)
	}
	if seed != string(m.AppFile) {
		t.Errorf("the Git server's seed differs from the app's file:\n%s\n---\n%s", seed, m.AppFile)
	}
	var app []map[string]any
	for _, doc := range strings.Split(string(m.AppFile), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("the app's file does not parse: %v\n%s", err, doc)
		}
		app = append(app, obj)
	}
	if len(app) != 3 {
		t.Errorf("the app's file has %d objects, want ConfigMap, Deployment, Service", len(app))
	}
	for _, s := range []string{
		"repoURL: git://git.argocd.svc.example.internal/app.git",
		`sourceRepos: ["git://git.argocd.svc.example.internal/app.git"]`,
		"namespace: " + ArgoCDAppNamespace, "prune: true", "selfHeal: true",
	} {
		if !strings.Contains(string(m.App), s) {
			t.Errorf("the Application lacks %q", s)
		}
	}
	for _, s := range []string{
		"image: quay.io/argoproj/argocd:v3.6.1", "image: hardway.local/argocd-redis:v3.6.1",
		"pod-security.kubernetes.io/enforce: restricted", "timeout.reconciliation: " + ArgoCDReconcile,
		"git daemon", "--enable=receive-pack",
	} {
		if !strings.Contains(string(m.Objects), s) {
			t.Errorf("the manifests lack %q", s)
		}
	}
}

func toString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}
