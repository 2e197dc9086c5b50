package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
)

// Action is what Ensure did with one entry.
type Action string

const (
	Created  Action = "created"
	Reissued Action = "reissued"
	// Repaired: the private key was kept but a file derived from it (the
	// service-account public key) was rewritten.
	Repaired Action = "repaired"
	Kept     Action = "kept"
)

// Change reports what Ensure did with one entry and why, for the CLI to show.
type Change struct {
	Name   string
	Action Action
	Reason string
}

// Changed reports whether files of the entry were written, i.e. whether the
// nodes need the new files and the components using them a restart.
func (c Change) Changed() bool { return c.Action != Kept }

const (
	// backdate absorbs small clock differences between host and nodes, so a
	// fresh certificate is not "not yet valid" to a node a second behind.
	backdate = 5 * time.Minute
	// renewBelow: a certificate with less than 1/renewBelow of its lifetime
	// left is reissued, long before clients start failing.
	renewBelow = 10
)

// Ensure makes dir hold the whole PKI of c and returns it. It generates only
// what is missing or no longer right: a certificate whose identity, SANs,
// usages, signer and key algorithm still match c and that is not close to
// expiry is kept as is (same serial), anything else is reissued with a new
// key. CAs are never replaced while their files exist: a corrupt or expired
// CA is an error that says how to start over. now is the clock (time.Now
// when nil); tests inject one to age certificates.
func Ensure(dir string, c *config.Cluster, now func() time.Time) (*Set, []Change, error) {
	return EnsureWith(dir, c, Options{Now: now})
}

// Options change what Ensure does beyond generating what is missing.
type Options struct {
	// Now is the clock (time.Now when nil); tests inject one to age
	// certificates.
	Now func() time.Time
	// Renew lists leaf entries to reissue even though they are still good
	// (`hardway certs renew NAME...`); RenewAll reissues every leaf.
	Renew    []string
	RenewAll bool
}

// EnsureWith is Ensure with options.
func EnsureWith(dir string, c *config.Cluster, opts Options) (*Set, []Change, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if _, migrating, err := Rotation(dir, EtcdCA); err != nil {
		return nil, nil, err
	} else if !migrating && needsEtcdCA(dir) {
		return nil, nil, fmt.Errorf("the PKI in %s predates etcd's own CA (its etcd trusts the cluster CA, so any kubelet certificate opens the database); move etcd to its own CA without downtime: hardway certs renew --ca %s --name %s", dir, EtcdCA, c.Name)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, nil, fmt.Errorf("creating PKI directory: %w", err)
	}
	if err := fixMode(dir, dirMode); err != nil {
		return nil, nil, err
	}
	t := now()
	e := &ensurer{dir: dir, c: c, now: t, signers: map[string]signer{}, opts: opts}
	var pairs []Pair
	var changes []Change
	for _, s := range Specs(c) {
		var p Pair
		var ch Change
		var err error
		switch {
		case s.IsCA():
			p, ch, err = e.ca(s)
		case s.Usage == UsageKeyPair:
			p, ch, err = e.keyPair(s)
		default:
			p, ch, err = e.leaf(s)
		}
		if err != nil {
			return nil, nil, err
		}
		pairs = append(pairs, p)
		changes = append(changes, ch)
	}
	return NewSet(pairs...), changes, nil
}

type signer struct {
	cert *x509.Certificate
	key  crypto.Signer
	// previous is the CA being rotated out, if any, and phase the
	// rotation's phase.
	previous *x509.Certificate
	phase    Phase
}

type ensurer struct {
	dir     string
	c       *config.Cluster
	now     time.Time
	signers map[string]signer
	opts    Options
}

// renew reports whether the caller asked to reissue entry name.
func (e *ensurer) renew(name string) bool {
	return e.opts.RenewAll || slices.Contains(e.opts.Renew, name)
}

func (e *ensurer) startOver() string {
	return fmt.Sprintf("delete %s to start over with a new PKI (every certificate and kubeconfig is reissued and the cluster must be recreated)", e.dir)
}

