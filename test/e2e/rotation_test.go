//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/verify"
)

// TestKubeletRotation: a kubelet renews its client and serving certificates
// by itself, and hardway's own pair wins again after `certs renew`.
//
// The clock cannot be moved here: nodes are containers sharing this host's
// kernel clock (CLOCK_REALTIME has no namespace, and libfaketime does not
// reach static Go binaries). So the node gets what a kubelet would hold
// shortly before its certificates expire: a client and a serving pair signed
// by the cluster CA, 95% of their lifetime gone (from 19 h ago to 1 h ahead),
// in place as if the kubelet had rotated them earlier (its --cert-dir,
// behind the current links). Restarted, the kubelet must renew both through
// CertificateSigningRequests: the client one approved by
// kube-controller-manager, the serving one by hardway-csr-approver.
//
// Part of make e2e (measured 1m28s to 3m17s, up included, at loads of 20
// to 40 on 2 cores); alone:
//
//	go test -tags e2e -count=1 -timeout 30m -v -run TestKubeletRotation ./test/e2e/
func TestKubeletRotation(t *testing.T) {
	const name, node = "rot1", "node-0"
	container := name + "-" + node
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\nnodes:\n- name: "+node+"\n")
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (1 node): %s", time.Since(start).Round(time.Second))
	if strings.Contains(out, "✗") {
		t.Fatalf("up: a smoke test failed:\n%s", out)
	}

	st := state.For(name)
	c, err := config.Load(st.Config())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := readCert(pki.CertPath(st.PKI(), pki.CA))
	if err != nil {
		t.Fatal(err)
	}
	nodeIP := nodeIPs(t, name, 1)[0]

	// The planted pairs, where the kubelet keeps the ones it rotated.
	planted := map[string]string{
		render.KubeletClientCurrent: render.KubeletCertDir + "/kubelet-client-planted.pem",
		render.KubeletServerCurrent: render.KubeletCertDir + "/kubelet-server-planted.pem",
	}
	now := time.Now()
	for link, file := range planted {
		p, err := pki.IssueWindow(st.PKI(), c, pki.KubeletName(node), now.Add(-19*time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := dockerIn(container, string(p.CertPEM)+string(p.KeyPEM), "sh", "-c", `umask 077 && cat > "$1" && ln -sfn "$1" "$2"`, "plant", file, link); err != nil {
			t.Fatalf("planting %s: %v %s", file, err, out)
		}
	}
	t.Run("certs check reads the node: the planted pairs expire within 720h", func(t *testing.T) {
		out, err := hwRun("certs", "check", "--within", "720h", "--name", name)
		if err == nil || !strings.Contains(out, "kubelet-node-0 client (") || !strings.Contains(out, "kubelet-node-0 serving (") || !strings.Contains(out, "hardway logs node-0 kubelet") {
			t.Errorf("certs check with both kubelet pairs an hour from expiry: %v\n%s", err, out)
		}
	})

	restarted := time.Now()
	if out, err := docker("exec", container, "systemctl", "restart", "kubelet"); err != nil {
		t.Fatalf("restarting the kubelet: %v %s", err, out)
	}
	// What the CA would sign now: kube-controller-manager's default
	// --cluster-signing-duration (a year, backdated 5 minutes), never past
	// the CA's own expiry.
	wantAfter := restarted.Add(365 * 24 * time.Hour)
	if ca.NotAfter.Before(wantAfter) {
		wantAfter = ca.NotAfter
	}
	var client, serving *x509.Certificate
	var clientFile, servingFile string
	if msg := eventuallyFor(3*time.Minute, func() string {
		var problems []string
		for _, x := range []struct {
			link string
			cert **x509.Certificate
			file *string
		}{{render.KubeletClientCurrent, &client, &clientFile}, {render.KubeletServerCurrent, &serving, &servingFile}} {
			cert, file, err := nodeCert(container, x.link)
			switch {
			case err != nil:
				problems = append(problems, err.Error())
			case file == planted[x.link]:
				problems = append(problems, fmt.Sprintf("%s still is the planted pair (expires %s)", x.link, cert.NotAfter.Format(time.RFC3339)))
			case cert.CheckSignatureFrom(ca) != nil:
				problems = append(problems, fmt.Sprintf("%s (%s) is not signed by the cluster CA", x.link, file))
			case cert.NotAfter.Sub(wantAfter).Abs() > 10*time.Minute:
				problems = append(problems, fmt.Sprintf("%s (%s) expires %s, want about %s", x.link, file, cert.NotAfter.Format(time.RFC3339), wantAfter.Format(time.RFC3339)))
			default:
				*x.cert, *x.file = cert, file
			}
		}
		return strings.Join(problems, "; ")
	}); msg != "" {
		logs, _ := docker("exec", container, "sh", "-c", "journalctl -u kubelet -u hardway-csr-approver --since '-4min' --no-pager | grep -iE 'certif|csr|approv' | tail -20")
		t.Fatalf("within 3 min of the restart: %s\n%s", msg, logs)
	}
	t.Logf("TIMING both certificates rotated %s after the kubelet's restart: client %s, serving %s", time.Since(restarted).Round(time.Second), clientFile, servingFile)
	for _, f := range []string{clientFile, servingFile} {
		if path.Dir(f) != render.KubeletCertDir || !regexp.MustCompile(`^kubelet-(client|server)-20\d\d-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$`).MatchString(path.Base(f)) {
			t.Errorf("rotated into %s, want the kubelet's own kubelet-{client,server}-<time>.pem in %s", f, render.KubeletCertDir)
		}
	}
	if want := "system:node:" + node; client.Subject.CommonName != want || serving.Subject.CommonName != want {
		t.Errorf("rotated CNs %q and %q, want %s", client.Subject.CommonName, serving.Subject.CommonName, want)
	}
	if !hasName(serving, node, nodeIP) {
		t.Errorf("the rotated serving certificate names %v %v, want %s and %s", serving.DNSNames, serving.IPAddresses, node, nodeIP)
	}

	t.Run("the kubelet serves the rotated certificate and the API server accepts it (logs, exec)", func(t *testing.T) {
		if msg := eventually(func() string {
			got, err := servedCert(nodeIP)
			if err != nil {
				return err.Error()
			}
			if !got.Equal(serving) {
				return fmt.Sprintf("port 10250 serves serial %s, the rotated one is %s", got.SerialNumber, serving.SerialNumber)
			}
			return ""
		}); msg != "" {
			t.Error(msg)
		}
		pod, err := kubectlIn(t, name, "-n", verify.Namespace, "get", "pods", "--field-selector", "spec.nodeName="+node, "-o", "jsonpath={.items[0].metadata.name}")
		if err != nil || pod == "" {
			t.Fatalf("no pod of %s on %s: %v %s", verify.Namespace, node, err, pod)
		}
		if out, err := kubectlIn(t, name, "-n", verify.Namespace, "logs", "--tail", "1", pod); err != nil {
			t.Errorf("kubectl logs %s: %v %s", pod, err, out)
		}
		if out, err := kubectlIn(t, name, "-n", verify.Namespace, "exec", pod, "--", "true"); err != nil {
			t.Errorf("kubectl exec %s: %v %s", pod, err, out)
		}
	})
	t.Run("the node is Ready on the rotated client certificate", func(t *testing.T) {
		if msg := eventually(func() string {
			out, err := kubectlIn(t, name, "get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil || out != "True" {
				return fmt.Sprintf("Ready=%q %v", out, err)
			}
			return ""
		}); msg != "" {
			t.Error(msg)
		}
	})
	t.Run("certs check passes and reports the rotated pairs", func(t *testing.T) {
		out := hw(t, "certs", "check", "--within", "720h", "--name", name)
		for _, want := range []string{"kubelet-node-0 client: " + clientFile + " (the kubelet's own, rotated)", "kubelet-node-0 serving: " + servingFile + " (the kubelet's own, rotated)"} {
			if !strings.Contains(out, want) {
				t.Errorf("certs check does not say %q:\n%s", want, out)
			}
		}
		if out := hw(t, "certs", "--name", name); !strings.Contains(out, clientFile) || !strings.Contains(out, servingFile) {
			t.Errorf("certs does not list the rotated pairs:\n%s", out)
		}
	})

	t.Run("up leaves the rotated pairs in place", func(t *testing.T) {
		out := hw(t, "up", "-c", cfg, "-v", "1")
		if regexp.MustCompile(`(?m)^\s*` + node + `: (wrote /var/lib/kubelet/|restarted unit kubelet)`).MatchString(out) {
			t.Errorf("up changed the kubelet:\n%s", out)
		}
		for link, want := range map[string]string{render.KubeletClientCurrent: clientFile, render.KubeletServerCurrent: servingFile} {
			if _, file, err := nodeCert(container, link); err != nil || file != want {
				t.Errorf("after up %s is %s (%v), want %s", link, file, err, want)
			}
		}
	})

	t.Run("certs renew: hardway's new pair wins over the rotated ones", func(t *testing.T) {
		out := hw(t, "certs", "renew", pki.KubeletName(node), "--name", name)
		if strings.Contains(out, "✗") {
			t.Errorf("certs renew: a smoke test failed:\n%s", out)
		}
		renewed, err := readCert(pki.CertPath(st.PKI(), pki.KubeletName(node)))
		if err != nil {
			t.Fatal(err)
		}
		for link, want := range map[string]string{render.KubeletClientCurrent: render.KubeletClientPair, render.KubeletServerCurrent: ""} {
			cert, file, err := nodeCert(container, link)
			switch {
			case want == "" && err == nil:
				t.Errorf("%s still links to %s after certs renew", link, file)
			case want != "" && (err != nil || file != want || !cert.Equal(renewed)):
				t.Errorf("%s is %s (%v), want hardway's renewed pair %s", link, file, err, want)
			}
		}
		if msg := eventually(func() string {
			got, err := servedCert(nodeIP)
			if err != nil {
				return err.Error()
			}
			if !got.Equal(renewed) {
				return fmt.Sprintf("port 10250 serves serial %s, hardway's renewed one is %s", got.SerialNumber, renewed.SerialNumber)
			}
			return ""
		}); msg != "" {
			t.Error(msg)
		}
	})
}

// nodeCert is the certificate in file p on a node, with p's links resolved.
func nodeCert(container, p string) (*x509.Certificate, string, error) {
	out, err := docker("exec", container, "sh", "-c", `readlink -e "$1" && cat "$1"`, "cert", p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v %s", p, err, out)
	}
	file, rest, _ := strings.Cut(out, "\n")
	cert, err := parseCert([]byte(rest))
	if err != nil {
		return nil, file, fmt.Errorf("%s (%s): %v", p, file, err)
	}
	return cert, file, nil
}

func readCert(p string) (*x509.Certificate, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return parseCert(data)
}

// parseCert is the first certificate of a PEM text.
func parseCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("no certificate")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// servedCert is the certificate a kubelet serves on its port 10250 (not
// verified: the caller compares it).
func servedCert(ip string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", net.JoinHostPort(ip, "10250"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, fmt.Errorf("TLS to %s:10250: %v", ip, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func hasName(c *x509.Certificate, dns, ip string) bool {
	hasIP := false
	for _, a := range c.IPAddresses {
		hasIP = hasIP || a.String() == ip
	}
	for _, d := range c.DNSNames {
		if d == dns {
			return hasIP
		}
	}
	return false
}
