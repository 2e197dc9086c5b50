package verify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// portForwardGet forwards a local port to the pod through the API server and
// kubelet (what kubectl port-forward does) and GETs / through it.
func portForwardGet(ctx context.Context, cfg *rest.Config, p corev1.Pod, port int) (string, error) {
	local, stop, err := forwardPorts(ctx, cfg, p, port)
	if err != nil {
		return "", err
	}
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", local[0]))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// forwardPorts forwards a free local port on 127.0.0.1 to each of the pod's
// ports through the API server and kubelet, and returns the local ports in
// the same order; stop ends the forwarding.
func forwardPorts(ctx context.Context, cfg *rest.Config, p corev1.Pod, ports ...int) ([]int, func(), error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s/portforward", cfg.Host, p.Namespace, p.Name))
	if err != nil {
		return nil, nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	stopCh, ready := make(chan struct{}), make(chan struct{})
	stop := func() { close(stopCh) }
	var specs []string
	for _, port := range ports {
		specs = append(specs, fmt.Sprintf("0:%d", port))
	}
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, specs, stopCh, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return nil, nil, err
	case <-ctx.Done():
		stop()
		return nil, nil, ctx.Err()
	}
	fwd, err := fw.GetPorts()
	if err != nil || len(fwd) != len(ports) {
		stop()
		return nil, nil, fmt.Errorf("forwarded %d of %d ports: %v", len(fwd), len(ports), err)
	}
	var local []int
	for _, f := range fwd {
		local = append(local, int(f.Local))
	}
	return local, stop, nil
}
