package steps

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/verify"
)

// The gateway add-on: Traefik serving the Gateway API and Ingress.

func gatewayAddon() addon {
	return addon{
		name:      config.AddonGateway,
		title:     "Gateway API and Ingress: Traefik " + artifacts.TraefikVersion + ", Gateway API " + artifacts.GatewayAPIVersion,
		prose:     gatewayProse,
		images:    []string{artifacts.TraefikImage()},
		install:   installGateway,
		objects:   gatewayObjects,
		namespace: render.GatewayNamespace,
		explain:   explainGateway,
	}
}

func (c *Cluster) gatewayManifests() (render.Gateway, error) {
	return render.GatewayManifests(c.Config, artifacts.TraefikVersion, artifacts.TraefikImage())
}

// gatewaySecretHead is the TLS Secret without its data: removal finds it
// by name.
func gatewaySecretHead() string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n", render.GatewayTLSSecret, render.GatewayNamespace)
}

// gatewaySecret is the Secret the Gateway's HTTPS listener names: the
// certificate hardway's gateway CA signed, and its key.
func (c *Cluster) gatewaySecret() ([]byte, error) {
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	p, ok := in.PKI.Get(pki.GatewayServer)
	if !ok {
		return nil, fmt.Errorf("the PKI has no %s certificate (a bug in hardway: the pki table gives it while the gateway add-on is on)", pki.GatewayServer)
	}
	enc := base64.StdEncoding.EncodeToString
	return []byte(gatewaySecretHead() + "  labels: {app.kubernetes.io/managed-by: hardway}\ntype: kubernetes.io/tls\ndata:\n" +
		"  tls.crt: " + enc(p.CertPEM) + "\n  tls.key: " + enc(p.KeyPEM) + "\n"), nil
}

func gatewayObjects(c *Cluster) ([]byte, error) {
	m, err := c.gatewayManifests()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	// Deleted last document first: the Gateway and GatewayClass, the
	// Secret, Traefik and its namespace, then the CRDs (and every route
	// anyone made with them).
	writeCRDNames(&b, artifacts.GatewayAPICRDNames())
	b.WriteString("---\n")
	b.Write(m.Objects)
	b.WriteString("\n---\n" + gatewaySecretHead() + "---\n")
	b.Write(m.Routes)
	return []byte(b.String()), nil
}

func installGateway(ctx context.Context, c *Cluster, admin *kube.Client) ([]converge.Change, error) {
	crds, err := c.addonCRDs(artifacts.CompGatewayAPI, artifacts.GatewayAPICRDs, "the Gateway API CRDs")
	if err != nil {
		return nil, err
	}
	m, err := c.gatewayManifests()
	if err != nil {
		return nil, err
	}
	secret, err := c.gatewaySecret()
	if err != nil {
		return nil, err
	}
	changes, err := c.applyParts(ctx, admin, crds, m.Objects, secret)
	if err != nil {
		return changes, err
	}
	kinds := []string{"gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io"}
	applied, err := c.applyAfterCRDs(ctx, admin, kinds, m.Routes, "the GatewayClass and Gateway",
		converge.Change{Action: converge.Wrote, Target: "GatewayClass traefik", Reason: "applied through the API"},
		converge.Change{Action: converge.Wrote, Target: "Gateway " + render.GatewayNamespace + "/" + render.GatewayName, Reason: "applied through the API"})
	changes = append(changes, applied...)
	if err != nil || c.DryRun {
		return changes, err
	}
	return changes, c.waitGateway(ctx, admin)
}

// gatewayGVR is the Gateway API's Gateway resource.
var gatewayGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

// waitGateway waits until Traefik is available and hardway's Gateway is
// Programmed with an address (MetalLB's, on Traefik's Service).
func (c *Cluster) waitGateway(ctx context.Context, admin *kube.Client) error {
	ns := render.GatewayNamespace
	if err := c.until(ctx, "Traefik to be available", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := admin.Clientset.AppsV1().Deployments(ns).Get(ctx, "traefik", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1 && d.Status.AvailableReplicas >= 1 && d.Status.UnavailableReplicas == 0 {
			return true, nil
		}
		return false, fmt.Errorf("%d available (kubectl -n %s describe pods -l app=traefik)", d.Status.AvailableReplicas, ns)
	}); err != nil {
		return err
	}
	return c.until(ctx, "Gateway "+ns+"/"+render.GatewayName+" to be programmed with an address", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		gw, err := admin.Dynamic().Resource(gatewayGVR).Namespace(ns).Get(ctx, render.GatewayName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		addr, programmed := GatewayStatus(gw)
		if addr != "" && programmed {
			return true, nil
		}
		return false, fmt.Errorf("address %q, programmed %v (kubectl -n %s describe gateway %s; kubectl -n %s logs deploy/traefik)", addr, programmed, ns, render.GatewayName, ns)
	})
}

