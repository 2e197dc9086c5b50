package steps

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

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

// TestJoinManifests: the add-on's parts are one stream, every document
// kept whole and in order, whether or not a part ends in a newline (a dry
// run needs the namespace and the Secret in one stream).
func TestJoinManifests(t *testing.T) {
	joined := joinManifests([]byte("kind: Namespace\nmetadata: {name: traefik}"), []byte("---\nkind: Secret\nmetadata: {name: s, namespace: traefik}\n"), nil)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(joined), 4096)
	var kinds []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%v in:\n%s", err, joined)
		}
		if len(obj) > 0 {
			kinds = append(kinds, obj["kind"].(string))
		}
	}
	if strings.Join(kinds, ",") != "Namespace,Secret" {
		t.Errorf("documents %v, want Namespace,Secret:\n%s", kinds, joined)
	}
}
