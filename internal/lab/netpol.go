package lab

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
)

// netpolLockdown is the policy the netpol-dns lab applies.
const netpolLockdown = "namespace-only"

// netpolDNS: a policy meant to keep the verify namespace's pods among
// themselves also cuts them off from CoreDNS, which lives in kube-system.
// Only an enforcing agent makes this break anything: the lab needs the
// netpol add-on.
func netpolDNS() Lab {
	return Lab{
		Name:  "netpol-dns",
		Title: "a NetworkPolicy cuts pods off from DNS",
		Needs: config.AddonNetpol,
		Target: func(c *config.Cluster) (Target, error) {
			if len(c.Workers()) == 0 {
				return Target{}, fmt.Errorf("lab netpol-dns needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Values: map[string]string{"ns": verify.Namespace, "dns": c.Network.ClusterDNS}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Someone isolated namespace %s. Since then its pods cannot resolve any name: nslookup\n"+
				"kubernetes.default times out. The pods still reach each other, and CoreDNS answers pods of other\n"+
				"namespaces.", t.Values["ns"])
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s exec deploy/hello -- nslookup kubernetes.default", t.Values["ns"])}
		},
		Reveal: func(t Target) []string {
			return []string{
				fmt.Sprintf("kubectl -n %s get networkpolicy", t.Values["ns"]),
				fmt.Sprintf("kubectl -n %s describe networkpolicy %s", t.Values["ns"], netpolLockdown),
				"kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("NetworkPolicy %s selects every pod of %s (podSelector: {}) for Egress and allows only\n"+
				"traffic to pods of the same namespace. A query to %s is turned by kube-proxy into a packet to\n"+
				"a CoreDNS pod in kube-system, and the agent judges that packet, after the DNAT: no rule allows it,\n"+
				"so it is dropped. Once a pod is selected for a direction, everything not allowed is denied.", netpolLockdown, t.Values["ns"], t.Values["dns"])
		},
		Fix: func(t Target) []string {
			return []string{
				fmt.Sprintf(`kubectl -n %s patch networkpolicy %s --type=json -p '[{"op":"add","path":"/spec/egress/-","value":{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}],"ports":[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53}]}}]'`, t.Values["ns"], netpolLockdown),
			}
		},
		Why: func(t Target) string {
			return "Egress rules add up: the new rule allows port 53 to the CoreDNS pods (namespace kube-system, label\n" +
				"k8s-app=kube-dns), beside the rule that keeps the namespace's own traffic. The agent reads the\n" +
				"changed policy from its watch and judges the next query's first packet by it: no restart, no\n" +
				"rule written anywhere. Policies name pods and ports after the Service's translation, which is why\n" +
				"the rule says the CoreDNS pods, not the kube-dns Service's address."
		},
		Step:   config.AddonNetpol,
		Probes: []string{"dns"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			pol := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: netpolLockdown, Namespace: t.Values["ns"]},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
				},
			}
			_, err = admin.Clientset.NetworkingV1().NetworkPolicies(t.Values["ns"]).Create(ctx, pol, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// hardway's namespace holds no policy of its own between
			// verify runs: every one there is the lab's or the learner's.
			admin, err := e.Cluster.Admin()
			if err != nil {
				return err
			}
			return admin.Clientset.NetworkingV1().NetworkPolicies(t.Values["ns"]).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		},
	}
}
