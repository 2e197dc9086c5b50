package render

import "hardway.dev/hardway/internal/config"

// VXLANFor is node n's end of the pod network tunnel: device, VNI, port, MTU,
// MAC and address. The tutorial's pictures and texts show the same values
// the hardway-pod-network unit uses.
func VXLANFor(n config.Node) VXLAN { return vxlanFor(n) }
