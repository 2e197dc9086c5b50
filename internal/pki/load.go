package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
)

// Load reads the PKI of c from dir without changing anything. Every entry
// must be present and parse; checking that it still matches c is Ensure's job.
func Load(dir string, c *config.Cluster) (*Set, error) {
	var pairs []Pair
	for _, s := range Specs(c) {
		p := Pair{Name: s.Name}
		var err error
		certPath, keyPath := CertPath(dir, s.Name), KeyPath(dir, s.Name)
		if p.KeyPEM, err = readRequired(keyPath); err != nil {
			return nil, err
		}
		if _, err := parseKey(p.KeyPEM); err != nil {
			return nil, fmt.Errorf("%s is unreadable (%v): run `hardway up` to regenerate the PKI", keyPath, err)
		}
		if p.CertPEM, err = readRequired(certPath); err != nil {
			return nil, err
		}
		if s.Usage == UsageKeyPair {
			if _, err := parsePublicKey(p.CertPEM); err != nil {
				return nil, fmt.Errorf("%s is unreadable (%v): run `hardway up` to regenerate the PKI", certPath, err)
			}
		} else if p.Cert, err = parseCert(p.CertPEM); err != nil {
			return nil, fmt.Errorf("%s is unreadable (%v): run `hardway up` to regenerate the PKI", certPath, err)
		}
		pairs = append(pairs, p)
	}
	return NewSet(pairs...), nil
}

func readRequired(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: run `hardway up` to generate the PKI", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// Info describes one entry for `hardway certs`.
type Info struct {
	Name         string
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []string
	// Usages lists "ca", "server" and/or "client".
	Usages       []string
	Issuer       string
	Serial       string
	NotBefore    time.Time
	NotAfter     time.Time
	KeyAlgorithm string
	// KeyOnly marks a bare key pair: only Name and KeyAlgorithm are set.
	KeyOnly bool
}

// Infos describes every entry of set, in the order of c's table.
func Infos(set *Set, c *config.Cluster) ([]Info, error) {
	var out []Info
	for _, s := range Specs(c) {
		p, ok := set.Get(s.Name)
		if !ok {
			continue
		}
		info, err := Describe(p)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Describe summarises a pair; it fails only when the PEM does not parse.
func Describe(p Pair) (Info, error) {
	cert := p.Cert
	if cert == nil {
		if pub, err := parsePublicKey(p.CertPEM); err == nil {
			return Info{Name: p.Name, KeyAlgorithm: keyAlgName(pub), KeyOnly: true}, nil
		}
		var err error
		if cert, err = parseCert(p.CertPEM); err != nil {
			return Info{}, fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	in := Info{
		Name:         p.Name,
		CommonName:   cert.Subject.CommonName,
		Organization: cert.Subject.Organization,
		DNSNames:     cert.DNSNames,
		Issuer:       cert.Issuer.CommonName,
		Serial:       strings.ToUpper(cert.SerialNumber.Text(16)),
		NotBefore:    cert.NotBefore,
		NotAfter:     cert.NotAfter,
		KeyAlgorithm: keyAlgName(cert.PublicKey),
	}
	for _, ip := range cert.IPAddresses {
		in.IPs = append(in.IPs, ip.String())
	}
	if cert.IsCA {
		in.Usages = append(in.Usages, "ca")
	}
	for _, u := range cert.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			in.Usages = append(in.Usages, "server")
		case x509.ExtKeyUsageClientAuth:
			in.Usages = append(in.Usages, "client")
		}
	}
	return in, nil
}
