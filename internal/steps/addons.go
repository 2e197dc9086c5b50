package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/wait"
)

// addon is one add-on as data. Its step installs it when the config's
// addons name it and removes it otherwise, so taking it out of the list
// and running up again leaves nothing of it behind.
type addon struct {
	// name is the add-on's name in the config and its step's name.
	name  string
	title string
	prose string
	// images are the references its pods run, pushed to the cluster's
	// registry from the artifact cache.
	images []string
	// install applies its objects (c.Addons is resolved) and, unless
	// dry-run, waits until it serves.
	install func(ctx context.Context, c *Cluster, admin *kube.Client) ([]converge.Change, error)
	// objects is every object it creates, for removal: rendered without
	// the artifact cache, so a cluster whose cache lost the add-on can
	// still remove it.
	objects func(c *Cluster) ([]byte, error)
	// namespace is deleted last and waited for, so adding the add-on
	// again does not meet a namespace still terminating.
	namespace string
	// explain adds what it does for this cluster.
	explain func(c *Cluster, b *strings.Builder) error
}

// addons are the add-ons hardway knows, in config.KnownAddons' order.
func addons() []addon { return []addon{metallbAddon(), netpolAddon(), gatewayAddon(), argocdAddon()} }

// addonSteps are the steps of up that install or remove each add-on.
func addonSteps() []Step {
	var out []Step
	for _, a := range addons() {
		out = append(out, Step{
			Name:    a.name,
			Title:   a.title,
			Explain: func(c *Cluster) (string, error) { return explainAddon(c, a) },
			Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
				if !c.Config.Addon(a.name) {
					return c.removeAddon(ctx, a)
				}
				return c.installAddon(ctx, a)
			},
		})
	}
	return out
}

func (c *Cluster) installAddon(ctx context.Context, a addon) ([]converge.Change, error) {
	if c.Addons == nil {
		if c.AddonsErr != nil {
			return nil, c.AddonsErr
		}
		return nil, fmt.Errorf("the artifacts of add-on %s are not built; run: hardway artifacts build --name %s", a.name, c.Config.Name)
	}
	changes, at, err := c.ensureAddonRegistry(ctx)
	if err != nil {
		return changes, err
	}
	for _, ref := range a.images {
		ch, err := c.pushAddonImage(ctx, at, ref)
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch...)
	}
	admin, err := c.Admin()
	if err != nil {
		return changes, err
	}
	more, err := a.install(ctx, c, admin)
	return append(changes, more...), err
}

// ensureAddonRegistry installs the cluster's registry (hardway registry's
// unit) on its machine, from the add-ons' bundle, and waits until it
// answers; with DryRun it only says what would change.
func (c *Cluster) ensureAddonRegistry(ctx context.Context) ([]converge.Change, registry.At, error) {
	at := registry.At{Host: registry.Host(c.Config), Proxy: c.Proxy}
	b, ok := c.Addons.Binary("registry")
	if !ok {
		return nil, at, fmt.Errorf("the registry is not in the add-ons' artifacts; run: hardway artifacts build --name %s", c.Config.Name)
	}
	bin := converge.Binary{Name: b.Name, Dst: path.Join(b.DestDir, b.Name), SHA256: b.SHA256, HostPath: c.Addons.HostPath(b.Rel), CacheRel: b.Rel}
	machine := registry.Machine(c.Config)
	n, err := c.Node(ctx, machine)
	if err != nil {
		return nil, at, err
	}
	c.mu.Lock()
	ready := c.run != nil && c.run.registry
	c.mu.Unlock()
	if ready {
		return nil, at, nil
	}
	if c.DryRun {
		plan, err := converge.NewPlan(ctx, n, registry.Units(c.Config), converge.Options{Binary: func(string) (converge.Binary, error) { return bin, nil }})
		if err != nil {
			return nil, at, err
		}
		// Listed once, by the first add-on step, as a real run would
		// change it once.
		c.registryEnsured()
		return plan.Changes(), at, nil
	}
	changes, err := registry.Ensure(ctx, n, c.Config, at, bin, func(format string, args ...any) { c.Log.Logf(2, "  "+format, args...) })
	if len(changes) > 0 || err != nil {
		c.forgetProbe(machine)
	}
	if err == nil {
		c.registryEnsured()
	}
	return changes, at, err
}

