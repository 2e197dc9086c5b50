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
	// Target picks the machines the lab works on for this cluster, or says
	// why the cluster cannot run it.
	Target func(c *config.Cluster) (Target, error)
	// Symptom is what the learner is told: what they would notice, not
	// the cause.
	Symptom func(t Target) string
	// Reveal is the command that shows the cause, Cause what it shows, Fix
	// the commands that repair it, as a learner runs them.
	Reveal func(t Target) []string
	Cause  func(t Target) string
	Fix    func(t Target) []string
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
	return []Lab{etcdMember(), podRoute(), kubeletCert(), corednsCorefile(), kubeProxy(), kubeletRBAC()}
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

// Hint is the text `hardway lab hint` shows: how to see the cause, what it
// is, and the fix.
func (l Lab) Hint(t Target) string {
	var b strings.Builder
	b.WriteString("See the cause:\n")
	for _, c := range l.Reveal(t) {
		b.WriteString("  " + c + "\n")
	}
	b.WriteString("\n" + l.Cause(t) + "\n\nFix it:\n")
	for _, c := range l.Fix(t) {
		b.WriteString("  " + c + "\n")
	}
	return b.String()
}
