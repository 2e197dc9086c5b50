package steps

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/provider"
)

// probeCounter answers converge's probe ("sh -c SCRIPT probe k v ...") as a
// node where no unit has run, and counts the probes.
type probeCounter struct {
	provider.Node
	probes int
}

func (p *probeCounter) Name() string { return "lb" }

func (p *probeCounter) Run(_ context.Context, _ io.Reader, argv ...string) ([]byte, error) {
	if len(argv) < 4 || argv[0] != "sh" || argv[3] != "probe" {
		return nil, fmt.Errorf("unexpected command %v", argv)
	}
	p.probes++
	var b strings.Builder
	for i := 4; i+1 < len(argv); i += 2 {
		if argv[i] == "u" {
			fmt.Fprintf(&b, "K 0 %s\n", argv[i+1])
		}
	}
	return []byte(b.String()), nil
}

func TestRunPlansFromOneProbePerNode(t *testing.T) {
	both := target{node: "lb", units: []converge.Unit{{Name: "haproxy"}, {Name: "keepalived"}}}
	one := target{node: "lb", units: []converge.Unit{{Name: "keepalived"}}}
	other := target{node: "lb", units: []converge.Unit{{Name: "registry"}}}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		inRun  bool
		forget bool
		plans  []target
		want   int
	}{
		{"outside a run every plan probes", false, false, []target{both, one}, 2},
		{"in a run a covered plan asks nothing", true, false, []target{both, one, one}, 1},
		{"a unit the probe did not cover is probed", true, false, []target{both, other}, 2},
		{"a change on the node drops its probe", true, true, []target{both, one}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{Config: config.Default()}
			if tc.inRun {
				c.run = &runMemo{probes: map[string]*converge.Snapshot{}}
			}
			n := &probeCounter{}
			for i, tg := range tc.plans {
				if tc.forget && i == 1 {
					c.forgetProbe("lb")
				}
				p, err := c.plan(ctx, n, tg)
				if err != nil {
					t.Fatal(err)
				}
				// Units never started are started, whichever probe said so.
				if got := len(p.Changes()); got != 2*len(tg.units) {
					t.Errorf("plan %d: %d changes, want enable and start of each unit: %v", i, got, p.Changes())
				}
			}
			if n.probes != tc.want {
				t.Errorf("%d probes, want %d", n.probes, tc.want)
			}
		})
	}
}
