// Package registry runs the cluster's own image registry (the distribution
// registry, built from source) and pushes images into it.
//
// It runs as a systemd unit on the load balancer machine (or, without one,
// on the first node) and listens on the cluster network in plain HTTP.
// containerd on every node is configured (render: hosts.toml) to look up
// every registry's images there first, so an image pushed under its
// upstream repository path (registry.k8s.io/pause:3.10 as pause:3.10) is
// pulled from it even with imagePullPolicy: Always on a network with no way
// out.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/wait"
)

// Unit is the registry's systemd unit.
const Unit = "hardway-registry"

// Paths on the registry machine.
const (
	ConfigPath = "/etc/hardway-registry/config.yml"
	// DataDir is on the machine's /var volume, so pushed images survive a
	// restart of the machine.
	DataDir = "/var/lib/hardway-registry"
)

// Machine is where the registry runs: the load balancer machine when the
// cluster has one, else the first node (render.RegistryHost agrees).
func Machine(c *config.Cluster) string {
	if c.Network.LoadBalancerIP != "" {
		return provider.LBName
	}
	return c.Nodes[0].Name
}

// Host is the registry's "IP:port".
func Host(c *config.Cluster) string { return render.RegistryHost(c) }

// configYAML is the registry's configuration: images on the /var volume,
// deletes allowed (a user can free space through the API), no auth (only
// nodes and this host reach the network). A load-balancer container listens
// on every address it has (the cluster network's only); a real machine
// (provider ssh or lima) only on its node IP, not on whatever other
// networks it is on.
func configYAML(c *config.Cluster) string {
	hostPort := Host(c)
	_, port, _ := strings.Cut(hostPort, ":")
	addr, where := ":"+port, "Every address of the machine"
	if c.Machines() {
		addr, where = hostPort, "The node IP only (a real machine may be on other networks)"
	}
	return `# The cluster's image registry (distribution ` + artifacts.RegistryVersion + `), written by hardway.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ` + DataDir + `
  delete:
    enabled: true
http:
  # ` + where + `: nodes reach it at ` + hostPort + `.
  addr: ` + addr + `
  headers:
    X-Content-Type-Options: [nosniff]
`
}

const unitFile = `[Unit]
Description=The cluster's image registry (distribution), pulled from by containerd on every node
Documentation=https://distribution.github.io/distribution/
After=network-online.target

[Service]
ExecStart=` + artifacts.BinDir + `/registry serve ` + ConfigPath + `
Restart=always
RestartSec=2
# Plenty of blobs are open at once while nodes pull.
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`

// Units is what the registry machine runs: one unit with the registry
// binary and its two files.
func Units(c *config.Cluster) []converge.Unit {
	return []converge.Unit{{
		Name:     Unit,
		Binaries: []string{"registry"},
		Files: []converge.File{
			{Path: path.Join(converge.SystemdDir, Unit+".service"), Mode: render.ModeUnit, Data: []byte(unitFile)},
			{Path: ConfigPath, Mode: render.ModePublic, Data: []byte(configYAML(c))},
		},
	}}
}

// Ensure installs and starts the registry on n (the registry machine) and
// waits until it answers over the cluster network. bin is the registry
// binary from the artifact cache.
func Ensure(ctx context.Context, n node.Node, c *config.Cluster, at At, bin converge.Binary, logf func(string, ...any)) ([]converge.Change, error) {
	opts := converge.Options{Binary: func(name string) (converge.Binary, error) {
		if name != bin.Name {
			return converge.Binary{}, fmt.Errorf("internal error: the registry unit asks for binary %s", name)
		}
		return bin, nil
	}}
	plan, err := converge.NewPlan(ctx, n, Units(c), opts)
	if err != nil {
		return nil, err
	}
	changes, err := converge.Apply(ctx, n, plan, logf)
	if err != nil {
		return nil, fmt.Errorf("starting the registry on %s: %w; see its log: hardway logs %s %s --name %s", n.Name(), err, n.Name(), Unit, c.Name)
	}
	return changes, at.WaitReady(ctx, 60*time.Second)
}

