package cli

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/nodeimage"
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
  auto      release downloads when the release host answers within 3 s, else
            build from source (default); a release whose checksum cannot be
            fetched is built from source too, a checksum mismatch fails
  source    build with the local Go toolchain from the Go module proxy
  release   official release files, each checked against the SHA-256 pinned in
            hardway's manifest or, without a pin, the checksum the project
            publishes next to the release (fetched over HTTPS)
  dir:PATH  your own binaries, each checked by asking its version

Which of the two vouched for each downloaded file is shown when it is
downloaded and by "hardway artifacts list", and kept in the cache entry.`,
	}
	cmd.AddCommand(newArtifactsBuildCmd(a), newArtifactsListCmd(a), newArtifactsExportCmd(a), newArtifactsImportCmd(a))
	return cmd
}

func (a *app) artifactStore() (*artifacts.Store, error) {
	root, err := artifacts.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return artifacts.NewStore(root), nil
}

// archStore is the cache for --arch (the nodes' architecture; empty: this
// host's).
func (a *app) archStore(arch string) (*artifacts.Store, error) {
	store, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	switch arch {
	case "":
	case "amd64", "arm64":
		store.Arch = arch
	default:
		return nil, fmt.Errorf("--arch %q: hardway has binaries for amd64 and arm64 (the nodes' architecture; hardway check names it)", arch)
	}
	return store, nil
}

func newArtifactsBuildCmd(a *app) *cobra.Command {
	var source, version, arch string
	var peers bool
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
			if version != "" {
				cfg.KubernetesVersion = version
			}
			m, err := artifacts.ManifestFor(cfg.KubernetesVersion)
			if err != nil {
				return err
			}
			store, err := a.archStore(arch)
			if err != nil {
				return err
			}
			log := a.log()
			b := &artifacts.Builder{
				Store:      store,
				Run:        hexec.OS{Log: log},
				Log:        log,
				OnProgress: func(p artifacts.Progress) { printProgress(a.out, p) },
			}
			if a.verbosity >= 1 {
				b.Stream = a.errOut
			}
			fmt.Fprintf(a.out, "artifacts for Kubernetes %s (%s) in %s\n", m.KubernetesVersion, store.Arch, store.Root)
			start := time.Now()
			if _, err := b.Build(cmd.Context(), m, opt); err != nil {
				return err
			}
			// The config's add-ons (their images and the registry that
			// serves them) are built with the cluster's artifacts, so up
			// finds everything it installs.
			if am := artifacts.AddonsManifest(m.KubernetesVersion, cfg.Addons); am != nil {
				fmt.Fprintf(a.out, "add-ons: %s\n", strings.Join(cfg.Addons, ", "))
				if _, err := b.Build(cmd.Context(), am, opt); err != nil {
					return err
				}
			}
			if peers {
				pm, err := artifacts.PeersManifest(m.KubernetesVersion)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.out, "peer tools (hack/bench-peers.sh): kubeadm, kind")
				if _, err := b.Build(cmd.Context(), pm, opt); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.out, "all artifacts ready in %s\n", roundDuration(time.Since(start)))
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "auto", "auto, source, release or dir:PATH")
	cmd.Flags().BoolVar(&peers, "peers", false, "also build the tools hack/bench-peers.sh times hardway against: kubeadm (from the same Kubernetes source) and kind "+artifacts.KindVersion)
	cmd.Flags().StringVar(&version, "kubernetes-version", "", "build for this Kubernetes version instead of the cluster's (before hardway upgrade)")
	cmd.Flags().StringVar(&arch, "arch", "", "amd64 or arm64: the nodes' architecture, when it is not this host's (cross-built with GOARCH; runc's cgo with Debian's cross gcc: hack/setup-arm64.sh)")
	return cmd
}

// printProgress prints one line per component and, for a download, one line
// per downloaded file saying who vouched for its SHA-256.
func printProgress(w io.Writer, p artifacts.Progress) {
	fmt.Fprintf(w, "%-16s %-9s %-8s %-10s %s\n", p.Component, p.Version, p.Source, p.Status, roundDuration(p.Elapsed))
	if p.Status != "downloaded" || p.Entry == nil {
		return
	}
	for _, v := range p.Entry.Verified {
		fmt.Fprintf(w, "%-16s %s sha256 ok (%s)\n", "", path.Base(v.URL), v.By)
	}
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func newArtifactsListCmd(a *app) *cobra.Command {
	var arch string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List cached artifacts: component, version, source, size and SHA-256 of each file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			store, err := a.archStore(arch)
			if err != nil {
				return err
			}
			entries, err := store.List()
			if err != nil {
				return err
			}
			// Every file's architecture, checked with file(1) before
			// anything is printed: a missing file(1) is an error, not a
			// column of blanks.
			arches := map[*artifacts.Entry][]artifacts.FileArch{}
			var wrong []string
			for _, e := range entries {
				fa, err := artifacts.VerifyArch(cmd.Context(), hexec.OS{Log: a.log()}, e)
				if err != nil {
					return err
				}
				arches[e] = fa
				for _, f := range fa {
					if !f.OK(store.Arch) {
						wrong = append(wrong, fmt.Sprintf("%s/%s is %s", e.Component, f.File, f.Arch))
					}
				}
			}
			printArtifacts(a.out, entries, func(e *artifacts.Entry, file string) string {
				for _, f := range arches[e] {
					if f.File == file {
						return archCell(f, store.Arch)
					}
				}
				return "-"
			})
			if _, err := store.Resolve(cfg.KubernetesVersion); err != nil {
				fmt.Fprintf(a.errOut, "Kubernetes %s (%s) is not complete: %v\n", cfg.KubernetesVersion, store.Arch, err)
			}
			if len(wrong) > 0 {
				return fmt.Errorf("%d cached files are not %s (%s): remove their entries under %s and rebuild with hardway artifacts build --arch %s", len(wrong), store.Arch, strings.Join(wrong, ", "), store.Root, store.Arch)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "", "amd64 or arm64 (default: this host's)")
	return cmd
}

// archCell is the ARCH column: the architecture found and what said so
// (file(1) on the program; for an image, its config and file(1) on the
// program it runs).
func archCell(f artifacts.FileArch, want string) string {
	switch {
	case f.Arch == "":
		return "- (" + f.Evidence + ")"
	case f.Arch != want:
		return "WRONG " + f.Arch + " (" + f.Evidence + ")"
	}
	return f.Arch + " (" + f.Evidence + ")"
}

// printArtifacts lists every file of every entry; archOf gives its ARCH
// column.
func printArtifacts(w io.Writer, entries []*artifacts.Entry, archOf func(e *artifacts.Entry, file string) string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tSOURCE\tFILE\tSIZE\tSHA256\tVOUCHED BY\tARCH")
	for _, e := range entries {
		for _, f := range e.Files {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Component, e.Version, e.Source, f.Name, humanSize(f.Size), f.SHA256, vouchedBy(e, f.Name), archOf(e, f.Name))
		}
	}
	tw.Flush()
}

// vouchedBy says who vouched for a cached file: for a release download the
// pin or the published checksum it was checked against; "-" for files built
// here or copied from a directory (their version was checked instead).
func vouchedBy(e *artifacts.Entry, file string) string {
	if v, ok := e.VouchFor(file); ok {
		return v.String()
	}
	if e.Source == artifacts.SourceRelease {
		return "not recorded (cached by an older hardway)"
	}
	return "-"
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

func newArtifactsExportCmd(a *app) *cobra.Command {
	var version, arch string
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write every artifact of a Kubernetes version and the node image into one file, for a machine without a network",
		Long: `Writes one tar file: a manifest (every member's path, size and SHA-256), then every
cache entry of the version (binaries, pod images, each entry's provenance) and the node
image as saved by "docker save". "hardway artifacts import FILE" on another machine checks
every member against the manifest before it installs anything, so "make up" there builds
nothing. The SHA-256 printed at the end covers the whole file, manifest included: pass it to
import with --sha256 when the file travels through hands you do not trust.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if version != "" {
				cfg.KubernetesVersion = version
			}
			store, err := a.archStore(arch)
			if err != nil {
				return err
			}
			tag := nodeimage.TagFor(store.Arch)
			fmt.Fprintf(a.out, "exporting Kubernetes %s (%s) from %s and node image %s to %s\n", cfg.KubernetesVersion, store.Arch, store.Root, tag, args[0])
			start := time.Now()
			res, err := artifacts.ExportFile(cmd.Context(), artifacts.ExportOptions{
				Store: store, KubernetesVersion: cfg.KubernetesVersion, NodeImageTag: tag,
				Images:     artifacts.DockerImages{Run: a.host.Runner(a.log())},
				OnProgress: func(p artifacts.BundleProgress) { printBundleProgress(a.out, p) },
			}, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "wrote %s: %d files, %s in %s\nsha256 %s\non the other machine: hardway artifacts import %s --sha256 %s%s\n",
				args[0], len(res.Manifest.Files), humanSize(res.Bytes), roundDuration(time.Since(start)), res.SHA256, args[0], res.SHA256, archArg(arch))
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "kubernetes-version", "", "export this Kubernetes version instead of the cluster's")
	cmd.Flags().StringVar(&arch, "arch", "", "amd64 or arm64: the nodes' architecture, when it is not this host's")
	return cmd
}

