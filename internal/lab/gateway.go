package lab

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// gatewayPort: verify's Service gw-one moves to another port, and the
// HTTPRoute that sends one.<domain> to it still names port 80. The route
// is accepted but its backend does not resolve: Traefik answers for the
// host name, with an error instead of the page.
func gatewayPort() Lab {
	const route, right, wrong = "gw-one", 80, 8081
	return Lab{
		Name:  "gateway-port",
		Title: "an HTTPRoute points at a port its Service does not have",
		Needs: config.AddonGateway,
		Target: func(c *config.Cluster) (Target, error) {
			return Target{Cluster: c.Name, Values: map[string]string{"route": route, "host": "one." + c.GatewayDomain(), "port": strconv.Itoa(right), "wrong": strconv.Itoa(wrong)}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("https://%s/ and http://%s/ through the Gateway answer with an error instead of the page of\n"+
				"Deployment %s; its pod runs, is Ready and answers at its own IP. two.* still works.", t.Values["host"], t.Values["host"], route)
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl -n " + verify.Namespace + " get httproute " + route + " -o jsonpath='{.status.parents[0].conditions}'"}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl -n " + verify.Namespace + " get httproute " + route + " -o jsonpath='{.spec.rules[0].backendRefs}'",
				"kubectl -n " + verify.Namespace + " get service " + route,
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The HTTPRoute sends to Service %s on port %s, but the Service now has port %s only. The Gateway\n"+
				"accepted the route (Accepted True) but cannot resolve its backend (ResolvedRefs False, BackendNotFound):\n"+
				"a backendRef's port is the Service's port, not the pod's.", route, t.Values["port"], t.Values["wrong"])
		},
		Fix: func(t Target) []string {
			return []string{fmt.Sprintf(`kubectl -n %s patch service %s --type=json -p '[{"op":"replace","path":"/spec/ports/0/port","value":%s}]'`, verify.Namespace, route, t.Values["port"])}
		},
		Why: func(t Target) string {
			return "Traefik watches HTTPRoutes and the EndpointSlices of the Services they name; a backendRef names a\n" +
				"Service port, which the EndpointSlice maps to the pods' target port. With the port back, the route\n" +
				"resolves, Traefik sends one.* to the pod's address again within a second, and the route's status says\n" +
				"ResolvedRefs True."
		},
		Step:   config.AddonGateway,
		Probes: []string{"gateway"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			return setServicePort(ctx, e, route, wrong)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			return setServicePort(ctx, e, route, right)
		},
	}
}

// setServicePort gives verify's Service name the one port port (verify
// keeps a Service that exists, so the break stays until fixed).
func setServicePort(ctx context.Context, e steps.Env, name string, port int) error {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	svcs := admin.Clientset.CoreV1().Services(verify.Namespace)
	svc, err := svcs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("service %s/%s does not exist; create it with: hardway verify --name %s", verify.Namespace, name, e.Cluster.Config.Name)
	}
	if err != nil {
		return err
	}
	if len(svc.Spec.Ports) == 0 {
		return fmt.Errorf("service %s/%s has no port (a bug in hardway's verify)", verify.Namespace, name)
	}
	svc.Spec.Ports[0].Port = int32(port)
	_, err = svcs.Update(ctx, svc, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}
