package render

import (
	"bytes"
	"fmt"

	"hardway.dev/hardway/internal/config"
)

// The gateway add-on's names.
const (
	GatewayNamespace = "traefik"
	// GatewayName is hardway's Gateway, in GatewayNamespace.
	GatewayName = "hardway"
	// GatewayTLSSecret holds the certificate of its HTTPS listener.
	GatewayTLSSecret = "hardway-gateway-tls"
)

// Gateway is what the gateway add-on applies besides the Gateway API CRDs:
// Objects (namespace, RBAC, Traefik's Deployment and LoadBalancer Service,
// the IngressClass) and Routes (the GatewayClass and the Gateway, of kinds
// the CRDs define, so applied once they are established).
type Gateway struct {
	Objects []byte
	Routes  []byte
}

// GatewayManifests renders the gateway add-on for c.
func GatewayManifests(c *config.Cluster, version, image string) (Gateway, error) {
	r, err := newRenderer()
	if err != nil {
		return Gateway{}, err
	}
	v := struct {
		C                                             *config.Cluster
		Version, Image, Namespace, Gateway, TLSSecret string
		Domain                                        string
	}{c, version, image, GatewayNamespace, GatewayName, GatewayTLSSecret, c.GatewayDomain()}
	var out Gateway
	for _, t := range []struct {
		name string
		dst  *[]byte
	}{{"gateway.yaml", &out.Objects}, {"gateway-routes.yaml", &out.Routes}} {
		var b bytes.Buffer
		if err := r.t.ExecuteTemplate(&b, t.name+".tmpl", v); err != nil {
			return Gateway{}, fmt.Errorf("rendering %s (a bug in hardway): %w", t.name, err)
		}
		*t.dst = b.Bytes()
	}
	return out, nil
}
