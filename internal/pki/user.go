package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
)

// A person's access is a short-lived client certificate signed by the
// cluster CA (`hardway kubeconfig --user`). The API server cannot revoke a
// certificate, so what revokes it is RBAC: the user has only the rights
// bindings give to its name and groups, and a short life bounds what a
// leaked copy is worth after the bindings are gone.
const (
	// MinUserTTL: shorter than a minute is shorter than the clock skew the
	// certificates already allow for (backdate).
	MinUserTTL = time.Minute
	// MaxUserTTL: a month; past that a certificate that cannot be revoked
	// stops being short-lived.
	MaxUserTTL = 30 * 24 * time.Hour
	// maxCN is RFC 5280's upper bound of a common name (ub-common-name).
	maxCN = 64
)

// userName is what a user or group may be called: letters, digits and
// . _ @ - (an e-mail address fits), ':' between parts for groups.
var (
	userName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)
	groupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*(:[A-Za-z0-9][A-Za-z0-9._@-]*)*$`)
)

// UserRequest is one person's certificate: the user name (CN), its groups
// (O) and how long it lives.
type UserRequest struct {
	Name   string
	Groups []string
	TTL    time.Duration
}

// Validate says, in one line naming the flag, what is wrong with r.
func (r UserRequest) Validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("--user is empty: name the person, e.g. --user jane")
	case len(r.Name) > maxCN:
		return fmt.Errorf("--user %q is %d characters long, at most %d fit in a certificate's name: use a shorter one", r.Name, len(r.Name), maxCN)
	case strings.HasPrefix(r.Name, "system:"):
		return fmt.Errorf("--user %q: names starting with system: are the cluster's own components (a kubelet, the scheduler); choose a person's name", r.Name)
	case !userName.MatchString(r.Name):
		return fmt.Errorf("--user %q: use letters, digits and . _ @ - only, starting with a letter or digit", r.Name)
	}
	seen := map[string]bool{}
	for _, g := range r.Groups {
		switch {
		case g == MastersGroup:
			return fmt.Errorf("--group %s: that group is allowed everything before RBAC is asked and cannot be revoked; use --group %s (bound to cluster-admin, revocable) or a group of your own", g, AdminGroup)
		case strings.HasPrefix(g, "system:"):
			return fmt.Errorf("--group %q: groups starting with system: are given by Kubernetes itself (nodes, service accounts); use a group of your own", g)
		case len(g) > maxCN:
			return fmt.Errorf("--group %q is %d characters long, at most %d fit: use a shorter one", g, len(g), maxCN)
		case !groupName.MatchString(g):
			return fmt.Errorf("--group %q: use letters, digits and . _ @ -, parts joined by ':' (e.g. dev:readers)", g)
		case seen[g]:
			return fmt.Errorf("--group %s is given twice: give each group once", g)
		}
		seen[g] = true
	}
	if r.TTL < MinUserTTL || r.TTL > MaxUserTTL {
		return fmt.Errorf("--ttl %s: must be between %s and %s (the certificate cannot be revoked, only outlived), e.g. --ttl 24h", r.TTL, fmtTTL(MinUserTTL), fmtTTL(MaxUserTTL))
	}
	return nil
}

func fmtTTL(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// IssueUser signs a client certificate for r with the cluster CA in dir,
// valid from now for r.TTL (never beyond the CA), and returns it with its
// new key and, as TrustPEM, what a kubeconfig must trust. It writes nothing:
// the person's key is theirs, not the cluster's state.
func IssueUser(dir string, c *config.Cluster, r UserRequest, now time.Time) (Pair, error) {
	if err := r.Validate(); err != nil {
		return Pair{}, err
	}
	caPEM, err := readRequired(CertPath(dir, CA))
	if err != nil {
		return Pair{}, err
	}
	caKeyPEM, err := readRequired(KeyPath(dir, CA))
	if err != nil {
		return Pair{}, err
	}
	caCert, err := parseCert(caPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("%s is unreadable (%v): restore it from a backup", CertPath(dir, CA), err)
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("%s is unreadable (%v): restore it from a backup", KeyPath(dir, CA), err)
	}
	if !now.Before(caCert.NotAfter) {
		return Pair{}, fmt.Errorf("the cluster CA expired on %s: no certificate it signs is accepted; rotate it: hardway certs renew --ca %s --name %s", caCert.NotAfter.UTC().Format(time.DateOnly), CA, c.Name)
	}
	// While a rotation of the cluster CA is under way the API servers may
	// not trust the new CA yet: a certificate it signs might not work.
	if phase, rotating, err := Rotation(dir, CA); err != nil {
		return Pair{}, err
	} else if rotating {
		return Pair{}, fmt.Errorf("a rotation of the cluster CA is under way (phase %s): finish it first (hardway certs renew --ca %s --name %s), then issue the certificate", phase, CA, c.Name)
	}
	key, err := newKey(c.PKI.KeyAlgorithm)
	if err != nil {
		return Pair{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return Pair{}, err
	}
	notAfter := now.Add(r.TTL)
	if caCert.NotAfter.Before(notAfter) {
		notAfter = caCert.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if c.PKI.KeyAlgorithm == config.KeyRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: r.Name, Organization: r.Groups},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return Pair{}, fmt.Errorf("signing the certificate of %s: %w", r.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Name: "user-" + r.Name, CertPEM: encodeCert(der), KeyPEM: keyPEM, Cert: cert, TrustPEM: caPEM}, nil
}

// AdminInMasters reports whether the admin certificate in dir is in group
// system:masters, as hardway made it before the admin group: such a
// cluster has no binding for the group yet. A missing or unreadable
// certificate is not.
func AdminInMasters(dir string) bool {
	data, err := os.ReadFile(CertPath(dir, Admin))
	if err != nil {
		return false
	}
	cert, err := parseCert(data)
	return err == nil && slices.Contains(cert.Subject.Organization, MastersGroup)
}
