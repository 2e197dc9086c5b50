//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
)

// gatewayChecks proves the gateway add-on on a running Docker cluster the
// way a user meets it, from this host: an HTTPRoute per host name sends
// two names to two Deployments through the Gateway's address over HTTP
// and HTTPS (the certificate verified against hardway's gateway CA, the
// name against its SANs), an Ingress routes a third name; then gateway
// taken out of addons is removed by up (a second up changes nothing) and
// put back. body is the cluster's config without the addons key; the
// cluster runs the default set (the gateway is in it).
func gatewayChecks(t *testing.T, name, body string) {
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name))))), "pki")
	domain := name + ".hardway.test"
	t.Run("two host names through a Gateway over HTTP and HTTPS, and an Ingress", func(t *testing.T) {
		const app = `apiVersion: apps/v1
kind: Deployment
metadata: {name: APP, namespace: default}
spec:
  selector: {matchLabels: {app: APP}}
  template:
    metadata: {labels: {app: APP}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
      volumes: [{name: www, emptyDir: {}}]
      containers:
      - name: web
        image: hardway.local/testapp:1.1
        imagePullPolicy: Never
        command: ["/bin/sh", "-c", "echo this is APP > /srv/index.html && exec httpd -f -p 8080 -h /srv"]
        volumeMounts: [{name: www, mountPath: /srv}]
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: APP, namespace: default}
spec: {selector: {app: APP}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: APP, namespace: default}
spec:
  parentRefs: [{name: hardway, namespace: traefik}]
  hostnames: [APP.DOMAIN]
  rules: [{backendRefs: [{name: APP, port: 80}]}]
`
		const ing = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blue, namespace: default}
spec:
  rules:
  - host: blue-ingress.DOMAIN
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: blue, port: {number: 80}}}}]}
`
		var manifest string
		for _, a := range []string{"blue", "green"} {
			manifest += strings.NewReplacer("APP", a, "DOMAIN", domain).Replace(app) + "---\n"
		}
		manifest += strings.ReplaceAll(ing, "DOMAIN", domain)
		f := filepath.Join(t.TempDir(), "apps.yaml")
		if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := docker("cp", f, name+"-node-0:/root/gateway-apps.yaml"); err != nil {
			t.Fatalf("docker cp: %v %s", err, out)
		}
		if out, err := kubectlIn(t, name, "apply", "-f", "/root/gateway-apps.yaml"); err != nil {
			t.Fatalf("apply: %v %s", err, out)
		}
		addr, _ := kubectlIn(t, name, "-n", "traefik", "get", "gateway", "hardway", "-o", "jsonpath={.status.addresses[0].value}")
		if net.ParseIP(addr) == nil {
			out, _ := kubectlIn(t, name, "-n", "traefik", "get", "gateway,service", "-o", "wide")
			t.Fatalf("the Gateway has no address (%q):\n%s", addr, out)
		}
		ca, err := os.ReadFile(filepath.Join(pkiDir, "gateway-ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		for _, a := range []string{"blue", "green"} {
			for _, scheme := range []string{"http", "https"} {
				url := scheme + "://" + a + "." + domain + "/"
				got, err := getVia(addr, url, pool, 60*time.Second)
				if err != nil || !strings.Contains(got, "this is "+a) {
					t.Errorf("GET %s via %s: %v %q", url, addr, err, got)
				}
			}
		}
		got, err := getVia(addr, "http://blue-ingress."+domain+"/", pool, 60*time.Second)
		if err != nil || !strings.Contains(got, "this is blue") {
			t.Errorf("Ingress blue-ingress.%s via %s: %v %q", domain, addr, err, got)
		}
		// Trusted by nothing else: without the gateway CA, HTTPS fails.
		if _, err := getVia(addr, "https://blue."+domain+"/", x509.NewCertPool(), 2*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("HTTPS without the gateway CA: want a certificate error, got %v", err)
		}
		if out, err := kubectlIn(t, name, "delete", "-f", "/root/gateway-apps.yaml"); err != nil {
			t.Errorf("cleanup: %v %s", err, out)
		}
	})
	t.Run("gateway out of addons is removed, back in is reinstalled", func(t *testing.T) {
		addonRoundTrip{
			step:    config.AddonGateway,
			off:     clusterConfig(t, name, body+addonsWithout(config.AddonGateway)),
			on:      clusterConfig(t, name, body+addonsWith()),
			removed: []string{"removed Namespace traefik", "removed CustomResourceDefinition httproutes.gateway.networking.k8s.io", "removed image docker.io/library/traefik"},
			gone:    [][]string{{"namespace", "traefik"}, {"crd", "httproutes.gateway.networking.k8s.io"}},
			dryRun:  "Namespace traefik",
			check:   "gateway",
		}.run(t, name)
	})
}

// getVia GETs url at addr (as a DNS record for its host would send it),
// verifying HTTPS against pool, until it answers 200 or timeout passes.
func getVia(addr, url string, pool *x509.CertPool, timeout time.Duration) (string, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(hostport)
			return d.DialContext(ctx, network, net.JoinHostPort(addr, port))
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
			err = fmt.Errorf("%s %q", resp.Status, strings.TrimSpace(string(b)))
		}
		last = err
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no answer within %s: %v", timeout, last)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestGateway is the gateway add-on alone on a fresh 3-node cluster with
// the default add-ons (gw3): up, verify (with its gateway check), the
// routes from this host, removal and reinstall; make e2e runs the same
// gatewayChecks inside TestThreeNodeCluster. The focused run:
// HARDWAY_E2E_GATEWAY=1 go test -tags e2e -count=1 -timeout 60m -v -run TestGateway ./test/e2e/
func TestGateway(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_GATEWAY") == "" {
		t.Skip("set HARDWAY_E2E_GATEWAY=1 (make e2e runs these checks inside TestThreeNodeCluster)")
	}
	const name = "gw3"
	const body = "network:\n  nodeSubnet: {subnet}\n"
	cfg := clusterConfig(t, name, body)
	cleanup(t, name)
	start := time.Now()
	out := hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes, default add-ons): %s\n%s", time.Since(start).Round(time.Second), out)
	if err := smokeTestsPassed(out); err != nil || !strings.Contains(out, "✓ gateway") {
		t.Fatalf("up's verify: %v", err)
	}
	gatewayChecks(t, name, body)
}
