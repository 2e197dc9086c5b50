package lab

import (
	"context"
	"fmt"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// Two labs about time, each with a real certificate signed by hardway's own
// PKI code (pki.IssueWindow), wrong only in its validity: an expired kubelet
// serving certificate that nothing renewed (the approver stopped), and a
// kubelet client certificate from a clock far ahead.

// The kubelet's files on a node: hardway's serving pair (kubelet-config.yaml's
// tlsCertFile and tlsPrivateKeyFile), hardway's client pair, and the link
// the kubelet's client store loads (the kubeconfig names it).
const (
	kubeletServingCert = render.KubeletServingCert
	kubeletServingKey  = render.KubeletServingKey
	kubeletClientPair  = render.KubeletClientPair
	kubeletClientLink  = render.KubeletClientCurrent
	kubeletKubeconfig  = render.KubeletDir + "/kubeconfig"
)

// clockAhead is how far ahead the clock-skew lab's signer runs.
const clockAhead = 72 * time.Hour

func kubeletExpired() Lab {
	return Lab{
		Name:  "kubelet-expired",
		Title: "a kubelet's serving certificate expired and nothing renewed it",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab kubelet-expired needs a worker node; cluster %s has none", c.Name)
			}
			n := ws[0]
			return Target{Cluster: c.Name, Node: n, Values: map[string]string{"cert": pki.KubeletName(n.Name), "cp": c.ControlPlanes()[0].Name}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("kubectl logs, exec and port-forward fail for every pod on %s; on the other nodes they\n"+
				"work. %s is Ready and its pods run.", t.Node.Name, t.Node.Name)
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
				"kubectl get csr",
				t.shell(config.Node{Name: t.Values["cp"]}, "systemctl status "+render.UnitCSRApproverTimer),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The kubelet on %s has only an expired serving certificate: %s\n"+
				"(hardway's, its tlsCertFile), a real certificate of the cluster CA for CN=system:node:%s, IP %s,\n"+
				"whose notAfter is past. With serverTLSBootstrap the kubelet serves no expired certificate: it answers\n"+
				"every TLS handshake on port 10250 with an alert (the API server reports remote error: tls: internal\n"+
				"error) and asks for a new one with a CertificateSigningRequest for signer kubernetes.io/kubelet-serving.\n"+
				"That request stays Pending: %s, which approves the kubelets' serving certificates\n"+
				"on the control-plane nodes every %d s, was stopped. So the certificate expired and nothing renewed it.\n"+
				"The node stays Ready: its client certificate is another pair, still valid\n"+
				"(%s). certs check reads the node and says so.",
				t.Node.Name, kubeletServingCert, t.Node.Name, t.Node.IP, render.UnitCSRApproverTimer, int(render.CSRApproverEvery.Seconds()), kubeletClientLink)
		},
		Fix: func(t Target) []string { return []string{t.hw("up", "--only", "control-plane")} },
		Why: func(t Target) string {
			return fmt.Sprintf("up starts every unit that is not running, the approver's timer too. Its next pass finds %s's\n"+
				"pending request, made by system:node:%s for CN=system:node:%s in system:nodes and only its own\n"+
				"names (%s, %s), and approves it; kube-controller-manager signs it with the cluster CA for a\n"+
				"year. The kubelet keeps it in %s (kubelet-server-current.pem links to it) and serves it\n"+
				"at once; the API server's check (--kubelet-certificate-authority and the validity window) passes.\n"+
				"It renews it again after 70-90%% of that year by itself: a certificate expires unnoticed only while\n"+
				"nothing approves. hardway's expired %s stays on the node unused, the kubelet's own\n"+
				"being newer;\n  %s\nwould replace both.",
				t.Node.Name, t.Node.Name, t.Node.Name, t.Node.Name, t.Node.IP, render.KubeletCertDir, kubeletServingCert, t.hw("certs", "renew", t.Values["cert"]))
		},
		Step:     "pki",
		Probes:   []string{"logs", "exec", "port-forward"},
		Diagnose: diagnoseServing,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			// First, or the kubelet's request would be approved within
			// render.CSRApproverEvery.
			if err := stopApprovers(ctx, e); err != nil {
				return err
			}
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
			// Written after any serving certificate the kubelet rotated,
			// so its ExecStartPre drops that one: the kubelet starts on
			// the expired file.
			return restartKubelets(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// control-plane starts the approvers; workers writes back the
			// node's serving pair and restarts its kubelet.
			_, err := e.Rerun(ctx, "control-plane", "workers")
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
				t.shell(t.Node, "ls -l "+kubeletClientLink),
				t.shell(t.Node, "openssl x509 -in "+kubeletClientLink+" -noout -subject -dates"),
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The client certificate the kubelet on %s logs in with (%s,\n"+
				"which its kubeconfig names; it links to hardway's pair %s) is valid only from\n"+
				"%s from now: "+
				"it was signed by hardway's PKI code running with its clock %s ahead, as on a CA machine or\n"+
				"node whose clock is far off. The API server checks every client certificate against its own clock and\n"+
				"refuses this one (x509: certificate has expired or is not yet valid), so the kubelet gets 401 Unauthorized,\n"+
				"renews no lease, and the node goes Unknown after about 50 s.\n"+
				"Why the node's clock itself is not moved: nodes here are containers sharing this host's kernel clock.\n"+
				"CLOCK_REALTIME has no namespace (time namespaces shift only the monotonic and boot clocks), setting it\n"+
				"needs CAP_SYS_TIME and would move this host and every node, and libfaketime's LD_PRELOAD does not reach\n"+
				"Go programs, which read the clock through the vDSO without libc. A certificate's validity window is where\n"+
				"a clock far off hurts first, on either side: this lab shows the signer's side.\n"+
				"The kubelet would renew its certificate by itself, but only after 70-90%% of its lifetime, counted from\n"+
				"notBefore, and with a request the API server would refuse the same way. The workers step writes back\n"+
				"the pair made by this host's clock.",
				t.Node.Name, kubeletClientLink, kubeletClientPair, t.Values["ahead"], t.Values["ahead"])
		},
		Fix: func(t Target) []string { return []string{t.hw("up", "--only", "workers")} },
		Why: func(t Target) string {
			return fmt.Sprintf("up compares every file of %s with what it renders from the state directory:\n"+
				"%s differs, so it writes the pair this host signed (valid from a few\n"+
				"minutes ago, the backdate that absorbs small clock differences) and restarts the kubelet. Before it\n"+
				"starts, its ExecStartPre points %s\n"+
				"at the newer pair, hardway's. The API server accepts it, the lease is renewed and the node is Ready.\n"+
				"On real machines, NTP (chrony, systemd-timesyncd) keeps clocks within milliseconds, and etcd warns\n"+
				"when its members' clocks drift apart.", t.Node.Name, kubeletClientPair, kubeletClientLink)
		},
		Step:   "pki",
		Probes: []string{"deployment", "exec"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			c := e.Cluster
			now := time.Now().Add(clockAhead)
			p, err := pki.IssueWindow(c.State.PKI(), c.Config, t.Values["cert"], now.Add(-5*time.Minute), now.Add(c.Config.PKI.CertValidity.Duration))
			if err != nil {
				return err
			}
			nd, err := c.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			// hardway's client pair, the file the kubelet's link names:
			// newer than any pair the kubelet rotated, so its ExecStartPre
			// points the link at it again.
			if err := nd.WriteFile(ctx, kubeletClientPair, append(append([]byte{}, p.CertPEM...), p.KeyPEM...), 0o600); err != nil {
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
