package pki

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"hardway.dev/hardway/internal/config"
)

// IssueWindow signs the leaf certificate name of the cluster's table, with
// the identity Ensure gives it (CN, O, SANs, usages) and the CA in dir, valid
// only from notBefore to notAfter, and returns it without writing anything.
// The labs use it to make real certificates that fail only on time: one that
// expired, one signed by a machine whose clock ran days ahead. Ensure would
// replace either (checkLeaf reports expired or not yet valid).
func IssueWindow(dir string, c *config.Cluster, name string, notBefore, notAfter time.Time) (Pair, error) {
	specs := Specs(c)
	i := slices.IndexFunc(specs, func(s Spec) bool { return s.Name == name })
	if i < 0 || specs[i].IsCA() || specs[i].Usage == UsageKeyPair {
		return Pair{}, fmt.Errorf("no leaf certificate %q in cluster %s's PKI table", name, c.Name)
	}
	if !notBefore.Before(notAfter) {
		return Pair{}, fmt.Errorf("certificate %s: notBefore %s is not before notAfter %s", name, notBefore.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	s := specs[i]
	caPEM, err := readRequired(CertPath(dir, s.CA))
	if err != nil {
		return Pair{}, err
	}
	caKeyPEM, err := readRequired(KeyPath(dir, s.CA))
	if err != nil {
		return Pair{}, err
	}
	caCert, err := parseCert(caPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("%s is unreadable (%v): restore it from a backup", CertPath(dir, s.CA), err)
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("%s is unreadable (%v): restore it from a backup", KeyPath(dir, s.CA), err)
	}
	// The same identity and template as Ensure's, through its own code:
	// only the validity differs.
	e := &ensurer{dir: dir, c: c, now: notBefore.Add(backdate)}
	id, err := e.identity(s)
	if err != nil {
		return Pair{}, err
	}
	key, err := newKey(c.PKI.KeyAlgorithm)
	if err != nil {
		return Pair{}, err
	}
	tmpl, err := e.template(id)
	if err != nil {
		return Pair{}, err
	}
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return Pair{}, fmt.Errorf("signing %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Name: name, CertPEM: encodeCert(der), KeyPEM: keyPEM, Cert: cert, TrustPEM: caPEM}, nil
}