func newArtifactsImportCmd(a *app) *cobra.Command {
	var arch, sum string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Install a bundle from \"hardway artifacts export\" into the cache and Docker, after checking every file in it",
		Long: `Reads the bundle once: every member goes into a staging directory of the cache and is
checked against the bundle's manifest (size and SHA-256); a member that does not match, a
truncated file, a missing or an unexpected member refuses the whole bundle and installs
nothing. Then the node image is loaded with "docker load" and each entry is renamed into
the cache. Entries the cache already has are kept, so importing twice changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := a.archStore(arch)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "importing %s into %s (%s)\n", args[0], store.Root, store.Arch)
			start := time.Now()
			res, err := artifacts.ImportFile(cmd.Context(), artifacts.ImportOptions{
				Store: store, NodeImageTag: nodeimage.TagFor(store.Arch), SHA256: sum,
				Images:     artifacts.DockerImages{Run: a.host.Runner(a.log())},
				OnProgress: func(p artifacts.BundleProgress) { printBundleProgress(a.out, p) },
			}, args[0])
			if err != nil {
				return err
			}
			image := "loaded"
			if !res.ImageLoaded {
				image = "already in Docker"
			}
			fmt.Fprintf(a.out, "imported Kubernetes %s (%s) in %s: %d entries installed, %d already cached; node image %s %s\n",
				res.Manifest.KubernetesVersion, res.Manifest.Arch, roundDuration(time.Since(start)), len(res.Installed), len(res.Kept), res.Manifest.NodeImage.Tag, image)
			return nil
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "", "amd64 or arm64: the architecture the bundle holds, when it is not this host's")
	cmd.Flags().StringVar(&sum, "sha256", "", "the SHA-256 of the whole file that export printed")
	return cmd
}

func archArg(arch string) string {
	if arch == "" {
		return ""
	}
	return " --arch " + arch
}

// printBundleProgress prints one line per member written or checked, with
// the bytes so far, and one per step of an import's install.
func printBundleProgress(w io.Writer, p artifacts.BundleProgress) {
	switch p.Phase {
	case "save":
		fmt.Fprintf(w, "  node image %s saved by docker: %s in %s\n", p.Path, humanSize(p.Size), roundDuration(p.Elapsed))
	case "install":
		fmt.Fprintf(w, "  installed %s (%s)\n", p.Path, roundDuration(p.Elapsed))
	case "keep":
		fmt.Fprintf(w, "  kept %s: already there (%s)\n", p.Path, roundDuration(p.Elapsed))
	default:
		width := len(fmt.Sprint(p.Total))
		fmt.Fprintf(w, "  %s [%*d/%d] %9s of %9s %7s  %s (%s)\n", p.Phase, width, p.N, p.Total, humanSize(p.Done), humanSize(p.Bytes), roundDuration(p.Elapsed), p.Path, humanSize(p.Size))
	}
}
