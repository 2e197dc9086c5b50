package render

import (
	"bytes"
	"fmt"

	"hardway.dev/hardway/internal/config"
)

// MetalLBNamespace is where MetalLB runs.
const MetalLBNamespace = "metallb-system"

// MetalLB is what the metallb add-on applies besides its CRDs: objects
// (namespace, RBAC, the controller Deployment and the speaker DaemonSet)
// and pool (the IPAddressPool and L2Advertisement, which need the CRDs
// established first). version and the images name what the artifact cache
// holds.
type MetalLB struct {
	Objects []byte
	Pool    []byte
}

// MetalLBManifests renders the metallb add-on for c.
func MetalLBManifests(c *config.Cluster, version, controllerImage, speakerImage string) (MetalLB, error) {
	r, err := newRenderer()
	if err != nil {
		return MetalLB{}, err
	}
	v := struct {
		C                             *config.Cluster
		Version, Namespace            string
		ControllerImage, SpeakerImage string
	}{c, version, MetalLBNamespace, controllerImage, speakerImage}
	var out MetalLB
	for _, t := range []struct {
		name string
		dst  *[]byte
	}{{"metallb.yaml", &out.Objects}, {"metallb-pool.yaml", &out.Pool}} {
		var b bytes.Buffer
		if err := r.t.ExecuteTemplate(&b, t.name+".tmpl", v); err != nil {
			return MetalLB{}, fmt.Errorf("rendering %s (a bug in hardway): %w", t.name, err)
		}
		*t.dst = b.Bytes()
	}
	return out, nil
}
