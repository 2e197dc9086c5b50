// Package lab holds the break-and-fix labs: each breaks one real thing in a
// running cluster, tells the learner the symptom, checks their fix with the
// probes `hardway verify` and `hardway start` use, gives a hint (the command
// that reveals the cause, and the fix), and restores the cluster by running
// the steps of `hardway up` that own what was broken.
package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/steps"
)

// Lab is one exercise.
type Lab struct {
	Name, Title string
	// Needs is the add-on the lab breaks (empty: none): a cluster without
	// it cannot run the lab (TargetIn says so), and a test that runs the
	// lab turns it on.
	Needs string
	// Target picks the machines the lab works on for this cluster, or says
	// why the cluster cannot run it. Called through TargetIn, which checks
	// Needs first.
	Target func(c *config.Cluster) (Target, error)
	// Symptom is what the learner is told: what they would notice, not
	// the cause.
	Symptom func(t Target) string
	// Evidence are the commands that show the symptom itself (the first
	// hint; optional), Reveal the commands that show the cause, Cause what
	// they show, Fix the commands that repair it, as a learner runs them.
	Evidence func(t Target) []string
	Reveal   func(t Target) []string
	Cause    func(t Target) string
	Fix      func(t Target) []string
	// Why says why the fix works (the debrief), Step the step of up whose
	// explain text and book chapter teach what broke.
	Why  func(t Target) string
	Step string
	// Build marks a build lab: hardway leaves out one piece up would have
	// made, and the learner makes it by hand. Diagnose then says exactly
	// what is still missing or wrong, one line each (none when it is
	// right); check runs it before the probes.
	Build    bool
	Diagnose func(ctx context.Context, e steps.Env, t Target) ([]string, error)
	// Probes are the smoke tests (verify.Checks) that fail while the lab
	// is broken; the cluster's health (WaitHealthy) is always checked too.
	Probes []string
	// Break breaks it; Restore puts back what `up` owns, with the steps of
	// `up`, before the smoke tests run.
	Break   func(ctx context.Context, e steps.Env, t Target) error
	Restore func(ctx context.Context, e steps.Env, t Target) error
}

// Target is what a lab works on in one cluster.
type Target struct {
	Cluster string
	// Node is the machine broken (empty when the lab breaks an API
	// object), Peer the other one it involves.
	Node, Peer config.Node
	// Values are facts the texts name (a pod CIDR, a DNS zone).
	Values map[string]string
}

// TargetIn is what the lab works on in cluster c, or why c cannot run it:
// the add-on it needs is off, or the cluster's shape does not fit.
func (l Lab) TargetIn(c *config.Cluster) (Target, error) {
	if l.Needs != "" && !c.Addon(l.Needs) {
		return Target{}, fmt.Errorf("lab %s needs the %s add-on; cluster %s has addons %v: add %s to addons in its config, then hardway up", l.Name, l.Needs, c.Name, c.Addons, l.Needs)
	}
	return l.Target(c)
}

// hw is a hardway command line for this cluster.
func (t Target) hw(args ...string) string {
	return "hardway " + strings.Join(args, " ") + " --name " + t.Cluster
}

// shell is `hardway shell NODE -- CMD` for this cluster.
func (t Target) shell(n config.Node, cmd string) string {
	return "hardway shell " + n.Name + " --name " + t.Cluster + " -- " + cmd
}

// All lists the labs, in the order a course would take them.
func All() []Lab {
	return []Lab{etcdMember(), podRoute(), kubeletCert(), corednsCorefile(), kubeProxy(), kubeletRBAC(),
		serviceSelector(), scheduler(), controllerManager(), containerd(),
		apiServerDown(), corednsScaled(), kubeletStopped(), netpolDNS(),
		kubeletExpired(), clockSkew(), kubeletDNS(), encryptionKey(), etcdQuorum(),
		buildCoreDNS(), buildPodRoutes(), buildKubeletClient(), buildKubeProxy(), gatewayPort(), gitopsDrift()}
}

// Names lists the labs' names.
func Names() []string {
	var out []string
	for _, l := range All() {
		out = append(out, l.Name)
	}
	return out
}

// Find returns the lab called name.
func Find(name string) (Lab, error) {
	i := slices.IndexFunc(All(), func(l Lab) bool { return l.Name == name })
	if i < 0 {
		return Lab{}, fmt.Errorf("no lab %q; the labs are: %s (details: hardway lab list)", name, strings.Join(Names(), ", "))
	}
	return All()[i], nil
}

// Hints are the graded hints of `hardway lab hint`, one per call: the
// symptom's evidence (when the lab has it), then the commands that show
// the cause, then the cause and the fix. Each gives away a little more.
func (l Lab) Hints(t Target) []string {
	var out []string
	if l.Evidence != nil {
		out = append(out, "Look at the symptom first:\n"+commands(l.Evidence(t)))
	}
	out = append(out, "See the cause:\n"+commands(l.Reveal(t)))
	return append(out, l.Cause(t)+"\n\nFix it:\n"+commands(l.Fix(t)))
}

// Hint is every hint at once: how to see the cause, what it is, and the
// fix.
func (l Lab) Hint(t Target) string {
	return strings.Join(l.Hints(t)[len(l.Hints(t))-2:], "\n")
}

// Debrief is what `hardway lab check` says once the lab is fixed: what
// broke, why the fix works, and where the book explains it.
func (l Lab) Debrief(t Target) string {
	return "What broke: " + l.Title + ".\n" + l.Cause(t) + "\n\nWhy the fix works:\n" + l.Why(t) +
		"\n\nRead more: what step " + l.Step + " of up does and why,\n  " + t.hw("explain", l.Step) +
		"\nand the book's chapter on it, step-" + l.Step + ".html in the book this writes:\n  " + t.hw("tutorial", "--out", "DIR")
}

func commands(cmds []string) string {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString("  " + c + "\n")
	}
	return b.String()
}
