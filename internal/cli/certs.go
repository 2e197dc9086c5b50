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
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

func newCertsCmd(a *app) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List the cluster's certificates (identity, names, issuer, expiry) and the ones each kubelet uses now; renew or check them",
		Long: `List the certificates in the cluster's state directory, then the ones each
kubelet really uses, read on its node: kubelets renew their client and serving
certificates themselves (at 70-90% of their lifetime, signed by the cluster CA),
so after a while those exist only on the node. A node that cannot be reached is
said so, and the state directory's copy stands in for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.existingConfig()
			if err != nil {
				return err
			}
			return a.listCerts(cmd.Context(), cfg, o)
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

// kubeletUse is what the kubelets use, read on their nodes (ops.KubeletCerts),
// beside the state directory's table: after a kubelet rotated its
// certificates, only its node has them.
type kubeletUse struct {
	nodes []ops.KubeletNode
}

// kubeletCerts reads the kubelets' certificates on every worker; a cluster
// whose machines cannot be asked gets that reason for each.
func (a *app) kubeletCerts(ctx context.Context, cfg *config.Cluster) kubeletUse {
	if len(cfg.Workers()) == 0 {
		return kubeletUse{}
	}
	c, err := a.host.Open(ctx, cfg, logx.Discard{}, host.NeedRunning)
	if err != nil {
		var u kubeletUse
		for _, n := range cfg.Workers() {
			u.nodes = append(u.nodes, ops.KubeletNode{Node: n.Name, Err: err})
		}
		return u
	}
	return kubeletUse{nodes: ops.KubeletCerts(ctx, c, 15*time.Second)}
}

// inUse is every certificate in use: the state directory's, with each
// kubelet's entry replaced by the pairs read on its node where they were.
func (u kubeletUse) inUse(infos []pki.Info) []pki.Info {
	read := map[string]bool{}
	var out []pki.Info
	for _, n := range u.nodes {
		if n.Err == nil {
			read[pki.KubeletName(n.Node)] = true
			for _, c := range n.Certs {
				out = append(out, c.Info)
			}
		}
	}
	for _, i := range infos {
		if !read[i.Name] {
			out = append(out, i)
		}
	}
	return out
}

// notes says, once per reason, which kubelets were not read and what
// stands in for them.
func (u kubeletUse) notes() []string {
	var out []string
	why := map[string][]string{}
	var order []string
	for _, n := range u.nodes {
		if n.Err == nil {
			continue
		}
		r := lines.First(n.Err.Error())
		if why[r] == nil {
			order = append(order, r)
		}
		why[r] = append(why[r], n.Node)
	}
	for _, r := range order {
		names := make([]string, len(why[r]))
		for i, n := range why[r] {
			names[i] = pki.KubeletName(n)
		}
		out = append(out, fmt.Sprintf("kubelets not read on their nodes (%s): shown is the state directory's %s, which the kubelet may have rotated since", r, strings.Join(names, ", ")))
	}
	return out
}

// kubeletOut is one certificate a kubelet uses in `hardway certs -o json|yaml`.
type kubeletOut struct {
	Node        string  `json:"node"`
	Use         string  `json:"use"`
	File        string  `json:"file"`
	Rotated     bool    `json:"rotated"`
	Certificate certOut `json:"certificate"`
}

// unreadOut is a kubelet whose certificates could not be read.
type unreadOut struct {
	Node  string `json:"node"`
	Error string `json:"error"`
}

// fileNote says whose a kubelet's certificate file is.
func fileNote(c ops.KubeletCert) string {
	if c.Rotated {
		return c.Path + " (the kubelet's own, rotated)"
	}
	return c.Path + " (hardway's " + pki.KubeletName(c.Node) + ")"
}

func (a *app) listCerts(ctx context.Context, cfg *config.Cluster, o output) error {
	infos, err := certInfos(cfg)
	if err != nil {
		return err
	}
	kub := a.kubeletCerts(ctx, cfg)
	now := time.Now()
	if o != outputTable {
		kubelets, unread := []kubeletOut{}, []unreadOut{}
		for _, n := range kub.nodes {
			if n.Err != nil {
				unread = append(unread, unreadOut{Node: n.Node, Error: lines.First(n.Err.Error())})
			}
			for _, c := range n.Certs {
				kubelets = append(kubelets, kubeletOut{Node: c.Node, Use: c.Use, File: c.Path, Rotated: c.Rotated, Certificate: certOuts([]pki.Info{c.Info}, now)[0]})
			}
		}
		doc := map[string]any{"cluster": cfg.Name, "certificates": certOuts(infos, now), "kubelets": kubelets}
		if len(unread) > 0 {
			doc["kubeletsUnread"] = unread
		}
		_, err := emit(a.out, o, doc)
		return err
	}
	dir := state.For(cfg.Name)
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCN\tO\tISSUER\tEXPIRES\tSANS")
	for _, info := range infos {
		if info.KeyOnly {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t(key pair, %s)\t-\n", info.Name, info.KeyAlgorithm)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\n", info.Name, info.CommonName, dashIfEmpty(strings.Join(info.Organization, ",")),
			info.Issuer, info.NotAfter.Format("2006-01-02"), until(info.NotAfter), dashIfEmpty(sans(info)))
	}
	tw.Flush()
	var read []ops.KubeletCert
	for _, n := range kub.nodes {
		read = append(read, n.Certs...)
	}
	if len(read) > 0 {
		fmt.Fprintln(a.out, "\nWhat the kubelets use, read on their nodes (each renews its own at 70-90% of its lifetime):")
		tw = tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tUSE\tCN\tISSUER\tEXPIRES\tSANS\tFILE")
		for _, c := range read {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\t%s\n", c.Node, c.Use, c.Info.CommonName, c.Info.Issuer,
				c.Info.NotAfter.Format("2006-01-02"), until(c.Info.NotAfter), dashIfEmpty(sans(c.Info)), fileNote(c))
		}
		tw.Flush()
	}
	for _, n := range kub.notes() {
		fmt.Fprintln(a.out, n)
	}
	if first, ok := firstToExpire(kub.inUse(infos)); ok {
		fmt.Fprintf(a.out, "\nfirst to expire: %s on %s (%s); renew: hardway certs renew %s --name %s\n", first.Name, first.NotAfter.Format("2006-01-02"), until(first.NotAfter), renewName(first.Name), cfg.Name)
	}
	for _, ca := range pki.RotatableCAs() {
		if phase, ok, err := pki.Rotation(dir.PKI(), ca); err == nil && ok {
			fmt.Fprintf(a.out, "rotation of %s under way (phase %s); finish it: hardway certs renew --ca %s --name %s\n", ca, phase, ca, cfg.Name)
		}
	}
	fmt.Fprintf(a.out, "files: %s\n", dir.PKI())
	return nil
}

func sans(i pki.Info) string {
	return strings.Join(append(append([]string{}, i.DNSNames...), i.IPs...), ",")
}

// firstToExpire is the certificate of infos that expires first.
func firstToExpire(infos []pki.Info) (pki.Info, bool) {
	var first *pki.Info
	for i, info := range infos {
		if !info.KeyOnly && (first == nil || info.NotAfter.Before(first.NotAfter)) {
			first = &infos[i]
		}
	}
	if first == nil {
		return pki.Info{}, false
	}
	return *first, true
}

// renewName is the entry `certs renew` takes for a certificate in use: a
// kubelet's own pair ("kubelet-NODE client") is replaced by renewing
// hardway's kubelet-NODE, which the kubelet then uses (the newer wins).
func renewName(name string) string {
	n, _, _ := strings.Cut(name, " ")
	return n
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
		Short: "Exit non-zero if a certificate in use (the kubelets' read on their nodes) expires within the given time (for cron and monitoring)",
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
			kub := a.kubeletCerts(cmd.Context(), cfg)
			for _, n := range kub.notes() {
				fmt.Fprintln(a.out, n)
			}
			inUse := kub.inUse(infos)
			deadline := time.Now().Add(within)
			var soon, kubelets []string
			sort.Slice(inUse, func(i, j int) bool { return inUse[i].NotAfter.Before(inUse[j].NotAfter) })
			for _, info := range inUse {
				if !info.KeyOnly && info.NotAfter.Before(deadline) {
					soon = append(soon, fmt.Sprintf("%s (%s, %s)", info.Name, info.NotAfter.Format("2006-01-02"), until(info.NotAfter)))
					if info.Name != renewName(info.Name) {
						kubelets = append(kubelets, strings.TrimPrefix(renewName(info.Name), "kubelet-"))
					}
				}
			}
			if len(soon) > 0 {
				why := ""
				if len(kubelets) > 0 {
					// A kubelet renews its own long before: one that did
					// not has a reason in its journal.
					why = fmt.Sprintf("; a kubelet renews its own at 70-90%% of their lifetime, see why it did not: hardway logs %s kubelet --name %s", kubelets[0], cfg.Name)
				}
				return fmt.Errorf("%d certificates expire within %s: %s; renew them: hardway certs renew --all --name %s%s", len(soon), within, strings.Join(soon, ", "), cfg.Name, why)
			}
			for _, info := range inUse {
				if !info.KeyOnly {
					fmt.Fprintf(a.out, "ok: nothing expires within %s; first is %s on %s (%s)\n", within, info.Name, info.NotAfter.Format("2006-01-02"), until(info.NotAfter))
					break
				}
			}
			for _, n := range kub.nodes {
				for _, c := range n.Certs {
					fmt.Fprintf(a.out, "  %s: %s, expires %s (%s)\n", c.Info.Name, fileNote(c), c.Info.NotAfter.Format("2006-01-02"), until(c.Info.NotAfter))
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
