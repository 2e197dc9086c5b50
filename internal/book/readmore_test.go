package book

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestReadMore: every chapter links the upstream pages it deepens, and each
// link is a well-formed https URL on a project's own documentation site.
func TestReadMore(t *testing.T) {
	hosts := map[string]bool{"kubernetes.io": true, "etcd.io": true, "github.com": true, "www.cni.dev": true, "coredns.io": true,
		// the prerequisites' and the managed services' own documentation
		"go.dev": true, "docs.docker.com": true, "docs.aws.amazon.com": true, "cloud.google.com": true, "learn.microsoft.com": true}
	chapters, _, err := Chapters(testInput(false))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, ch := range chapters {
		all[ch.ID] = true
	}
	link := regexp.MustCompile(`\[([^\]]+)\]\((https?://[^)]*)\)`)
	for id, links := range ReadMore() {
		if !all[id] && !strings.HasPrefix(id, "step-") {
			t.Errorf("read-more links for %q, which is no chapter", id)
		}
		for _, l := range links {
			u, err := url.Parse(l.URL)
			switch {
			case err != nil:
				t.Errorf("%s: %q: %v", id, l.URL, err)
			case u.Scheme != "https" || !hosts[u.Host] || u.Path == "" || strings.ContainsAny(l.URL, " «»`"):
				t.Errorf("%s: %q is not an https link to a project's documentation", id, l.URL)
			case u.Host == "kubernetes.io" && (!strings.HasPrefix(u.Path, "/docs/") || !strings.HasSuffix(u.Path, "/")):
				t.Errorf("%s: %q: kubernetes.io pages are /docs/…/ with a trailing slash", id, l.URL)
			case l.Title == "":
				t.Errorf("%s: %q has no title", id, l.URL)
			}
		}
	}
	for _, ch := range chapters {
		if len(ReadMore()[ch.ID]) == 0 && !strings.HasPrefix(ch.ID, "step-") {
			t.Errorf("chapter %s links no upstream page", ch.ID)
		}
		for _, l := range ReadMore()[ch.ID] {
			found := false
			for _, m := range link.FindAllStringSubmatch(ch.Body, -1) {
				if m[2] == l.URL && m[1] == l.Title {
					found = true
				}
			}
			if !found {
				t.Errorf("chapter %s does not link %s", ch.ID, l.URL)
			}
		}
	}
}
