package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
)

// A CA is replaced without downtime in phases, each rolled out to every node
// before the next begins (Kubernetes' "manual rotation of CA certificates"):
//
//	trust    a new CA signs from now on; every relying party trusts the old
//	         and the new CA; certificates signed by the old one are kept.
//	reissue  every certificate the old CA signed is reissued by the new one;
//	         both are still trusted, so old and new certificates meet.
//	(done)   the old CA is dropped from every trust bundle.
//
// The state is two files beside the CA: <ca>-previous.pem (the old CA
// certificate: its existence means a rotation is under way) and
// <ca>.rotation (holds "reissue" once that phase has begun). Moving the etcd
// members from the cluster CA to their own CA is the same procedure, with the
// cluster CA as "previous".

// Phase is where a CA rotation stands.
type Phase string

const (
	PhaseTrust   Phase = "trust"
	PhaseReissue Phase = "reissue"
)

func previousPath(dir, ca string) string { return filepath.Join(dir, ca+"-previous.pem") }
func phasePath(dir, ca string) string    { return filepath.Join(dir, ca+".rotation") }

// RotatableCAs are the CAs `certs renew --ca` accepts.
func RotatableCAs() []string { return []string{CA, EtcdCA, FrontProxyCA} }

// Rotation reports whether a rotation of ca is under way and in which phase.
func Rotation(dir, ca string) (Phase, bool, error) {
	if _, err := os.Stat(previousPath(dir, ca)); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	data, err := readOptional(phasePath(dir, ca))
	if err != nil {
		return "", false, err
	}
	if strings.TrimSpace(string(data)) == string(PhaseReissue) {
		return PhaseReissue, true, nil
	}
	return PhaseTrust, true, nil
}

// BeginRotation makes sure a rotation of ca is under way with a new CA
// (phase trust), starting one if none is. It is safe to call again after an
// interruption. For the etcd CA of a PKI made before etcd had its own CA,
// the "old" CA is the cluster CA, which signed etcd's certificates until now.
func BeginRotation(dir string, c *config.Cluster, ca string, now time.Time) error {
	if !slices.Contains(RotatableCAs(), ca) {
		return fmt.Errorf("%q is not a CA hardway rotates; use one of %s", ca, strings.Join(RotatableCAs(), ", "))
	}
	_, inProgress, err := Rotation(dir, ca)
	if err != nil {
		return err
	}
	if !inProgress {
		from := ca
		if ca == EtcdCA && needsEtcdCA(dir) {
			from = CA
		}
		old, err := readOptional(CertPath(dir, from))
		if err != nil {
			return err
		}
		if old == nil {
			return fmt.Errorf("%s has no %s certificate to rotate; create the cluster first: hardway up --name %s", dir, from, c.Name)
		}
		// The old certificate is saved before the new CA replaces it:
		// should hardway stop in between, the next call sees a rotation
		// whose "new" CA is still the old one and makes it then.
		if err := writeFile(previousPath(dir, ca), old, certMode); err != nil {
			return err
		}
	}
	prev, err := readOptional(previousPath(dir, ca))
	if err != nil {
		return err
	}
	cur, err := readOptional(CertPath(dir, ca))
	if err != nil {
		return err
	}
	if cur == nil || bytes.Equal(bytes.TrimSpace(cur), bytes.TrimSpace(prev)) {
		return newCAFor(dir, c, ca, now)
	}
	return nil
}

// newCAFor replaces ca's files with a freshly made CA.
func newCAFor(dir string, c *config.Cluster, ca string, now time.Time) error {
	for _, s := range Specs(c) {
		if s.Name == ca {
			e := &ensurer{dir: dir, c: c, now: now, signers: map[string]signer{}}
			_, err := e.createCA(s)
			return err
		}
	}
	return fmt.Errorf("pki table has no CA %q (a bug in hardway)", ca)
}

// AdvanceRotation moves a rotation to its next phase and returns it; "" means
// the rotation is finished (the old CA is no longer trusted anywhere once
// the nodes get the new bundles).
func AdvanceRotation(dir, ca string) (Phase, error) {
	phase, ok, err := Rotation(dir, ca)
	if err != nil || !ok {
		return "", err
	}
	switch phase {
	case PhaseTrust:
		if err := writeFile(phasePath(dir, ca), []byte(PhaseReissue+"\n"), certMode); err != nil {
			return "", err
		}
		return PhaseReissue, nil
	default:
		if err := os.Remove(phasePath(dir, ca)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if err := os.Remove(previousPath(dir, ca)); err != nil {
			return "", err
		}
		return "", nil
	}
}

// needsEtcdCA reports whether dir holds a PKI from before etcd had its own
// CA: etcd member certificates exist, the etcd CA does not.
func needsEtcdCA(dir string) bool {
	if _, err := os.Stat(CertPath(dir, EtcdCA)); err == nil {
		return false
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "etcd-server-*.pem"))
	for _, m := range matches {
		if !strings.HasSuffix(m, "-key.pem") {
			return true
		}
	}
	return false
}

// x509Cert is a parsed certificate with its PEM.
type x509Cert struct {
	cert *x509.Certificate
	pem  []byte
}

// previousCA returns the CA being rotated out, if a rotation is under way.
func previousCA(dir, ca string) (*x509Cert, Phase, error) {
	phase, ok, err := Rotation(dir, ca)
	if err != nil || !ok {
		return nil, "", err
	}
	pem, err := readOptional(previousPath(dir, ca))
	if err != nil {
		return nil, "", err
	}
	cert, err := parseCert(pem)
	if err != nil {
		return nil, "", fmt.Errorf("%s is unreadable (%v): restore it, or finish the rotation with: hardway certs renew --ca %s", previousPath(dir, ca), err, ca)
	}
	return &x509Cert{cert: cert, pem: pem}, phase, nil
}

// bundle joins PEM blocks, each ending in a newline, without duplicates.
func bundle(pems ...[]byte) []byte {
	var out []byte
	for _, p := range pems {
		p = bytes.TrimSpace(p)
		if len(p) == 0 || bytes.Contains(out, p) {
			continue
		}
		out = append(out, p...)
		out = append(out, '\n')
	}
	return out
}
