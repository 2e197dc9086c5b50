//go:build browser

package browsercheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// site serves fixed pages and an icon (browsers ask for one when they show
// a picture alone); anything else is a 404.
func site(pages map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		switch p {
		case "":
			p = "index.html"
		case "favicon.ico":
			p = "pic.svg"
		}
		body, ok := pages[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(p, ".svg") {
			w.Header().Set("Content-Type", "image/svg+xml")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.Write([]byte(body))
	})
}

const picture = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40"><g class="node" data-node="node-0"><text x="5" y="20">node-0</text></g></svg>`

func page(body string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>t</title></head><body>` + body + `</body></html>`
}

func TestCheck(t *testing.T) {
	bin, err := FindBrowser()
	if err != nil {
		t.Fatalf("the browser tests (-tags browser) need chromium: %v; install it (apt-get install chromium; hack/setup-host.sh does)", err)
	}
	tests := []struct {
		name     string
		pages    map[string]string
		nodes    []string
		pages2   int
		problems []string // substrings, each must be reported
	}{
		{
			name: "a clean site",
			pages: map[string]string{
				"index.html": page(`<a href="two.html#x">two</a><img src="pic.svg">`),
				"two.html":   page(`<p id="x">two</p><a href="index.html">back</a><a href="https://example.invalid/">away</a>`),
				"pic.svg":    picture,
			},
			nodes:  []string{"node-0"},
			pages2: 2,
		},
		{
			name: "console errors, a broken image and a dead link",
			pages: map[string]string{
				"index.html": page(`<img src="missing.svg"><a href="gone.html">gone</a><script>console.error("boom")</script>`),
				"pic.svg":    picture,
			},
			nodes:    []string{"node-0"},
			pages2:   2,
			problems: []string{"console.error boom", "broken image missing.svg", "gone.html: HTTP 404", "Failed to load resource"},
		},
		{
			name: "an exception and a picture without the nodes",
			pages: map[string]string{
				"index.html": page(`<script>throw new Error("kaputt")</script>`),
				"pic.svg":    picture,
			},
			nodes:    []string{"node-0", "node-1"},
			pages2:   1,
			problems: []string{"kaputt", "shows nodes [node-0], want [node-0 node-1]", "does not name node node-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(site(tt.pages))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := Check(ctx, Options{Browser: bin, Start: srv.URL + "/", Picture: "pic.svg", Nodes: tt.nodes})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Pages) != tt.pages2 {
				t.Errorf("loaded %v, want %d pages", r.Pages, tt.pages2)
			}
			all := strings.Join(r.Problems, "\n")
			for _, p := range tt.problems {
				if !strings.Contains(all, p) {
					t.Errorf("problem %q not reported; got:\n%s", p, all)
				}
			}
			if len(tt.problems) == 0 && len(r.Problems) > 0 {
				t.Errorf("a clean site has problems:\n%s", all)
			}
		})
	}
}
