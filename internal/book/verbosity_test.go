package book

import (
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
)

// TestSchedulerLogPromise: the scheduler logs "Successfully bound pod to
// node" at V(2) (pkg/scheduler/schedule_one.go); the book promises bindings
// in its journal only when the unit runs at that verbosity.
func TestSchedulerLogPromise(t *testing.T) {
	v := newVars(config.Default(), "/state", "")
	if v.SchedulerV < 0 {
		t.Fatal("the scheduler unit has no --v flag")
	}
	got := v.schedulerLogShows("node-0")
	promises := strings.Contains(got, "logs each binding")
	if promises != (v.SchedulerV >= 2) {
		t.Errorf("scheduler at --v=%d, the book says: %s", v.SchedulerV, got)
	}
}
