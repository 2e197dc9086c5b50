package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

func newCertsCmd(a *app) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List the cluster's certificates (identity, names, issuer, expiry); renew or check them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			return a.listCerts(cfg, o)
		},
	}
	addOutputFlag(cmd, &o)
	cmd.AddCommand(newCertsRenewCmd(a), newCertsCheckCmd(a))
	return cmd
}

// certInfos describes every entry of the cluster's PKI, in table order.
func certInfos(cfg *config.Cluster) ([]pki.Info, error) {
	return describeCerts(state.For(cfg.Name).PKI(), cfg)
}

// certOut is one entry of `hardway certs -o json|yaml`.
type certOut struct {
	Name         string   `json:"name"`
	KeyOnly      bool     `json:"keyOnly,omitempty"`
	KeyAlgorithm string   `json:"keyAlgorithm"`
	CommonName   string   `json:"commonName,omitempty"`
	Organization []string `json:"organization,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
	NotBefore    string   `json:"notBefore,omitempty"`
	NotAfter     string   `json:"notAfter,omitempty"`
	DaysLeft     *int     `json:"daysLeft,omitempty"`
	DNSNames     []string `json:"dnsNames,omitempty"`
	IPs          []string `json:"ips,omitempty"`
	Usages       []string `json:"usages,omitempty"`
	Serial       string   `json:"serial,omitempty"`
}

func certOuts(infos []pki.Info, now time.Time) []certOut {
	out := []certOut{}
	for _, i := range infos {
		c := certOut{Name: i.Name, KeyOnly: i.KeyOnly, KeyAlgorithm: i.KeyAlgorithm}
		if !i.KeyOnly {
			days := int(i.NotAfter.Sub(now).Hours() / 24)
			c.CommonName, c.Organization, c.Issuer, c.DaysLeft = i.CommonName, i.Organization, i.Issuer, &days
			c.NotBefore, c.NotAfter = i.NotBefore.UTC().Format(time.RFC3339), i.NotAfter.UTC().Format(time.RFC3339)
			c.DNSNames, c.IPs, c.Usages, c.Serial = i.DNSNames, i.IPs, i.Usages, i.Serial
		}
		out = append(out, c)
	}
	return out
}

func (a *app) listCerts(cfg *config.Cluster, o output) error {
	infos, err := certInfos(cfg)
	if err != nil {
		return err
	}
	if ok, err := emit(a.out, o, map[string]any{"cluster": cfg.Name, "certificates": certOuts(infos, time.Now())}); ok {
		return err
	}
	dir := state.For(cfg.Name)
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCN\tO\tISSUER\tEXPIRES\tSANS")
	var first *pki.Info
	for i, info := range infos {
		if info.KeyOnly {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t(key pair, %s)\t-\n", info.Name, info.KeyAlgorithm)
			continue
		}
		if first == nil || info.NotAfter.Before(first.NotAfter) {
			first = &infos[i]
		}
		sans := strings.Join(append(append([]string{}, info.DNSNames...), info.IPs...), ",")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\n", info.Name, info.CommonName, dashIfEmpty(strings.Join(info.Organization, ",")),
			info.Issuer, info.NotAfter.Format("2006-01-02"), until(info.NotAfter), dashIfEmpty(sans))
	}
	tw.Flush()
	if first != nil {
		fmt.Fprintf(a.out, "\nfirst to expire: %s on %s (%s); renew: hardway certs renew %s --name %s\n", first.Name, first.NotAfter.Format("2006-01-02"), until(first.NotAfter), first.Name, cfg.Name)
	}
	for _, ca := range pki.RotatableCAs() {
		if phase, ok, err := pki.Rotation(dir.PKI(), ca); err == nil && ok {
			fmt.Fprintf(a.out, "rotation of %s under way (phase %s); finish it: hardway certs renew --ca %s --name %s\n", ca, phase, ca, cfg.Name)
		}
	}
	fmt.Fprintf(a.out, "files: %s\n", dir.PKI())
	return nil
}

func newCertsRenewCmd(a *app) *cobra.Command {
	var all bool
	var ca string
	cmd := &cobra.Command{
		Use:   "renew [NAME...] [--all] [--ca CA]",
		Short: "Reissue certificates and roll them out one node at a time, keeping the API and etcd up; --ca replaces a CA",
		Long: `Reissue leaf certificates (the CAs are kept) and roll them out: etcd one member
at a time, API servers one at a time behind the load balancer, kubelets one node
at a time, each healthy again before the next; then the smoke tests.

--ca CA replaces a CA instead, in three rolled-out phases: every component first
trusts the old and the new CA, then every certificate the old one signed is
reissued, then the old CA is dropped. "--ca etcd-ca" also moves a cluster made
before etcd had its own CA onto one.`,
		Example: "  hardway certs renew --all\n  hardway certs renew kube-apiserver admin\n  hardway certs renew --ca etcd-ca",
		RunE: func(cmd *cobra.Command, args []string) error {
			if ca != "" && (all || len(args) > 0) {
				return fmt.Errorf("--ca replaces a CA and everything it signed; give it alone, without --all or names")
			}
			return a.procedure(cmd.Context(), host.NeedRunning, func(ctx context.Context, e steps.Env) error {
				if ca != "" {
					return ops.RotateCA(ctx, e, ca)
				}
				return ops.RenewCerts(ctx, e, args, all)
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "renew every leaf certificate")
	cmd.Flags().StringVar(&ca, "ca", "", "replace this CA (ca, etcd-ca, front-proxy-ca) in a rolling three-phase procedure")
	return cmd
}

func newCertsCheckCmd(a *app) *cobra.Command {
	var within time.Duration
	cmd := &cobra.Command{
		Use:   "check [--within 720h]",
		Short: "Exit non-zero if a certificate expires within the given time (for cron and monitoring)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			infos, err := certInfos(cfg)
			if err != nil {
				return err
			}
			deadline := time.Now().Add(within)
			var soon []string
			sort.Slice(infos, func(i, j int) bool { return infos[i].NotAfter.Before(infos[j].NotAfter) })
			for _, info := range infos {
				if !info.KeyOnly && info.NotAfter.Before(deadline) {
					soon = append(soon, fmt.Sprintf("%s (%s, %s)", info.Name, info.NotAfter.Format("2006-01-02"), until(info.NotAfter)))
				}
			}
			if len(soon) > 0 {
				return fmt.Errorf("%d certificates expire within %s: %s; renew them: hardway certs renew --all --name %s", len(soon), within, strings.Join(soon, ", "), cfg.Name)
			}
			for _, info := range infos {
				if !info.KeyOnly {
					fmt.Fprintf(a.out, "ok: nothing expires within %s; first is %s on %s (%s)\n", within, info.Name, info.NotAfter.Format("2006-01-02"), until(info.NotAfter))
					break
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&within, "within", 30*24*time.Hour, "how far ahead to look")
	return cmd
}

func newEncryptionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "encryption",
		Short: "Encryption at rest of Secrets",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Replace the key Secrets are encrypted with: add, promote, rewrite every Secret, drop the old key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.procedure(cmd.Context(), host.NeedRunning, ops.RotateEncryption)
		},
	})
	return cmd
}
