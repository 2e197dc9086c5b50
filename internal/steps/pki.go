package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/pki"
)

func pkiStep() Step {
	return Step{
		Name:    "pki",
		Title:   "Certificates: a CA and one identity per component",
		Explain: explainPKI,
		Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
			if _, err := c.ensurePKI(); err != nil {
				return nil, err
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.pkiChanges, nil
		},
	}
}

// ensurePKI creates what is missing and loads the rest, once per run.
func (c *Cluster) ensurePKI() (*pki.Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki != nil {
		return c.pki, nil
	}
	opts := c.PKIOptions
	if opts.Now == nil {
		opts.Now = time.Now
	}
	inMasters := pki.AdminInMasters(c.State.PKI())
	set, changes, err := pki.EnsureWith(c.State.PKI(), c.Config, opts)
	if err != nil {
		return nil, err
	}
	if inMasters && !pki.AdminInMasters(c.State.PKI()) {
		c.adminMoved = true
	}
	for _, ch := range changes {
		if !ch.Changed() {
			continue
		}
		action := converge.Reissued
		if ch.Action == pki.Created {
			action = converge.Created
		}
		cc := converge.Change{Action: action, Target: "certificate " + ch.Name, Reason: ch.Reason}
		c.Log.Logf(1, "  %s", cc)
		c.pkiChanges = append(c.pkiChanges, cc)
	}
	c.pki = set
	return set, nil
}

func explainPKI(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(pkiProse)
	section(&b, fmt.Sprintf("The certificates of cluster %q (in %s)", c.Config.Name, c.State.PKI()))
	rows := [][]string{{"NAME", "CN", "O", "SIGNED BY", "USAGE"}}
	var details strings.Builder
	for _, s := range pki.Specs(c.Config) {
		ca := s.CA
		if ca == "" {
			ca = "(self)"
		}
		rows = append(rows, []string{s.Name, dash(s.CommonName), dash(strings.Join(s.Organization, ",")), ca, string(s.Usage)})
		an := s.AltNames(c.Config)
		fmt.Fprintf(&details, "  %s\n      used by: %s\n", s.Name, s.UsedBy)
		if len(an.DNSNames)+len(an.IPs) > 0 {
			fmt.Fprintf(&details, "      SANs:    %s\n", strings.Join(append(append([]string{}, an.DNSNames...), an.IPs...), ", "))
		}
	}
	table(&b, rows)
	section(&b, "Who uses each one, and the names it answers to")
	b.WriteString(details.String())
	fmt.Fprintf(&b, "\nKeys are %s; leaves are valid %s, CAs %s. Inspect them with: hardway certs --name %s\n",
		strings.ToUpper(c.Config.PKI.KeyAlgorithm), c.Config.PKI.CertValidity, c.Config.PKI.CAValidity, c.Config.Name)
	return b.String(), nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
