package steps

import (
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
)

// TestGatewayObjects: removal deletes last document first, so the Gateway
// and GatewayClass go before Traefik and its namespace, and the CRDs (with
// every route made with them) last; the Secret is named without its data.
func TestGatewayObjects(t *testing.T) {
	cfg := config.Default()
	cfg.Addons = []string{config.AddonMetalLB, config.AddonGateway}
	if _, err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.GatewayOn() {
		t.Fatalf("add-ons %v lack gateway", cfg.Addons)
	}
	out, err := gatewayObjects(&Cluster{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	at := func(what string) int {
		i := strings.Index(s, what)
		if i < 0 {
			t.Fatalf("the objects lack %q:\n%s", what, s)
		}
		return i
	}
	crd, ns, secret, gw := at("name: httproutes.gateway.networking.k8s.io"), at("kind: Namespace"), at("name: hardway-gateway-tls"), at("kind: Gateway\n")
	if !(crd < ns && ns < secret && secret < gw) {
		t.Errorf("order CRDs %d < namespace %d < secret %d < gateway %d does not hold", crd, ns, secret, gw)
	}
	if strings.Contains(s, "tls.key") {
		t.Error("the removal list carries the key")
	}
}
