package pki

import "hardway.dev/hardway/internal/config"

// The gateway add-on's PKI: a CA of its own that signs only the Gateway's
// HTTPS certificate. Nothing in the cluster trusts it (no component is
// given it), so a leaked gateway key opens nothing but the gateway's own
// name, and a browser or curl trusts it only when told to (--cacert).
const (
	GatewayCA     = "gateway-ca"
	GatewayServer = "gateway"
)

// gatewayRows are in the table only while the gateway add-on is on.
func gatewayRows() []row {
	on := func(c *config.Cluster) bool { return c.GatewayOn() }
	return []row{
		{Spec: Spec{Name: GatewayCA, CommonName: "gateway-ca", Usage: UsageCA, Scope: ScopeCluster,
			TrustedBy: []string{"hardway verify", "curl --cacert"},
			UsedBy:    "signs the certificate of the gateway add-on's HTTPS listener and nothing else; no component of the cluster is given it, so it is trusted by nothing but the clients you hand it to (hardway verify, curl --cacert)"}, when: on},
		{Spec: Spec{Name: GatewayServer, CA: GatewayCA, CommonName: "gateway", Usage: UsageServer, Scope: ScopeCluster,
			SANs: func(c *config.Cluster, _ config.Node) AltNames {
				return AltNames{DNSNames: []string{c.GatewayDomain(), "*." + c.GatewayDomain()}}
			},
			UsedBy: "the Gateway's HTTPS listener (Secret traefik/hardway-gateway-tls, which Traefik serves for *.<cluster>.hardway.test)"}, when: on},
	}
}
