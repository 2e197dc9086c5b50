package ops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/wait"
)

// CheckRenewable refuses names that are not leaf certificates of the
// cluster, with the list of those that are.
func CheckRenewable(specs []pki.Spec, names []string) error {
	var leaves []string
	for _, s := range specs {
		if !s.IsCA() && s.Usage != pki.UsageKeyPair {
			leaves = append(leaves, s.Name)
		}
	}
	for _, n := range names {
		switch {
		case slices.Contains(leaves, n):
		case slices.Contains(pki.RotatableCAs(), n):
			return fmt.Errorf("%s is a CA: replacing it is a rolling procedure of its own: hardway certs renew --ca %s", n, n)
		case n == pki.ServiceAccount:
			return fmt.Errorf("%s is the key pair that signs service-account tokens, not a certificate; a new one would invalidate every token in the cluster", n)
		default:
			return fmt.Errorf("no certificate %q in this cluster; the certificates are: %s", n, strings.Join(leaves, ", "))
		}
	}
	return nil
}

// RenewCerts reissues the named leaf certificates (all with all) and rolls
// them out: etcd one member at a time, API servers one at a time behind the
// load balancer, kubelets one node at a time; then the smoke tests.
func RenewCerts(ctx context.Context, e steps.Env, names []string, all bool) error {
	c := e.Cluster
	if !all && len(names) == 0 {
		return fmt.Errorf("name the certificates to renew, or --all (list them: hardway certs --name %s)", c.Config.Name)
	}
	if err := CheckRenewable(pki.Specs(c.Config), names); err != nil {
		return err
	}
	if err := c.RequireRunning(ctx); err != nil {
		return err
	}
	c.PKIOptions = pki.Options{Renew: names, RenewAll: all}
	// Once pki ran, the new certificates are the desired state: should the
	// rollout stop, `up` finishes it without renewing again.
	defer func() { c.PKIOptions = pki.Options{} }()
	if _, err := e.Rerun(ctx, certSteps(c.Config)...); err != nil {
		return fmt.Errorf("%w\n  the new certificates are saved; finish rolling them out with: hardway up --name %s --from kubeconfigs", err, c.Config.Name)
	}
	c.PKIOptions = pki.Options{}
	_, err := e.Rerun(ctx, "verify")
	return err
}

// RotateCA replaces a CA in three rolled-out phases (see pki.BeginRotation):
// trust both, reissue, drop the old one.
func RotateCA(ctx context.Context, e steps.Env, ca string) error {
	c := e.Cluster
	if !slices.Contains(pki.RotatableCAs(), ca) {
		return fmt.Errorf("%q is not a CA of this cluster; the CAs are: %s", ca, strings.Join(pki.RotatableCAs(), ", "))
	}
	if err := c.RequireRunning(ctx); err != nil {
		return err
	}
	dir := c.State.PKI()
	if err := pki.BeginRotation(dir, c.Config, ca, time.Now()); err != nil {
		return err
	}
	resume := fmt.Sprintf("continue with the same command: hardway certs renew --ca %s --name %s", ca, c.Config.Name)
	for {
		phase, ok, err := pki.Rotation(dir, ca)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch phase {
		case pki.PhaseTrust:
			e.Log.Logf(0, "Phase 1 of 3: every component trusts the old and the new %s; certificates stay as they are.", ca)
		case pki.PhaseReissue:
			e.Log.Logf(0, "Phase 2 of 3: every certificate the old %s signed is reissued by the new one.", ca)
		}
		if _, err := e.Rerun(ctx, certSteps(c.Config)...); err != nil {
			return fmt.Errorf("%w\n  %s", err, resume)
		}
		if ca == pki.CA && phase == pki.PhaseTrust {
			// Pods read the CA once, at start: CoreDNS must restart with the
			// bundle before the API server's certificate changes.
			if err := restartForNewRootCA(ctx, e); err != nil {
				return fmt.Errorf("%w\n  %s", err, resume)
			}
		}
		if _, err := pki.AdvanceRotation(dir, ca); err != nil {
			return err
		}
	}
	e.Log.Logf(0, "Phase 3 of 3: the old %s is dropped from every trust bundle.", ca)
	if _, err := e.Rerun(ctx, withVerify(certSteps(c.Config))...); err != nil {
		return fmt.Errorf("%w\n  finish with: hardway up --name %s --from pki", err, c.Config.Name)
	}
	if ca == pki.CA {
		e.Log.Logf(0, "The admin kubeconfig now trusts only the new CA: copies of it elsewhere need the new one (hardway kubeconfig --name %s).", c.Config.Name)
	}
	return nil
}

func withVerify(names []string) []string { return append(append([]string{}, names...), "verify") }

// restartForNewRootCA waits until the controller manager published the CA
// bundle into kube-system's kube-root-ca.crt (what pods mount as ca.crt),
// then restarts CoreDNS so it reads it.
func restartForNewRootCA(ctx context.Context, e steps.Env) error {
	c := e.Cluster
	in, err := c.Inputs()
	if err != nil {
		return err
	}
	ca, _ := in.PKI.Get(pki.CA)
	want := strings.TrimSpace(string(ca.Trust()))
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	err = wait.Until(ctx, "the new CA bundle in kube-system/kube-root-ca.crt", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		cm, err := admin.Clientset.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if strings.TrimSpace(cm.Data["ca.crt"]) == want {
			return true, nil
		}
		return false, fmt.Errorf("it still holds the old CA")
	})
	if err != nil {
		return err
	}
	return c.RestartCoreDNS(ctx, kube.FieldManager)
}
