package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const header = "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n"

// problemsOf is what Parse and then Validate say about doc: the problems
// of whichever refuses it, and Validate's warnings.
func problemsOf(t *testing.T, doc string) (problems, warnings []string) {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err == nil {
		warnings, err = c.Validate()
	}
	if err == nil {
		return nil, warnings
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems, warnings
}

func checkProblems(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestParseProblems asserts the exact line for each kind of bad input (issue
// 22): where it is, the field, the value, what was expected and the fix,
// every problem of a document at once.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		// Absent is the default; explicitly empty is refused.
		{"empty nodes", header + "nodes: []\n", []string{
			"line 3: nodes: the list is empty: remove the key for the default 3 nodes, or list at least one node"}},
		{"null nodes", header + "nodes:\n", []string{
			"line 3: nodes: the list is empty: remove the key for the default 3 nodes, or list at least one node"}},
		{"empty roles", header + "nodes:\n- name: a\n  roles: []\n", []string{
			"line 5: nodes[0].roles: the list is empty: remove the key for both roles (control-plane and worker), or list at least one"}},
		{"explicit empty and zero values", header + "name: ''\nnetwork: {apiServerPort: 0}\npki: {caValidity: 0s}\nisolated:\n", []string{
			`line 3: name: "" would silently become the default "hardway": remove the key for the default, or give a value`,
			"line 4: network.apiServerPort: 0 would silently become the default 6443: remove the key for the default, or give a value",
			`line 5: pki.caValidity: "0s" would silently become the default 87600h0m0s: remove the key for the default, or give a value`,
			"line 6: isolated: an empty value would silently become the default true: remove the key for the default, or give a value"}},

		// Scheduled etcd snapshots: bounds, and a zero keep is not "none".
		{"snapshots out of bounds", header + "etcd:\n  snapshots:\n    every: 30s\n    keep: 5000\n", []string{
			"line 5: etcd.snapshots.every: 30s must be between 1m and 168h, like 1h",
			"line 6: etcd.snapshots.keep: 5000 must be between 1 and 1000 (each snapshot is a copy of the whole database on the node's disk)"}},
		{"snapshots keep 0", header + "etcd:\n  snapshots:\n    every: 1h\n    keep: 0\n", []string{
			"line 6: etcd.snapshots.keep: 0 would silently become the default 24: remove the key for the default, or give a value"}},

		// Duplicate keys, at any depth.
		{"duplicate scalar", header + "name: a\nname: b\n", []string{
			"line 4: name: given twice (lines 3 and 4); YAML would silently keep only the last: keep one"}},
		{"duplicate block", header + "network:\n  podCIDR: 10.0.0.0/16\nnetwork:\n  serviceCIDR: 10.1.0.0/24\n", []string{
			"line 5: network: given twice (lines 3 and 5); YAML would silently keep only the last: merge them into one"}},
		{"duplicate inside a block", header + "network:\n  podCIDR: 10.0.0.0/16\n  podCIDR: 10.1.0.0/16\n", []string{
			"line 5: network.podCIDR: given twice (lines 4 and 5); YAML would silently keep only the last: keep one"}},
		{"duplicate inside a list item", header + "nodes:\n- name: a\n  ip: 10.240.0.20\n  name: b\n", []string{
			"line 6: nodes[0].name: given twice (lines 4 and 6); YAML would silently keep only the last: keep one"}},

		// Type errors speak YAML and name the fix; all of them at once.
		{"version as a number", header + "kubernetesVersion: 1.36\n", []string{
			`line 3: kubernetesVersion: 1.36 is a number, want a string like "v1.37.2" (quote it)`}},
		{"every type error at once", header + "name: 123\nisolated: yes\nnetwork: {apiServerPort: \"6443\"}\npki: {caValidity: 8760}\nnodes:\n- name: a\n  roles: worker\n- name: b\n  ip: 5\n", []string{
			`line 3: name: 123 is a number, want a string like "lab" (quote it)`,
			`line 4: isolated: "yes" is a string, want true or false (write true)`,
			`line 5: network.apiServerPort: "6443" is a string, want a whole number like 6443 (drop the quotes)`,
			`line 6: pki.caValidity: 8760 is a number, want a duration like "87600h" (add a unit: 8760h)`,
			`line 9: nodes[0].roles: "worker" is a string, want a list like [control-plane, worker] (write [worker])`,
			`line 11: nodes[1].ip: 5 is a number, want a string like "10.240.0.10" (quote it)`}},
		{"blocks of the wrong shape", header + "network: 10.0.0.0/8\nnodes: {name: a}\n", []string{
			`line 3: network: "10.0.0.0/8" is a string, want a mapping with the fields nodeSubnet, podCIDR, serviceCIDR, clusterDNS, clusterDomain, kubeProxyMode, loadBalancerIP, apiServerPort, podRoutes, apiEndpoint, hostAccess, apiPublishAddress, apiPublishPort, loadBalancerIPs`,
			`line 4: nodes: a mapping, want a list like [{name: node-0}] (start each item with "- ")`}},
		{"node written as a name", header + "nodes:\n- node-0\n", []string{
			"line 4: nodes[0]: node-0 is a string, want a node like {name: node-0} (write - name: node-0)"}},
		{"number out of range", header + "network: {apiServerPort: 99999999999999999999}\n", []string{
			"line 3: network.apiServerPort: 99999999999999999999 is out of range, want a whole number like 6443"}},
		{"bad duration", header + "pki:\n  certValidity: forever\n", []string{
			`line 4: pki.certValidity: "forever" is not a duration like "8760h": use hours (h), minutes (m) or seconds (s)`}},

		// Unknown fields: the nearest known one, else the ones there are.
		{"unknown field, other case", header + "network:\n  podCidr: 10.1.0.0/16\n", []string{
			"line 4: network.podCidr: unknown field; did you mean podCIDR?"}},
		{"unknown field, typo", header + "nodez: 3\nnodes:\n- name: a\n  ipp: 10.240.0.20\n", []string{
			"line 3: nodez: unknown field; did you mean nodes?",
			"line 6: nodes[0].ipp: unknown field; did you mean ip?"}},
		{"unknown field, part of two", header + "network:\n  cidr: 10.1.0.0/16\n", []string{
			"line 4: network.cidr: unknown field; did you mean podCIDR or serviceCIDR?"}},
		{"unknown field, nothing close", header + "network:\n  mtu: 1400\nfoo: 1\n", []string{
			"line 4: network.mtu: unknown field; network takes nodeSubnet, podCIDR, serviceCIDR, clusterDNS, clusterDomain, kubeProxyMode, loadBalancerIP, apiServerPort, podRoutes, apiEndpoint, hostAccess, apiPublishAddress, apiPublishPort, loadBalancerIPs",
			"line 5: foo: unknown field; a Cluster takes apiVersion, kind, name, kubernetesVersion, provider, arch, isolated, network, pki, etcd, ssh, lima, nodes, addons, podSecurity"}},

		// IPv6: one line at the field, nothing about derived addresses.
		{"IPv6 node subnet", header + "network:\n  nodeSubnet: fd00::/64\n", []string{
			"line 4: network.nodeSubnet: fd00::/64 is IPv6; hardway is IPv4-only until dual-stack exists: use an IPv4 CIDR like 10.240.0.0/24"}},
		{"IPv6 pod and service CIDRs", header + "network:\n  podCIDR: fd00::/48\n  serviceCIDR: fd01::/108\n", []string{
			"line 4: network.podCIDR: fd00::/48 is IPv6; hardway is IPv4-only until dual-stack exists: use an IPv4 CIDR like 10.200.0.0/16",
			"line 5: network.serviceCIDR: fd01::/108 is IPv6; hardway is IPv4-only until dual-stack exists: use an IPv4 CIDR like 10.32.0.0/24"}},
		{"IPv6 node address", header + "nodes:\n- name: a\n  ip: fd00::5\n", []string{
			"line 5: nodes[0].ip: fd00::5 is IPv6; hardway is IPv4-only until dual-stack exists: use an IPv4 address in nodeSubnet 10.240.0.0/24"}},

		// etcd members: at most 7.
		{"eight control planes", header + "nodes: [{}, {}, {}, {}, {}, {}, {}, {}]\n", []string{
			"line 3: nodes: 8 control-plane nodes would run 8 etcd members; etcd advises at most 7 (every write waits for a majority, so more members make writes slower, and 7 already tolerate 3 failures): give the others roles: [worker]"}},

		// Decode and validation problems together.
		{"decode and validation problems at once", header + "name: Bad_Name\nnetwork:\n  podCidr: 10.1.0.0/16\n  kubeProxyMode: userspace\n", []string{
			"line 5: network.podCidr: unknown field; did you mean podCIDR?",
			`line 3: name: "Bad_Name" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "bad-name"`,
			`line 6: network.kubeProxyMode: "userspace" must be iptables, nftables or ipvs`}},
		{"no follow-on from a field that could not be read", header + "nodes:\n- name: a\n  ip: [10.240.0.20]\n  roles: [control-plane, 5]\n", []string{
			`line 5: nodes[0].ip: a list, want a string like "10.240.0.10"`,
			`line 6: nodes[0].roles[1]: 5 is a number, want a string like "worker" (quote it)`}},

		// Not a hardway Cluster, or not YAML.
		{"no header", "name: x\n", []string{
			`missing apiVersion and kind: start the file with "apiVersion: hardway.dev/v1alpha1" and "kind: Cluster"`}},
		{"empty file", "", []string{
			`missing apiVersion and kind: start the file with "apiVersion: hardway.dev/v1alpha1" and "kind: Cluster"`}},
		{"missing kind", "apiVersion: hardway.dev/v1alpha1\n", []string{`kind: missing: add "kind: Cluster"`}},
		{"other version", "apiVersion: hardway.dev/v9\nkind: Cluster\n", []string{
			`line 1: apiVersion: "hardway.dev/v9" is not supported: this hardway reads apiVersion hardway.dev/v1alpha1`}},
		{"not YAML", "a: [\n", []string{"line 1: not valid YAML: did not find expected node content"}},
		{"a list", "- 1\n", []string{
			"line 1: the document is a list, want the fields of a Cluster (apiVersion: hardway.dev/v1alpha1, kind: Cluster, ...)"}},
		{"two documents", header + "---\n" + header, []string{
			"line 3: a second YAML document starts here: a config file holds one Cluster: move it to a file of its own"}},
		{"merge key", header + "network:\n  <<: {podCIDR: 10.0.0.0/16}\n", []string{
			"line 4: network: YAML merge keys (<<) are not supported: write the fields out"}},
		{"custom tag", header + "name: !secret x\n", []string{"line 3: name: the YAML tag !secret is not supported: remove it"}},
		{"value with a newline stays on one line", header + "name: \"a\\nb\"\n", []string{
			`line 3: name: "a\nb" contains a control character or line separator: remove it`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := problemsOf(t, tt.doc)
			checkProblems(t, got, tt.want)
		})
	}
}

// TestAliasesAreRead: anchors and aliases are YAML, not a problem.
func TestAliasesAreRead(t *testing.T) {
	c, err := Parse([]byte(header + "provider: ssh\nnodes:\n- name: a\n  ip: 10.1.0.5\n  ssh: &s {user: kube}\n- name: b\n  ip: 10.1.0.6\n  ssh: *s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nodes[1].SSH.User != "kube" || c.Nodes[0].SSH == c.Nodes[1].SSH {
		t.Fatalf("alias not read into its own value: %+v %+v", c.Nodes[0].SSH, c.Nodes[1].SSH)
	}
}

// TestControlPlaneCounts: 1 to 7 etcd members are built; even counts warn
// with the arithmetic; more than 7 are refused.
func TestControlPlaneCounts(t *testing.T) {
	tests := []struct {
		cps      int
		warning  string
		problems []string
	}{
		{1, "", nil},
		{2, "2 control-plane nodes run 2 etcd members: quorum is 2, so they tolerate 0 failures, no more than 1 member does; use 1 or 3", nil},
		{3, "", nil},
		{4, "4 control-plane nodes run 4 etcd members: quorum is 3, so they tolerate 1 failure, no more than 3 members do; use 3 or 5", nil},
		{6, "6 control-plane nodes run 6 etcd members: quorum is 4, so they tolerate 2 failures, no more than 5 members do; use 5 or 7", nil},
		{7, "", nil},
		{100, "", []string{"line 3: nodes: 100 control-plane nodes would run 100 etcd members; etcd advises at most 7 (every write waits for a majority, so more members make writes slower, and 7 already tolerate 3 failures): give the others roles: [worker]"}},
		{101, "", []string{"line 3: nodes: 101 control-plane nodes would run 101 etcd members; etcd advises at most 7 (every write waits for a majority, so more members make writes slower, and 7 already tolerate 3 failures): give the others roles: [worker]"}},
	}
	for _, tt := range tests {
		doc := header + "nodes:\n" + strings.Repeat("- roles: [control-plane, worker]\n", tt.cps) + "network: {nodeSubnet: 10.240.0.0/16}\n"
		problems, warnings := problemsOf(t, doc)
		checkProblems(t, problems, tt.problems)
		var want []string
		if tt.warning != "" {
			want = []string{tt.warning}
		}
		if !reflect.DeepEqual(warnings, want) {
			t.Errorf("%d control planes: warnings %q, want %q", tt.cps, warnings, want)
		}
	}
}

// TestLoadNamesFileAndLine: problems of a file name it; Validate points at
// the line a value came from, says "(default)" for one the file did not
// give, and names no line for one the program changed since.
func TestLoadNamesFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.yaml")
	doc := header + "name: lab\nnetwork:\n  podCIDR: 10.200.0.0/23\nnodes:\n- name: a\n  ip: 192.168.77.7\n- name: b\n- name: c\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	checkProblems(t, ve.Problems, []string{
		path + ":8: nodes[0].ip: 192.168.77.7 is outside nodeSubnet 10.240.0.0/24: use an address inside it, or change network.nodeSubnet",
		path + ": nodes[2].podCIDR (default): podCIDR 10.200.0.0/23 has no /24 left for this node (too many nodes; use a larger podCIDR)",
	})

	// --name replaced the file's name: the file's line is not the source.
	c.Name = "Other"
	c.Nodes[0].IP = "10.240.0.20"
	c.Network.PodCIDR = "10.200.0.0/16"
	c.Nodes[2].PodCIDR = "10.200.2.0/24"
	_, err = c.Validate()
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	checkProblems(t, ve.Problems, []string{
		path + `: name: "Other" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "other"`,
	})

	if err := os.WriteFile(path, []byte(header+"kubernetesVersion: 1.36\nnodes: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	checkProblems(t, ve.Problems, []string{
		path + `:3: kubernetesVersion: 1.36 is a number, want a string like "v1.37.2" (quote it)`,
		path + ":4: nodes: the list is empty: remove the key for the default 3 nodes, or list at least one node",
	})
}

