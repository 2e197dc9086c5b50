//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/chaos"
)

// TestShortSoak runs the short fault soak alone, on cluster chs: `make test`
// runs the same soak inside TestThreeNodeCluster (no second cluster to
// make), so without HARDWAY_E2E_SOAK=1 this test has nothing to add.
//
//	HARDWAY_E2E_SOAK=1 go test -tags e2e -count=1 -timeout 40m -v -run TestShortSoak ./test/e2e/
func TestShortSoak(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_SOAK") == "" {
		t.Skip("runs inside TestThreeNodeCluster; set HARDWAY_E2E_SOAK=1 to run it alone on cluster chs")
	}
	const name = "chs"
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\n")
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes): %s\n%s", time.Since(start).Round(time.Second), out)
	shortSoak(t, name)
}

// shortSoak: one round of every fault kind (8 faults, one each, on random
// machines) under the writer and the Service poller, with the soak's own
// assertions: no acknowledged write lost, the etcd members' hashes equal at
// one revision, verify passing, every fault healed within the bound.
func shortSoak(t *testing.T, name string) {
	t.Run("short fault soak: every kind once, nothing acknowledged lost", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "soak.json")
		start := time.Now()
		out, err := hwRun("chaos", "--name", name, "--faults", "8", "--duration", "10m",
			"--hold-min", "10s", "--hold-max", "15s", "--gap-max", "3s", "--report", report)
		t.Logf("TIMING short soak: %s\n%s", time.Since(start).Round(time.Second), out)
		if err != nil {
			t.Errorf("hardway chaos: %v", err)
		}
		data, rerr := os.ReadFile(report)
		if rerr != nil {
			t.Fatalf("the soak wrote no report: %v", rerr)
		}
		var r chaos.Report
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("report: %v", err)
		}
		counts := map[chaos.Kind]int{}
		for _, f := range r.Faults {
			if f.NotInjected != "" {
				t.Logf("%s on %s not injected: %s", f.Kind, f.Target.Node, f.NotInjected)
				continue
			}
			counts[f.Kind]++
			if f.Err != "" {
				t.Errorf("%s on %s: %s", f.Kind, f.Target.Node, f.Err)
			}
		}
		for _, k := range chaos.Kinds() {
			if counts[k] != 1 {
				t.Errorf("fault %s came %d times, want once", k, counts[k])
			}
		}
		if r.Writes.Acknowledged < 100 || len(r.Writes.Lost) > 0 || len(r.Writes.Wrong) > 0 {
			t.Errorf("writes: %d acknowledged, lost %v, wrong %v", r.Writes.Acknowledged, r.Writes.Lost, r.Writes.Wrong)
		}
		if r.HashErr != "" || len(r.Hashes) != 3 {
			t.Errorf("etcd hashes %+v: %s", r.Hashes, r.HashErr)
		}
		if r.VerifyErr != "" || !strings.Contains(out, "verify: all checks passed") {
			t.Errorf("verify after the soak: %s", r.VerifyErr)
		}
	})
}
