package steps

import (
	"context"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/kubeconfig"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/timing"
)

// Admin access that can be revoked (kubeadm's model since v1.29): the admin
// kubeconfig's certificate is in group pki.AdminGroup, which only the
// ClusterRoleBinding of that name (render.AdminRBAC) makes cluster-admin.
// Creating that binding needs rights the admin does not have before it
// exists, so hardway creates it as the break-glass super-admin (group
// system:masters, kubeconfig only in the state directory), and uses the
// admin identity for everything else.

// Admin returns a client with the admin identity, through the API endpoint:
// one per run (its connections and discovery cache are reused), made anew
// after Reload. On a cluster whose admin certificate this run moved out of
// system:masters (made by an older hardway), the admin group's binding is
// made first, so a day-2 command run before the next up still works.
func (c *Cluster) Admin() (*kube.Client, error) {
	admin, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	moved := c.adminMoved
	c.mu.Unlock()
	if moved && !c.DryRun {
		ctx, cancel := context.WithTimeout(context.Background(), c.Bound(2*time.Minute))
		defer cancel()
		if _, err := c.ensureAdminBinding(ctx, admin); err != nil {
			return nil, fmt.Errorf("the admin certificate moved from %s to group %s, whose binding could not be made: %w; run: hardway up --name %s", pki.MastersGroup, pki.AdminGroup, err, c.Config.Name)
		}
	}
	return admin, nil
}

// adminClient is Admin without the migration: the control-plane step makes
// the binding itself once the API servers answer.
func (c *Cluster) adminClient() (*kube.Client, error) {
	kcs, err := c.ensureKubeconfigs()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin != nil {
		return c.admin, nil
	}
	cl, err := c.client(kcs[kubeconfig.Admin])
	if err != nil {
		return nil, err
	}
	c.admin = cl
	return cl, nil
}

// superAdmin returns a client with the break-glass identity, made for each
// use: hardway needs it rarely and should not keep it around.
func (c *Cluster) superAdmin() (*kube.Client, error) {
	kcs, err := c.ensureKubeconfigs()
	if err != nil {
		return nil, err
	}
	return c.client(kcs[kubeconfig.SuperAdmin])
}

func (c *Cluster) client(kc []byte) (*kube.Client, error) {
	return kube.NewWith(kc, kube.Options{Proxy: c.Proxy, Observe: func(req *http.Request, d time.Duration) {
		c.Timings.Since(req.Context(), timing.API, "", req.Method+" "+req.URL.Path, time.Now().Add(-d))
	}})
}

// ensureAdminBinding applies the admin group's ClusterRoleBinding as the
// super-admin (idempotent: nothing changes when it is there) and, when it
// had to be made, waits until every API server lets the admin in: each
// authorizes from its own cache of RBAC objects, filled by a watch.
func (c *Cluster) ensureAdminBinding(ctx context.Context, admin *kube.Client) ([]converge.Change, error) {
	m, err := c.manifest(render.AdminRBAC)
	if err != nil {
		return nil, err
	}
	sa, err := c.superAdmin()
	if err != nil {
		return nil, err
	}
	var applied []string
	if err := c.until(ctx, "the binding "+pki.AdminGroup+" applied as the super-admin", 500*time.Millisecond, time.Minute, func(ctx context.Context) (bool, error) {
		applied, err = sa.Apply(ctx, m, false)
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	changes := appliedChanges(applied)
	for i := range changes {
		changes[i].Reason = "applied as the super-admin: the admin group's rights, revocable by deleting it"
		c.Log.Logf(1, "  %s", changes[i])
	}
	c.mu.Lock()
	c.adminMoved = false
	c.mu.Unlock()
	if len(applied) == 0 {
		return changes, nil
	}
	for _, n := range c.Config.ControlPlanes() {
		cl, err := admin.ForServer(fmt.Sprintf("https://%s:%d", n.IP, c.Config.Network.APIServerPort))
		if err != nil {
			return changes, err
		}
		if err := c.until(ctx, "the admin allowed by kube-apiserver on "+n.Name, 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, error) {
			// Reading a ClusterRoleBinding needs cluster-admin's rights.
			_, err := cl.Clientset.RbacV1().ClusterRoleBindings().Get(ctx, pki.AdminGroup, metav1.GetOptions{})
			if apierrors.IsForbidden(err) {
				return false, fmt.Errorf("still forbidden: %w", err)
			}
			return err == nil, err
		}); err != nil {
			return changes, err
		}
	}
	return changes, nil
}
