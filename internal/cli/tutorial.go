package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/book"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/state"
)

func newTutorialCmd(a *app) *cobra.Command {
	var out, serve string
	cmd := &cobra.Command{
		Use:   "tutorial (--out DIR | --serve ADDR)",
		Short: "Write the tutorial book about this cluster (HTML and Markdown, with pictures), or serve it to a browser",
		Long: `tutorial writes a book about the cluster: its architecture, control loops,
what happens when a pod is launched, one chapter per step of "hardway up",
networking end to end and how to operate it, with pictures drawn from the
config and "try it" commands for this cluster.

When the cluster exists, the book uses its saved config, certificates and
files (read from a scratch copy of its state: nothing changes). Otherwise it
is rendered from the config (-c FILE, or the defaults) and says so on every
page. Private keys and the encryption key never appear in it.

  --out DIR     writes DIR/index.html (start there), DIR/*.md and DIR/img/*.svg
  --serve ADDR  serves the same pages, e.g. --serve 127.0.0.1:8080 (port 0
                picks a free one); stops on Ctrl-C`,
		Example: "  hardway tutorial --out /tmp/book && xdg-open /tmp/book/index.html\n  hardway tutorial --serve 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" && serve == "" {
				return fmt.Errorf("say where the book goes: --out DIR writes it, --serve ADDR (e.g. 127.0.0.1:8080) serves it")
			}
			site, in, err := a.buildBook()
			if err != nil {
				return err
			}
			if out != "" {
				if err := site.Write(out); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "wrote %d chapters (HTML and Markdown) and %d pictures about cluster %q to %s; start at %s/index.html\n",
					len(site.Chapters), len(site.Pictures), in.Cluster.Name, out, out)
			}
			if serve != "" {
				return a.serveBook(cmd.Context(), serve, site, in.Cluster.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the book into")
	cmd.Flags().StringVar(&serve, "serve", "", "address to serve the book on, e.g. 127.0.0.1:8080")
	return cmd
}

// buildBook gathers what the book needs and writes it in memory. The
// cluster is read the way `hardway explain` reads it: its saved config,
// its state through a scratch copy.
func (a *app) buildBook() (*book.Site, book.Input, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, book.Input{}, err
	}
	dir := state.For(cfg.Name)
	saved, savedErr := config.Load(dir.Config())
	c, done, err := a.host.Scratch(cfg)
	if err != nil {
		return nil, book.Input{}, err
	}
	defer done()
	live := savedErr == nil && sameConfig(saved, cfg)
	in, err := book.Gather(c, dir, a.configFile, live)
	if err != nil {
		return nil, in, err
	}
	if live {
		in.Captures, in.CaptureNote = a.captureKubectl(cfg, dir)
	}
	site, err := book.Build(in)
	return site, in, err
}

// captureKubectl runs the commands the level-0 chapter quotes with the
// cluster's own kubectl (from the artifact cache) and the admin kubeconfig,
// each with --dry-run=server, so the book shows what this cluster really
// answered and nothing is stored. A cluster that does not answer gives no
// captures and a note saying why; the book is still written.
func (a *app) captureKubectl(cfg *config.Cluster, dir state.Dir) (map[string]book.Capture, string) {
	b, err := a.host.Store().Resolve(cfg.KubernetesVersion)
	if err != nil {
		return nil, "no kubectl in the artifact cache: " + lines.First(err.Error())
	}
	k, ok := b.Binary("kubectl")
	if !ok {
		return nil, "no kubectl in the artifact cache"
	}
	tmp, err := os.MkdirTemp("", "hardway-book-")
	if err != nil {
		return nil, err.Error()
	}
	defer os.RemoveAll(tmp)
	manifest := filepath.Join(tmp, "hello.yaml")
	if err := os.WriteFile(manifest, []byte(book.HelloManifest), 0o644); err != nil {
		return nil, err.Error()
	}
	cache := filepath.Join(tmp, "cache")
	out := map[string]book.Capture{}
	for _, spec := range book.CaptureSpecs() {
		args := []string{"--kubeconfig", dir.AdminKubeconfig(), "--cache-dir", cache}
		for _, arg := range spec.Args {
			if arg == "hello.yaml" {
				arg = manifest
			}
			args = append(args, arg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		text, err := osexec.CommandContext(ctx, b.HostPath(k.Rel), args...).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Sprintf("kubectl %s: %v", spec.Key, err)
		}
		out[spec.Key] = book.Capture{
			Command: "kubectl " + strings.Join(spec.Args, " "),
			Output:  book.CleanCapture(string(text), map[string]string{manifest: "hello.yaml", cache: "~/.kube/cache"}),
		}
	}
	return out, ""
}

// describeCerts describes every entry of the PKI in dir, in table order.
func describeCerts(dir string, cfg *config.Cluster) ([]pki.Info, error) {
	set, err := pki.Load(dir, cfg)
	if err != nil {
		return nil, err
	}
	return pki.Infos(set, cfg)
}

// serveBook serves site on addr until ctx ends (Ctrl-C).
func (a *app) serveBook(ctx context.Context, addr string, site *book.Site, cluster string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serving the book on %s: %w (pick a free address, e.g. --serve 127.0.0.1:0)", addr, err)
	}
	srv := &http.Server{Handler: site.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(a.out, "serving the book of cluster %q at %s (Ctrl-C stops)\n", cluster, bookURL(ln.Addr()))
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bookURL is the address to open in a browser: a wildcard listener is
// reachable on loopback.
func bookURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}
