package diagram

import (
	"encoding/xml"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
)

// TestLevelPictures: the identities come from the PKI table (a CN, group or
// CA changed there changes the picture), and the node and loop pictures
// name this cluster's chosen worker and its paths.
func TestLevelPictures(t *testing.T) {
	c := config.Default()
	chosen, _ := ChosenWorker(c)
	specs := pki.Specs(c)
	for name, tt := range map[string]struct {
		svg  []byte
		want []string
	}{
		"identities": {Identities(c, specs), []string{
			"CN=admin O=" + pki.AdminGroup + ", checked against ca by kube-apiserver",
			"CN=kube-apiserver-etcd-client O=none, checked against etcd-ca by etcd",
			"CN=system:node:" + chosen.Name + " O=system:nodes, checked against ca by kube-apiserver",
			"CN=kube-apiserver-kubelet-client O=none, checked against ca by the kubelet",
		}},
		"node":  {NodeLevel(c), []string{"on " + chosen.Name, "/run/containerd/containerd.sock", "/opt/cni/bin", "from " + chosen.PodCIDR}},
		"loops": {ControlLoops(c), []string{"create Binding → " + chosen.Name, "rewrite iptables rules"}},
	} {
		if err := xml.Unmarshal(tt.svg, new(any)); err != nil {
			t.Errorf("%s: not well-formed: %v", name, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(tt.svg), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	// Renamed in the table, renamed in the picture.
	for i := range specs {
		if specs[i].Name == pki.APIServerEtcdClient {
			specs[i].CommonName = "renamed-client"
		}
	}
	if !strings.Contains(string(Identities(c, specs)), "CN=renamed-client") {
		t.Error("the identities picture does not read the PKI table")
	}
}
