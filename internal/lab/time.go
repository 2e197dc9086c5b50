package lab

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/kubeconfig"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// Two labs about time, each with a real certificate signed by hardway's own
// PKI code (pki.IssueWindow), wrong only in its validity: an expired kubelet
// serving certificate, and a kubelet client certificate from a clock far
// ahead.

// The kubelet's serving pair on a node (kubelet-config.yaml's tlsCertFile
// and tlsPrivateKeyFile); its client pair is inside its kubeconfig.
const (
	kubeletServingCert = render.KubeletDir + "/kubelet.pem"
	kubeletServingKey  = render.KubeletDir + "/kubelet-key.pem"
	kubeletKubeconfig  = render.KubeletDir + "/kubeconfig"
)

// clockAhead is how far ahead the clock-skew lab's signer runs.
const clockAhead = 72 * time.Hour

func kubeletExpired() Lab {
	return Lab{
		Name:  "kubelet-expired",
		Title: "a kubelet serves an expired certificate",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab kubelet-expired needs a worker node; cluster %s has none", c.Name)
			}
			n := ws[0]
			return Target{Cluster: c.Name, Node: n, Values: map[string]string{"cert": pki.KubeletName(n.Name)}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("kubectl logs, exec and port-forward fail for every pod on %s; on the other nodes they\n"+
				"work. %s is Ready, its pods run, and the state directory says no certificate is about to expire.", t.Node.Name, t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{
				fmt.Sprintf("kubectl -n hardway-verify logs --tail 1 $(kubectl -n hardway-verify get pods -o name --field-selector spec.nodeName=%s | head -1)", t.Node.Name),
				t.hw("certs", "check"),
			}
		},
		Reveal: func(t Target) []string {
			return []string{
				t.shell(t.Node, "openssl x509 -in "+kubeletServingCert+" -noout -subject -dates"),
				t.shell(t.Node, "date -u"),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The kubelet on %s serves %s, whose notAfter is in the past: a real certificate of\n"+
				"the cluster CA with the right name (CN=system:node:%s, IP %s), only expired. The API server calls the kubelet\n"+
				"for logs, exec and port-forward and refuses the handshake: x509: certificate has expired or is not yet valid.\n"+
				"The node stays Ready: its client certificate, the one in its kubeconfig, is another copy and still valid.\n"+
				"certs check reads the state directory, where the certificate is fine; the node's own file is what is\n"+
				"served. Renewing the certificate issues a new one and rolls it out to the node.",
				t.Node.Name, kubeletServingCert, t.Node.Name, t.Node.IP)
		},
		Fix: func(t Target) []string { return []string{t.hw("certs", "renew", t.Values["cert"])} },
		Why: func(t Target) string {
			return fmt.Sprintf("certs renew signs a new %s with this host's clock (valid from now for the config's pki.certValidity),\n"+
				"then runs the steps that place it: the workers step sees %s differ on %s, writes it and restarts\n"+
				"the kubelet, which serves the new certificate; the API server's check (--kubelet-certificate-authority and\n"+
				"the validity window) passes. Real clusters renew before that day: kubelet serving certificates are\n"+
				"rotated by the kubelet itself (serverTLSBootstrap) or by a check like certs check in cron.",
				t.Values["cert"], kubeletServingCert, t.Node.Name)
		},
		Step:   "pki",
		Probes: []string{"logs", "exec", "port-forward"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			now := time.Now()
			p, err := pki.IssueWindow(e.Cluster.State.PKI(), e.Cluster.Config, t.Values["cert"], now.Add(-60*24*time.Hour), now.Add(-24*time.Hour))
			if err != nil {
				return err
			}
			nd, err := e.Cluster.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			if err := nd.WriteFile(ctx, kubeletServingKey, p.KeyPEM, 0o600); err != nil {
				return err
			}
			if err := nd.WriteFile(ctx, kubeletServingCert, p.CertPEM, 0o644); err != nil {
				return err
			}
			return restartKubelets(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// The node's files differ from the rendered ones: workers writes
			// them back and restarts that kubelet.
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}

func clockSkew() Lab {
	return Lab{
		Name:  "clock-skew",
		Title: "a node's certificate comes from a clock far ahead",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab clock-skew needs a worker node; cluster %s has none", c.Name)
			}
			n := ws[len(ws)-1]
			return Target{Cluster: c.Name, Node: n, Values: map[string]string{"cert": pki.KubeletName(n.Name), "ahead": "3 days"}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Node %s went NotReady (its status: Unknown) right after its kubelet got new credentials.\n"+
				"The kubelet is running, and its pods still answer at their IPs.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl get nodes", t.hw("logs", t.Node.Name, "kubelet")}
		},
		Reveal: func(t Target) []string {
			return []string{
				t.shell(t.Node, "date -u"),
				t.shell(t.Node, `sh -c "sed -n 's/ *client-certificate-data: //p' `+kubeletKubeconfig+` | base64 -d | openssl x509 -noout -subject -dates"`),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The client certificate in %s's kubeconfig (%s) is valid only from %s from now:\n"+
				"it was signed by hardway's PKI code running with its clock %s ahead, as on a CA machine or node\n"+
				"whose clock is far off. The API server checks every client certificate against its own clock and\n"+
				"refuses this one (x509: certificate has expired or is not yet valid), so the kubelet gets 401 Unauthorized,\n"+
				"renews no lease, and the node goes Unknown after about 50 s.\n"+
				"Why the node's clock itself is not moved: nodes here are containers sharing this host's kernel clock.\n"+
				"CLOCK_REALTIME has no namespace (time namespaces shift only the monotonic and boot clocks), setting it\n"+
				"needs CAP_SYS_TIME and would move this host and every node, and libfaketime's LD_PRELOAD does not reach\n"+
				"Go programs, which read the clock through the vDSO without libc. A certificate's validity window is where\n"+
				"a clock far off hurts first, on either side: this lab shows the signer's side.\n"+
				"The workers step writes back the kubeconfig made by this host's clock.",
				t.Node.Name, kubeletKubeconfig, t.Values["ahead"], t.Values["ahead"])
		},
		Fix: func(t Target) []string { return []string{t.hw("up", "--only", "workers")} },
		Why: func(t Target) string {
			return fmt.Sprintf("up compares every file of %s with what it renders from the state directory: the kubeconfig\n"+
				"differs, so it writes the one whose certificate this host signed (valid from a few minutes ago, the\n"+
				"backdate that absorbs small clock differences) and restarts the kubelet. The API server accepts it,\n"+
				"the lease is renewed and the node is Ready. On real machines, NTP (chrony, systemd-timesyncd) keeps\n"+
				"clocks within milliseconds, and etcd warns when its members' clocks drift apart.", t.Node.Name)
		},
		Step:   "pki",
		Probes: []string{"deployment", "exec"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			c := e.Cluster
			in, err := c.Inputs()
			if err != nil {
				return err
			}
			now := time.Now().Add(clockAhead)
			p, err := pki.IssueWindow(c.State.PKI(), c.Config, t.Values["cert"], now.Add(-5*time.Minute), now.Add(c.Config.PKI.CertValidity.Duration))
			if err != nil {
				return err
			}
			kc, err := clientcmd.Load(in.Kubeconfigs[kubeconfig.KubeletKey(t.Node.Name)])
			if err != nil {
				return fmt.Errorf("the kubelet kubeconfig of %s (a bug in hardway): %w", t.Node.Name, err)
			}
			for _, u := range kc.AuthInfos {
				u.ClientCertificateData, u.ClientKeyData = p.CertPEM, p.KeyPEM
			}
			data, err := clientcmd.Write(*kc)
			if err != nil {
				return err
			}
			nd, err := c.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			if err := nd.WriteFile(ctx, kubeletKubeconfig, data, 0o600); err != nil {
				return err
			}
			if err := run(ctx, e, t.Node, "systemctl", "restart", "kubelet"); err != nil {
				return err
			}
			return waitNodeNotReady(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			_, err := e.Rerun(ctx, "workers")
			return err
		},
	}
}