// GatewayStatus reads a Gateway's first address and its Programmed
// condition.
func GatewayStatus(gw *unstructured.Unstructured) (address string, programmed bool) {
	addrs, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
	if len(addrs) > 0 {
		if a, ok := addrs[0].(map[string]any); ok {
			address, _ = a["value"].(string)
		}
	}
	conds, _, _ := unstructured.NestedSlice(gw.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == "Programmed" && m["status"] == "True" {
			if g, ok := m["observedGeneration"].(int64); !ok || g >= gw.GetGeneration() {
				programmed = true
			}
		}
	}
	return address, programmed
}

func explainGateway(c *Cluster, b *strings.Builder) error {
	d := c.Config.GatewayDomain()
	ns := render.GatewayNamespace
	fmt.Fprintf(b, "  Gateway %s/%s, class traefik: listener http on port 80 (every host name), listener https on\n", ns, render.GatewayName)
	fmt.Fprintf(b, "  port 443 for *.%s. Its address: Service %s/traefik (type LoadBalancer) gets one from\n", d, ns)
	fmt.Fprintf(b, "  MetalLB's pool %s, and Traefik writes it into the Gateway's status\n", c.Config.Network.LoadBalancerIPs)
	fmt.Fprintf(b, "  (kubectl -n %s get gateway %s shows it under ADDRESS).\n", ns, render.GatewayName)
	fmt.Fprintf(b, "  Ingress: IngressClass traefik is the default class; Traefik writes the same address into each\n  Ingress' status.\n")
	dir := c.State.PKI()
	fmt.Fprintf(b, "  HTTPS certificate: %s (SANs %s, *.%s), signed by\n", pki.CertPath(dir, pki.GatewayServer), d, d)
	fmt.Fprintf(b, "  %s, a CA that signs nothing else and that nothing in the cluster trusts;\n", pki.CertPath(dir, pki.GatewayCA))
	fmt.Fprintf(b, "  the certificate and key are Secret %s/%s (type kubernetes.io/tls).\n", ns, render.GatewayTLSSecret)
	fmt.Fprintf(b, "  Try it (ADDRESS from kubectl -n %s get gateway %s):\n", ns, render.GatewayName)
	fmt.Fprintf(b, "    curl --resolve app.%s:443:ADDRESS --cacert %s https://app.%s/\n", d, pki.CertPath(dir, pki.GatewayCA), d)
	fmt.Fprintf(b, "  CRDs: the Gateway API's standard channel (config/crd/standard of sigs.k8s.io/gateway-api %s),\n  kept in the artifact cache.\n", artifacts.GatewayAPIVersion)
	m, err := c.gatewayManifests()
	if err != nil {
		return err
	}
	section(b, "The manifests applied (after the CRDs; the Secret's data is left out here)")
	b.WriteString(indent(string(m.Objects), "  │ "))
	b.WriteString(indent(string(m.Routes), "  │ "))
	return nil
}

const gatewayProse = `A LoadBalancer Service gives one application one address. A gateway
gives many applications one address and tells them apart by what the request
says: its host name (Host header, or the TLS server name) and its path.

The Gateway API describes this in three kinds of objects, each owned by a
different person: a GatewayClass (which program implements gateways: here
Traefik), a Gateway (the cluster operator's: which ports and host names to
listen on, with which certificate) and HTTPRoutes (each application's: "for
host one.example, send / to Service one on port 80"). The older Ingress
object says the same in one object; Traefik serves both.

Traefik runs as one Deployment in namespace traefik, watches these objects
and the EndpointSlices of the Services they name, and proxies each request
straight to a ready pod's address. Its own Service is of type LoadBalancer:
MetalLB gives it an address from the pool and announces it, and Traefik
writes that address into the Gateway's status.

HTTPS: hardway issues the listener's certificate from a CA of its own
(gateway-ca), used for nothing else and trusted by nothing in the cluster;
a client trusts it only when told to (curl --cacert).

hardway builds Traefik from source, packs it into an image, pushes it into
the cluster's registry, and applies the Gateway API's standard CRDs, Traefik's
RBAC, Deployment, Service and IngressClass, the TLS Secret, the GatewayClass
and one Gateway.
`

// gatewayVerifyEnv is what verify's gateway check needs; nil while the
// add-on is off.
func (c *Cluster) gatewayVerifyEnv() (*verify.GatewayEnv, error) {
	if !c.Config.GatewayOn() {
		return nil, nil
	}
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	ca, ok := in.PKI.Get(pki.GatewayCA)
	if !ok {
		return nil, fmt.Errorf("the PKI has no %s (a bug in hardway: the pki table gives it while the gateway add-on is on)", pki.GatewayCA)
	}
	leaf, ok := in.PKI.Get(pki.GatewayServer)
	if !ok {
		return nil, fmt.Errorf("the PKI has no %s (a bug in hardway: the pki table gives it while the gateway add-on is on)", pki.GatewayServer)
	}
	return &verify.GatewayEnv{Namespace: render.GatewayNamespace, Name: render.GatewayName, Domain: c.Config.GatewayDomain(), CA: ca.CertPEM, Cert: leaf.CertPEM}, nil
}
