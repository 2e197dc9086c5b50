//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/images"
)

// addonChecks proves the default add-ons on a running Docker cluster the
// way a user meets them: a Deployment exposed with kubectl expose
// --type=LoadBalancer gets an EXTERNAL-IP within 10 s and this host's HTTP
// client reaches its pods there; taking metallb out of addons and running
// up deletes its namespace, CRDs and images; putting it back brings it back
// (so the tests after this one see the cluster as it was). body is the
// cluster's config without the addons key.
func addonChecks(t *testing.T, name, body string) {
	t.Run("LoadBalancer Service from kubectl expose answers this host", func(t *testing.T) {
		if out, err := kubectlIn(t, name, "create", "deployment", "web", "--image="+images.TestApp, "--replicas=2", "--port=8080"); err != nil && !strings.Contains(out, "already exists") {
			t.Fatalf("create deployment: %v %s", err, out)
		}
		if out, err := kubectlIn(t, name, "rollout", "status", "deployment/web", "--timeout=120s"); err != nil {
			t.Fatalf("rollout: %v %s", err, out)
		}
		start := time.Now()
		if out, err := kubectlIn(t, name, "expose", "deployment", "web", "--type=LoadBalancer", "--port=80", "--target-port=8080"); err != nil {
			t.Fatalf("expose: %v %s", err, out)
		}
		var ip string
		for time.Since(start) < 10*time.Second && ip == "" {
			ip, _ = kubectlIn(t, name, "get", "service", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
			if ip == "" {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if ip == "" {
			out, _ := kubectlIn(t, name, "get", "service", "web", "-o", "wide")
			t.Fatalf("no EXTERNAL-IP within 10 s:\n%s", out)
		}
		t.Logf("TIMING EXTERNAL-IP %s after %s", ip, time.Since(start).Round(100*time.Millisecond))
		body, err := getUntil("http://"+ip+"/", 30*time.Second)
		if err != nil || !strings.Contains(body, "Hello World") {
			t.Fatalf("GET http://%s/ from this host: %v %q", ip, err, body)
		}
		if out, err := kubectlIn(t, name, "delete", "service,deployment", "web"); err != nil {
			t.Errorf("cleanup: %v %s", err, out)
		}
	})
	t.Run("metallb out of addons is removed, back in is reinstalled", func(t *testing.T) {
		addonRoundTrip{
			step:    config.AddonMetalLB,
			off:     clusterConfig(t, name, body+addonsWithout(config.AddonMetalLB)),
			on:      clusterConfig(t, name, body),
			removed: []string{"removed Namespace metallb-system", "removed CustomResourceDefinition ipaddresspools.metallb.io", "removed image quay.io/metallb/speaker"},
			gone:    [][]string{{"namespace", "metallb-system"}, {"crd", "ipaddresspools.metallb.io"}},
			dryRun:  "Namespace metallb-system",
			check:   "loadbalancer",
		}.run(t, name)
	})
}

// addonsLine is the addons line of a Docker cluster's config: the default
// set with add and without drop, and without what needs a dropped add-on
// (the gateway needs MetalLB's addresses), in install order.
func addonsLine(add, drop []string) string {
	needs := map[string]string{config.AddonGateway: config.AddonMetalLB}
	var keep []string
	for _, a := range config.KnownAddons() {
		on := slices.Contains(config.Default().DefaultAddons(), a) || slices.Contains(add, a)
		if on && !slices.Contains(drop, a) && !slices.Contains(drop, needs[a]) {
			keep = append(keep, a)
		}
	}
	return "addons: [" + strings.Join(keep, ", ") + "]\n"
}

// addonsWith is the default set and the add-ons named.
func addonsWith(names ...string) string { return addonsLine(names, nil) }

// addonsWithout is the default set without the add-ons named.
func addonsWithout(names ...string) string { return addonsLine(nil, names) }

// getUntil GETs url until it answers 200 or timeout passes: the first
// packets wait for ARP.
func getUntil(url string, timeout time.Duration) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	return "", fmt.Errorf("no answer within %s: %v", timeout, last)
}

// addonRoundTrip is an add-on taken out of addons and, when on is set, put
// back, the way a user does it: up without it (from its step, -v 1) prints
// each removed line and leaves none of gone (kubectl get NAMES fails, or
// the object is Terminating); after (extra checks) runs; a second up
// changes nothing; with on, the dry run of putting it back lists dryRun,
// up with it back passes verify with check's ✓, and a second up of its
// step alone changes nothing.
type addonRoundTrip struct {
	step    string
	off, on string // config files
	removed []string
	gone    [][]string
	after   func(t *testing.T)
	dryRun  string
	check   string
}

func (r addonRoundTrip) run(t *testing.T, name string) {
	t.Helper()
	out := hw(t, "up", "-c", r.off, "--from", r.step, "-v", "1")
	for _, want := range r.removed {
		if !strings.Contains(out, want) {
			t.Errorf("up without %s lacks %q:\n%s", r.step, want, out)
		}
	}
	for _, obj := range r.gone {
		if out, err := kubectlIn(t, name, append([]string{"get"}, obj...)...); err == nil && !strings.Contains(out, "Terminating") {
			t.Errorf("%s still exists after %s's removal:\n%s", strings.Join(obj, " "), r.step, out)
		}
	}
	if r.after != nil {
		r.after(t)
	}
	if out := hw(t, "up", "-c", r.off, "--from", r.step); !strings.Contains(out, "changes: none") {
		t.Errorf("a second up without %s changed things:\n%s", r.step, out)
	}
	if r.on == "" {
		return
	}
	if r.dryRun != "" {
		if out := hw(t, "up", "-c", r.on, "--from", r.step, "--dry-run"); !strings.Contains(out, r.dryRun) {
			t.Errorf("the dry run of putting %s back does not list %q:\n%s", r.step, r.dryRun, out)
		}
	}
	out = hw(t, "up", "-c", r.on, "--from", r.step)
	if err := smokeTestsPassed(out); err != nil || !strings.Contains(out, "✓ "+r.check) {
		t.Errorf("up with %s back: %v\n%s", r.step, err, out)
	}
	if out := hw(t, "up", "-c", r.on, "--only", r.step); !strings.Contains(out, "changes: none") {
		t.Errorf("a second up with %s back changed things:\n%s", r.step, out)
	}
}
