package render

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/converge"
)

// csrRequest is spec.request of a CertificateSigningRequest (base64 of the
// PEM, as kubectl's jsonpath prints it), made the way the kubelet makes
// its serving request: a P-256 key, the subject and the names given.
func csrRequest(t *testing.T, subject pkix.Name, dns []string, ips []string, emails []string, spoil bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: subject, DNSNames: dns, EmailAddresses: emails}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	if spoil {
		// A byte of the subject changed after signing: the signature no
		// longer verifies.
		i := strings.Index(string(der), "system:node:")
		der[i+len("system:node:")] ^= 1
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestApproverUnits: the timer, its service and script on every
// control-plane node, after the API server whose kubectl it runs, as
// system:kube-controller-manager.
func TestApproverUnits(t *testing.T) {
	c := cluster(t, 3)
	for _, n := range c.Nodes {
		units, err := NodeUnits(inputs(c, hostV1), n)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(units, func(u converge.Unit) bool { return u.Name == UnitCSRApproverTimer })
		if (i >= 0) != n.IsControlPlane() {
			t.Errorf("%s: approver present = %v, control plane %v", n.Name, i >= 0, n.IsControlPlane())
			continue
		}
		if a := slices.IndexFunc(units, func(u converge.Unit) bool { return u.Name == UnitAPIServer }); a > i {
			t.Errorf("%s: the approver comes before the API server", n.Name)
		}
		files := map[string]string{}
		for _, f := range units[i].Files {
			files[f.Path] = string(f.Data)
		}
		timer, service, script := files[SystemdDir+"/"+UnitCSRApproverTimer], files[SystemdDir+"/"+CSRApproverService+".service"], files[CSRApproverScript]
		for _, want := range []string{"OnUnitActiveSec=30s", "Unit=" + CSRApproverService + ".service", "WantedBy=timers.target"} {
			if !strings.Contains(timer, want) {
				t.Errorf("timer lacks %q:\n%s", want, timer)
			}
		}
		for _, want := range []string{"Type=oneshot", "ExecStart=/bin/sh " + CSRApproverScript, "RuntimeDirectory=" + CSRApproverService} {
			if !strings.Contains(service, want) {
				t.Errorf("service lacks %q:\n%s", want, service)
			}
		}
		if !strings.Contains(script, "/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig ") {
			t.Errorf("the script does not use the controller manager's kubeconfig:\n%s", script)
		}
		if _, ok := files["/etc/kubernetes/kube-controller-manager.kubeconfig"]; !ok || !slices.Contains(units[i].Binaries, "kubectl") {
			t.Errorf("the approver does not declare the kubeconfig and kubectl it uses: %v", units[i].Binaries)
		}
	}
}

// TestApproverScript runs one pass of the approver against a fake kubectl
// (the requests, the Nodes) with this host's openssl reading real
// requests: it approves only a node's request for its own names, says why
// it leaves each other serving request pending, ignores other signers and
// decided requests, and fails only when it cannot list the requests.
func TestApproverScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed: apt-get install openssl (hack/setup-host.sh installs it)")
	}
	c := cluster(t, 1)
	script := renderedFile(t, inputs(c, hostV1), "node-0", CSRApproverScript)
	node := func(name string) pkix.Name {
		return pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}
	}
	const serving, client = "kubernetes.io/kubelet-serving", "kubernetes.io/kube-apiserver-client-kubelet"
	good := csrRequest(t, node("n0"), []string{"n0"}, []string{"10.0.0.10"}, nil, false)
	type csr struct{ name, signer, user, state, request string }
	csrs := []csr{
		{"good", serving, "system:node:n0", "x", good},
		{"ip-only", serving, "system:node:n0", "x", csrRequest(t, node("n0"), nil, []string{"10.0.0.10", "192.0.2.7"}, nil, false)},
		{"approved-already", serving, "system:node:n0", "xApproved", good},
		{"denied", serving, "system:node:n0", "xDenied", good},
		{"client-cert", client, "system:node:n0", "x", csrRequest(t, node("n0"), nil, nil, nil, false)},
		{"not-a-node", serving, "alice", "x", good},
		{"no-such-node", serving, "system:node:ghost", "x", csrRequest(t, node("ghost"), []string{"ghost"}, []string{"10.0.0.10"}, nil, false)},
		{"other-cn", serving, "system:node:n0", "x", csrRequest(t, node("n1"), []string{"n0"}, []string{"10.0.0.10"}, nil, false)},
		{"extra-group", serving, "system:node:n0", "x", csrRequest(t, pkix.Name{CommonName: "system:node:n0", Organization: []string{"system:nodes", "system:masters"}}, []string{"n0"}, nil, nil, false)},
		{"other-address", serving, "system:node:n0", "x", csrRequest(t, node("n0"), []string{"n0"}, []string{"10.0.0.99"}, nil, false)},
		{"other-name", serving, "system:node:n0", "x", csrRequest(t, node("n0"), []string{"n1"}, nil, nil, false)},
		{"email", serving, "system:node:n0", "x", csrRequest(t, node("n0"), []string{"n0"}, nil, []string{"root@n0"}, false)},
		{"no-names", serving, "system:node:n0", "x", csrRequest(t, node("n0"), nil, nil, nil, false)},
		{"bad-signature", serving, "system:node:n0", "x", csrRequest(t, node("n0"), []string{"n0"}, nil, nil, true)},
		{"garbage", serving, "system:node:n0", "x", base64.StdEncoding.EncodeToString([]byte("no request"))},
		{"approve-fails", serving, "system:node:n0", "x", good},
	}
	want := []string{
		"approved good: the serving certificate of n0 for DNS:n0, IP Address:10.0.0.10",
		"approved ip-only: the serving certificate of n0 for IP Address:10.0.0.10, IP Address:192.0.2.7",
		"left not-a-node pending: requested by alice, not by a node",
		`left no-such-node pending: no Node ghost: Error from server (NotFound): nodes "ghost" not found`,
		"left other-cn pending: its subject=CN=system:node:n1,O=system:nodes is not CN=system:node:n0,O=system:nodes",
		"left extra-group pending: its subject=CN=system:node:n0,O=system:masters+O=system:nodes is not CN=system:node:n0,O=system:nodes",
		"left other-address pending: it asks for 10.0.0.99; Node n0 may have only 10.0.0.10 192.0.2.7 n0",
		"left other-name pending: it asks for n1; Node n0 may have only 10.0.0.10 192.0.2.7 n0",
		"left email pending: it asks for email:root@n0, not a host name or an address",
		"left no-names pending: it names no host name or address",
		"left bad-signature pending: the request is no certificate request with a valid signature",
		"left garbage pending: the request is no certificate request with a valid signature",
		"approving approve-fails failed: Error from server (Conflict): the object has been modified",
	}

	dir := t.TempDir()
	var list strings.Builder
	for _, r := range csrs {
		list.WriteString(strings.Join([]string{r.name, r.signer, r.user, r.state, r.request}, "\t") + "\n")
	}
	write := func(name, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("list", list.String(), 0o644)
	// Node n0 as `kubectl get node -o jsonpath` prints its addresses.
	write("node-n0", "InternalIP=10.0.0.10\nExternalIP=192.0.2.7\nHostname=n0\nInternalDNS=n0.internal\n", 0o644)
	// Flags first, then the command; what kubectl would answer.
	write("kubectl", `#!/bin/sh
d=`+dir+`
while [ $# -gt 0 ]; do case $1 in --*) shift ;; *) break ;; esac; done
case "$1 $2" in
"get certificatesigningrequests")
  if [ -f $d/list-fails ]; then echo "The connection to the server 127.0.0.1:6443 was refused" >&2; exit 1; fi
  cat $d/list ;;
"get node")
  if [ -f "$d/node-$3" ]; then cat "$d/node-$3"; else echo "Error from server (NotFound): nodes \"$3\" not found" >&2; exit 1; fi ;;
"certificate approve")
  echo "$3" >> $d/approved
  if [ "$3" = approve-fails ]; then echo "Error from server (Conflict): the object has been modified" >&2; exit 1; fi
  echo "certificatesigningrequest.certificates.k8s.io/$3 approved" ;;
*) echo "unexpected kubectl $*" >&2; exit 2 ;;
esac
`, 0o755)
	write("approve.sh", strings.ReplaceAll(script, BinDir+"/kubectl", filepath.Join(dir, "kubectl")), 0o644)

	out, err := exec.Command("sh", filepath.Join(dir, "approve.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); !slices.Equal(got, want) {
		t.Errorf("said:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	approved, _ := os.ReadFile(filepath.Join(dir, "approved"))
	if got := strings.Fields(string(approved)); !slices.Equal(got, []string{"good", "ip-only", "approve-fails"}) {
		t.Errorf("asked to approve %v, want good, ip-only and approve-fails", got)
	}

	write("list-fails", "", 0o644)
	if out, err := exec.Command("sh", filepath.Join(dir, "approve.sh")).CombinedOutput(); err == nil || !strings.Contains(string(out), "was refused") {
		t.Errorf("a pass that cannot list the requests: %v %s, want a failure quoting kubectl", err, out)
	}
}
