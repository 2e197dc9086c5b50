package cli

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/converge"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/registry"
	"hardway.dev/hardway/internal/steps"
)

func newRegistryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "The cluster's image registry: every node pulls through it (push an image, print its address)",
		Long: `Every cluster has an image registry of its own: the distribution registry, built
from source, runs as the systemd unit ` + registry.Unit + ` on the load balancer
machine (on the first node when there is none) and listens on the cluster
network in plain HTTP. containerd on every node looks up the images of every
registry there first, by repository path: an image pushed as
registry.k8s.io/pause:3.10 is pulled from it as pause:3.10, even with
imagePullPolicy: Always, on a network with no way out.

The registry is installed the first time it is needed (this command, hardway
conformance); its images live on the machine's /var volume.`,
	}
	cmd.AddCommand(newRegistryPushCmd(a), newRegistryAddressCmd(a))
	return cmd
}

func newRegistryAddressCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "address",
		Short: "Install the registry if needed and print its address (last line), and how to push to it with docker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.runningCluster(cmd.Context())
			if err != nil {
				return err
			}
			host, err := a.ensureRegistry(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "docker can push there once it trusts plain HTTP to it: add %q to \"insecure-registries\" in /etc/docker/daemon.json, restart dockerd, then\n", host)
			fmt.Fprintf(a.out, "  docker tag IMAGE %s/REPOSITORY:TAG && docker push %s/REPOSITORY:TAG\n", host, host)
			fmt.Fprintf(a.out, "pods then use IMAGE as REPOSITORY:TAG under any registry name (or %s/REPOSITORY:TAG)\n", host)
			fmt.Fprintln(a.out, host)
			return nil
		},
	}
}

func newRegistryPushCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "push IMAGE|ARCHIVE...",
		Short: "Push images into the cluster's registry: a docker image (by name) or an image archive (docker save)",
		Example: `  hardway registry push myapp:1.0                 # from the local docker engine
  hardway registry push ./myapp.tar               # every tagged image in a docker save archive`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.runningCluster(ctx)
			if err != nil {
				return err
			}
			host, err := a.ensureRegistry(ctx, c)
			if err != nil {
				return err
			}
			for _, arg := range args {
				if err := a.pushOne(ctx, host, arg); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// pushOne pushes an archive (an existing file) or a docker image (saved
// to a temporary archive first).
func (a *app) pushOne(ctx context.Context, host, arg string) error {
	archive := arg
	if st, err := os.Stat(arg); err != nil || st.IsDir() {
		tmp, err := os.MkdirTemp("", "hardway-push-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		archive = filepath.Join(tmp, "image.tar")
		if _, err := a.runner().Run(ctx, hexec.Cmd{Name: "docker", Args: []string{"save", "-o", archive, arg}}); err != nil {
			return fmt.Errorf("%s is neither a file nor an image docker has (docker save failed: %v); give an image archive or an image name docker images lists", arg, err)
		}
	}
	refs, err := registry.ArchiveRefs(archive)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		dst, err := registry.Push(ctx, host, archive, ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "pushed %s as %s\n", ref, dst)
	}
	return nil
}

// runningCluster is the cluster of --name, which must be up.
func (a *app) runningCluster(ctx context.Context) (*steps.Cluster, error) {
	cfg, err := a.existingConfig()
	if err != nil {
		return nil, err
	}
	c, err := a.cluster(ctx, cfg, a.log())
	if err != nil {
		return nil, err
	}
	if err := c.RequireRunning(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// builder is an artifact builder that prints one line per component.
func (a *app) builder(store *artifacts.Store) *artifacts.Builder {
	log := a.log()
	b := &artifacts.Builder{
		Store:        store,
		Run:          hexec.OS{Log: log},
		Log:          log,
		OnProgress:   func(p artifacts.Progress) { printProgress(a.out, p) },
		DebianMirror: os.Getenv("HARDWAY_DEBIAN_MIRROR"),
	}
	if b.DebianMirror == "" {
		b.DebianMirror = nodeimage.HostMirror(os.DirFS("/"))
	}
	if a.verbosity >= 1 {
		b.Stream = a.errOut
	}
	return b
}

// ensureRegistry builds the registry if it is not cached, installs and
// starts it on its machine, and returns its address.
func (a *app) ensureRegistry(ctx context.Context, c *steps.Cluster) (string, error) {
	store, err := a.artifactStore()
	if err != nil {
		return "", err
	}
	m := artifacts.RegistryManifest(c.Config.KubernetesVersion)
	if _, err := a.builder(store).Build(ctx, m, artifacts.Option{Source: artifacts.SourceAuto}); err != nil {
		return "", err
	}
	comp, _ := m.Component(artifacts.CompRegistry)
	e, ok := store.Find(comp.Name, comp.Version)
	if !ok {
		return "", fmt.Errorf("artifact %s %s not built; run: hardway registry address", comp.Name, comp.Version)
	}
	rel, err := filepath.Rel(store.Root, e.Dir)
	if err != nil {
		return "", err
	}
	bin := converge.Binary{Name: "registry", Dst: path.Join(artifacts.BinDir, "registry"), HostPath: filepath.Join(e.Dir, "registry"),
		CacheRel: path.Join(filepath.ToSlash(rel), "registry")}
	for _, f := range e.Files {
		if f.Name == "registry" {
			bin.SHA256 = f.SHA256
		}
	}
	machine := registry.Machine(c.Config)
	n, err := c.Node(ctx, machine)
	if err != nil {
		return "", err
	}
	start := time.Now()
	changes, err := registry.Ensure(ctx, n, c.Config, bin, func(format string, args ...any) { a.log().Logf(2, "  "+format, args...) })
	if err != nil {
		return "", err
	}
	host := registry.Host(c.Config)
	if len(changes) > 0 {
		fmt.Fprintf(a.errOut, "registry %s on %s at %s: %s (%s)\n", artifacts.RegistryVersion, machine, host, converge.Summary(changes), roundDuration(time.Since(start)))
	}
	return host, nil
}

// imageLine is one line of the image list in a conformance report.
func imageLine(im artifacts.E2EImage) string {
	return fmt.Sprintf("%s [%s] %s", im.Ref, im.Kind, strings.TrimSpace(im.Note))
}