// TestValidateName is the rule --name and the config's name share.
func TestValidateName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"hardway", ""},
		{"lab-2", ""},
		{"a", ""},
		{strings.Repeat("a", MaxNameLength), ""},
		{"", `the cluster name is empty: give one like "lab", or leave it out for the default "hardway"`},
		{"Bad_Name", `"Bad_Name" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "bad-name"`},
		{"-lab-", `"-lab-" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "lab"`},
		{strings.Repeat("a", MaxNameLength+1), `"` + strings.Repeat("a", MaxNameLength+1) + `" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "` + strings.Repeat("a", MaxNameLength) + `"`},
		{"../etc", `"../etc" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "etc"`},
		{"a b\nc", `"a b\nc" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "a-b-c"`},
		{"_", `"_" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "lab"`},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ValidateName(%q) = %q\nwant %q", tt.name, got, tt.want)
		}
		if err != nil && ValidateName(suggestName(tt.name, MaxNameLength)) != nil {
			t.Errorf("the suggested name for %q is not valid: %q", tt.name, suggestName(tt.name, MaxNameLength))
		}
	}
}

// TestExamples: every field a message can be about has an example of a
// right value, so a type error always says what to write.
func TestExamples(t *testing.T) {
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for _, f := range fieldsOf(rt) {
			ft := rt.Field(f.index).Type
			p := f.name
			if path != "" {
				p = path + "." + f.name
			}
			for ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				ft = ft.Elem()
			}
			switch {
			case ft == durationType || ft.Kind() != reflect.Struct && ft.Kind() != reflect.Slice:
				if examples[p] == "" {
					t.Errorf("no example for %s", p)
				}
			case ft.Kind() == reflect.Slice:
				if examples[p] == "" {
					t.Errorf("no example for %s", p)
				}
				if ft.Elem().Kind() == reflect.Struct {
					walk(ft.Elem(), p+"[]")
				} else if examples[p+"[]"] == "" {
					t.Errorf("no example for %s[]", p)
				}
			default:
				walk(ft, p)
			}
		}
	}
	walk(reflect.TypeOf(Cluster{}), "")
}

