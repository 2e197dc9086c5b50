package verify

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"hardway.dev/hardway/internal/wait"
)

// LoadBalancerBound is how long a new LoadBalancer Service may wait for
// its address. MetalLB's controller assigns it on the Service's first
// event, within a second or two on a settled cluster (the e2e test holds
// that to 10 s); verify also runs right after the API servers come back
// (start, a snapshot restore), when the controller's watches reconnect
// with client-go's backoff (up to 30 s between tries, then a relist): after
// a second restore in a row the address came 48 s after the Service on one
// node, over 60 s on three. So two minutes here (the check's own bound is
// a minute more), and the detail says how long it took.
const LoadBalancerBound = 2 * time.Minute

// checkLoadBalancer creates a LoadBalancer Service afresh (so the address
// is assigned now, not found from an earlier run), waits for its
// EXTERNAL-IP, and fetches the test page at it: from this host, which
// reaches the address only because a speaker answers ARP for it on the node
// network, or from a test pod when this host has no route there.
func checkLoadBalancer(ctx context.Context, s *session) ([]string, error) {
	svcs := s.env.Client.CoreV1().Services(Namespace)
	const name = "hello-lb"
	zero := int64(0)
	if err := svcs.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	err := wait.Until(ctx, "the previous Service "+name+" to be deleted", 200*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("still there (%v)", err)
	})
	if err != nil {
		return nil, err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "hello"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(appPort)}},
		},
	}
	start := time.Now()
	if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	var ip string
	err = wait.Until(ctx, "an EXTERNAL-IP for Service "+Namespace+"/"+name, 100*time.Millisecond, LoadBalancerBound, func(ctx context.Context) (bool, error) {
		got, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if ing := got.Status.LoadBalancer.Ingress; len(ing) > 0 && ing[0].IP != "" {
			ip = ing[0].IP
			return true, nil
		}
		return false, fmt.Errorf("none yet; is MetalLB's controller running? kubectl -n metallb-system get pods; kubectl -n metallb-system logs deploy/controller")
	})
	if err != nil {
		return nil, err
	}
	assigned := time.Since(start)
	detail := []string{fmt.Sprintf("Service %s got EXTERNAL-IP %s in %.1fs", name, ip, assigned.Seconds())}
	if s.env.LoadBalancerFromPod {
		p := s.pods[0]
		if err := s.wgetFrom(ctx, p, ip+":80"); err != nil {
			return nil, fmt.Errorf("%s:80 from pod %s: %w", ip, p.Name, err)
		}
		return append(detail, fmt.Sprintf("answered pod %s (this host has no route to the node network: hostAccess published)", p.Name)), nil
	}
	client := &http.Client{Timeout: 3 * time.Second}
	url := "http://" + ip + "/"
	if last, err := getHello(ctx, client, url); err != nil {
		return nil, fmt.Errorf("GET %s from this host: %s (which node announces it: kubectl -n metallb-system logs ds/speaker | grep %s)", url, last, ip)
	}
	return append(detail, "GET "+url+" from this host answered (a speaker answers ARP for it on the node network)"), nil
}
