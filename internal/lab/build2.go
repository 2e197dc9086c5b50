package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// Two more build labs, the original tutorial's own exercises with a check:
// one node's kubelet client certificate and kubeconfig made with openssl and
// kubectl config, and kube-proxy's configuration written by hand.

const kubeProxyConfigFile = render.KubeProxyDir + "/kube-proxy-config.yaml"

// unitState is what a build lab needs to know of a unit and the file the
// learner wrote for it.
type unitState struct {
	Active, Enabled string
	// Started and Written are Unix seconds: when the unit last became
	// active, when the file was last written (0: unknown or missing).
	Started, Written int64
}

// unitStateScript prints the file's mtime, the unit's is-active and
// is-enabled, and when it became active, one per line.
const unitStateScript = `stat -c %Y "$1" 2>/dev/null || echo 0
systemctl is-active "$2" || true
systemctl is-enabled "$2" || true
t=$(systemctl show -p ActiveEnterTimestamp --value "$2"); [ -n "$t" ] && date -d "$t" +%s || echo 0`

func readUnitState(ctx context.Context, e steps.Env, n config.Node, unit, file string) (unitState, error) {
	out, err := nodeOutput(ctx, e, n, "sh", "-c", unitStateScript, "unit-state", file, unit)
	if err != nil {
		return unitState{}, err
	}
	f := strings.Split(strings.TrimSpace(out), "\n")
	if len(f) != 4 {
		return unitState{}, fmt.Errorf("%s: unexpected answer about unit %s: %q", n.Name, unit, out)
	}
	var s unitState
	s.Written, _ = strconv.ParseInt(f[0], 10, 64)
	s.Active, s.Enabled = f[1], f[2]
	s.Started, _ = strconv.ParseInt(f[3], 10, 64)
	return s, nil
}

// unitProblems says what is wrong with a unit that must run with the file
// the learner wrote.
func unitProblems(node, unit, file string, s unitState) []string {
	var out []string
	if s.Enabled != "enabled" {
		out = append(out, fmt.Sprintf("%s: unit %s is %s, not enabled: it would not start at boot (systemctl enable %s)", node, unit, s.Enabled, unit))
	}
	switch {
	case s.Active != "active":
		out = append(out, fmt.Sprintf("%s: unit %s is %s: start it (systemctl restart %s)", node, unit, s.Active, unit))
	case s.Written > 0 && s.Started > 0 && s.Started < s.Written:
		out = append(out, fmt.Sprintf("%s: %s has run since %s, before %s was written at %s: it reads the file only at start (systemctl restart %s)",
			node, unit, time.Unix(s.Started, 0).UTC().Format(time.TimeOnly), file, time.Unix(s.Written, 0).UTC().Format(time.TimeOnly), unit))
	}
	return out
}

