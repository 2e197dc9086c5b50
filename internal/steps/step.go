// Package steps is the cluster build as data: an ordered list of steps, each
// able to explain itself and to run idempotently against the nodes.
package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/timing"
)

// Step is one stage of `hardway up`. Run must be idempotent: running it on a
// cluster where it already succeeded changes nothing.
type Step struct {
	Name  string
	Title string
	// Explain teaches: what the step does, why Kubernetes needs it, and the
	// concrete files and flags it produces for this cluster.
	Explain func(c *Cluster) (string, error)
	// Run brings the cluster to this step's desired state and returns what
	// it changed (nothing, when it already was there). With c.DryRun it
	// changes nothing and returns what it would change.
	Run func(ctx context.Context, c *Cluster) ([]converge.Change, error)
}

// Progress receives the runner's events; the CLI draws them.
type Progress interface {
	StepStarted(s Step, index, total int)
	StepDone(s Step, elapsed time.Duration, changes []converge.Change, err error)
}

// Result is the outcome of one step.
type Result struct {
	Step    Step
	Elapsed time.Duration
	Changes []converge.Change
	Err     error
}

// Select picks the steps to run: all, those from `from` on, or only `only`.
func Select(all []Step, from, only string) ([]Step, error) {
	if from != "" && only != "" {
		return nil, fmt.Errorf("--from and --only exclude each other; pick one")
	}
	name := from
	if only != "" {
		name = only
	}
	if name == "" {
		return all, nil
	}
	for i, s := range all {
		if s.Name == name {
			if only != "" {
				return all[i : i+1], nil
			}
			return all[i:], nil
		}
	}
	return nil, fmt.Errorf("no step %q; the steps are: %s", name, strings.Join(Names(all), ", "))
}

// Names lists step names in order.
func Names(all []Step) []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Name
	}
	return out
}

// Find returns the step called name.
func Find(all []Step, name string) (Step, bool) {
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// StepError names the step that failed so the CLI can say how to resume.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Run executes steps in order and stops at the first failure.
func Run(ctx context.Context, c *Cluster, list []Step, p Progress) ([]Result, error) {
	c.mu.Lock()
	c.run = &runMemo{probes: map[string]*converge.Snapshot{}}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.run = nil
		c.mu.Unlock()
	}()
	var results []Result
	for i, s := range list {
		p.StepStarted(s, i, len(list))
		start := time.Now()
		changes, err := s.Run(timing.WithStep(ctx, s.Name), c)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		el := time.Since(start)
		p.StepDone(s, el, changes, err)
		results = append(results, Result{Step: s, Elapsed: el, Changes: changes, Err: err})
		if err != nil {
			return results, &StepError{Step: s.Name, Err: err}
		}
	}
	return results, nil
}
