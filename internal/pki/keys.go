package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/fsutil"
)

const (
	dirMode  os.FileMode = 0o700
	keyMode  os.FileMode = 0o600
	certMode os.FileMode = 0o644
	rsaBits              = 2048
)

// CertPath and KeyPath are where the named entry lives inside dir.
func CertPath(dir, name string) string { return filepath.Join(dir, name+".pem") }
func KeyPath(dir, name string) string  { return filepath.Join(dir, name+"-key.pem") }

func newKey(alg string) (crypto.Signer, error) {
	switch alg {
	case config.KeyRSA:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case config.KeyECDSA, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("pki.keyAlgorithm %q is not supported: use ecdsa or rsa", alg)
	}
}

// keyMatches reports whether pub is of the configured algorithm and size, so
// switching pki.keyAlgorithm reissues the leaves.
func keyMatches(pub crypto.PublicKey, alg string) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return alg != config.KeyRSA && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == config.KeyRSA && k.N.BitLen() >= rsaBits
	}
	return false
}

func keyAlgName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// encodeKey writes PKCS#8, which etcd, the Kubernetes components and openssl
// all read for both key types.
func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodePublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// parseKey accepts the PEM forms tools commonly write, so a key made by hand
// with openssl is usable too.
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block %q is not a certificate", b.Type)
	}
	return x509.ParseCertificate(b.Bytes)
}

func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block %q is not a public key", b.Type)
	}
	return x509.ParsePKIXPublicKey(b.Bytes)
}

// samePublic compares two public keys; both standard key types implement Equal.
func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// writeFile replaces path atomically so a crash never leaves half a key, and
// with mode set explicitly because the umask must not widen a key's access.
func writeFile(path string, data []byte, mode os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, mode)
}

// fixMode tightens a kept file whose mode drifted (copied around, umask).
func fixMode(path string, mode os.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm() != mode {
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("setting mode %o on %s: %w", mode, path, err)
		}
	}
	return nil
}

// readOptional returns nil data and no error when path does not exist.
func readOptional(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}