func buildKubeletClient() Lab {
	return Lab{
		Name:  "build-kubeconfig",
		Title: "build: a kubelet's client certificate and kubeconfig, by hand",
		Build: true,
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab build-kubeconfig needs a worker node; cluster %s has none", c.Name)
			}
			n := ws[len(ws)-1]
			return Target{Cluster: c.Name, Node: n, Values: map[string]string{
				"dir": "/tmp/" + c.Name + "-" + n.Name, "pki": state.For(c.Name).PKI(), "server": c.NodeAPIServerURL(),
				"user": "system:node:" + n.Name}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("hardway took away the kubelet's kubeconfig on %s (%s) and its client certificates:\n"+
				"the kubelet cannot log in to the API server, so %s goes NotReady. Make them by hand, as steps pki\n"+
				"and kubeconfigs do: a key, a certificate for %s in group system:nodes signed by the cluster CA\n"+
				"(%s/ca.pem and ca-key.pem), a kubeconfig naming the server %s and that CA;\n"+
				"put it in place and restart the kubelet.",
				t.Node.Name, kubeletKubeconfig, t.Node.Name, t.Values["user"], t.Values["pki"], t.Values["server"])
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl get nodes", t.hw("logs", t.Node.Name, "kubelet")}
		},
		Reveal: func(t Target) []string {
			return []string{t.hw("explain", "pki"), t.hw("explain", "kubeconfigs")}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The API server knows a kubelet by its client certificate: CN %s is the user the Node\n"+
				"authorizer and NodeRestriction admission limit to this node's objects, O system:nodes the group, and it\n"+
				"must be signed by the CA the API server trusts for clients (--client-ca-file: the cluster CA, not etcd's),\n"+
				"with extendedKeyUsage clientAuth. The kubeconfig holds that certificate and key, the server and the CA that\n"+
				"checks the server. Embedded in the kubeconfig, the certificate is where the kubelet starts: it stores\n"+
				"it as %s and at once asks for one of its own\n"+
				"(rotateCertificates), a request kube-controller-manager approves for a node renewing itself.\n"+
				"Work in %s; the commands below do it with openssl and kubectl config.",
				t.Values["user"], render.KubeletClientCurrent, t.Values["dir"])
		},
		Fix: func(t Target) []string {
			d, p, u := t.Values["dir"], t.Values["pki"], t.Values["user"]
			kc := " --kubeconfig=" + d + "/kubeconfig"
			return []string{
				"mkdir -p " + d,
				"openssl ecparam -name prime256v1 -genkey -noout -out " + d + "/kubelet-client-key.pem",
				fmt.Sprintf(`openssl req -new -key %s/kubelet-client-key.pem -subj "/CN=%s/O=system:nodes" -out %s/kubelet-client.csr`, d, u, d),
				fmt.Sprintf(`printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > %s/client.ext`, d),
				fmt.Sprintf("openssl x509 -req -in %[1]s/kubelet-client.csr -CA %[2]s/ca.pem -CAkey %[2]s/ca-key.pem -CAserial %[1]s/ca.srl -CAcreateserial -days 30 -extfile %[1]s/client.ext -out %[1]s/kubelet-client.pem", d, p),
				fmt.Sprintf("kubectl config set-cluster kubernetes --server=%s --certificate-authority=%s/ca.pem --embed-certs=true%s", t.Values["server"], p, kc),
				fmt.Sprintf("kubectl config set-credentials %s --client-certificate=%s/kubelet-client.pem --client-key=%s/kubelet-client-key.pem --embed-certs=true%s", u, d, d, kc),
				fmt.Sprintf("kubectl config set-context default --cluster=kubernetes --user=%s%s", u, kc),
				"kubectl config use-context default" + kc,
				t.shell(t.Node, "tee "+kubeletKubeconfig+" < "+d+"/kubeconfig > /dev/null"),
				t.shell(t.Node, "chmod 600 "+kubeletKubeconfig),
				t.shell(t.Node, "systemctl restart kubelet"),
			}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("The API server checks the certificate against its --client-ca-file (the cluster CA), takes the user\n"+
				"from the CN and the groups from O: %s in system:nodes. The Node authorizer lets that user read\n"+
				"what pods on %s need and write only %s's Node, lease and pod status; NodeRestriction admission holds\n"+
				"it to that. The kubelet reads its kubeconfig only at start, hence the restart. It then replaces your\n"+
				"certificate by one it requested, and renews that one by itself. But it asks for each renewal with the\n"+
				"kubeconfig's own credentials: embedded, those stay your 30-day certificate, and once that expired the\n"+
				"next renewal would be refused. hardway's kubeconfig names the file the kubelet rotates instead\n"+
				"(%s), so every renewal is asked for with the newest certificate.", t.Values["user"], t.Node.Name, t.Node.Name, render.KubeletClientCurrent)
		},
		Step:     "kubeconfigs",
		Probes:   []string{"deployment", "exec"},
		Diagnose: diagnoseKubeletClient,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			// The kubeconfig and every client pair the kubelet could fall
			// back to: hardway's, and the ones it rotated (the link its
			// store loads first). Its ExecStartPre links nothing while
			// hardway's pair is missing, so the kubelet starts on the
			// learner's certificate alone.
			if err := run(ctx, e, t.Node, "sh", "-c", "systemctl stop kubelet && rm -f "+kubeletKubeconfig+" "+kubeletClientPair+" "+render.KubeletCertDir+"/kubelet-client-*.pem"); err != nil {
				return err
			}
			return waitNodeNotReady(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// workers writes the rendered kubeconfig and restarts the kubelet.
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}

