package config

import (
	"fmt"
	"slices"
)

// addonNeeds says which add-ons each add-on cannot work without. The
// gateway's Service is of type LoadBalancer: without MetalLB it never gets
// an address, so the Gateway never gets one either and nothing reaches it.
func addonNeeds() map[string][]string {
	return map[string][]string{AddonGateway: {AddonMetalLB}}
}

// validateAddonNeeds refuses an add-on whose prerequisites are not in the
// list, in one line naming both and the fix.
func (c *Cluster) validateAddonNeeds(bad func(path, format string, a ...any)) {
	for i, a := range c.Addons {
		for _, need := range addonNeeds()[a] {
			if !c.Addon(need) {
				bad(fmt.Sprintf("addons[%d]", i), "%s needs %s (its Service gets its address from %s): add %s to addons, or remove %s", a, need, need, need, a)
			}
		}
	}
}

// GatewayDomain is the DNS suffix of the host names the gateway add-on's
// HTTPS listener and certificate cover (*.GatewayDomain): the cluster's
// name under .test, a top-level domain reserved for testing (RFC 2606), so
// no real name is shadowed.
func (c *Cluster) GatewayDomain() string { return c.Name + ".hardway.test" }

// GatewayOn reports whether the gateway add-on is on.
func (c *Cluster) GatewayOn() bool { return slices.Contains(c.Addons, AddonGateway) }
