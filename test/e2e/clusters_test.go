package e2e

// No build tag: `go test ./...` checks the table below without building any
// cluster.

import (
	"net/netip"
	"testing"

	"hardway.dev/hardway/internal/config"
)

// e2eClusters are the clusters the e2e tests make, by name, with the node
// subnet of each ("" for one refused before anything is made). Every test
// makes its clusters from this table (clusterConfig), so none shares a name
// or a network with another test or with the clusters a user already has:
// the README's `make up` (cluster hardway on 10.240.0.0/24) then `make test`
// must pass, and must leave that cluster alone.
func e2eClusters() map[string]string {
	return map[string]string{
		"e2ebad":    "",
		"e2e3":      "10.243.0.0/24",
		"e2e1":      "10.244.0.0/24",
		"e2emig":    "10.245.0.0/24",
		"e2eup":     "10.246.0.0/24",
		"e2enone":   "10.247.0.0/24",
		"e2etl":     "10.248.0.0/24",
		"e2emigold": "10.249.0.0/24",
		"e2essh":    "10.252.0.0/24", // the machines' network, made by the test
		"e2epub":    "10.229.0.0/24",
		"e2egrow":   "10.205.0.0/24",
		"e2egrow3":  "10.206.0.0/24",
		// TestArgoCD (test/e2e/argocd_test.go), and hack/argocd-e2e.sh.
		"ag1": "10.216.0.0/24",
		"ag3": "10.217.0.0/24",
		// TestReliability (test/e2e/reliability_test.go), run by hand.
		"rl3": "10.239.0.0/24",
		"rl1": "10.238.0.0/24",
		// hack/bench-peers.sh: hardway's clusters, and the --internal
		// network of its kubeadm peer (kp1, kp3; hack/peers/kubeadm.sh).
		"bp1":      "10.212.0.0/24",
		"bp3":      "10.213.0.0/24",
		"hw-peers": "10.214.0.0/24",
		// The fault soak: hack/chaos.sh's cluster, and TestShortSoak's.
		"ch3": "10.218.0.0/24",
		"chs": "10.219.0.0/24",
		// hack/conformance.sh --certified (not a test; listed so no test
		// takes its network).
		"cert3": "10.215.0.0/24",
		// TestNetworkPolicy (test/e2e/netpol_test.go), run by hand, and
		// the netpol add-on's hack/netpol-e2e.sh.
		"np1": "10.220.0.0/24",
		"np3": "10.221.0.0/24",
		// TestGateway (test/e2e/gateway_test.go), run by hand; gw1 for
		// hack/gateway-conformance.sh.
		"gw3": "10.223.0.0/24",
		"gw1": "10.222.0.0/24",
		// TestKubeletRotation (test/e2e/rotation_test.go).
		"rot1": "10.224.0.0/24",
		// Not a cluster: the network of the container hardway runs in,
		// in TestPublishedFromAContainer.
		"e2epub-client": "10.228.0.0/24",
	}
}

// reserved are clusters the e2e tests must never touch: the README's
// default cluster and the integration test's (internal/provider/docker).
func reserved() map[string]string {
	def := config.Default()
	return map[string]string{def.Name: def.Network.NodeSubnet, "hw-it": "10.250.0.0/24"}
}

// TestClustersDoNotCollide: no two e2e clusters, and no e2e cluster and a
// reserved one, share a name or overlapping subnets.
func TestClustersDoNotCollide(t *testing.T) {
	type owner struct{ name, subnet string }
	var all []owner
	for n, s := range reserved() {
		if _, ok := e2eClusters()[n]; ok {
			t.Errorf("e2e cluster %s has the name of a cluster the tests must leave alone", n)
		}
		all = append(all, owner{n, s})
	}
	for n, s := range e2eClusters() {
		all = append(all, owner{n, s})
	}
	for i, a := range all {
		if a.subnet == "" {
			continue
		}
		pa, err := netip.ParsePrefix(a.subnet)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		for _, b := range all[i+1:] {
			if b.subnet == "" {
				continue
			}
			if pb := netip.MustParsePrefix(b.subnet); pa.Overlaps(pb) {
				t.Errorf("clusters %s (%s) and %s (%s) overlap", a.name, a.subnet, b.name, b.subnet)
			}
		}
	}
	if len(reserved()) != 2 || reserved()["hardway"] != "10.240.0.0/24" {
		t.Errorf("the README's default cluster is no longer hardway on 10.240.0.0/24: %v; update the README and this test", reserved())
	}
}
