// Package timing records where the time of a run goes: each remote command,
// each wait, each file sync and API call, by step and node. `hardway up
// --trace-timings` prints it, so speed work starts from measurements.
package timing

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Kind is what an entry measured.
type Kind string

const (
	Plan    Kind = "plan"    // converge probe: one command per node
	Apply   Kind = "apply"   // converge apply: tar stream, restarts
	Gate    Kind = "gate"    // waiting for a restarted node to serve again
	Wait    Kind = "wait"    // a bounded wait for a condition
	Command Kind = "command" // another command on a node
	API     Kind = "api"     // calls to the Kubernetes API
)

// Entry is one measured piece of work.
type Entry struct {
	Step     string
	Node     string // empty for the host or the cluster's API
	Kind     Kind
	What     string
	Start    time.Time
	Duration time.Duration
}

// Recorder collects entries from concurrent work. A nil Recorder records
// nothing, so callers need not check.
type Recorder struct {
	mu      sync.Mutex
	entries []Entry
}

type stepKey struct{}

// WithStep marks ctx as belonging to step, for the entries recorded under it.
func WithStep(ctx context.Context, step string) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}

func stepOf(ctx context.Context) string {
	s, _ := ctx.Value(stepKey{}).(string)
	return s
}

// Since records work that started at start and ends now.
func (r *Recorder) Since(ctx context.Context, kind Kind, node, what string, start time.Time) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, Entry{Step: stepOf(ctx), Node: node, Kind: kind, What: what, Start: start, Duration: time.Since(start)})
}

// Entries returns what was recorded, in start order.
func (r *Recorder) Entries() []Entry {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Entry{}, r.entries...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Report writes, per step, the time per node and kind, then the slowest
// entries, so the first line of each step says where its time went.
func (r *Recorder) Report(w io.Writer, slowest int) {
	entries := r.Entries()
	var order []string
	byStep := map[string][]Entry{}
	for _, e := range entries {
		if _, ok := byStep[e.Step]; !ok {
			order = append(order, e.Step)
		}
		byStep[e.Step] = append(byStep[e.Step], e)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tNODE\tKIND\tCOUNT\tTOTAL\tSLOWEST")
	for _, step := range order {
		type key struct {
			node string
			kind Kind
		}
		sums := map[key][]Entry{}
		var keys []key
		for _, e := range byStep[step] {
			k := key{e.Node, e.Kind}
			if _, ok := sums[k]; !ok {
				keys = append(keys, k)
			}
			sums[k] = append(sums[k], e)
		}
		sort.SliceStable(keys, func(i, j int) bool {
			if keys[i].node != keys[j].node {
				return keys[i].node < keys[j].node
			}
			return keys[i].kind < keys[j].kind
		})
		for _, k := range keys {
			es := sums[k]
			var total time.Duration
			top := es[0]
			for _, e := range es {
				total += e.Duration
				if e.Duration > top.Duration {
					top = e
				}
			}
			node := k.node
			if node == "" {
				node = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s (%s)\n", step, node, k.kind, len(es), ms(total), short(top.What), ms(top.Duration))
		}
	}
	tw.Flush()
	if slowest <= 0 {
		return
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Duration > entries[j].Duration })
	if len(entries) > slowest {
		entries = entries[:slowest]
	}
	fmt.Fprintf(w, "\nslowest:\n")
	for _, e := range entries {
		node := e.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(w, "  %8s  %-13s %-7s %-7s %s\n", ms(e.Duration), e.Step, node, e.Kind, short(e.What))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}
