package pki

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
)

// TestIssueWindow: the labs' certificates are the table's identity, signed
// by the cluster CA, wrong only in time; Ensure would replace them.
func TestIssueWindow(t *testing.T) {
	c := config.Default()
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	set, _, err := Ensure(dir, c, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	good, _ := set.Get(KubeletName("node-1"))
	ca, _ := set.Get(CA)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, tt := range []struct {
		name       string
		from, till time.Time
		reason     string
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "expired on "},
		{"from a clock ahead", now.Add(72 * time.Hour), now.Add(96 * time.Hour), "not valid before "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := IssueWindow(dir, c, KubeletName("node-1"), tt.from, tt.till)
			if err != nil {
				t.Fatal(err)
			}
			got := p.Cert
			if got.Subject.CommonName != good.Cert.Subject.CommonName || !slices.Equal(got.Subject.Organization, good.Cert.Subject.Organization) ||
				!slices.Equal(got.DNSNames, good.Cert.DNSNames) || len(got.IPAddresses) != len(good.Cert.IPAddresses) || !got.IPAddresses[0].Equal(good.Cert.IPAddresses[0]) ||
				!slices.Equal(got.ExtKeyUsage, good.Cert.ExtKeyUsage) {
				t.Errorf("identity differs from Ensure's: %v %v %v", got.Subject, got.DNSNames, got.IPAddresses)
			}
			if !got.NotBefore.Equal(tt.from.Truncate(time.Second)) || !got.NotAfter.Equal(tt.till.Truncate(time.Second)) {
				t.Errorf("valid %s..%s, want %s..%s", got.NotBefore, got.NotAfter, tt.from, tt.till)
			}
			// Signed by the CA, and refused on time alone.
			if err := got.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the cluster CA: %v", err)
			}
			_, err = got.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			var inv x509.CertificateInvalidError
			if !errors.As(err, &inv) || inv.Reason != x509.Expired {
				t.Errorf("now: %v, want x509's expired-or-not-yet-valid", err)
			}
			e := &ensurer{dir: dir, c: c, now: now}
			id, _ := e.identity(specByName(t, c, KubeletName("node-1")))
			if _, why := e.checkLeaf(p.CertPEM, p.KeyPEM, id, signer{cert: ca.Cert}); !strings.HasPrefix(why, tt.reason) {
				t.Errorf("Ensure would say %q, want %q...", why, tt.reason)
			}
		})
	}
	for _, bad := range []string{CA, ServiceAccount, "kubelet-nope"} {
		if _, err := IssueWindow(dir, c, bad, now, now.Add(time.Hour)); err == nil {
			t.Errorf("IssueWindow(%s) signed something", bad)
		}
	}
}

func specByName(t *testing.T, c *config.Cluster, name string) Spec {
	t.Helper()
	for _, s := range Specs(c) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no spec %s", name)
	return Spec{}
}