// registryEnsured records that this run has the add-ons' registry serving.
func (c *Cluster) registryEnsured() {
	c.mu.Lock()
	if c.run != nil {
		c.run.registry = true
	}
	c.mu.Unlock()
}

// pushAddonImage copies ref from the artifact cache into the registry
// unless it holds that image already.
func (c *Cluster) pushAddonImage(ctx context.Context, at registry.At, ref string) ([]converge.Change, error) {
	var archive string
	for _, img := range c.Addons.Images {
		if img.Ref == ref {
			archive = c.Addons.HostPath(img.Rel)
		}
	}
	if archive == "" {
		return nil, fmt.Errorf("image %s is not in the artifact cache; run: hardway artifacts build --name %s", ref, c.Config.Name)
	}
	has, err := at.Has(ctx, archive, ref)
	if err != nil && !c.DryRun {
		return nil, err
	}
	if has {
		return nil, nil
	}
	ch := converge.Change{Node: registry.Machine(c.Config), Action: converge.Pushed, Target: "image " + ref, Reason: "into the cluster's registry at " + at.Host}
	if c.DryRun {
		return []converge.Change{ch}, nil
	}
	if _, err := at.Push(ctx, archive, ref); err != nil {
		return nil, err
	}
	c.Log.Logf(1, "  %s", ch)
	return []converge.Change{ch}, nil
}

// removeAddon deletes every object of a, then its images from the registry
// and the nodes. On a cluster that never ran it, it finds nothing and
// changes nothing.
func (c *Cluster) removeAddon(ctx context.Context, a addon) ([]converge.Change, error) {
	objs, err := a.objects(c)
	if err != nil {
		return nil, err
	}
	admin, err := c.Admin()
	if err != nil {
		return nil, err
	}
	deleted, err := admin.Delete(ctx, objs, c.DryRun)
	var changes []converge.Change
	for _, d := range deleted {
		changes = append(changes, converge.Change{Action: converge.Removed, Target: d, Reason: a.name + " is not in addons"})
	}
	if err != nil {
		return changes, err
	}
	if len(deleted) == 0 {
		return nil, nil
	}
	if !c.DryRun && a.namespace != "" {
		err := c.until(ctx, "namespace "+a.namespace+" to be deleted", 500*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, error) {
			gone, err := admin.Exists(ctx, "v1", "Namespace", "", a.namespace)
			if err != nil {
				return false, err
			}
			if gone {
				return false, fmt.Errorf("still terminating (kubectl get all -n %s)", a.namespace)
			}
			return true, nil
		})
		if err != nil {
			return changes, err
		}
	}
	more, err := c.removeAddonImages(ctx, a)
	changes = append(changes, more...)
	// -v 1 lists what was removed, as the install lists what it put there.
	if !c.DryRun {
		for _, ch := range changes {
			c.Log.Logf(1, "  %s", ch)
		}
	}
	return changes, err
}

