//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/browsercheck"
)

// checkTutorialLive serves the tutorial of a running cluster with `hardway
// tutorial --serve` and reads every page in headless Chromium: the book says
// it describes this cluster, no page has a console error or a broken image,
// and the architecture picture shows exactly the cluster's nodes, by the
// names `hardway status` reports. It runs as its own subtest, failing with
// the fix when chromium is missing, so the caller's other checks go on.
func checkTutorialLive(t *testing.T, hardway, cluster string) {
	t.Helper()
	t.Run("tutorial in a browser", func(t *testing.T) {
		bin, err := browsercheck.FindBrowser()
		if err != nil {
			t.Fatalf("the tutorial check needs chromium: %v; install it (apt-get install chromium; hack/setup-host.sh does)", err)
		}
		nodes := statusNodes(t, hardway, cluster)
		url, stop := serveTutorial(t, hardway, cluster)
		defer stop()

		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "Your cluster.") || !strings.Contains(string(body), "as built on this host") {
			t.Errorf("the book of the live cluster %s does not say it describes it:\n%.600s", cluster, body)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		r, err := browsercheck.Check(ctx, browsercheck.Options{Browser: bin, Start: url, Picture: "img/architecture.svg", Nodes: nodes})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("TIMING tutorial in a browser: %d pages in %s", len(r.Pages), time.Since(start).Round(time.Second))
		if len(r.Pages) < 15 {
			t.Errorf("the browser reached only %d pages:\n%s", len(r.Pages), strings.Join(r.Pages, "\n"))
		}
		for _, p := range r.Problems {
			t.Error(p)
		}
	})
}

// statusNodes are the node names `hardway status` lists (the load balancer
// is not a node).
func statusNodes(t *testing.T, hardway, cluster string) []string {
	t.Helper()
	out, err := osexec.Command(hardway, "status", "--name", cluster).CombinedOutput()
	if err != nil {
		t.Fatalf("hardway status: %v\n%s", err, out)
	}
	var nodes []string
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 || f[0] == "lb" {
			continue
		}
		nodes = append(nodes, f[0])
	}
	if len(nodes) == 0 {
		t.Fatalf("hardway status lists no nodes:\n%s", out)
	}
	return nodes
}

// serveTutorial starts `hardway tutorial --serve` on a free loopback port
// and returns its URL and a func that stops it with Ctrl-C, as a user would.
func serveTutorial(t *testing.T, hardway, cluster string) (string, func()) {
	t.Helper()
	cmd := osexec.Command(hardway, "tutorial", "--serve", "127.0.0.1:0", "--name", cluster)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u := urlRE.FindString(sc.Text()); u != "" {
				found <- u
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hardway tutorial --serve did not stop cleanly on Ctrl-C: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("hardway tutorial --serve did not stop within 30s of Ctrl-C")
		}
	}
	select {
	case u := <-found:
		return u, stop
	case <-time.After(2 * time.Minute):
		stop()
		t.Fatalf("hardway tutorial --serve printed no URL within 2 minutes")
	}
	return "", stop
}
