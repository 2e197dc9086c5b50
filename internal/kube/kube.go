// Package kube talks to the cluster's API from the host with client-go: the
// same calls kubectl makes, without needing kubectl.
package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager names hardway as the owner of the fields it applies.
const FieldManager = "hardway"

// Client bundles what hardway needs to talk to one cluster.
type Client struct {
	REST      *rest.Config
	Clientset kubernetes.Interface
	dynamic   dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

// New builds a client from kubeconfig bytes.
func New(kubeconfig []byte) (*Client, error) { return NewObserved(kubeconfig, nil) }

// NewObserved is New with observe called after every HTTP request (its
// context, method, path and duration): for timing a run.
func NewObserved(kubeconfig []byte, observe func(req *http.Request, d time.Duration)) (*Client, error) {
	return NewWith(kubeconfig, Options{Observe: observe})
}

// Options are what New may add to a kubeconfig's client.
type Options struct {
	// Observe is called after every HTTP request.
	Observe func(req *http.Request, d time.Duration)
	// Proxy carries the client's connections (HTTP, WebSocket and SPDY
	// alike) when this host has no route to the API (reach.Proxy).
	Proxy func(*http.Request) (*url.URL, error)
}

// NewWith builds a client from kubeconfig bytes with o.
func NewWith(kubeconfig []byte, o Options) (*Client, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	cfg.Proxy = o.Proxy
	if observe := o.Observe; observe != nil {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return observed{rt: rt, observe: observe}
		}
	}
	cfg.QPS, cfg.Burst = 50, 100
	// No request may hang a step: an API server that accepts connections but
	// never answers must turn into an error.
	cfg.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{REST: cfg, Clientset: cs, dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// observed times each request of a transport.
type observed struct {
	rt      http.RoundTripper
	observe func(req *http.Request, d time.Duration)
}

func (o observed) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.rt.RoundTrip(req)
	o.observe(req, time.Since(start))
	return resp, err
}

// Apply server-side-applies every document of a multi-document YAML stream,
// so re-applying unchanged manifests changes nothing. It returns the objects
// that changed ("Kind namespace/name"). With dryRun the server computes the
// result without storing it, and the objects that would change are returned.
func (c *Client) Apply(ctx context.Context, manifests []byte, dryRun bool) ([]string, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var changed []string
	// A dry run stores nothing, so the server refuses objects in a
	// namespace the same stream creates ("namespaces ... not found"):
	// they are reported as changes without asking it.
	newNS := map[string]bool{}
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return changed, nil
			}
			return changed, fmt.Errorf("decoding manifest: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if dryRun && newNS[obj.GetNamespace()] {
			changed = append(changed, obj.GetKind()+" "+obj.GetNamespace()+"/"+obj.GetName())
			continue
		}
		did, err := c.applyOne(ctx, &obj, dryRun)
		if did && dryRun && obj.GetKind() == "Namespace" && obj.GetAPIVersion() == "v1" {
			newNS[obj.GetName()] = true
		}
		if err != nil {
			return changed, fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if did {
			name := obj.GetName()
			if ns := obj.GetNamespace(); ns != "" {
				name = ns + "/" + name
			}
			changed = append(changed, obj.GetKind()+" "+name)
		}
	}
}

func (c *Client) applyOne(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (bool, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.mapper.Reset()
		if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return false, err
		}
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return false, err
	}
	var ri dynamic.ResourceInterface = c.dynamic.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = c.dynamic.Resource(m.Resource).Namespace(ns)
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return false, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return false, err
	}
	return live == nil || !unchanged(live.Object, obj.Object), nil
}

// unchanged reports whether live already holds what want asks for. A
// manifest's status is left out: it is the controllers' to write, the
// server ignores it on apply, and upstream CRD files carry an empty one
// (conditions: null) that no live object matches, which read as a change
// on every up.
func unchanged(live, want map[string]any) bool {
	for k, v := range want {
		if k != "status" && !contains(live[k], v) {
			return false
		}
	}
	return true
}

// contains reports whether have already holds every field want sets, with
// the same value: then applying want changed nothing hardway cares about
// (fields others own, such as a Node's status, may change at any time).
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(h[k], v) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	case int64:
		return numEqual(have, float64(w))
	case float64:
		return numEqual(have, w)
	default:
		return reflect.DeepEqual(have, want)
	}
}

// numEqual compares numbers decoded from YAML (int64) and from the server's
// JSON (int64 or float64).
func numEqual(have any, w float64) bool {
	switch h := have.(type) {
	case int64:
		return float64(h) == w
	case float64:
		return h == w
	}
	return false
}

// Readyz asks one API server for /readyz and returns its verbose answer.
func (c *Client) Readyz(ctx context.Context) error {
	body, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1").DoRaw(ctx)
	if err != nil {
		failed := []string{}
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "[-]") {
				failed = append(failed, strings.TrimPrefix(l, "[-]"))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("not ready: %s", strings.Join(failed, "; "))
		}
		return err
	}
	return nil
}

// ForServer returns a copy of the client aimed at another API server address
// (one apiserver behind the load balancer), with the same identity.
func (c *Client) ForServer(url string) (*Client, error) {
	cfg := rest.CopyConfig(c.REST)
	cfg.Host = url
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{REST: cfg, Clientset: cs, dynamic: c.dynamic, mapper: c.mapper}, nil
}

// Fast returns a copy of the client without client-go's rate limit (5
// requests a second by default) and with timeout on every request: for a
// client that must go as fast as the server lets it (the fault soak's
// writer).
func (c *Client) Fast(timeout time.Duration) (*Client, error) {
	cfg := rest.CopyConfig(c.REST)
	cfg.QPS = -1
	cfg.RateLimiter = nil
	cfg.Timeout = timeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{REST: cfg, Clientset: cs, dynamic: c.dynamic, mapper: c.mapper}, nil
}
