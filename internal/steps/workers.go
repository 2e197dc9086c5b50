package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/wait"
)

func workersStep() Step {
	return Step{
		Name:    "workers",
		Title:   "Workers: containerd, runc, CNI, kubelet and kube-proxy on every node",
		Explain: explainWorkers,
		Run:     runWorkers,
	}
}

var (
	containerdService = service{
		unit: "containerd",
		binaries: []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl",
			"bridge", "host-local", "loopback", "portmap"},
		inputs: []string{"/etc/containerd/", "/etc/cni/net.d/", "/etc/crictl.yaml", "/etc/sysctl.d/", "/etc/systemd/system/containerd.service"},
	}
	kubeletService = service{
		unit:     "kubelet",
		binaries: []string{"kubelet"},
		inputs:   []string{"/var/lib/kubelet/", "/etc/systemd/system/kubelet.service"},
	}
	kubeProxyService = service{
		unit:     "kube-proxy",
		binaries: []string{"kube-proxy"},
		inputs:   []string{"/var/lib/kube-proxy/", "/etc/systemd/system/kube-proxy.service"},
	}
)

func runWorkers(ctx context.Context, c *Cluster) error {
	workers := c.Config.Workers()
	err := c.forEachNode(ctx, workers, func(ctx context.Context, n config.Node) error {
		if err := c.deploy(ctx, n, false, containerdService); err != nil {
			return err
		}
		// Forwarding and bridge netfilter are per network namespace: the
		// node's own. A sysctl the kernel does not offer is not fatal here;
		// kube-proxy reports what it really needs.
		if out, err := c.shell(ctx, n.Name, "sysctl -q -p /etc/sysctl.d/99-kubernetes.conf 2>&1 || true"); err == nil && len(out) > 0 {
			c.Log.Logf(1, "  %s: sysctl: %s", n.Name, strings.TrimSpace(string(out)))
		}
		if err := c.importImages(ctx, n); err != nil {
			return err
		}
		return c.deploy(ctx, n, false, kubeletService, kubeProxyService)
	})
	if err != nil {
		return err
	}
	return c.waitNodesReady(ctx, 3*time.Minute)
}

// importImages loads the locally built pod images into containerd's k8s.io
// namespace (the one the CRI uses). A marker per archive digest makes a
// re-run skip archives already imported and re-import rebuilt ones.
func (c *Cluster) importImages(ctx context.Context, n config.Node) error {
	if c.Artifacts == nil {
		return c.artifactsMissing()
	}
	var script strings.Builder
	script.WriteString("set -e\nmkdir -p /var/lib/hardway/images\n")
	for _, img := range c.Artifacts.Images {
		marker := "/var/lib/hardway/images/" + img.SHA256
		fmt.Fprintf(&script, "if [ ! -e %[1]s ]; then ctr -n k8s.io images import %[2]s >/dev/null && touch %[1]s && echo %[3]s; fi\n",
			marker, artifacts.NodePath(img.Rel), img.Ref)
	}
	out, err := c.shell(ctx, n.Name, script.String())
	if err != nil {
		return fmt.Errorf("importing pod images: %w", err)
	}
	for _, ref := range strings.Fields(string(out)) {
		c.Log.Logf(1, "  %s: imported %s", n.Name, ref)
	}
	return nil
}

// waitNodesReady waits until every worker is a Ready Node in the API.
func (c *Cluster) waitNodesReady(ctx context.Context, timeout time.Duration) error {
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	want := c.Config.Workers()
	return wait.Until(ctx, fmt.Sprintf("%d Ready nodes", len(want)), time.Second, timeout, func(ctx context.Context) (bool, error) {
		list, err := admin.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]string{}
		for _, n := range list.Items {
			ready[n.Name] = "NotReady"
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					if cond.Status == corev1.ConditionTrue {
						ready[n.Name] = "Ready"
					} else {
						ready[n.Name] = "NotReady: " + cond.Message
					}
				}
			}
		}
		var missing []string
		for _, n := range want {
			st, ok := ready[n.Name]
			if !ok {
				st = "not registered"
			}
			if st != "Ready" {
				missing = append(missing, n.Name+" "+st)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			return false, fmt.Errorf("%s (see: hardway logs NODE kubelet --name %s)", strings.Join(missing, "; "), c.Config.Name)
		}
		return true, nil
	})
}

func explainWorkers(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(workersProse)
	section(&b, "Workers and their pod networks")
	rows := [][]string{{"NODE", "IP", "POD CIDR"}}
	for _, n := range c.Config.Workers() {
		rows = append(rows, []string{n.Name, n.IP, n.PodCIDR})
	}
	table(&b, rows)
	fmt.Fprintf(&b, "\n  Host facts used: cgroup v1=%v (kubelet failCgroupV1: false only then), no CAP_SYS_RESOURCE=%v (containerd restrict_oom_score_adj).\n", c.Facts.CgroupV1, c.Facts.NoSysResource)
	first := c.Config.Workers()[0]
	for _, svc := range []service{containerdService, kubeletService, kubeProxyService} {
		if err := c.explainFiles(&b, first, svc); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
