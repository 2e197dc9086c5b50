package chaos

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"hardway.dev/hardway/internal/lines"
)

// RecoveryGoal is how soon after a fault is lifted the API and the Service
// should answer again; a kind slower than that is named in the report.
const RecoveryGoal = 30 * time.Second

// Outcome is one fault as it happened.
type Outcome struct {
	Fault
	At time.Time
	// API is how long after the fault was lifted (injected, for faults
	// that heal by themselves) the API answered through the load balancer
	// and, on a control plane, the machine's own API server; Service how
	// long until the Service answered on the machine's NodePort; Units
	// until every expected unit on it was active again. -1: not within the
	// bound (Err says what was still wrong).
	API, Service, Units time.Duration
	Err                 string
	// NotInjected says why the fault could not be made (the host's
	// command failed): not counted, and no finding about the cluster.
	NotInjected string `json:",omitempty"`
}

// KindStats are the recoveries of one kind.
type KindStats struct {
	Kind                  Kind
	Count                 int
	APIMedian, APIMax     time.Duration
	ServiceMedian, SvcMax time.Duration
	UnitsMedian, UnitsMax time.Duration
	Unrecovered           int
	Slow                  bool // a median or max over RecoveryGoal
}

// Stats groups outcomes by kind, in Kinds order.
func Stats(outs []Outcome) []KindStats {
	var res []KindStats
	for _, k := range Kinds() {
		var api, svc, units []time.Duration
		s := KindStats{Kind: k}
		for _, o := range outs {
			if o.Kind != k || o.NotInjected != "" {
				continue
			}
			s.Count++
			if o.API < 0 || o.Service < 0 || o.Units < 0 {
				s.Unrecovered++
			}
			if o.API >= 0 {
				api = append(api, o.API)
			}
			if o.Service >= 0 {
				svc = append(svc, o.Service)
			}
			if o.Units >= 0 {
				units = append(units, o.Units)
			}
		}
		if s.Count == 0 {
			continue
		}
		s.APIMedian, s.APIMax = medianMax(api)
		s.ServiceMedian, s.SvcMax = medianMax(svc)
		s.UnitsMedian, s.UnitsMax = medianMax(units)
		s.Slow = s.Unrecovered > 0 || s.APIMax > RecoveryGoal || s.SvcMax > RecoveryGoal
		res = append(res, s)
	}
	return res
}

// medianMax: the median (the lower middle of an even count) and the max.
func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return -1, -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2], s[len(s)-1]
}

// Writes is what the writer saw and what was read back.
type Writes struct {
	Acknowledged int `json:"acknowledged"`
	// Unknown writes got no answer (a timeout, a cut connection): they may
	// or may not have happened, so neither outcome is a loss.
	Unknown int `json:"unknown"`
	// Refused got an error answer: not written.
	Refused int `json:"refused"`
	// Lost are acknowledged writes not readable afterwards (names).
	Lost []string `json:"lost"`
	// Wrong are acknowledged writes read back with other data.
	Wrong []string `json:"wrong"`
	// UnknownFound: unknown writes that did happen.
	UnknownFound int `json:"unknownFound"`
	// LongestGap is the longest time without an acknowledged write.
	LongestGap   time.Duration `json:"longestGapNs"`
	LongestGapAt time.Time     `json:"longestGapAt"`
}

// CheckWrites compares what was acknowledged (name → value) with what is
// readable (name → value).
func CheckWrites(acked map[string]string, unknown []string, read map[string]string) (lost, wrong []string, unknownFound int) {
	for name, v := range acked {
		got, ok := read[name]
		switch {
		case !ok:
			lost = append(lost, name)
		case got != v:
			wrong = append(wrong, name)
		}
	}
	for _, name := range unknown {
		if _, ok := read[name]; ok {
			unknownFound++
		}
	}
	sort.Strings(lost)
	sort.Strings(wrong)
	return lost, wrong, unknownFound
}