// removeAddonImages deletes a's images from the registry (when it runs)
// and from every node's containerd.
func (c *Cluster) removeAddonImages(ctx context.Context, a addon) ([]converge.Change, error) {
	var changes []converge.Change
	machine := registry.Machine(c.Config)
	if out, err := c.shell(ctx, machine, "systemctl is-active "+registry.Unit+" || true"); err == nil && strings.TrimSpace(string(out)) == "active" {
		at := registry.At{Host: registry.Host(c.Config), Proxy: c.Proxy}
		for _, ref := range a.images {
			had, err := at.Remove(ctx, ref, c.DryRun)
			if err != nil {
				return changes, err
			}
			if had {
				changes = append(changes, converge.Change{Node: machine, Action: converge.Removed, Target: "image " + ref, Reason: "from the cluster's registry"})
			}
		}
	}
	// A pulled image is listed under its tag and under repo@sha256:...;
	// both go.
	script := `for ref in "$@"; do
  refs=$(ctr -n k8s.io images ls -q | awk -v r="$ref" -v p="${ref%:*}@" '$0 == r || index($0, p) == 1')
  if [ -n "$refs" ]; then
    [ "$DRY" = 1 ] || ctr -n k8s.io images rm $refs >/dev/null
    echo "$ref"
  fi
done`
	dry := "0"
	if c.DryRun {
		dry = "1"
	}
	nodes := c.Config.Workers()
	found := make([][]string, len(nodes))
	err := c.forEachNode(ctx, nodes, func(ctx context.Context, n config.Node) error {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return err
		}
		args := append([]string{"env", "DRY=" + dry, "sh", "-c", script, "rmi"}, a.images...)
		out, err := nd.Run(ctx, nil, args...)
		if err != nil {
			return fmt.Errorf("removing %s's images: %w", a.name, err)
		}
		for i, nn := range nodes {
			if nn.Name == n.Name {
				found[i] = strings.Fields(string(out))
			}
		}
		return nil
	})
	for i, refs := range found {
		for _, ref := range refs {
			changes = append(changes, converge.Change{Node: nodes[i].Name, Action: converge.Removed, Target: "image " + ref, Reason: "from containerd"})
		}
	}
	return changes, err
}

func explainAddon(c *Cluster, a addon) (string, error) {
	var b strings.Builder
	b.WriteString(a.prose)
	section(&b, "For this cluster")
	if !c.Config.Addon(a.name) {
		fmt.Fprintf(&b, "  Off: %s is not in addons (%s). up deletes its objects and images if an earlier run installed it.\n", a.name, strings.Join(c.Config.Addons, ", "))
		fmt.Fprintf(&b, "  Turn it on: add %s to addons in the config, then hardway up.\n", a.name)
		return b.String(), nil
	}
	fmt.Fprintf(&b, "  Images, built from source into the artifact cache and pushed to the cluster's registry at %s:\n", registry.Host(c.Config))
	for _, ref := range a.images {
		fmt.Fprintf(&b, "    %s\n", ref)
	}
	if err := a.explain(c, &b); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "\n  Remove it: take %s out of addons in the config, then hardway up (its objects and images are deleted).\n", a.name)
	return b.String(), nil
}

// The metallb add-on.

func metallbAddon() addon {
	ctl, spk := artifacts.MetalLBImages()
	return addon{
		name:      config.AddonMetalLB,
		title:     "LoadBalancer Services: MetalLB " + artifacts.MetalLBVersion + " (L2 mode)",
		prose:     metallbProse,
		images:    []string{ctl, spk},
		install:   installMetalLB,
		objects:   metallbObjects,
		namespace: render.MetalLBNamespace,
		explain:   explainMetalLB,
	}
}

func (c *Cluster) metallbManifests() (render.MetalLB, error) {
	ctl, spk := artifacts.MetalLBImages()
	return render.MetalLBManifests(c.Config, artifacts.MetalLBVersion, ctl, spk)
}

// metallbCRDNames are the CRDs the module's config/crd/bases holds
// (artifacts.metallbCRDFiles); removal needs their names without the
// cache.
func metallbCRDNames() []string {
	var out []string
	for _, k := range []string{"bfdprofiles", "bgpadvertisements", "bgppeers", "communities", "ipaddresspools", "l2advertisements", "servicebgpstatuses", "servicel2statuses"} {
		out = append(out, k+".metallb.io")
	}
	return out
}

func metallbObjects(c *Cluster) ([]byte, error) {
	m, err := c.metallbManifests()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	writeCRDNames(&b, metallbCRDNames())
	b.WriteString("---\n")
	b.Write(m.Objects)
	b.WriteString("\n---\n")
	b.Write(m.Pool)
	return []byte(b.String()), nil
}

