package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// Record is the active lab of a cluster, kept in its state directory.
type Record struct {
	Lab     string    `json:"lab"`
	Started time.Time `json:"started"`
	// Solved is when check first passed.
	Solved *time.Time `json:"solved,omitempty"`
	// Hints is how many graded hints were given.
	Hints int `json:"hints,omitempty"`
}

// Passed reads which labs this cluster has passed, and when each first
// was; it outlives the lab record, which reset removes.
func Passed(dir state.Dir) (map[string]time.Time, error) {
	data, err := os.ReadFile(dir.LabsPassed())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w; remove it to forget which labs were passed", dir.LabsPassed(), err)
	}
	return out, nil
}

// pass records lab name as passed, keeping the first time.
func pass(dir state.Dir, name string, at time.Time) error {
	passed, err := Passed(dir)
	if err != nil {
		return err
	}
	if _, ok := passed[name]; ok {
		return nil
	}
	passed[name] = at.UTC()
	data, err := json.MarshalIndent(passed, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(dir.LabsPassed(), append(data, '\n'), 0o600)
}

// Active reads the record of the cluster's lab; nil when none is active.
func Active(dir state.Dir) (*Record, error) {
	data, err := os.ReadFile(dir.Lab())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w; remove it to forget the lab (the cluster stays as it is)", dir.Lab(), err)
	}
	return &r, nil
}

func save(dir state.Dir, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(dir.Lab(), append(data, '\n'), 0o600)
}

// CheckTimeout bounds each probe of a check: long enough for a fixed
// cluster to answer (the smoke tests retry within it), short enough that a
// learner is not kept waiting long for a "not yet".
const CheckTimeout = 20 * time.Second

// current is the active lab of the cluster, or an error that says how to
// start one.
func current(e steps.Env) (Lab, Target, *Record, error) {
	c := e.Cluster
	r, err := Active(c.State)
	if err != nil {
		return Lab{}, Target{}, nil, err
	}
	if r == nil {
		return Lab{}, Target{}, nil, fmt.Errorf("no lab is active on cluster %s; start one: hardway lab start NAME --name %s (the labs: hardway lab list)", c.Config.Name, c.Config.Name)
	}
	l, err := Find(r.Lab)
	if err != nil {
		return Lab{}, Target{}, nil, fmt.Errorf("cluster %s records lab %q, which this hardway does not know; forget it with: rm %s", c.Config.Name, r.Lab, c.State.Lab())
	}
	t, err := l.TargetIn(c.Config)
	return l, t, r, err
}

// Start breaks the cluster the way lab name says, after making sure it is
// running and healthy and no other lab is active. The lab is recorded before
// anything breaks, so reset works even if breaking stopped half-way.
func Start(ctx context.Context, e steps.Env, name string) (Lab, Target, error) {
	c := e.Cluster
	l, err := Find(name)
	if err != nil {
		return l, Target{}, err
	}
	t, err := l.TargetIn(c.Config)
	if err != nil {
		return l, t, err
	}
	if r, err := Active(c.State); err != nil {
		return l, t, err
	} else if r != nil {
		return l, t, fmt.Errorf("lab %s is active on cluster %s since %s; finish it first: hardway lab reset --name %s", r.Lab, c.Config.Name, r.Started.Format(time.Stamp), c.Config.Name)
	}
	if err := c.RequireRunning(ctx); err != nil {
		return l, t, err
	}
	e.Log.Logf(0, "  making sure cluster %s is healthy before breaking it", c.Config.Name)
	if err := c.WaitHealthy(ctx, time.Time{}, 30*time.Second, func(steps.Stage) {}); err != nil {
		return l, t, fmt.Errorf("cluster %s is not healthy (%v); a lab needs a working cluster: hardway verify --name %s", c.Config.Name, err, c.Config.Name)
	}
	if err := save(c.State, Record{Lab: l.Name, Started: time.Now()}); err != nil {
		return l, t, err
	}
	e.Log.Logf(0, "  breaking it: %s", l.Title)
	if err := l.Break(ctx, e, t); err != nil {
		return l, t, fmt.Errorf("breaking the cluster for lab %s: %w; restore it with: hardway lab reset --name %s", l.Name, err, c.Config.Name)
	}
	return l, t, nil
}

