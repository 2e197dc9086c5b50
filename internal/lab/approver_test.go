package lab

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// TestServingCertProblem: the check of the labs that break a kubelet's
// serving certificate names what the kubelet on the node serves until it is
// a certificate of its own, valid now.
func TestServingCertProblem(t *testing.T) {
	now := time.Now()
	n := config.Node{Name: "node-0"}
	serving := func(cn string, from, to time.Duration, path string) ops.KubeletCert {
		return ops.KubeletCert{Node: "node-0", Use: ops.KubeletServing, Path: path,
			Info: pki.Info{CommonName: cn, NotBefore: now.Add(from), NotAfter: now.Add(to)}}
	}
	client := ops.KubeletCert{Node: "node-0", Use: ops.KubeletClient, Info: pki.Info{CommonName: "system:node:node-0", NotAfter: now.Add(-time.Hour)}}
	for _, tt := range []struct {
		name  string
		certs []ops.KubeletCert
		want  string
	}{
		{"its own, valid (an expired client pair is another lab's business)", []ops.KubeletCert{client, serving("system:node:node-0", -time.Hour, time.Hour, render.KubeletServerCurrent)}, ""},
		{"another node's", []ops.KubeletCert{serving("system:node:node-1", -time.Hour, time.Hour, render.KubeletServingCert)}, "serves /var/lib/kubelet/kubelet.pem, a certificate for system:node:node-1, not system:node:node-0"},
		{"expired", []ops.KubeletCert{serving("system:node:node-0", -48*time.Hour, -time.Hour, render.KubeletServingCert)}, "has only /var/lib/kubelet/kubelet.pem, which expired on "},
		{"not yet valid", []ops.KubeletCert{serving("system:node:node-0", time.Hour, 48*time.Hour, render.KubeletServingCert)}, "valid only from "},
		{"none", []ops.KubeletCert{client}, "has no serving certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := servingCertProblem(n, tt.certs, now)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

// TestWithNodeFiles: a kubeconfig that names files (hardway's own names the
// pair the kubelet rotates) is judged by those files as the node has them,
// and a file the node lacks is named.
func TestWithNodeFiles(t *testing.T) {
	tp := testPKI(t)
	c, now, set := tp.c, tp.now, tp.set
	ca, _ := set.Get(pki.CA)
	good, _ := set.Get(pki.KubeletName("node-2"))
	node := map[string][]byte{render.KubeletClientCurrent: append(append([]byte{}, good.CertPEM...), good.KeyPEM...), "/etc/ca.pem": ca.CertPEM}
	read := func(p string) ([]byte, error) {
		if b, ok := node[p]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	kc := func(caFile, pair string) []byte {
		cl := &clientcmdapi.Cluster{Server: c.NodeAPIServerURL(), CertificateAuthority: caFile}
		if caFile == "" {
			cl.CertificateAuthorityData = ca.CertPEM
		}
		return testKubeconfig(t, cl, &clientcmdapi.AuthInfo{ClientCertificate: pair, ClientKey: pair})
	}
	for _, tt := range []struct {
		name string
		data []byte
		want []string
	}{
		{"hardway's: the pair the kubelet rotates, by file", kc("", render.KubeletClientCurrent), nil},
		{"the CA by file too", kc("/etc/ca.pem", render.KubeletClientCurrent), nil},
		{"a file of this host", kc("", "/tmp/hardway-node-2/kubelet-client.pem"), []string{
			"node-2:/var/lib/kubelet/kubeconfig names client-certificate /tmp/hardway-node-2/kubelet-client.pem, which node-2 does not have",
			"has no client-certificate-data or client-key-data"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, problems := withNodeFiles("node-2", tt.data, read)
			got := append(problems, kubeletClientProblems("node-2", c.NodeAPIServerURL(), ca.Cert, data, now)...)
			if len(tt.want) == 0 && len(got) > 0 {
				t.Errorf("a right kubeconfig: %q", got)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("lacks %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
	if data, problems := withNodeFiles("node-2", []byte("hello: [\n"), read); string(data) != "hello: [\n" || problems != nil {
		t.Errorf("a file that is no kubeconfig came back as %q, %q", data, problems)
	}
}
