//go:build browser

package cli

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/browsercheck"
)

// TestTutorialInBrowser serves the book from memory (no cluster needed) and
// reads every page in headless Chromium: no console error, no broken image,
// and the architecture picture names exactly the cluster's nodes.
func TestTutorialInBrowser(t *testing.T) {
	bin, err := browsercheck.FindBrowser()
	if err != nil {
		t.Fatalf("the browser tests (-tags browser) need chromium: %v; install it (apt-get install chromium; hack/setup-host.sh does)", err)
	}
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			a := &app{out: io.Discard, errOut: io.Discard, host: testHost(t)}
			if err := newRoot(a).ParseFlags(configArgs(t, tc.config)); err != nil {
				t.Fatal(err)
			}
			site, _, err := a.buildBook()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(site.Handler())
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			r, err := browsercheck.Check(ctx, browsercheck.Options{Browser: bin, Start: srv.URL + "/", Picture: "img/architecture.svg", Nodes: tc.nodes,
				Search: "hub spokes", SearchWant: "architecture.html#one-hub-many-spokes"})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Pages) != len(wantChapters()) {
				t.Errorf("the browser reached %d pages, the book has %d chapters:\n%s", len(r.Pages), len(wantChapters()), strings.Join(r.Pages, "\n"))
			}
			for _, p := range r.Problems {
				t.Error(p)
			}
		})
	}
}