// TestCloneSharesNothing: the snapshot Validate compares against must not
// change when the config does.
func TestCloneSharesNothing(t *testing.T) {
	c, err := Parse([]byte(header + "provider: ssh\nssh: {user: kube}\nnodes:\n- name: a\n  ip: 10.1.0.5\n  ssh: {address: a.lan}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := c.clone()
	if !reflect.DeepEqual(d, c.clone()) {
		t.Fatal("clone differs from the original")
	}
	*c.Isolated = false
	c.SSH.User = "x"
	c.Nodes[0].Roles[0] = "x"
	c.Nodes[0].SSH.Address = "x"
	c.Nodes[0].Name = "x"
	if !*d.Isolated || d.SSH.User != "kube" || d.Nodes[0].Roles[0] != RoleControlPlane || d.Nodes[0].SSH.Address != "a.lan" || d.Nodes[0].Name != "a" {
		t.Fatalf("clone shares memory with the original: %+v", d)
	}
}

// TestMarshalRoundTripStrings: Marshal writes YAML that Parse reads back
// as the same strings, whatever they hold (YAML 1.1 booleans, numbers,
// dates, indicators, line breaks, control characters).
func TestMarshalRoundTripStrings(t *testing.T) {
	for _, s := range []string{
		" a", "a ", "a\rb", "a\nb", "a\n", "\n", "\t", "a\u0085b", "\u2028", "\ufeff", "#x", "a #b", "a: b",
		"- a", "[a]", "{a}", "*a", "&a", "!a", "%a", "@a", "`a", "'", `"`, "yes", "No", "ON", "y", "~", "null",
		"NULL", "0o17", "0x1F", "1_000", "1e3", ".inf", "-.Inf", ".NaN", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
		"<<", "=", "?", "? a", "a\x00b", "\x1b", "ü", "😀", "0777", "+1", "1:20", "190:20:30", "0b101", "-",
		strings.Repeat("word ", 40) + "end", strings.Repeat("x", 300),
	} {
		if hasControl(s) {
			continue // refused by Parse: TestControlCharactersRefused
		}
		c := Default()
		c.KubernetesVersion = s
		c.Network.ClusterDomain = s
		c.Nodes[0].Roles = []string{s}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Errorf("%q: re-reading: %v\n%s", s, err, out)
			continue
		}
		if back.KubernetesVersion != s || back.Network.ClusterDomain != s || back.Nodes[0].Roles[0] != s {
			t.Errorf("%q came back as %q %q %q\n%s", s, back.KubernetesVersion, back.Network.ClusterDomain, back.Nodes[0].Roles[0], out)
		}
	}
}

// TestControlCharactersRefused: a string with a control character is
// refused at its line, not read back changed or printed raw.
func TestControlCharactersRefused(t *testing.T) {
	got, _ := problemsOf(t, header+"name: \"a\\x1bb\"\nssh: {identityFile: \"k\\Ney\"}\nprovider: ssh\nnodes: [{ip: 10.1.0.5}]\n")
	checkProblems(t, got, []string{
		`line 3: name: "a\x1bb" contains a control character or line separator: remove it`,
		`line 4: ssh.identityFile: "k\u0085ey" contains a control character or line separator: remove it`,
	})
}