func (e *ensurer) ca(s Spec) (Pair, Change, error) {
	certPath, keyPath := CertPath(e.dir, s.Name), KeyPath(e.dir, s.Name)
	certPEM, err := readOptional(certPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	keyPEM, err := readOptional(keyPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	prev, phase, err := previousCA(e.dir, s.Name)
	if err != nil {
		return Pair{}, Change{}, err
	}
	switch {
	case certPEM == nil && keyPEM == nil:
		p, err := e.createCA(s)
		if err == nil && prev != nil {
			p.TrustPEM = bundle(p.CertPEM, prev.pem)
			sg := e.signers[s.Name]
			sg.previous, sg.phase = prev.cert, phase
			e.signers[s.Name] = sg
		}
		return p, Change{Name: s.Name, Action: Created, Reason: "missing"}, err
	case keyPEM == nil:
		return Pair{}, Change{}, fmt.Errorf("CA key %s is missing while its certificate exists: restore it, or %s", keyPath, e.startOver())
	case certPEM == nil:
		return Pair{}, Change{}, fmt.Errorf("CA certificate %s is missing while its key exists: restore it, or %s", certPath, e.startOver())
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return Pair{}, Change{}, fmt.Errorf("CA key %s is unreadable (%v): restore it, or %s", keyPath, err, e.startOver())
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return Pair{}, Change{}, fmt.Errorf("CA certificate %s is unreadable (%v): restore it, or %s", certPath, err, e.startOver())
	}
	switch {
	case !cert.IsCA:
		return Pair{}, Change{}, fmt.Errorf("%s is not a CA certificate: restore it, or %s", certPath, e.startOver())
	case !samePublic(key.Public(), cert.PublicKey):
		return Pair{}, Change{}, fmt.Errorf("CA key %s does not belong to %s: restore the matching pair, or %s", keyPath, certPath, e.startOver())
	case !e.now.Before(cert.NotAfter):
		return Pair{}, Change{}, fmt.Errorf("CA %s expired on %s: %s", certPath, cert.NotAfter.UTC().Format(time.RFC3339), e.startOver())
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{certPath, certMode}, {keyPath, keyMode}} {
		if err := fixMode(f.path, f.mode); err != nil {
			return Pair{}, Change{}, err
		}
	}
	reason := "valid until " + cert.NotAfter.UTC().Format(time.DateOnly)
	if expiringSoon(cert, e.now) {
		reason += "; expires soon, yet a CA is never replaced in place: " + e.startOver()
	}
	if !keyMatches(cert.PublicKey, e.c.PKI.KeyAlgorithm) {
		reason += fmt.Sprintf("; its key is %s, not %s, which only new leaves use (a CA is never replaced in place)", keyAlgName(cert.PublicKey), e.c.PKI.KeyAlgorithm)
	}
	sg := signer{cert: cert, key: key}
	pair := Pair{Name: s.Name, CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert}
	if prev != nil {
		sg.previous, sg.phase = prev.cert, phase
		pair.TrustPEM = bundle(certPEM, prev.pem)
		reason += fmt.Sprintf("; rotation under way (phase %s): %s is trusted too", phase, prev.cert.Subject.CommonName)
	}
	e.signers[s.Name] = sg
	return pair, Change{Name: s.Name, Action: Kept, Reason: reason}, nil
}

func (e *ensurer) createCA(s Spec) (Pair, error) {
	key, err := newKey(e.c.PKI.KeyAlgorithm)
	if err != nil {
		return Pair{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.CommonName, Organization: s.Organization},
		NotBefore:             e.now.Add(-backdate),
		NotAfter:              e.now.Add(e.c.PKI.CAValidity.Duration),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Our CAs sign leaves only; forbidding intermediates narrows what a
		// stolen CA key could mint unnoticed.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Pair{}, fmt.Errorf("signing %s: %w", s.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, err
	}
	p, err := e.write(s.Name, encodeCert(der), key)
	if err != nil {
		return Pair{}, err
	}
	p.Cert = cert
	e.signers[s.Name] = signer{cert: cert, key: key}
	return p, nil
}

func (e *ensurer) leaf(s Spec) (Pair, Change, error) {
	ca, ok := e.signers[s.CA]
	if !ok {
		return Pair{}, Change{}, fmt.Errorf("pki table: %s is signed by %q, which comes later or does not exist", s.Name, s.CA)
	}
	want, err := e.identity(s)
	if err != nil {
		return Pair{}, Change{}, err
	}
	certPath, keyPath := CertPath(e.dir, s.Name), KeyPath(e.dir, s.Name)
	certPEM, err := readOptional(certPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	keyPEM, err := readOptional(keyPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	action, reason := Created, "missing"
	if certPEM != nil || keyPEM != nil {
		action = Reissued
		var cert *x509.Certificate
		cert, reason = e.checkLeaf(certPEM, keyPEM, want, ca)
		if reason == "" && e.renew(s.Name) {
			reason = "renewal asked for"
		}
		if reason == "" {
			for _, f := range []struct {
				path string
				mode os.FileMode
			}{{certPath, certMode}, {keyPath, keyMode}} {
				if err := fixMode(f.path, f.mode); err != nil {
					return Pair{}, Change{}, err
				}
			}
			return Pair{Name: s.Name, CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert},
				Change{Name: s.Name, Action: Kept, Reason: "matches the config; valid until " + cert.NotAfter.UTC().Format(time.DateOnly)}, nil
		}
	}
	p, err := e.issue(s, want, ca)
	return p, Change{Name: s.Name, Action: action, Reason: reason}, err
}

// identity is everything about a leaf that the config decides.
type identity struct {
	cn      string
	org     []string
	dns     []string
	ips     []net.IP
	extUses []x509.ExtKeyUsage
}

func (e *ensurer) identity(s Spec) (identity, error) {
	alt := s.AltNames(e.c)
	id := identity{cn: s.CommonName, org: s.Organization, dns: dedupe(alt.DNSNames)}
	for _, v := range dedupe(alt.IPs) {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return identity{}, fmt.Errorf("%s: SAN %q is not an IP address: fix the cluster config", s.Name, v)
		}
		id.ips = append(id.ips, net.IP(a.AsSlice()))
	}
	switch s.Usage {
	case UsageServer:
		id.extUses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case UsageClient:
		id.extUses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case UsageServerClient:
		id.extUses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	default:
		return identity{}, fmt.Errorf("pki table: %s has usage %q, which a leaf certificate cannot have", s.Name, s.Usage)
	}
	return id, nil
}

// checkLeaf returns the parsed certificate and "" when it can be kept, or
// why it must be reissued.
func (e *ensurer) checkLeaf(certPEM, keyPEM []byte, want identity, ca signer) (*x509.Certificate, string) {
	if certPEM == nil {
		return nil, "certificate file missing"
	}
	if keyPEM == nil {
		return nil, "key file missing"
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, "certificate unreadable: " + err.Error()
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, "key unreadable: " + err.Error()
	}
	var ips []string
	for _, ip := range want.ips {
		ips = append(ips, ip.String())
	}
	var haveIPs []string
	for _, ip := range cert.IPAddresses {
		haveIPs = append(haveIPs, ip.String())
	}
	switch {
	case !samePublic(key.Public(), cert.PublicKey):
		return nil, "key does not belong to the certificate"
	case !signedBy(cert, ca.cert) && !(ca.phase == PhaseTrust && ca.previous != nil && signedBy(cert, ca.previous)):
		// During a rotation's trust phase, certificates of the old CA are
		// kept: the new CA is not trusted everywhere yet.
		if ca.previous != nil && signedBy(cert, ca.previous) {
			return nil, "signed by the CA being rotated out"
		}
		return nil, "not signed by the current CA"
	case !keyMatches(cert.PublicKey, e.c.PKI.KeyAlgorithm):
		return nil, fmt.Sprintf("key is %s, config wants %s", keyAlgName(cert.PublicKey), e.c.PKI.KeyAlgorithm)
	case cert.Subject.CommonName != want.cn:
		return nil, fmt.Sprintf("CN %q, config wants %q", cert.Subject.CommonName, want.cn)
	case !sameSet(cert.Subject.Organization, want.org):
		return nil, "O " + setDiff(want.org, cert.Subject.Organization)
	case !sameSet(cert.DNSNames, want.dns):
		return nil, "DNS SANs " + setDiff(want.dns, cert.DNSNames)
	case !sameSet(haveIPs, ips):
		return nil, "IP SANs " + setDiff(ips, haveIPs)
	case cert.IsCA || !slices.Equal(sortedUses(cert.ExtKeyUsage), sortedUses(want.extUses)):
		return nil, "key usages differ"
	case e.now.Before(cert.NotBefore):
		return nil, "not valid before " + cert.NotBefore.UTC().Format(time.RFC3339) + " (clock went back?)"
	case !e.now.Before(cert.NotAfter):
		return nil, "expired on " + cert.NotAfter.UTC().Format(time.RFC3339)
	case expiringSoon(cert, e.now):
		return nil, fmt.Sprintf("expires on %s, less than 1/%d of its lifetime left", cert.NotAfter.UTC().Format(time.RFC3339), renewBelow)
	}
	return cert, ""
}

func (e *ensurer) issue(s Spec, id identity, ca signer) (Pair, error) {
	key, err := newKey(e.c.PKI.KeyAlgorithm)
	if err != nil {
		return Pair{}, err
	}
	tmpl, err := e.template(id)
	if err != nil {
		return Pair{}, err
	}
	// A leaf outliving its CA would only look valid.
	if ca.cert.NotAfter.Before(tmpl.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("signing %s: %w", s.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, err
	}
	p, err := e.write(s.Name, encodeCert(der), key)
	p.Cert = cert
	return p, err
}

// template is the certificate Ensure issues for id, valid from now for the
// config's certValidity (backdated a little).
func (e *ensurer) template(id identity) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if e.c.PKI.KeyAlgorithm == config.KeyRSA {
		// TLS 1.2 RSA key exchange encrypts to the server's key.
		usage |= x509.KeyUsageKeyEncipherment
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.cn, Organization: id.org},
		DNSNames:              id.dns,
		IPAddresses:           id.ips,
		NotBefore:             e.now.Add(-backdate),
		NotAfter:              e.now.Add(e.c.PKI.CertValidity.Duration),
		KeyUsage:              usage,
		ExtKeyUsage:           id.extUses,
		BasicConstraintsValid: true,
	}, nil
}

func (e *ensurer) keyPair(s Spec) (Pair, Change, error) {
	pubPath, keyPath := CertPath(e.dir, s.Name), KeyPath(e.dir, s.Name)
	keyPEM, err := readOptional(keyPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	action, reason := Created, "missing"
	if keyPEM != nil {
		key, err := parseKey(keyPEM)
		switch {
		case err != nil:
			action, reason = Reissued, "key unreadable: "+err.Error()
		case !keyMatches(key.Public(), e.c.PKI.KeyAlgorithm):
			action, reason = Reissued, fmt.Sprintf("key is %s, config wants %s", keyAlgName(key.Public()), e.c.PKI.KeyAlgorithm)
		default:
			return e.keepKeyPair(s, pubPath, keyPath, keyPEM, key)
		}
	}
	key, err := newKey(e.c.PKI.KeyAlgorithm)
	if err != nil {
		return Pair{}, Change{}, err
	}
	pub, err := encodePublicKey(key.Public())
	if err != nil {
		return Pair{}, Change{}, err
	}
	p, err := e.write(s.Name, pub, key)
	return p, Change{Name: s.Name, Action: action, Reason: reason}, err
}

// keepKeyPair keeps a good private key and rewrites its public half when that
// file is missing or wrong, since it is derived data.
func (e *ensurer) keepKeyPair(s Spec, pubPath, keyPath string, keyPEM []byte, key crypto.Signer) (Pair, Change, error) {
	if err := fixMode(keyPath, keyMode); err != nil {
		return Pair{}, Change{}, err
	}
	pubPEM, err := readOptional(pubPath)
	if err != nil {
		return Pair{}, Change{}, err
	}
	ch := Change{Name: s.Name, Action: Kept, Reason: "matches the config"}
	switch pub, perr := parsePublicKey(pubPEM); {
	case pubPEM == nil:
		ch = Change{Name: s.Name, Action: Repaired, Reason: "public key file missing"}
	case perr != nil:
		ch = Change{Name: s.Name, Action: Repaired, Reason: "public key unreadable: " + perr.Error()}
	case !samePublic(key.Public(), pub):
		ch = Change{Name: s.Name, Action: Repaired, Reason: "public key does not belong to the private key"}
	}
	if ch.Action == Kept {
		if err := fixMode(pubPath, certMode); err != nil {
			return Pair{}, Change{}, err
		}
		return Pair{Name: s.Name, CertPEM: pubPEM, KeyPEM: keyPEM}, ch, nil
	}
	if pubPEM, err = encodePublicKey(key.Public()); err != nil {
		return Pair{}, Change{}, err
	}
	if err := writeFile(pubPath, pubPEM, certMode); err != nil {
		return Pair{}, Change{}, err
	}
	return Pair{Name: s.Name, CertPEM: pubPEM, KeyPEM: keyPEM}, ch, nil
}

// write stores the key before the certificate: a crash in between leaves a
// certificate that does not match its key, which the next run reissues.
func (e *ensurer) write(name string, certPEM []byte, key crypto.Signer) (Pair, error) {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	if err := writeFile(KeyPath(e.dir, name), keyPEM, keyMode); err != nil {
		return Pair{}, err
	}
	if err := writeFile(CertPath(e.dir, name), certPEM, certMode); err != nil {
		return Pair{}, err
	}
	return Pair{Name: name, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func signedBy(cert, ca *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, ca.RawSubject) && cert.CheckSignatureFrom(ca) == nil
}

func expiringSoon(cert *x509.Certificate, now time.Time) bool {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Sub(now) < lifetime/renewBelow
}

func newSerial() (*big.Int, error) {
	// 128 random bits, as RFC 5280 allows up to 20 octets and CAs use >= 64 bits.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range in {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(sortedCopy(dedupe(a)), sortedCopy(dedupe(b)))
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// setDiff describes how have must change to become want: "+added -removed".
func setDiff(want, have []string) string {
	var parts []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			parts = append(parts, "+"+w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			parts = append(parts, "-"+h)
		}
	}
	return "changed: " + strings.Join(parts, " ")
}

func sortedUses(in []x509.ExtKeyUsage) []x509.ExtKeyUsage {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