func diagnoseKubeletClient(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	c := e.Cluster
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	ca, ok := in.PKI.Get(pki.CA)
	if !ok {
		return nil, fmt.Errorf("the cluster CA is not in the state directory (a bug in hardway)")
	}
	nd, err := c.Node(ctx, t.Node.Name)
	if err != nil {
		return nil, err
	}
	data, err := nd.ReadFile(ctx, kubeletKubeconfig)
	if err != nil {
		return []string{fmt.Sprintf("%s has no %s yet: write your kubeconfig there (%s)", t.Node.Name, kubeletKubeconfig, t.shell(t.Node, "tee "+kubeletKubeconfig+" < FILE"))}, nil
	}
	// Files the kubeconfig names are read where the kubelet reads them.
	data, out := withNodeFiles(t.Node.Name, data, func(p string) ([]byte, error) { return nd.ReadFile(ctx, p) })
	out = append(out, kubeletClientProblems(t.Node.Name, t.Values["server"], ca.Cert, data, time.Now())...)
	us, err := readUnitState(ctx, e, t.Node, "kubelet", kubeletKubeconfig)
	if err != nil {
		return nil, err
	}
	return append(out, unitProblems(t.Node.Name, "kubelet", kubeletKubeconfig, us)...), nil
}

// withNodeFiles returns the kubeconfig data with the files it names (client
// certificate and key, CA) read by read, from the node, and embedded, so
// kubeletClientProblems judges what the kubelet will load; each file the
// node lacks is a problem. A kubeconfig that does not parse is returned as
// it is.
func withNodeFiles(node string, data []byte, read func(path string) ([]byte, error)) ([]byte, []string) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return data, nil
	}
	var out []string
	load := func(field, p string, into *[]byte) {
		if p == "" || len(*into) > 0 {
			return
		}
		b, err := read(p)
		if err != nil {
			out = append(out, fmt.Sprintf("%s:%s names %s %s, which %s does not have (a path names a file on the node: embed it with --embed-certs=true)", node, kubeletKubeconfig, field, p, node))
			return
		}
		*into = b
	}
	for _, u := range kc.AuthInfos {
		load("client-certificate", u.ClientCertificate, &u.ClientCertificateData)
		load("client-key", u.ClientKey, &u.ClientKeyData)
		u.ClientCertificate, u.ClientKey = "", ""
	}
	for _, cl := range kc.Clusters {
		load("certificate-authority", cl.CertificateAuthority, &cl.CertificateAuthorityData)
		cl.CertificateAuthority = ""
	}
	embedded, err := clientcmd.Write(*kc)
	if err != nil {
		return data, out
	}
	return embedded, out
}

