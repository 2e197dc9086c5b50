package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"hardway.dev/hardway/internal/wait"
)

// GatewayEnv is what the gateway check needs: where hardway's Gateway is,
// the host names it answers for, and the CA its certificate must chain to.
type GatewayEnv struct {
	// Namespace and Name of hardway's Gateway (Traefik runs beside it).
	Namespace, Name string
	// Domain: the HTTPS listener answers for *.Domain.
	Domain string
	// CA is the gateway CA's certificate (PEM), trusted by nothing else.
	CA []byte
	// Cert is the HTTPS certificate hardway issued (PEM): the one Traefik
	// must serve, not an older one the same CA signed (a renewal reaches
	// Traefik through its Secret).
	Cert []byte
}

// GatewayBound is how long the routes may take to be served after they are
// applied: Traefik reacts to a watch event within a second or two.
const GatewayBound = time.Minute

var (
	gatewayGVR   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
)

// gatewayBackends are the two Deployments the HTTPRoutes send to, each
// serving a page that names it, and the host name that reaches it.
func gatewayBackends(domain string) [][2]string {
	return [][2]string{{"gw-one", "one." + domain}, {"gw-two", "two." + domain}}
}

// gatewayPage is what backend name serves.
func gatewayPage(name string) string { return "gateway backend " + name }

