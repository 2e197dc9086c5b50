package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	hexec "hardway.dev/hardway/internal/exec"
)

func newArtifactsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifacts",
		Short: "Build, download or list the pinned binaries and pod images a cluster needs",
		Long: `Every binary (kube-apiserver … kubelet, etcd, containerd, runc, CNI plugins, crictl)
and pod image (pause, CoreDNS, a test app) is pinned in one manifest per Kubernetes version
and kept in a cache ($HARDWAY_CACHE, else $XDG_CACHE_HOME/hardway, else ~/.cache/hardway)
that nodes mount read-only.

--source says how to obtain what is missing:
  auto      release downloads when the release host answers within 3 s and the
            manifest pins a checksum, else build from source (default)
  source    build with the local Go toolchain from the Go module proxy
  release   official release files, each checked against a pinned SHA-256
  dir:PATH  your own binaries, each checked by asking its version`,
	}
	cmd.AddCommand(newArtifactsBuildCmd(a), newArtifactsListCmd(a))
	return cmd
}

func (a *app) artifactStore() (*artifacts.Store, error) {
	root, err := artifacts.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return artifacts.NewStore(root), nil
}

func newArtifactsBuildCmd(a *app) *cobra.Command {
	var source string
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Obtain every pinned artifact for the cluster's Kubernetes version into the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			opt, err := artifacts.ParseSource(source)
			if err != nil {
				return err
			}
			m, err := artifacts.ManifestFor(cfg.KubernetesVersion)
			if err != nil {
				return err
			}
			store, err := a.artifactStore()
			if err != nil {
				return err
			}
			log := a.log()
			b := &artifacts.Builder{
				Store: store,
				Run:   hexec.OS{Log: log},
				Log:   log,
				OnProgress: func(p artifacts.Progress) {
					fmt.Fprintf(a.out, "%-16s %-9s %-8s %-10s %s\n", p.Component, p.Version, p.Source, p.Status, roundDuration(p.Elapsed))
				},
			}
			if a.verbosity >= 1 {
				b.Stream = a.errOut
			}
			fmt.Fprintf(a.out, "artifacts for Kubernetes %s in %s\n", m.KubernetesVersion, store.Root)
			start := time.Now()
			if _, err := b.Build(cmd.Context(), m, opt); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "all artifacts ready in %s\n", roundDuration(time.Since(start)))
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "auto", "auto, source, release or dir:PATH")
	return cmd
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func newArtifactsListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List cached artifacts: component, version, source, size and SHA-256 of each file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			store, err := a.artifactStore()
			if err != nil {
				return err
			}
			entries, err := store.List()
			if err != nil {
				return err
			}
			printArtifacts(a.out, entries)
			if _, err := store.Resolve(cfg.KubernetesVersion); err != nil {
				fmt.Fprintf(a.errOut, "Kubernetes %s is not complete: %v\n", cfg.KubernetesVersion, err)
			}
			return nil
		},
	}
}

func printArtifacts(w io.Writer, entries []*artifacts.Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tSOURCE\tFILE\tSIZE\tSHA256")
	for _, e := range entries {
		for _, f := range e.Files {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Component, e.Version, e.Source, f.Name, humanSize(f.Size), f.SHA256)
		}
	}
	tw.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
