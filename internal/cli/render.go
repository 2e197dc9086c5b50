package cli

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

func newRenderCmd(a *app) *cobra.Command {
	var out, cgroup string
	cmd := &cobra.Command{
		Use:   "render --out DIR",
		Short: "Write every file each node would receive into DIR, to read before (or instead of) `hardway up`",
		Long: `render writes, under DIR:
  NODE/...                 every file of that node at its path inside the node
                           (systemd units, component configs, certificates, kubeconfigs)
  cluster/                 what stays on this machine: admin.kubeconfig, ca.pem, cluster.yaml
  cluster/manifests/       objects applied through the API once it runs (RBAC, CoreDNS)
  cluster/load-balancer/   haproxy.cfg of the API load balancer (when the cluster has one)

The PKI, kubeconfigs and encryption config are the cluster's own (created in
its state directory when missing), so the files match what "up" installs.
Host facts (cgroup version, CAP_SYS_RESOURCE) are detected on this machine
(providers ssh and lima: cgroup v2 with every capability; --cgroup changes it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required: the directory to write the files into")
			}
			c, err := a.loadConfig()
			if err != nil {
				return err
			}
			// Nothing is written for a version hardway cannot build.
			if _, err := artifacts.ManifestFor(c.KubernetesVersion); err != nil {
				return err
			}
			// Container nodes share this host's facts; machines are rendered
			// for cgroup v2 with every capability unless --cgroup says else.
			var facts render.Facts
			if !c.Machines() {
				if facts, err = render.DetectHostFacts(); err != nil {
					return err
				}
			}
			for i, n := range c.Nodes {
				if n.IP == "" {
					return fmt.Errorf("nodes[%d].ip: node %s has no address yet (provider %s assigns it when the VM boots): run hardway up -c FILE first, or give nodes[%d].ip", i, n.Name, c.Provider, i)
				}
			}
			switch cgroup {
			case "":
			case "v1":
				facts.CgroupV1 = true
			case "v2":
				facts.CgroupV1 = false
			default:
				return fmt.Errorf("--cgroup %q: use v1 or v2", cgroup)
			}

			// A cluster's own config renders from its state, creating what is
			// missing so `up` later installs exactly these files. A different
			// config for an existing cluster renders from a copy: reading must
			// not reissue a running cluster's certificates.
			dir := state.For(c.Name)
			if saved, err := config.Load(dir.Config()); err == nil && !sameConfig(saved, c) {
				scratch, cleanup, err := host.ScratchState(dir)
				if err != nil {
					return err
				}
				defer cleanup()
				fmt.Fprintf(a.errOut, "note: this config differs from the one cluster %q was built with; rendering from a copy of its state (nothing of the cluster changes)\n", c.Name)
				dir = scratch
			}
			sc := &steps.Cluster{Config: c, State: dir, Facts: facts, Log: a.log()}
			in, err := sc.Inputs()
			if err != nil {
				return err
			}
			for _, n := range c.Nodes {
				files, err := render.NodeFiles(in, n)
				if err != nil {
					return err
				}
				if err := render.Write(filepath.Join(out, n.Name), files); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "%s/  %d files (%s)\n", n.Name, len(files), roles(n.IsControlPlane(), n.IsWorker()))
			}
			files, err := render.ClusterFiles(in)
			if err != nil {
				return err
			}
			if files, err = appendLB(in, files); err != nil {
				return err
			}
			ms, err := render.Manifests(in)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(ms))
			for name := range ms {
				names = append(names, name)
			}
			sort.Strings(names)
			var mf []render.File
			for _, name := range names {
				mf = append(mf, render.File{Path: "manifests/" + name, Mode: render.ModePublic, Data: ms[name]})
			}
			files = append(files, mf...)
			if err := render.Write(filepath.Join(out, "cluster"), files); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "cluster/  %d files (admin kubeconfig, CA, config, manifests, load balancer)\n", len(files))
			fmt.Fprintf(a.out, "Facts used: cgroup v1=%v, no CAP_SYS_RESOURCE=%v. Files are in %s\n", facts.CgroupV1, facts.NoSysResource, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the files into (required)")
	cmd.Flags().StringVar(&cgroup, "cgroup", "", "render for cgroup v1 or v2 instead of what this machine uses")
	return cmd
}

func roles(cp, worker bool) string {
	switch {
	case cp && worker:
		return "control plane + worker"
	case cp:
		return "control plane"
	default:
		return "worker"
	}
}

// appendLB adds the load balancer's files under load-balancer/.
func appendLB(in render.Inputs, files []render.File) ([]render.File, error) {
	lb, err := render.LoadBalancerFiles(in)
	if err != nil {
		return nil, err
	}
	for _, f := range lb {
		f.Path = "load-balancer/" + filepath.Base(f.Path)
		files = append(files, f)
	}
	return files, nil
}

func sameConfig(a, b *config.Cluster) bool {
	x, err1 := a.Marshal()
	y, err2 := b.Marshal()
	return err1 == nil && err2 == nil && string(x) == string(y)
}
