package ops

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/render"
)

// pairPEM is a self-signed certificate with CN cn, valid until notAfter,
// and its key, as PEM.
func pairPEM(t *testing.T, cn string, notAfter time.Time) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestKubeletCertsScript runs the node-side reader on a temporary root laid
// out as a node: it names the file each store of the kubelet loads (the
// current links, resolved, else hardway's serving fallback), sends only
// certificates, and the parse tells the kubelet's own from hardway's.
func TestKubeletCertsScript(t *testing.T) {
	day := time.Now().Add(24 * time.Hour).Truncate(time.Second).UTC()
	const ownClient, ownServing = render.KubeletClientPair, render.KubeletServingCert
	rotClient, rotServing := render.KubeletCertDir+"/kubelet-client-2026-01-01-00-00-00.pem", render.KubeletCertDir+"/kubelet-server-2026-01-01-00-00-00.pem"
	type want struct {
		use, path string
		rotated   bool
		cn        string
	}
	tests := []struct {
		name  string
		links map[string]string // link → target
		want  []want
	}{
		{"hardway's pairs: the client link to its file, no serving link",
			map[string]string{render.KubeletClientCurrent: ownClient},
			[]want{{KubeletClient, ownClient, false, "own-client"}, {KubeletServing, ownServing, false, "own-serving"}}},
		{"both rotated by the kubelet",
			map[string]string{render.KubeletClientCurrent: rotClient, render.KubeletServerCurrent: rotServing},
			[]want{{KubeletClient, rotClient, true, "rot-client"}, {KubeletServing, rotServing, true, "rot-serving"}}},
		{"no client link (a kubelet that never started): only the serving fallback",
			nil,
			[]want{{KubeletServing, ownServing, false, "own-serving"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			put := func(p, cn string, withKey bool) {
				c, k := pairPEM(t, cn, day)
				data := c
				if withKey {
					data = append(c, k...)
				}
				if err := os.MkdirAll(filepath.Dir(root+p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(root+p, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			put(ownClient, "own-client", true)
			put(ownServing, "own-serving", false)
			put(rotClient, "rot-client", true)
			put(rotServing, "rot-serving", true)
			for link, to := range tt.links {
				if err := os.Symlink(root+to, root+link); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(kubeletCertsArgs(root)[0], kubeletCertsArgs(root)[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if strings.Contains(string(out), "PRIVATE KEY") {
				t.Errorf("a key left the node:\n%s", out)
			}
			got, err := parseKubeletCerts("n0", string(out))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("read %d certificates, want %d:\n%s", len(got), len(tt.want), out)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Node != "n0" || g.Use != w.use || g.Path != w.path || g.Rotated != w.rotated || g.Info.CommonName != w.cn || !g.Info.NotAfter.Equal(day) {
					t.Errorf("certificate %d: %+v, want %+v expiring %s", i, g, w, day)
				}
				if g.Info.Name != "kubelet-n0 "+w.use {
					t.Errorf("named %q", g.Info.Name)
				}
			}
		})
	}
	if _, err := parseKubeletCerts("n0", "client /var/lib/kubelet/pki/x.pem\nnot pem\n"); err == nil || !strings.Contains(err.Error(), "holds no certificate") {
		t.Errorf("a file without a certificate: %v", err)
	}
}