// kubeletClientProblems checks a kubelet's kubeconfig the way the API server
// and the kubelet will use it: the server, the CA that checks it, and the
// client certificate's name, group, issuer, usage, validity and key.
func kubeletClientProblems(node, server string, ca *x509.Certificate, data []byte, now time.Time) []string {
	file := node + ":" + kubeletKubeconfig
	kc, err := clientcmd.Load(data)
	if err != nil {
		return []string{fmt.Sprintf("%s is no kubeconfig: %v", file, err)}
	}
	rc, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		return []string{fmt.Sprintf("%s: %v (set-context and use-context name the cluster and the user)", file, err)}
	}
	var out []string
	if rc.Host != server {
		out = append(out, fmt.Sprintf("%s names the server %q; the kubelets talk to %s", file, rc.Host, server))
	}
	if len(rc.CAData) == 0 {
		out = append(out, fmt.Sprintf("%s has no certificate-authority-data: embed the CA (--embed-certs=true; a path would name a file on this host, not on %s)", file, node))
	} else if !pemHas(rc.CAData, ca) {
		out = append(out, fmt.Sprintf("%s trusts another CA than the cluster CA (CN %s) for the server: the kubelet would refuse the API server", file, ca.Subject.CommonName))
	}
	if len(rc.CertData) == 0 || len(rc.KeyData) == 0 {
		return append(out, fmt.Sprintf("%s has no client-certificate-data or client-key-data: embed them (--embed-certs=true; paths would name files on this host)", file))
	}
	block, _ := pem.Decode(rc.CertData)
	if block == nil {
		return append(out, fmt.Sprintf("%s: the client certificate is not PEM", file))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return append(out, fmt.Sprintf("%s: the client certificate cannot be read: %v", file, err))
	}
	user := "system:node:" + node
	if cert.Subject.CommonName != user {
		out = append(out, fmt.Sprintf("the client certificate's CN is %q; the API server must see the user %s (the Node authorizer keys on it)", cert.Subject.CommonName, user))
	}
	if !slices.Contains(cert.Subject.Organization, "system:nodes") {
		out = append(out, fmt.Sprintf("the client certificate's groups (O) are %q; it must be in system:nodes, the group the Node authorizer serves", cert.Subject.Organization))
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		out = append(out, fmt.Sprintf("the client certificate is signed by %q, not by the cluster CA (CN %s): the API server trusts only that one for clients (--client-ca-file)", cert.Issuer.CommonName, ca.Subject.CommonName))
	}
	if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		out = append(out, "the client certificate's extendedKeyUsage lacks clientAuth: TLS refuses it as a client's")
	}
	switch {
	case now.Before(cert.NotBefore):
		out = append(out, fmt.Sprintf("the client certificate is valid only from %s", cert.NotBefore.UTC().Format(time.RFC3339)))
	case !now.Before(cert.NotAfter):
		out = append(out, fmt.Sprintf("the client certificate expired on %s", cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	if _, err := tls.X509KeyPair(rc.CertData, rc.KeyData); err != nil {
		out = append(out, fmt.Sprintf("the client key does not go with the certificate: %v", err))
	}
	return out
}

// pemHas reports whether the PEM bundle holds cert.
func pemHas(bundle []byte, cert *x509.Certificate) bool {
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			return false
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.Equal(cert) {
			return true
		}
	}
}

func buildKubeProxy() Lab {
	return Lab{
		Name:  "build-kube-proxy",
		Title: "build: kube-proxy's configuration, by hand",
		Build: true,
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab build-kube-proxy needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Node: ws[len(ws)-1], Values: map[string]string{
				"dir": "/tmp/" + c.Name + "-files", "mode": c.Network.KubeProxyMode, "cidr": c.Network.PodCIDR}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("hardway left out kube-proxy's configuration on %s: %s is gone and kube-proxy is stopped, its\n"+
				"rules flushed. From %s's pods a ClusterIP times out and its NodePorts refuse. Write the\n"+
				"KubeProxyConfiguration by hand, as step workers does (the kubeconfig kube-proxy uses, mode %s, the pod\n"+
				"range %s, this node's name, and conntrack left alone), then start kube-proxy.",
				t.Node.Name, kubeProxyConfigFile, t.Node.Name, t.Values["mode"], t.Values["cidr"])
		},
		Evidence: func(t Target) []string { return []string{t.hw("verify")} },
		Reveal: func(t Target) []string {
			return []string{t.hw("explain", "workers"), t.shell(t.Node, "systemctl cat kube-proxy"), t.hw("render", "--out", t.Values["dir"])}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("kube-proxy reads one file, %s (--config): apiVersion kubeproxy.config.k8s.io/v1alpha1,\n"+
				"kind KubeProxyConfiguration; clientConnection.kubeconfig %s (its identity, system:kube-proxy);\n"+
				"mode %s; clusterCIDR %s (traffic to a Service from outside it is masqueraded); hostnameOverride %s\n"+
				"(the Node it serves); conntrack.maxPerCore 0 (else it writes the machine-wide nf_conntrack_max, which a\n"+
				"container node must not). The rendered file is in what the render command writes, under\n"+
				"%s/%s%s: read it, then copy it or write your own.",
				kubeProxyConfigFile, render.KubeProxyDir+"/kubeconfig", t.Values["mode"], t.Values["cidr"], t.Node.Name, t.Values["dir"], t.Node.Name, kubeProxyConfigFile)
		},
		Fix: func(t Target) []string {
			return []string{
				t.hw("render", "--out", t.Values["dir"]),
				t.shell(t.Node, "tee "+kubeProxyConfigFile+" < "+path.Join(t.Values["dir"], t.Node.Name, kubeProxyConfigFile)+" > /dev/null"),
				t.shell(t.Node, "systemctl start kube-proxy"),
			}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("Started with its configuration, kube-proxy logs in with its kubeconfig, finds Node %s, lists every\n"+
				"Service and EndpointSlice and writes their %s rules in one sync: a ClusterIP or NodePort on %s\n"+
				"turns into a pod's address again.", t.Node.Name, t.Values["mode"], t.Node.Name)
		},
		Step:     "workers",
		Probes:   []string{"service", "nodeport"},
		Diagnose: diagnoseKubeProxy,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			// Stopped, kube-proxy leaves its rules: flush them, as a reboot would.
			return run(ctx, e, t.Node, "sh", "-c", "systemctl stop kube-proxy && kube-proxy --cleanup && rm -f "+kubeProxyConfigFile)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}

func diagnoseKubeProxy(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	nd, err := e.Cluster.Node(ctx, t.Node.Name)
	if err != nil {
		return nil, err
	}
	data, err := nd.ReadFile(ctx, kubeProxyConfigFile)
	if err != nil {
		return []string{fmt.Sprintf("%s has no %s yet", t.Node.Name, kubeProxyConfigFile)}, nil
	}
	out := kubeProxyProblems(t.Node.Name, e.Cluster.Config, data)
	us, err := readUnitState(ctx, e, t.Node, "kube-proxy", kubeProxyConfigFile)
	if err != nil {
		return nil, err
	}
	return append(out, unitProblems(t.Node.Name, "kube-proxy", kubeProxyConfigFile, us)...), nil
}

// kubeProxyProblems checks a KubeProxyConfiguration against what the
// workers step would write for node.
func kubeProxyProblems(node string, c *config.Cluster, data []byte) []string {
	file := node + ":" + kubeProxyConfigFile
	var kp struct {
		APIVersion       string `json:"apiVersion"`
		Kind             string `json:"kind"`
		ClientConnection struct {
			Kubeconfig string `json:"kubeconfig"`
		} `json:"clientConnection"`
		HostnameOverride string `json:"hostnameOverride"`
		Mode             string `json:"mode"`
		ClusterCIDR      string `json:"clusterCIDR"`
		Conntrack        struct {
			MaxPerCore *int64 `json:"maxPerCore"`
		} `json:"conntrack"`
	}
	if err := yaml.UnmarshalStrict(data, &kp); err != nil {
		// Strict: a misspelt field is what kube-proxy itself refuses.
		if err2 := yaml.Unmarshal(data, &kp); err2 != nil {
			return []string{fmt.Sprintf("%s is not YAML kube-proxy can read: %v", file, err2)}
		}
	}
	var out []string
	want := func(field, got, w, why string) {
		if got != w {
			out = append(out, fmt.Sprintf("%s: %s is %q, want %q (%s)", file, field, got, w, why))
		}
	}
	want("apiVersion", kp.APIVersion, "kubeproxy.config.k8s.io/v1alpha1", "the config API kube-proxy reads")
	want("kind", kp.Kind, "KubeProxyConfiguration", "the config API kube-proxy reads")
	want("clientConnection.kubeconfig", kp.ClientConnection.Kubeconfig, render.KubeProxyDir+"/kubeconfig", "kube-proxy's identity, system:kube-proxy")
	want("mode", kp.Mode, c.Network.KubeProxyMode, "network.kubeProxyMode")
	want("clusterCIDR", kp.ClusterCIDR, c.Network.PodCIDR, "the pod range; traffic from outside it to a Service is masqueraded")
	want("hostnameOverride", kp.HostnameOverride, node, "the Node kube-proxy serves")
	if kp.Conntrack.MaxPerCore == nil || *kp.Conntrack.MaxPerCore != 0 {
		out = append(out, fmt.Sprintf("%s: conntrack.maxPerCore must be 0: otherwise kube-proxy sets the machine-wide nf_conntrack_max, which a container node cannot", file))
	}
	return out
}
