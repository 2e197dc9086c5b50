package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/converge"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/registry"
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
			r, err := a.registry(cmd.Context())
			if err != nil {
				return err
			}
			host := r.Host
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
			r, err := a.registry(ctx)
			if err != nil {
				return err
			}
			for _, arg := range args {
				if err := a.pushOne(ctx, r, arg); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// pushOne pushes an archive (an existing file) or a docker image (saved
// to a temporary archive first).
func (a *app) pushOne(ctx context.Context, r registry.At, arg string) error {
	archive := arg
	if st, err := os.Stat(arg); err != nil || st.IsDir() {
		tmp, err := os.MkdirTemp("", "hardway-push-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		archive = filepath.Join(tmp, "image.tar")
		if _, err := a.host.Runner(a.log()).Run(ctx, hexec.Cmd{Name: "docker", Args: []string{"save", "-o", archive, arg}}); err != nil {
			return fmt.Errorf("%s is neither a file nor an image docker has (docker save failed: %v); give an image archive or an image name docker images lists", arg, err)
		}
	}
	refs, err := registry.ArchiveRefs(archive)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		dst, err := r.Push(ctx, archive, ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "pushed %s as %s\n", ref, dst)
	}
	return nil
}

// registry opens the running cluster, makes sure its registry runs, and
// returns its address.
func (a *app) registry(ctx context.Context) (registry.At, error) {
	c, err := a.open(ctx, host.NeedRunning, a.log())
	if err != nil {
		return registry.At{}, err
	}
	r, err := ops.EnsureRegistry(ctx, c, a.builder(a.host.Store()))
	if err != nil {
		return registry.At{}, err
	}
	a.registryChanged(r)
	return r.At, nil
}

// registryChanged says what installing the registry changed, if anything.
func (a *app) registryChanged(r ops.Registry) {
	if len(r.Changes) > 0 {
		fmt.Fprintf(a.errOut, "registry %s on %s at %s: %s (%s)\n", artifacts.RegistryVersion, r.Machine, r.Host, converge.Summary(r.Changes), roundDuration(r.Elapsed))
	}
}