// writeCRDNames writes a CustomResourceDefinition by name alone for each of
// names: enough for removal, which deletes objects by kind and name.
func writeCRDNames(b *strings.Builder, names []string) {
	for _, n := range names {
		fmt.Fprintf(b, "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s\n", n)
	}
}

// addonCRDs reads an add-on's CRD manifest from the artifact cache.
func (c *Cluster) addonCRDs(comp, file, what string) ([]byte, error) {
	path, err := c.Addons.AddonFile(comp, file)
	if err != nil {
		return nil, err
	}
	crds, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (rebuild: hardway artifacts build --name %s)", what, err, c.Config.Name)
	}
	return crds, nil
}

// applyParts applies the manifests as one stream (a dry run on a dry run),
// stopping at the first object that fails, with the changes made until
// then. One stream, so that a dry run treats a namespace an earlier part
// creates as there for the objects of a later one (the gateway's Secret).
func (c *Cluster) applyParts(ctx context.Context, admin *kube.Client, parts ...[]byte) ([]converge.Change, error) {
	applied, err := admin.Apply(ctx, joinManifests(parts...), c.DryRun)
	return appliedChanges(applied), err
}

// joinManifests makes one YAML stream of several.
func joinManifests(parts ...[]byte) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("\n---\n")
		b.Write(p)
	}
	return b.Bytes()
}

func installMetalLB(ctx context.Context, c *Cluster, admin *kube.Client) ([]converge.Change, error) {
	crds, err := c.addonCRDs(artifacts.CompMetalLB, artifacts.MetalLBCRDs, "MetalLB's CRDs")
	if err != nil {
		return nil, err
	}
	m, err := c.metallbManifests()
	if err != nil {
		return nil, err
	}
	changes, err := c.applyParts(ctx, admin, crds, m.Objects)
	if err != nil {
		return changes, err
	}
	// The pool is of a kind the CRDs above define: the API serves it
	// once they are established.
	pools := []string{"ipaddresspools.metallb.io", "l2advertisements.metallb.io"}
	applied, err := c.applyAfterCRDs(ctx, admin, pools, m.Pool, "MetalLB's address pool",
		converge.Change{Action: converge.Wrote, Target: "IPAddressPool metallb-system/hardway", Reason: "applied through the API"},
		converge.Change{Action: converge.Wrote, Target: "L2Advertisement metallb-system/hardway", Reason: "applied through the API"})
	changes = append(changes, applied...)
	if err != nil || c.DryRun {
		return changes, err
	}
	return changes, c.waitMetalLB(ctx, admin)
}

// applyAfterCRDs applies doc, whose objects are of the kinds the CRDs
// named define, once the API serves them: it waits (bounded) for each CRD
// to be established, then applies, retrying while discovery does not list
// the kind yet (Established comes before discovery everywhere) and
// failing at once on anything else. A dry run of a cluster without the
// CRDs yet reports pending, the objects that would be created.
func (c *Cluster) applyAfterCRDs(ctx context.Context, admin *kube.Client, crds []string, doc []byte, what string, pending ...converge.Change) ([]converge.Change, error) {
	if c.DryRun {
		for _, crd := range crds {
			if ok, err := admin.CRDEstablished(ctx, crd); err != nil || !ok {
				return pending, nil
			}
		}
		applied, err := admin.Apply(ctx, doc, true)
		return appliedChanges(applied), err
	}
	for _, crd := range crds {
		if err := c.until(ctx, "CRD "+crd+" to be established", 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, error) {
			ok, err := admin.CRDEstablished(ctx, crd)
			if err == nil && !ok {
				err = fmt.Errorf("not yet")
			}
			return ok, err
		}); err != nil {
			return nil, err
		}
	}
	var applied []string
	err := c.until(ctx, what+" to be accepted", 300*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, error) {
		var err error
		applied, err = admin.Apply(ctx, doc, false)
		if err != nil && !meta.IsNoMatchError(errors.Unwrap(err)) && !meta.IsNoMatchError(err) {
			return false, wait.Permanent(err)
		}
		return err == nil, err
	})
	return appliedChanges(applied), err
}

