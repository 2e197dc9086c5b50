// Package conformance runs the upstream Kubernetes e2e suite (e2e.test under
// ginkgo) against a cluster: which tests, how they report progress, and what
// their JUnit report says. It prints nothing; callers get callbacks and
// values.
package conformance

import (
	"fmt"
	"regexp"
	"strings"
)

// Selection is what the user asked to run.
type Selection struct {
	// Focus and Skip are regular expressions over full test names (Go
	// syntax, as ginkgo reads them). Empty: the defaults of the mode.
	Focus, Skip string
	// Quick picks QuickTests, a few minutes' worth.
	Quick bool
	// Serial adds the [Serial] and [Disruptive] conformance tests, which
	// must run alone (ginkgo runs them after the parallel ones, one at a
	// time).
	Serial bool
	// Certified is what the CNCF conformance program asks for: every
	// [Conformance] test, [Serial] and [Disruptive] ones included, nothing
	// skipped by an expression, and the result files laid out as a
	// submission (WriteSubmission).
	Certified bool
}

// QuickTests are the --quick selection: conformance tests that each finish
// in seconds and together touch every part of the cluster hardway builds:
// the API and etcd (a CRUD lifecycle, watch), the scheduler and kubelet
// (pods, a Deployment rollout), containerd and the registry (an image pulled
// with imagePullPolicy: Always into an image volume), the env and volume
// plumbing (ConfigMap, Secret, downward API), the pod network across nodes
// and kube-proxy (Services, intra-pod HTTP), CoreDNS, and the API server's
// proxy to kubelets (logs). Names are matched whole, as ginkgo spells them
// (e2e.test --ginkgo.dry-run -ginkgo.v lists them).
func QuickTests() []string {
	return []string{
		"[sig-node] Pods should be submitted and removed [Conformance] [NodeConformance]",
		"[sig-node] ConfigMap should be consumable via the environment [Conformance] [NodeConformance]",
		"[sig-node] Secrets should be consumable as environment variable names variable names with various prefixes [Conformance]",
		"[sig-storage] Downward API volume should provide container's cpu limit [Conformance] [NodeConformance]",
		"[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones [Conformance]",
		"[sig-network] Services should serve a basic endpoint from pods [Conformance]",
		"[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [Conformance] [NodeConformance]",
		"[sig-network] DNS should provide DNS for services [Conformance]",
		"[sig-node] ImageVolume should succeed with pod and pull policy of Always [LinuxOnly] [MinimumKubeletVersion:1.35] [Conformance]",
		"[sig-api-machinery] Watchers should be able to restart watching from the last resource version observed by the previous watch [Conformance]",
		"[sig-cli] Kubectl logs logs should be able to retrieve and filter logs [Conformance]",
	}
}

// defaultSkip keeps tests that must run alone out of a parallel run.
const defaultSkip = `\[Serial\]|\[Disruptive\]`

// conformanceFocus selects every conformance test.
const conformanceFocus = `\[Conformance\]`

// Args returns the ginkgo --focus and --skip values for s (empty skip: none),
// or a one-line error for a bad combination or an expression that does not
// compile.
func (s Selection) Args() (focus, skip string, err error) {
	for _, f := range []struct{ flag, re string }{{"--focus", s.Focus}, {"--skip", s.Skip}} {
		if f.re == "" {
			continue
		}
		if _, err := regexp.Compile(f.re); err != nil {
			return "", "", fmt.Errorf("%s %q is not a regular expression: %v; write it in Go syntax, like %s 'DNS|Services'", f.flag, f.re, err, f.flag)
		}
	}
	switch {
	case s.Quick && s.Focus != "":
		return "", "", fmt.Errorf("--quick and --focus %q both choose the tests; use one of them", s.Focus)
	case s.Quick && s.Serial:
		return "", "", fmt.Errorf("--quick and --serial both choose the tests; use one of them")
	case s.Certified && (s.Quick || s.Focus != "" || s.Skip != ""):
		// A submission is the whole set: a narrower run would be
		// published as if it were one.
		return "", "", fmt.Errorf("--certified runs every [Conformance] test; leave out --quick, --focus and --skip (use them without --certified)")
	}
	switch {
	case s.Certified:
		return conformanceFocus, "", nil
	case s.Quick:
		var names []string
		for _, n := range QuickTests() {
			names = append(names, regexp.QuoteMeta(n))
		}
		// Ends anchored only: the text ginkgo matches starts with more
		// than the test's name (a ^ matches nothing).
		focus = "(" + strings.Join(names, "|") + ")$"
	case s.Focus != "":
		focus = s.Focus
	default:
		focus = conformanceFocus
	}
	var skips []string
	if !s.Serial {
		skips = append(skips, defaultSkip)
	}
	if s.Skip != "" {
		skips = append(skips, s.Skip)
	}
	return focus, strings.Join(skips, "|"), nil
}

// Describe says in words what s runs, for the first line of the output.
func (s Selection) Describe() string {
	switch {
	case s.Certified:
		return "every [Conformance] test, [Serial] and [Disruptive] ones included (certified run)"
	case s.Quick:
		return fmt.Sprintf("the quick selection (%d conformance tests)", len(QuickTests()))
	case s.Focus != "" && s.Serial:
		return fmt.Sprintf("tests matching %q, [Serial] and [Disruptive] ones included", s.Focus)
	case s.Focus != "":
		return fmt.Sprintf("tests matching %q but [Serial] and [Disruptive] ones", s.Focus)
	case s.Serial:
		return "every [Conformance] test, [Serial] and [Disruptive] ones included"
	}
	return "every [Conformance] test but [Serial] and [Disruptive] ones"
}