// checkGateway proves the gateway add-on: two host names reach two
// Deployments through an HTTPRoute each (HTTP), HTTPS answers for them with
// a certificate that chains to the gateway CA and names the host, and an
// Ingress reaches the test Service by a third name. All through the
// Gateway's address (MetalLB's), from this host; with hostAccess published,
// HTTP goes from a test pod and HTTPS through a port-forward to Traefik.
func checkGateway(ctx context.Context, s *session) ([]string, error) {
	g := *s.env.Gateway
	dyn, err := dynamic.NewForConfig(s.env.REST)
	if err != nil {
		return nil, err
	}
	for _, b := range gatewayBackends(g.Domain) {
		if err := ensureGatewayBackend(ctx, s, b[0]); err != nil {
			return nil, err
		}
	}
	for _, b := range gatewayBackends(g.Domain) {
		if err := applyHTTPRoute(ctx, dyn, g, b[0], b[1]); err != nil {
			return nil, err
		}
	}
	ingHost := "hello." + g.Domain
	if err := applyIngress(ctx, s, ingHost); err != nil {
		return nil, err
	}
	var addr string
	err = wait.Until(ctx, "an address on Gateway "+g.Namespace+"/"+g.Name, 200*time.Millisecond, GatewayBound, func(ctx context.Context) (bool, error) {
		gw, err := dyn.Resource(gatewayGVR).Namespace(g.Namespace).Get(ctx, g.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		addrs, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
		if len(addrs) > 0 {
			if a, ok := addrs[0].(map[string]any); ok {
				addr, _ = a["value"].(string)
			}
		}
		if addr == "" {
			return false, fmt.Errorf("none yet (kubectl -n %s describe gateway %s; kubectl -n %s get service traefik)", g.Namespace, g.Name, g.Namespace)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for _, b := range gatewayBackends(g.Domain) {
		if err := waitRouteAccepted(ctx, dyn, g, b[0]); err != nil {
			return nil, err
		}
	}
	detail := []string{fmt.Sprintf("Gateway %s/%s has address %s", g.Namespace, g.Name, addr)}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(g.CA) {
		return nil, fmt.Errorf("the gateway CA given to verify is not a PEM certificate (a bug in hardway)")
	}
	want, err := parseCertPEM(g.Cert)
	if err != nil {
		return nil, fmt.Errorf("the gateway certificate given to verify: %w (a bug in hardway)", err)
	}
	if s.env.LoadBalancerFromPod {
		more, err := gatewayFromPod(ctx, s, addr, ingHost, pool, want)
		return append(detail, more...), err
	}
	client := gatewayClient(addr, 80, 443, pool)
	for _, b := range gatewayBackends(g.Domain) {
		if err := getPage(ctx, client, "http://"+b[1]+"/", gatewayPage(b[0])); err != nil {
			return nil, fmt.Errorf("HTTPRoute %s: %w", b[0], err)
		}
		detail = append(detail, fmt.Sprintf("http://%s/ at %s answered %q (HTTPRoute %s → Service %s)", b[1], addr, gatewayPage(b[0]), b[0], b[0]))
	}
	for _, b := range gatewayBackends(g.Domain) {
		cert, err := getTLSPage(ctx, client, b[1], gatewayPage(b[0]), want)
		if err != nil {
			return nil, fmt.Errorf("HTTPS %s: %w", b[1], err)
		}
		detail = append(detail, fmt.Sprintf("https://%s/ answered with certificate CN=%s (SANs %s, serial %s: hardway's), verified against the gateway CA", b[1], cert.Subject.CommonName, strings.Join(cert.DNSNames, ", "), serialHex(cert)))
	}
	if err := getPage(ctx, client, "http://"+ingHost+"/", "Hello World"); err != nil {
		return nil, fmt.Errorf("Ingress hello: %w", err)
	}
	return append(detail, fmt.Sprintf("http://%s/ at %s answered Hello World (Ingress hello → Service hello)", ingHost, addr)), nil
}

// gatewayClient sends every request to addr (ports for http and https)
// whatever host name the URL says, as a DNS record for the names would,
// and verifies TLS against pool only (with the URL's host as server name).
func gatewayClient(addr string, httpPort, httpsPort int, pool *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
				port := httpPort
				if strings.HasSuffix(hostport, ":443") {
					port = httpsPort
				}
				return d.DialContext(ctx, network, net.JoinHostPort(addr, fmt.Sprint(port)))
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

// getPage GETs url until its body holds want (Traefik applies a new
// route within a second or two of seeing it).
func getPage(ctx context.Context, client *http.Client, url, want string) error {
	var last string
	err := poll(ctx, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		last = fmt.Sprintf("%s %q", resp.Status, strings.TrimSpace(string(b)))
		return strings.Contains(string(b), want), nil
	})
	if err != nil {
		return fmt.Errorf("GET %s: want %q, last answer: %s", url, want, last)
	}
	return nil
}

// getTLSPage GETs https://host/ through client (whose TLS config verifies
// the chain against the gateway CA and the host name against the SANs)
// until the page holds want and the certificate served is wantCert (a
// renewed Secret takes Traefik a moment to load), and returns it.
func getTLSPage(ctx context.Context, client *http.Client, host, want string, wantCert *x509.Certificate) (*x509.Certificate, error) {
	var cert *x509.Certificate
	var last string
	err := poll(ctx, func() (bool, error) {
		resp, err := client.Get("https://" + host + "/")
		if err != nil {
			last = err.Error()
			// A certificate the CA did not sign, or without the name,
			// is the answer, not a transient: fail at once.
			var uerr x509.UnknownAuthorityError
			var herr x509.HostnameError
			if errors.As(err, &uerr) || errors.As(err, &herr) {
				return false, err
			}
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		last = fmt.Sprintf("%s %q", resp.Status, strings.TrimSpace(string(b)))
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			return false, fmt.Errorf("no certificate in the answer")
		}
		cert = resp.TLS.PeerCertificates[0]
		if !cert.Equal(wantCert) {
			last = fmt.Sprintf("certificate serial %s served, hardway's is %s (Traefik has not loaded the renewed Secret; kubectl -n traefik logs deploy/traefik)", serialHex(cert), serialHex(wantCert))
			return false, nil
		}
		return strings.Contains(string(b), want), nil
	})
	if err != nil {
		return nil, fmt.Errorf("GET https://%s/: want %q, last answer: %s", host, want, last)
	}
	if !slices.ContainsFunc(cert.DNSNames, func(n string) bool {
		return n == host || (strings.HasPrefix(n, "*.") && strings.HasSuffix(host, n[1:]))
	}) {
		return nil, fmt.Errorf("the certificate's SANs %v do not name %s", cert.DNSNames, host)
	}
	return cert, nil
}

// gatewayFromPod is the check without a route from this host to the node
// network (hostAccess published): HTTP with each Host header from a test
// pod to the Gateway's address, and HTTPS with certificate verification
// through a port-forward to Traefik's pod.
func gatewayFromPod(ctx context.Context, s *session, addr, ingHost string, pool *x509.CertPool, want *x509.Certificate) ([]string, error) {
	g := *s.env.Gateway
	p := s.pods[0]
	var detail []string
	for _, b := range append(gatewayBackends(g.Domain), [2]string{"hello", ingHost}) {
		want := gatewayPage(b[0])
		if b[0] == "hello" {
			want = "Hello World"
		}
		var out string
		err := poll(ctx, func() (bool, error) {
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			out, _ = s.exec(tctx, p, "wget", "-T", "3", "-q", "-O", "-", "--header", "Host: "+b[1], "http://"+addr+"/")
			return strings.Contains(out, want), nil
		})
		if err != nil {
			return nil, fmt.Errorf("wget http://%s/ with Host %s from pod %s: want %q, got %q", addr, b[1], p.Name, want, truncate([]byte(out), 200))
		}
		detail = append(detail, fmt.Sprintf("Host %s at %s answered %q from pod %s (this host has no route to the node network: hostAccess published)", b[1], addr, want, p.Name))
	}
	pods, err := s.env.Client.CoreV1().Pods(g.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=traefik"})
	if err != nil {
		return nil, err
	}
	var traefik *corev1.Pod
	for i := range pods.Items {
		if pods.Items[i].Status.Phase == corev1.PodRunning {
			traefik = &pods.Items[i]
		}
	}
	if traefik == nil {
		return nil, fmt.Errorf("no running Traefik pod in namespace %s (kubectl -n %s get pods)", g.Namespace, g.Namespace)
	}
	local, stop, err := forwardPorts(ctx, s.env.REST, *traefik, 443)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s:443: %w", traefik.Name, err)
	}
	defer stop()
	client := gatewayClient("127.0.0.1", local[0], local[0], pool)
	for _, b := range gatewayBackends(g.Domain) {
		cert, err := getTLSPage(ctx, client, b[1], gatewayPage(b[0]), want)
		if err != nil {
			return nil, fmt.Errorf("HTTPS %s through a port-forward to %s: %w", b[1], traefik.Name, err)
		}
		detail = append(detail, fmt.Sprintf("https://%s/ (port-forward to %s) answered with certificate CN=%s, verified against the gateway CA", b[1], traefik.Name, cert.Subject.CommonName))
	}
	return detail, nil
}

// ensureGatewayBackend creates (or keeps) Deployment and Service name: one
// test-app pod serving a page that names it, Pod Security restricted.
func ensureGatewayBackend(ctx context.Context, s *session, name string) error {
	cs := s.env.Client
	one := int32(1)
	labels := map[string]string{"app": name}
	// The test app serving a page that names its backend, from a
	// an emptyDir.
	web := testAppContainer("web")
	web.Command = []string{"/bin/sh", "-c", fmt.Sprintf(`echo %q > /srv/www/index.html && exec httpd -f -v -p %d -h /srv/www`, gatewayPage(name), appPort)}
	web.VolumeMounts = []corev1.VolumeMount{{Name: "www", MountPath: "/srv/www"}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: restrictedPod(),
					Volumes:         []corev1.Volume{{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers:      []corev1.Container{web},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("Deployment %s: %w", name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(appPort)}},
		},
	}
	if _, err := cs.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("Service %s: %w", name, err)
	}
	return nil
}

// applyHTTPRoute sends host to Service name, attached to hardway's Gateway.
func applyHTTPRoute(ctx context.Context, dyn dynamic.Interface, g GatewayEnv, name, host string) error {
	route := fmt.Sprintf(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":%q,"namespace":%q},
"spec":{"parentRefs":[{"name":%q,"namespace":%q}],"hostnames":[%q],
"rules":[{"backendRefs":[{"name":%q,"port":80}]}]}}`, name, Namespace, g.Name, g.Namespace, host, name)
	force := true
	_, err := dyn.Resource(httpRouteGVR).Namespace(Namespace).Patch(ctx, name, types.ApplyPatchType, []byte(route), metav1.PatchOptions{FieldManager: "hardway-verify", Force: &force})
	if err != nil {
		return fmt.Errorf("HTTPRoute %s: %w", name, err)
	}
	return nil
}

// waitRouteAccepted waits until the Gateway's controller accepted route
// name and resolved its backend (both conditions in the route's status).
func waitRouteAccepted(ctx context.Context, dyn dynamic.Interface, g GatewayEnv, name string) error {
	return wait.Until(ctx, "HTTPRoute "+Namespace+"/"+name+" to be accepted", 200*time.Millisecond, GatewayBound, func(ctx context.Context) (bool, error) {
		r, err := dyn.Resource(httpRouteGVR).Namespace(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		parents, _, _ := unstructured.NestedSlice(r.Object, "status", "parents")
		var seen []string
		for _, p := range parents {
			pm, _ := p.(map[string]any)
			conds, _, _ := unstructured.NestedSlice(pm, "conditions")
			ok := 0
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				seen = append(seen, fmt.Sprintf("%v=%v (%v)", cm["type"], cm["status"], cm["reason"]))
				if (cm["type"] == "Accepted" || cm["type"] == "ResolvedRefs") && cm["status"] == "True" {
					ok++
				}
			}
			if ok == 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("status says %v (kubectl -n %s describe httproute %s)", seen, Namespace, name)
	})
}

// applyIngress routes host to the test Service hello through the default
// IngressClass (Traefik's).
func applyIngress(ctx context.Context, s *session, host string) error {
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: Namespace},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "hello", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
	ings := s.env.Client.NetworkingV1().Ingresses(Namespace)
	cur, err := ings.Get(ctx, ing.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = ings.Create(ctx, ing, metav1.CreateOptions{})
	case err == nil:
		ing.ResourceVersion = cur.ResourceVersion
		_, err = ings.Update(ctx, ing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("Ingress hello: %w", err)
	}
	return nil
}

// parseCertPEM reads the first certificate of a PEM block.
func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// serialHex is a certificate's serial as openssl x509 -serial prints it.
func serialHex(c *x509.Certificate) string { return fmt.Sprintf("%X", c.SerialNumber) }