// MemberHash is one etcd member's hash of its key space at a revision.
type MemberHash struct {
	Endpoint        string `json:"endpoint"`
	Hash            uint32 `json:"hash"`
	Revision        int64  `json:"revision"`
	CompactRevision int64  `json:"compactRevision"`
}

// ParseStatusRevisions reads `etcdctl endpoint status -w json` into each
// endpoint's current revision.
func ParseStatusRevisions(out []byte) (map[string]int64, error) {
	var st []struct {
		Endpoint string
		Status   struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
		}
	}
	if err := json.Unmarshal(out, &st); err != nil || len(st) == 0 {
		return nil, fmt.Errorf("etcdctl endpoint status printed no member: %s", lines.First(string(out)))
	}
	m := map[string]int64{}
	for _, s := range st {
		m[s.Endpoint] = s.Status.Header.Revision
	}
	return m, nil
}

// ParseHashKV reads `etcdctl endpoint hashkv --rev=R -w json`.
func ParseHashKV(out []byte) ([]MemberHash, error) {
	var hs []struct {
		Endpoint string
		HashKV   struct {
			Hash            uint32 `json:"hash"`
			CompactRevision int64  `json:"compact_revision"`
			HashRevision    int64  `json:"hash_revision"`
		}
	}
	if err := json.Unmarshal(out, &hs); err != nil || len(hs) == 0 {
		return nil, fmt.Errorf("etcdctl endpoint hashkv printed no member: %s", lines.First(string(out)))
	}
	var res []MemberHash
	for _, h := range hs {
		res = append(res, MemberHash{Endpoint: h.Endpoint, Hash: h.HashKV.Hash, Revision: h.HashKV.HashRevision, CompactRevision: h.HashKV.CompactRevision})
	}
	return res, nil
}

// Agree says whether every member hashed the same revision to the same
// value, and if not, how they differ.
func Agree(hs []MemberHash, members int) error {
	if len(hs) != members {
		return fmt.Errorf("%d of %d etcd members answered hashkv", len(hs), members)
	}
	for _, h := range hs[1:] {
		if h.Revision != hs[0].Revision || h.Hash != hs[0].Hash {
			var parts []string
			for _, x := range hs {
				parts = append(parts, fmt.Sprintf("%s: hash %d at revision %d", x.Endpoint, x.Hash, x.Revision))
			}
			return fmt.Errorf("etcd members disagree: %s", strings.Join(parts, "; "))
		}
	}
	return nil
}