// Check runs the cluster's health check and the lab's probes, reporting
// each. It returns an error while the lab is not fixed; the first time it
// passes, the lab is recorded as solved.
func Check(ctx context.Context, e steps.Env, report func(verify.Result)) (Lab, error) {
	c := e.Cluster
	l, t, r, err := current(e)
	if err != nil {
		return l, err
	}
	if err := c.RequireRunning(ctx); err != nil {
		return l, err
	}
	var failed []string
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	err = c.WaitHealthy(hctx, time.Time{}, CheckTimeout, func(steps.Stage) {})
	cancel()
	report(verify.Result{Name: "health", Elapsed: time.Since(start), Err: err})
	if err != nil {
		failed = append(failed, "health")
	}
	if l.Diagnose != nil {
		start := time.Now()
		dctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		problems, err := l.Diagnose(dctx, e, t)
		cancel()
		if err == nil && len(problems) > 0 {
			err = errors.New(strings.Join(problems, "\n"))
		}
		// A build lab checks what the learner made; another lab names
		// what is still broken.
		name := "your build"
		if !l.Build {
			name = "diagnosis"
		}
		report(verify.Result{Name: name, Elapsed: time.Since(start), Err: err})
		if err != nil {
			failed = append(failed, name)
		}
	}
	env, err := c.VerifyEnv()
	if err != nil {
		return l, err
	}
	results, err := verify.RunSome(ctx, env, l.Probes, CheckTimeout, report)
	if err != nil {
		return l, err
	}
	for _, res := range results {
		if res.Err != nil {
			failed = append(failed, res.Name)
		}
	}
	if len(failed) > 0 {
		return l, fmt.Errorf("lab %s is not fixed yet: %s failed; a hint: hardway lab hint --name %s", l.Name, strings.Join(failed, ", "), c.Config.Name)
	}
	if r.Solved == nil {
		now := time.Now()
		r.Solved = &now
		if err := save(c.State, *r); err != nil {
			return l, err
		}
		if err := pass(c.State, l.Name, now); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Given is one graded hint: the Nth of Total.
type Given struct {
	Lab      Lab
	Target   Target
	N, Total int
	Text     string
}

// NextHint gives the active lab's next hint and records that it was given,
// so the next call gives the one after; past the last it repeats the last.
func NextHint(e steps.Env) (Given, error) {
	l, t, r, err := current(e)
	if err != nil {
		return Given{Lab: l, Target: t}, err
	}
	hints := l.Hints(t)
	n := min(r.Hints+1, len(hints))
	if n != r.Hints {
		r.Hints = n
		if err := save(e.Cluster.State, *r); err != nil {
			return Given{}, err
		}
	}
	return Given{Lab: l, Target: t, N: n, Total: len(hints), Text: hints[n-1]}, nil
}

// Reset restores the cluster after the active lab, with the steps of `up`
// that own what it broke, proves it with the health check and every smoke
// test, and forgets the lab.
func Reset(ctx context.Context, e steps.Env) (Lab, error) {
	c := e.Cluster
	l, t, _, err := current(e)
	if err != nil {
		return l, err
	}
	if err := c.RequireRunning(ctx); err != nil {
		return l, err
	}
	if err := l.Restore(ctx, e, t); err != nil {
		return l, fmt.Errorf("restoring the cluster after lab %s: %w; try again: hardway lab reset --name %s", l.Name, err, c.Config.Name)
	}
	e.Log.Logf(0, "  waiting until the whole cluster serves")
	if err := c.WaitHealthy(ctx, time.Time{}, 2*time.Minute, func(steps.Stage) {}); err != nil {
		return l, fmt.Errorf("after restoring lab %s the cluster is not healthy: %w; try again: hardway lab reset --name %s", l.Name, err, c.Config.Name)
	}
	if _, err := e.Rerun(ctx, "verify"); err != nil {
		return l, err
	}
	if err := os.Remove(c.State.Lab()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return l, err
	}
	return l, nil
}
