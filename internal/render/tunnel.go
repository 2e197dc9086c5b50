package render

import "hardway.dev/hardway/internal/config"

// VXLANFor is node n's end of the pod network tunnel: device, VNI, port, MTU,
// MAC and address. The tutorial's pictures and texts show the same values
// the hardway-pod-network unit uses.
func VXLANFor(n config.Node) VXLAN { return vxlanFor(n) }

// PodMTUFor is the MTU of c's pod interfaces: the node network's with
// direct routes, 50 bytes less with VXLAN (its headers).
func PodMTUFor(c *config.Cluster) int { return podMTU(c) }

// DirectRoutes reports whether c's pod packets cross the node network as
// they are (plain routes), rather than inside VXLAN.
func DirectRoutes(c *config.Cluster) bool {
	return c.Network.PodRoutes == config.PodRoutesDirect
}
