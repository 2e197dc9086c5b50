package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/trace"
)

// traceFlags are the options of hardway trace.
type traceFlags struct {
	image   string
	svg     string
	http    bool
	timeout time.Duration
}

func newTraceCmd(a *app) *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Launch a pod and show, measured, what each component did: API request, etcd, scheduler, kubelet, containerd, CNI, Ready",
		Long: `Launch one pod and print the timeline of its launch across the cluster's
components, relative to the moment the create request left this host: the
API request (audit log), the etcd writes (an etcd watch on every member),
the scheduler's binding (audit log), the kubelet picking it up and
containerd running its sandbox and container (their journals), the address
the CNI plugin reserved, the kubelet's status report and Ready. Each line
names the component, the node and where its time was read. The nodes share
this host's clock, so the times compare. The pod is deleted afterwards.

With --http, only the client's side: the HTTP requests it made (what
kubectl -v=8 prints), level 0 of the onion.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.trace(cmd, f)
		},
	}
	cmd.Flags().StringVar(&f.image, "image", images.TestApp, "image of the pod's container; it must be on the nodes already (nothing is pulled)")
	cmd.Flags().StringVar(&f.svg, "svg", "", "also draw the timeline as a sequence picture into this SVG file")
	cmd.Flags().BoolVar(&f.http, "http", false, "show the HTTP requests the client makes (level 0) instead of the components' timeline")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long the pod may take to be Ready")
	return cmd
}

func (a *app) trace(cmd *cobra.Command, f traceFlags) error {
	if f.http && f.svg != "" {
		return fmt.Errorf("--svg draws the components' timeline, which --http does not collect; drop one of them")
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive, e.g. --timeout 2m", f.timeout)
	}
	ctx := cmd.Context()
	c, err := a.open(ctx, host.NeedRunning, a.log())
	if err != nil {
		return err
	}
	cfg := c.Config
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	rec := &trace.Recorder{}
	rc := rest.CopyConfig(admin.REST)
	rc.Wrap(rec.Wrap)
	if f.http {
		// client-go speaks protobuf to the API server by default; kubectl
		// speaks JSON, which a reader can follow.
		rc.ContentType, rc.AcceptContentTypes = "application/json", "application/json"
	}
	rc.UserAgent = "hardway-trace"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	env := traceEnv(c, client, f)
	env.Log, env.Recorder = a.log(), rec
	fmt.Fprintf(a.errOut, "Tracing a pod launch on cluster %q\n", cfg.Name)
	ev, err := trace.Collect(ctx, env)
	if f.http {
		printExchanges(a.out, ev.Start, rec.Exchanges())
		if err == nil {
			fmt.Fprintf(a.out, "\nThe watch delivered the pod Ready at %s; then the pod was deleted.\n", trace.Offset(ev.ClientReady.Sub(ev.Start)))
		}
		return err
	}
	if err != nil {
		return err
	}
	tl := trace.Assemble(ev)
	printTimeline(a.out, tl)
	if f.svg != "" {
		if err := os.WriteFile(f.svg, tl.SVG(cfg.Name), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "\nSequence picture: %s\n", f.svg)
	}
	if len(tl.Missing) > 0 {
		return fmt.Errorf("%d of %d stages have no evidence (listed above); run the trace again, and if it persists check the logs named there", len(tl.Missing), len(trace.StageNames()))
	}
	return nil
}

// traceEnv is what a trace needs from the cluster.
func traceEnv(c *steps.Cluster, client kubernetes.Interface, f traceFlags) trace.Env {
	var cps []string
	for _, n := range c.Config.ControlPlanes() {
		cps = append(cps, n.Name)
	}
	return trace.Env{
		Cluster: c.Config.Name,
		Client:  client,
		Node: func(ctx context.Context, name string) (node.Node, error) {
			return c.Node(ctx, name)
		},
		ControlPlanes: cps,
		Etcdctl:       steps.EtcdctlArgs(),
		Image:         f.image,
		Timeout:       f.timeout,
		ClientOnly:    f.http,
	}
}

// printTimeline writes one entry per stage: time, stage, component and
// node, what happened, and the evidence on a second line.
func printTimeline(w io.Writer, t trace.Timeline) {
	fmt.Fprintf(w, "Pod %s/%s (image %s) ran on %s with IP %s.\n", t.Namespace, t.Name, t.Image, dashIfEmpty(t.Node), dashIfEmpty(t.IP))
	fmt.Fprintf(w, "Times are from the moment the create request left this host (%s); the nodes share its clock.\n\n", t.Start.UTC().Format("15:04:05.000"))
	for _, s := range t.Stages {
		where := s.Component
		if s.Node != "" {
			where += "@" + s.Node
		}
		fmt.Fprintf(w, "%9s  %-17s %-26s %s\n", trace.Offset(s.At), s.Name, where, s.What)
		fmt.Fprintf(w, "%9s  %-17s %-26s evidence: %s\n", "", "", "", s.Evidence)
	}
	for _, m := range t.Missing {
		fmt.Fprintf(w, "%9s  %-17s no evidence found; looked for %s\n", "?", m.Stage, m.Looked)
	}
	if n := len(t.Stages); n > 0 {
		fmt.Fprintf(w, "\nFrom create to Ready as this host saw it: %s.\n", trace.Offset(t.Stages[n-1].At))
	}
}

// printExchanges writes the client's requests the way kubectl -v=8 does:
// method, URL, status and latency, the headers that matter, the start of
// each body.
func printExchanges(w io.Writer, start time.Time, ex []trace.Exchange) {
	fmt.Fprintf(w, "The HTTP requests of this trace, as a client makes them (kubectl -v=8 shows the same).\n")
	fmt.Fprintf(w, "Times are from the moment the create request left this host.\n")
	for _, e := range ex {
		fmt.Fprintf(w, "\n%s %s %s\n", trace.Offset(e.Start.Sub(start)), e.Method, e.URL)
		for _, k := range sortedKeys(e.RequestHeader) {
			fmt.Fprintf(w, "    Request Header: %s: %s\n", k, strings.Join(e.RequestHeader[k], ", "))
		}
		if len(e.RequestBody) > 0 {
			fmt.Fprintf(w, "    Request Body: %s\n", clip(e.RequestBody))
		}
		if e.Err != "" {
			fmt.Fprintf(w, "    no response after %s: %s\n", ms(e.Latency), e.Err)
			continue
		}
		fmt.Fprintf(w, "    Response Status: %s in %s\n", e.Status, ms(e.Latency))
		for _, k := range sortedKeys(e.ResponseHeader) {
			fmt.Fprintf(w, "    Response Header: %s: %s\n", k, strings.Join(e.ResponseHeader[k], ", "))
		}
		if len(e.ResponseBody) > 0 {
			fmt.Fprintf(w, "    Response Body: %s\n", clip(e.ResponseBody))
		}
		if e.BodyDone > 0 && e.BodyDone-e.Latency > 100*time.Millisecond {
			fmt.Fprintf(w, "    (a stream: %d bytes until it closed after %s)\n", e.BodyBytes, ms(e.BodyDone))
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// clip shows the start of a body on one line.
func clip(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + " …"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