// Report is a whole run.
type Report struct {
	Cluster  string        `json:"cluster"`
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"durationNs"`
	Faults   []Outcome     `json:"faults"`
	Stats    []KindStats   `json:"stats"`
	Writes   Writes        `json:"writes"`
	// Service polls: answered and not, over every node; ServiceOutage is
	// the longest time no node answered.
	ServicePolls, ServiceFailures int
	ServiceOutage                 time.Duration
	ServiceOutageAt               time.Time
	Hashes                        []MemberHash `json:"hashes"`
	HashErr                       string       `json:"hashErr,omitempty"`
	VerifyErr                     string       `json:"verifyErr,omitempty"`
	// VerifyFailed is each failed check as verify prints it (mark, name,
	// what was wrong): the cluster may be gone by the time anyone reads it.
	VerifyFailed []string `json:"verifyFailed,omitempty"`
	// Errors are what went wrong running the soak itself.
	Errors []string `json:"errors,omitempty"`
}

// Problems are the reasons the run failed its assertions: lost or wrong
// writes, members that disagree, verify failing, a fault the cluster did
// not recover from within the bound, the soak's own errors. Empty: passed.
func (r *Report) Problems() []string {
	var p []string
	if n := len(r.Writes.Lost); n > 0 {
		p = append(p, fmt.Sprintf("%d acknowledged writes lost (first: %s)", n, r.Writes.Lost[0]))
	}
	if n := len(r.Writes.Wrong); n > 0 {
		p = append(p, fmt.Sprintf("%d acknowledged writes read back with other data (first: %s)", n, r.Writes.Wrong[0]))
	}
	if r.HashErr != "" {
		p = append(p, r.HashErr)
	}
	if r.VerifyErr != "" {
		p = append(p, "verify: "+r.VerifyErr)
	}
	for _, o := range r.Faults {
		if o.Err != "" {
			p = append(p, fmt.Sprintf("%s on %s at %s: %s", o.Kind, o.Target.Node, o.At.UTC().Format("15:04:05"), o.Err))
		}
	}
	if r.Writes.Acknowledged == 0 {
		p = append(p, "no write was acknowledged: the writer never reached the API")
	}
	return append(p, r.Errors...)
}

// Table is the report as the README shows it: per kind, count and the
// recoveries; then the writes, the Service and the checks.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | count | API back (median / max) | Service back (median / max) | units active (median / max) |\n|---|---|---|---|---|\n")
	total := 0
	for _, s := range r.Stats {
		total += s.Count
		flag := ""
		if s.Slow {
			flag = " (over 30 s)"
		}
		fmt.Fprintf(&b, "| %s%s | %d | %s / %s | %s / %s | %s / %s |\n", s.Kind, flag, s.Count,
			secs(s.APIMedian), secs(s.APIMax), secs(s.ServiceMedian), secs(s.SvcMax), secs(s.UnitsMedian), secs(s.UnitsMax))
	}
	fmt.Fprintf(&b, "| all | %d | | | |\n", total)
	for _, o := range r.Faults {
		if o.NotInjected != "" {
			fmt.Fprintf(&b, "not injected (not counted): %s on %s at %s: %s\n", o.Kind, o.Target.Node, o.At.UTC().Format("15:04:05"), o.NotInjected)
		}
	}
	fmt.Fprintf(&b, "\nwrites: %d acknowledged, %d lost, %d read back wrong, %d unknown (%d of them done), %d refused; longest time without an acknowledged write %s (from %s)\n",
		r.Writes.Acknowledged, len(r.Writes.Lost), len(r.Writes.Wrong), r.Writes.Unknown, r.Writes.UnknownFound, r.Writes.Refused, secs(r.Writes.LongestGap), r.Writes.LongestGapAt.UTC().Format("15:04:05"))
	fmt.Fprintf(&b, "service: %d polls, %d unanswered; longest time no node answered %s (from %s)\n", r.ServicePolls, r.ServiceFailures, secs(r.ServiceOutage), r.ServiceOutageAt.UTC().Format("15:04:05"))
	if r.HashErr != "" {
		fmt.Fprintf(&b, "etcd: %s\n", r.HashErr)
	} else if len(r.Hashes) > 0 {
		fmt.Fprintf(&b, "etcd: %d members agree: hash %d at revision %d\n", len(r.Hashes), r.Hashes[0].Hash, r.Hashes[0].Revision)
	}
	if r.VerifyErr != "" {
		fmt.Fprintf(&b, "verify: %s\n", r.VerifyErr)
		for _, f := range r.VerifyFailed {
			fmt.Fprintf(&b, "%s\n", f)
		}
	} else {
		fmt.Fprintf(&b, "verify: all checks passed\n")
	}
	return b.String()
}

// secs shows a recovery; "-" for none measured.
func secs(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// Line is one fault as the soak prints it.
func Line(o Outcome) string {
	what := fmt.Sprintf("%s %s", o.Kind, o.Target.Node)
	if o.Kind.Held() {
		what += fmt.Sprintf(" for %s", o.Hold.Round(time.Second))
	}
	s := fmt.Sprintf("%s %s: API %s, Service %s, units %s", o.At.UTC().Format("15:04:05"), what, secs(o.API), secs(o.Service), secs(o.Units))
	if o.Err != "" {
		s += " — " + o.Err
	}
	if o.NotInjected != "" {
		s = fmt.Sprintf("%s %s: not injected (not counted): %s", o.At.UTC().Format("15:04:05"), what, o.NotInjected)
	}
	return s
}