// At is the cluster's registry as this host reaches it: its address on the
// cluster network, and the proxy that carries connections there when this
// host has no route to it (nil: directly).
type At struct {
	Host  string
	Proxy func(*http.Request) (*url.URL, error)
}

func (r At) transport() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = r.Proxy
	return t
}

// WaitReady polls the registry's API root (GET /v2/ answers 200 when it
// serves) from this host.
func (r At) WaitReady(ctx context.Context, timeout time.Duration) error {
	hostPort := r.Host
	client := &http.Client{Timeout: 3 * time.Second, Transport: r.transport()}
	return wait.Until(ctx, "the registry at "+hostPort+" to answer", 250*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostPort+"/v2/", nil)
		if err != nil {
			return false, wait.Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return true, nil
	})
}

// Target is where an image of reference ref goes in the registry at
// hostPort: the same repository path and tag, without the registry host
// (which containerd's mirror lookup leaves out too). docker.io's short
// names gain their library/ prefix: nginx:1 is library/nginx:1.
func Target(hostPort, ref string) (name.Tag, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %q: %v; use REPOSITORY:TAG, like registry.k8s.io/pause:3.10", ref, err)
	}
	dst, err := name.NewTag(hostPort+"/"+t.RepositoryStr()+":"+t.TagStr(), name.Insecure)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %q cannot be stored in the registry at %s: %v", ref, hostPort, err)
	}
	return dst, nil
}

// ArchiveRefs lists the references a docker-save archive carries.
func ArchiveRefs(archive string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		return nil, fmt.Errorf("%s is not an image archive (docker save or hardway's): %v", archive, err)
	}
	var refs []string
	for _, d := range m {
		refs = append(refs, d.RepoTags...)
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%s carries no tagged image; save it with a tag (docker save REPOSITORY:TAG)", archive)
	}
	return refs, nil
}

// Push copies the image tagged ref from a docker-save archive into the
// registry at hostPort and returns where it went. Blobs the registry
// already has are not sent again.
func (r At) Push(ctx context.Context, archive, ref string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %v", ref, err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return "", fmt.Errorf("image archive %s does not hold %s: %v", archive, ref, err)
	}
	return r.PushImage(ctx, img, ref)
}

// PushImage pushes img under ref's repository path and tag.
func (r At) PushImage(ctx context.Context, img v1.Image, ref string) (string, error) {
	dst, err := Target(r.Host, ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx), remote.WithTransport(r.transport())); err != nil {
		return "", fmt.Errorf("pushing %s to the registry at %s: %v; is it running? (hardway registry address)", ref, r.Host, err)
	}
	return dst.String(), nil
}

// Has reports whether the registry holds ref's image from archive, the same
// digest: then pushing it again would change nothing.
func (r At) Has(ctx context.Context, archive, ref string) (bool, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return false, fmt.Errorf("image reference %q: %v", ref, err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return false, fmt.Errorf("image archive %s does not hold %s: %v", archive, ref, err)
	}
	want, err := img.Digest()
	if err != nil {
		return false, err
	}
	dst, err := Target(r.Host, ref)
	if err != nil {
		return false, err
	}
	desc, err := remote.Head(dst, remote.WithContext(ctx), remote.WithTransport(r.transport()))
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("asking the registry at %s for %s: %v", r.Host, ref, err)
	}
	return desc.Digest == want, nil
}

// Remove deletes ref's manifest from the registry (its blobs go at the
// registry's next garbage collection); false when it was not there.
func (r At) Remove(ctx context.Context, ref string, dryRun bool) (bool, error) {
	dst, err := Target(r.Host, ref)
	if err != nil {
		return false, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.transport())}
	desc, err := remote.Head(dst, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("asking the registry at %s for %s: %v", r.Host, ref, err)
	}
	if dryRun {
		return true, nil
	}
	if err := remote.Delete(dst.Context().Digest(desc.Digest.String()), opts...); err != nil {
		return false, fmt.Errorf("deleting %s from the registry at %s: %v", ref, r.Host, err)
	}
	return true, nil
}
