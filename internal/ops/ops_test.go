package ops

import (
	"slices"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/steps"
)

// TestCertSteps: a renewal rolls the gateway's Secret out exactly when the
// gateway is on (once, it renewed the file and served the old one), and
// every name is a step of up.
func TestCertSteps(t *testing.T) {
	for _, tt := range []struct {
		addons  []string
		gateway bool
	}{
		{[]string{config.AddonMetalLB, config.AddonNetpol}, false},
		{[]string{config.AddonMetalLB, config.AddonGateway}, true},
		{nil, false},
	} {
		c := config.Default()
		c.Addons = tt.addons
		got := certSteps(c)
		if slices.Contains(got, config.AddonGateway) != tt.gateway {
			t.Errorf("addons %v: steps %v, want gateway %v", tt.addons, got, tt.gateway)
		}
		for _, n := range got {
			if _, ok := steps.Find(steps.All(), n); !ok {
				t.Errorf("%q is not a step of up", n)
			}
		}
	}
}
