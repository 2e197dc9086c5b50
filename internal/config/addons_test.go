package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestAddonDefaults(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		wantAddons []string
		wantLB     string
	}{
		{"docker: metallb on the top of the node subnet", "", []string{AddonMetalLB, AddonNetpol, AddonGateway}, "10.240.0.240-10.240.0.254"},
		{"another subnet", "network: {nodeSubnet: 10.236.0.0/24}\n", []string{AddonMetalLB, AddonNetpol, AddonGateway}, "10.236.0.240-10.236.0.254"},
		{"a /27 keeps a quarter", "network: {nodeSubnet: 10.236.0.0/27}\n", []string{AddonMetalLB, AddonNetpol, AddonGateway}, "10.236.0.24-10.236.0.30"},
		{"none said on purpose", "addons: []\n", []string{}, ""},
		{"the user's range", "network: {loadBalancerIPs: 10.240.0.100/30}\n", []string{AddonMetalLB, AddonNetpol, AddonGateway}, "10.240.0.100/30"},
		{"ssh without a range: netpol only", "provider: ssh\nnodes: [{name: a, ip: 192.168.1.20}]\n", []string{AddonNetpol}, ""},
		{"ssh with a range: metallb too", "provider: ssh\nnetwork: {loadBalancerIPs: 192.168.1.240-192.168.1.250}\nnodes: [{name: a, ip: 192.168.1.20}]\n", []string{AddonMetalLB, AddonNetpol, AddonGateway}, "192.168.1.240-192.168.1.250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Addons, tt.wantAddons) || c.Network.LoadBalancerIPs != tt.wantLB {
				t.Errorf("addons %#v lb %q, want %#v %q", c.Addons, c.Network.LoadBalancerIPs, tt.wantAddons, tt.wantLB)
			}
			// "none" must survive a save: the saved config is read back.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("reading back %s: %v", out, err)
			}
			if !reflect.DeepEqual(back.Addons, c.Addons) || back.Network.LoadBalancerIPs != c.Network.LoadBalancerIPs {
				t.Errorf("after a save: addons %#v lb %q", back.Addons, back.Network.LoadBalancerIPs)
			}
			if ps := back.PodSecurity; ps.Enforce != PSABaseline || ps.Warn != PSARestricted || !reflect.DeepEqual(ps.ExemptNamespaces, []string{"kube-system"}) {
				t.Errorf("pod security defaults %+v", ps)
			}
		})
	}
}

func TestAddonProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown add-on", "addons: [metalb]\n",
			[]string{`line 3: addons[0]: "metalb" is not an add-on hardway knows (did you mean metallb?): use one of metallb, netpol, gateway, argocd, or addons: [] for none`}},
		{"gateway without metallb", "addons: [gateway]\n",
			[]string{"line 3: addons[0]: gateway needs metallb (its Service gets its address from metallb): add metallb to addons, or remove gateway"}},
		{"twice", "addons: [metallb, metallb]\n",
			[]string{"line 3: addons[1]: metallb is also addons[0]: name each add-on once"}},
		{"pool outside the node subnet", "network: {loadBalancerIPs: 10.99.0.0/28}\n",
			[]string{"line 3: network.loadBalancerIPs: 10.99.0.0-10.99.0.15 is not inside nodeSubnet 10.240.0.0/24: MetalLB's L2 mode answers ARP only on the node network; use free addresses inside it, like 10.240.0.240-10.240.0.254"}},
		{"pool over a node", "network: {loadBalancerIPs: 10.240.0.5-10.240.0.20}\n",
			[]string{"line 3: network.loadBalancerIPs: 10.240.0.5-10.240.0.20 holds 10.240.0.10, the address of nodes[0] (node-0): use addresses no node, load balancer or registry has, like 10.240.0.240-10.240.0.254"}},
		{"pool over the load balancer and registry", "network: {loadBalancerIPs: 10.240.0.2-10.240.0.3}\n",
			[]string{"line 3: network.loadBalancerIPs: 10.240.0.2-10.240.0.3 holds 10.240.0.2, network.loadBalancerIP (the API load balancer and the cluster's registry): use addresses no node, load balancer or registry has, like 10.240.0.240-10.240.0.254"}},
		{"pool over the broadcast address", "network: {loadBalancerIPs: 10.240.0.240/28}\n",
			[]string{"line 3: network.loadBalancerIPs: 10.240.0.240-10.240.0.255 holds the network, gateway or broadcast address of 10.240.0.0/24: use free addresses between them, like 10.240.0.240-10.240.0.254"}},
		{"not a range", "network: {loadBalancerIPs: 10.240.0.250-10.240.0.240}\n",
			[]string{`line 3: network.loadBalancerIPs: "10.240.0.250-10.240.0.240" is ends before it starts: write the lower address first: write FIRST-LAST like 10.240.0.240-10.240.0.254, or a CIDR like 10.240.0.240/28`}},
		{"machines need a range", "provider: ssh\naddons: [metallb]\nnodes: [{name: a, ip: 192.168.1.20}]\n",
			[]string{"line 4: addons[0]: metallb needs network.loadBalancerIPs, free addresses on the machines' network (one L2 segment, answering ARP) like 192.168.1.240-192.168.1.250: set it, or remove metallb from addons"}},
		{"pod security level", "podSecurity: {enforce: strict}\n",
			[]string{`line 3: podSecurity.enforce: "strict" is not a Pod Security level: use privileged, baseline or restricted`}},
		{"addons without a value", "addons:\n",
			[]string{"line 3: addons: has no value: write [] for none, or list them"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n" + tt.doc))
			if err == nil {
				_, err = c.Validate()
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err %v, want a ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Problems, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(ve.Problems, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
