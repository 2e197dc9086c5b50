package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// An existing cluster's admin certificate is in system:masters (made by
// hardway before the admin group): the next Ensure reissues it in the admin
// group and adds the super-admin, and keeps everything else.
func TestAdminMovesOutOfMasters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	c := cluster3()
	set, _ := ensure(t, dir, c, t0)
	if AdminInMasters(dir) {
		t.Errorf("a new admin certificate is in system:masters")
	}
	// Make the PKI look like an old hardway's: admin in system:masters,
	// no super-admin.
	ca := pair(t, set, CA)
	caKey, err := parseKey(ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	old := pair(t, set, Admin)
	key, err := parseKey(old.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: old.Cert.SerialNumber, Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		NotBefore: old.Cert.NotBefore, NotAfter: old.Cert.NotAfter, KeyUsage: old.Cert.KeyUsage,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeT(t, CertPath(dir, Admin), string(encodeCert(der)))
	removeT(t, CertPath(dir, SuperAdmin))
	removeT(t, KeyPath(dir, SuperAdmin))

	if !AdminInMasters(dir) {
		t.Errorf("AdminInMasters does not see the old admin certificate")
	}
	set, changes := ensure(t, dir, c, t0.Add(time.Hour))
	if ch := changes[Admin]; ch.Action != Reissued || ch.Reason != "O changed: +hardway:cluster-admins -system:masters" {
		t.Errorf("admin: %+v, want reissued because its O changed", ch)
	}
	if got := pair(t, set, Admin).Cert.Subject.Organization; !slices.Equal(got, []string{AdminGroup}) {
		t.Errorf("admin O = %v, want [%s]", got, AdminGroup)
	}
	if ch := changes[SuperAdmin]; ch.Action != Created {
		t.Errorf("super-admin: %+v, want created", ch)
	}
	if got := pair(t, set, SuperAdmin).Cert.Subject.Organization; !slices.Equal(got, []string{MastersGroup}) {
		t.Errorf("super-admin O = %v, want [%s]", got, MastersGroup)
	}
	for name, ch := range changes {
		if name != Admin && name != SuperAdmin && ch.Changed() {
			t.Errorf("%s changed (%s %s): only the admin identities should", name, ch.Action, ch.Reason)
		}
	}
}

func TestUserRequestValidate(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		r    UserRequest
		want string // "" = valid
	}{
		{"plain", UserRequest{Name: "jane", TTL: 24 * time.Hour}, ""},
		{"e-mail and groups", UserRequest{Name: "jane.doe@example.com", Groups: []string{"dev", "dev:readers", AdminGroup}, TTL: time.Minute}, ""},
		{"longest ttl", UserRequest{Name: "jane", TTL: MaxUserTTL}, ""},
		{"empty name", UserRequest{TTL: time.Hour}, "--user is empty"},
		{"long name", UserRequest{Name: long, TTL: time.Hour}, "65 characters long, at most 64"},
		{"component name", UserRequest{Name: "system:kube-scheduler", TTL: time.Hour}, "the cluster's own components"},
		{"space", UserRequest{Name: "jane doe", TTL: time.Hour}, "letters, digits and . _ @ - only"},
		{"slash", UserRequest{Name: "../jane", TTL: time.Hour}, "letters, digits and . _ @ - only"},
		{"masters", UserRequest{Name: "jane", Groups: []string{"system:masters"}, TTL: time.Hour}, "cannot be revoked; use --group hardway:cluster-admins"},
		{"system group", UserRequest{Name: "jane", Groups: []string{"system:nodes"}, TTL: time.Hour}, "given by Kubernetes itself"},
		{"bad group", UserRequest{Name: "jane", Groups: []string{"dev:"}, TTL: time.Hour}, "parts joined by ':'"},
		{"twice", UserRequest{Name: "jane", Groups: []string{"dev", "dev"}, TTL: time.Hour}, "given twice"},
		{"zero ttl", UserRequest{Name: "jane"}, "--ttl 0s: must be between 1m0s and 720h"},
		{"long ttl", UserRequest{Name: "jane", TTL: MaxUserTTL + time.Hour}, "--ttl 721h0m0s: must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestIssueUser(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	c := cluster3()
	set, _ := ensure(t, dir, c, t0)
	before := readDir(t, dir)
	ca := pair(t, set, CA)

	p, err := IssueUser(dir, c, UserRequest{Name: "jane", Groups: []string{"dev"}, TTL: 24 * time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !verifies(t, p.Cert, p.TrustPEM) || !signedBy(p.Cert, ca.Cert) {
		t.Errorf("the user certificate does not chain to the cluster CA")
	}
	if p.Cert.Subject.CommonName != "jane" || !slices.Equal(p.Cert.Subject.Organization, []string{"dev"}) {
		t.Errorf("subject %v, want CN=jane O=dev", p.Cert.Subject)
	}
	if !slices.Equal(p.Cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || p.Cert.IsCA {
		t.Errorf("usages %v (CA %v), want client auth only", p.Cert.ExtKeyUsage, p.Cert.IsCA)
	}
	if want := t0.Add(24 * time.Hour); !p.Cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter %s, want %s", p.Cert.NotAfter, want)
	}
	key, err := parseKey(p.KeyPEM)
	if err != nil || !samePublic(key.Public(), p.Cert.PublicKey) {
		t.Errorf("the key does not belong to the certificate: %v", err)
	}
	if after := readDir(t, dir); !mapsEqual(before, after) {
		t.Errorf("IssueUser changed the cluster's PKI directory")
	}

	// Never beyond the CA.
	late := ca.Cert.NotAfter.Add(-time.Hour)
	p, err = IssueUser(dir, c, UserRequest{Name: "jane", TTL: 24 * time.Hour}, late)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %s beyond the CA's %s", p.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := IssueUser(dir, c, UserRequest{Name: "jane", TTL: time.Hour}, ca.Cert.NotAfter); err == nil || !strings.Contains(err.Error(), "the cluster CA expired") {
		t.Errorf("with an expired CA: %v", err)
	}
	// Refused input and a rotation under way leave the directory alone.
	if _, err := IssueUser(dir, c, UserRequest{Name: "jane", Groups: []string{"system:masters"}, TTL: time.Hour}, t0); err == nil {
		t.Errorf("system:masters was issued")
	}
	if err := BeginRotation(dir, c, CA, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := IssueUser(dir, c, UserRequest{Name: "jane", TTL: time.Hour}, t0); err == nil || !strings.Contains(err.Error(), "rotation of the cluster CA is under way") {
		t.Errorf("during a CA rotation: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "pki")
	if _, err := IssueUser(empty, c, UserRequest{Name: "jane", TTL: time.Hour}, t0); err == nil || !strings.Contains(err.Error(), "hardway up") {
		t.Errorf("without a PKI: %v", err)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Errorf("IssueUser created %s", empty)
	}
}
