package render

import (
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/pki"
)

// TestCATrustMatchesPKITable holds pki.Spec.TrustedBy (which the book's
// pictures and legends read) to the files each unit is really given: a unit
// trusts a CA when it gets that CA's certificate or a kubeconfig (which
// embeds the cluster CA). Clients outside the units (kubectl on this host,
// etcdctl on a node, and the gateway CA's only clients: verify and curl on
// this host) are the only names the units cannot show.
func TestCATrustMatchesPKITable(t *testing.T) {
	c := cluster(t, 3)
	in := inputs(c, hostV1)
	clients := map[string]bool{"kubectl": true, "etcdctl": true, "hardway verify": true, "curl --cacert": true}
	got := map[string]map[string]bool{} // CA → units given it
	for _, n := range c.Nodes {
		units, err := NodeUnits(in, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range units {
			for _, f := range u.Files {
				ca := ""
				base := path.Base(f.Path)
				switch {
				case strings.HasSuffix(base, ".kubeconfig") || base == "kubeconfig":
					ca = pki.CA
				case strings.HasPrefix(string(f.Data), dummyPrefix+"cert ") && !strings.HasSuffix(f.Path, "-key.pem"):
					name := strings.TrimSpace(strings.TrimPrefix(string(f.Data), dummyPrefix+"cert "))
					if name == pki.CA || name == pki.EtcdCA || name == pki.FrontProxyCA {
						ca = name
					}
				}
				// The approver is kubectl (a client of the table) started
				// by a timer.
				if ca == "" || u.Name == UnitCSRApproverTimer {
					continue
				}
				// The CA's own key pair is the signer, not a relying party.
				if f.Path == nodePaths().CASigning {
					continue
				}
				if got[ca] == nil {
					got[ca] = map[string]bool{}
				}
				got[ca][u.Name] = true
			}
		}
	}
	for _, s := range pki.Specs(c) {
		if !s.IsCA() {
			continue
		}
		var want []string
		for _, who := range s.TrustedBy {
			if !clients[who] {
				want = append(want, who)
			}
		}
		var have []string
		for u := range got[s.Name] {
			have = append(have, u)
		}
		sort.Strings(want)
		sort.Strings(have)
		if !slices.Equal(want, have) {
			t.Errorf("%s: pki table says trusted by %v (clients left out), the units given it are %v", s.Name, want, have)
		}
	}
}