// waitMetalLB waits until the controller is available and a speaker is
// ready on every node the DaemonSet schedules to.
func (c *Cluster) waitMetalLB(ctx context.Context, admin *kube.Client) error {
	apps := admin.Clientset.AppsV1()
	const ns = "metallb-system"
	if err := c.until(ctx, "MetalLB's controller to be available", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := apps.Deployments(ns).Get(ctx, "controller", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1 && d.Status.AvailableReplicas >= 1 && d.Status.UnavailableReplicas == 0 {
			return true, nil
		}
		return false, fmt.Errorf("%d available (kubectl -n %s describe pods -l component=controller)", d.Status.AvailableReplicas, ns)
	}); err != nil {
		return err
	}
	return c.until(ctx, "a ready MetalLB speaker on every node", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		ds, err := apps.DaemonSets(ns).Get(ctx, "speaker", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := ds.Status
		if ds.Status.ObservedGeneration >= ds.Generation && st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled {
			return true, nil
		}
		return false, fmt.Errorf("%d of %d ready (kubectl -n %s describe pods -l component=speaker)", st.NumberReady, st.DesiredNumberScheduled, ns)
	})
}

func explainMetalLB(c *Cluster, b *strings.Builder) error {
	fmt.Fprintf(b, "  Address pool (network.loadBalancerIPs): %s\n", c.Config.Network.LoadBalancerIPs)
	switch {
	case c.Config.Published():
		fmt.Fprintf(b, "  This host has no route to the node network (network.hostAccess published): an EXTERNAL-IP\n  answers inside the cluster and on the nodes, not from here; verify fetches it from a test pod.\n")
	case c.Config.Machines():
		fmt.Fprintf(b, "  The range must be free addresses on the machines' L2 network: a speaker answers ARP for\n  each address on the interface that holds the node's IP.\n")
	default:
		fmt.Fprintf(b, "  The range is the top of the node subnet, where no node, load balancer or registry sits:\n  this host is on that network, so it reaches every EXTERNAL-IP directly (curl http://IP/).\n")
	}
	fmt.Fprintf(b, "  CRDs: MetalLB's own (config/crd/bases of go.universe.tf/metallb %s, generated there from its\n  API types), kept in the artifact cache with the programs.\n", artifacts.MetalLBVersion)
	m, err := c.metallbManifests()
	if err != nil {
		return err
	}
	section(b, "The manifests applied (after the CRDs)")
	b.WriteString(indent(string(m.Objects), "  │ "))
	b.WriteString(indent(string(m.Pool), "  │ "))
	return nil
}

const metallbProse = `A Service of type LoadBalancer asks the cloud for an address in front of
it. A cluster of your own has no cloud: the Service waits forever with
EXTERNAL-IP <pending>. MetalLB plays the cloud's part.

Its controller (a Deployment) watches Services of type LoadBalancer and
writes an address from its pool into each one's status. kube-proxy then adds
rules on every node that send packets for that address to the Service's
pods, just as for a ClusterIP.

That address must also be reachable: in L2 mode one speaker (a DaemonSet
pod on the node's own network, hostNetwork, with CAP_NET_RAW) is elected per
Service and answers ARP requests for the address with its node's MAC. A
machine on the same network that asks "who has 10.240.0.240?" gets that
node's answer, sends the packet there, and kube-proxy's rules take it on. If
the node dies, the speakers (which watch each other through memberlist) elect
another, which announces the address with a gratuitous ARP.

hardway builds the controller and the speaker from source, packs each into
an image, pushes them into the cluster's own registry, and applies MetalLB's
CRDs, RBAC, the two workloads, one IPAddressPool and one L2Advertisement.
`
