package render

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/config"
)

// TestMetalLBManifests: every document parses, the pool is the config's
// range, the images are the ones given, and the namespace lets the speaker
// (hostNetwork, NET_RAW) past Pod Security.
func TestMetalLBManifests(t *testing.T) {
	c := config.Default()
	c.Network.LoadBalancerIPs = "10.240.0.100-10.240.0.110"
	m, err := MetalLBManifests(c, "v0.15.2", "quay.io/metallb/controller:v0.15.2", "quay.io/metallb/speaker:v0.15.2")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, part := range [][]byte{m.Objects, m.Pool} {
		for _, doc := range strings.Split(string(part), "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("document does not parse: %v\n%s", err, doc)
			}
			kinds[obj["kind"].(string)]++
		}
	}
	want := map[string]int{"Namespace": 1, "ServiceAccount": 2, "Role": 2, "RoleBinding": 2, "ClusterRole": 2, "ClusterRoleBinding": 2,
		"ConfigMap": 1, "Deployment": 1, "DaemonSet": 1, "IPAddressPool": 1, "L2Advertisement": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	for _, s := range []string{
		`addresses: ["10.240.0.100-10.240.0.110"]`,
		"image: quay.io/metallb/controller:v0.15.2", "image: quay.io/metallb/speaker:v0.15.2",
		"pod-security.kubernetes.io/enforce: privileged", "--webhook-mode=disabled", `add: ["NET_RAW"]`,
	} {
		if !strings.Contains(string(m.Objects)+string(m.Pool), s) {
			t.Errorf("the manifests lack %q", s)
		}
	}
}

// TestGatewayManifests: every document parses, the listeners and the
// certificate Secret are hardway's, Traefik meets Pod Security restricted
// on ports 80/443 through the safe sysctl, and the IngressClass is the
// default.
func TestGatewayManifests(t *testing.T) {
	c := config.Default()
	m, err := GatewayManifests(c, "v3.6.12", "docker.io/library/traefik:v3.6.12")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, part := range [][]byte{m.Objects, m.Routes} {
		for _, doc := range strings.Split(string(part), "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("document does not parse: %v\n%s", err, doc)
			}
			kinds[obj["kind"].(string)]++
		}
	}
	want := map[string]int{"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Deployment": 1, "Service": 1,
		"IngressClass": 1, "GatewayClass": 1, "Gateway": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	for _, s := range []string{
		"image: docker.io/library/traefik:v3.6.12", "pod-security.kubernetes.io/enforce: restricted",
		"net.ipv4.ip_unprivileged_port_start", "type: LoadBalancer", `ingressclass.kubernetes.io/is-default-class: "true"`,
		"--global.sendAnonymousUsage=false", "--providers.kubernetesGateway.statusAddress.service.name=traefik",
		`hostname: "*.hardway.hardway.test"`, "name: " + GatewayTLSSecret, "controllerName: traefik.io/gateway-controller",
	} {
		if !strings.Contains(string(m.Objects)+string(m.Routes), s) {
			t.Errorf("the manifests lack %q", s)
		}
	}
}
